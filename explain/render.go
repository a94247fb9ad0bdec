package explain

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteText renders the answer for a person: the verdict first, then the
// path, each decision with its file item and kernel object.
func (a Answer) WriteText(w io.Writer) error {
	var b strings.Builder
	family := ""
	if a.IPv6 {
		family = " over IPv6"
	}
	fmt.Fprintf(&b, "%s → %s %d/%s%s: %s\n", endpointText(a.From), endpointText(a.To), a.Port, a.Proto, family, a.Verdict)
	for _, s := range a.Path {
		mark := " "
		switch s.Verdict {
		case "accept":
			mark = "+"
		case "drop":
			mark = "-"
		}
		fmt.Fprintf(&b, "  %s %s\n", mark, s.Text)
		var where []string
		if s.Item != "" && !strings.Contains(s.Text, s.Item) {
			where = append(where, "file: "+s.Item)
		}
		if s.Object != "" {
			where = append(where, "kernel: "+s.Object)
		}
		if len(where) > 0 {
			fmt.Fprintf(&b, "      %s\n", strings.Join(where, "; "))
		}
	}
	if a.TraceVerdict != "" {
		fmt.Fprintf(&b, "kernel trace of a real packet: %s\n", a.TraceVerdict)
		for _, s := range a.Trace {
			mark := " "
			switch s.Verdict {
			case "accept":
				mark = "+"
			case "drop":
				mark = "-"
			}
			item := ""
			if s.Item != "" {
				item = " (" + s.Item + ")"
			}
			fmt.Fprintf(&b, "  %s %s%s\n", mark, s.Text, item)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func endpointText(e Endpoint) string {
	var d []string
	if e.Addr.IsValid() && e.Addr.String() != e.Name {
		d = append(d, e.Addr.String())
	}
	if e.Iface != "" {
		d = append(d, "via "+e.Iface)
	}
	if len(d) == 0 {
		return e.Name
	}
	return e.Name + " (" + strings.Join(d, ", ") + ")"
}

// WriteJSON renders the answer as one JSON document.
func (a Answer) WriteJSON(w io.Writer) error {
	if a.Path == nil {
		a.Path = []Step{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // link addresses hold "->"
	return enc.Encode(a)
}
