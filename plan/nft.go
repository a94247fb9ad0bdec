package plan

import (
	"fmt"
	"strings"
)

// NFT renders the firewall as an `nft -f` script that makes netctl's table
// exactly this one: it creates the table if absent and deletes it, then
// declares it whole, so loading it replaces any previous content in one
// atomic batch. Sets come before chains (rules refer to them); every rule
// and element carries its comment. A nil firewall (no table) renders as "".
//
//	table inet netctl
//	delete table inet netctl
//	table inet netctl {
//		comment "netctl"
//
//		set links {
//			type ipv4_addr . ipv4_addr . inet_proto . inet_service
//			flags interval
//			elements = {
//				172.17.0.2 . 172.17.0.3 . tcp . 5432 comment "bridge.docker0.link.web->db"
//			}
//		}
//		chain filter-forward {
//			type filter hook forward priority 0; policy accept;
//			jump user comment "firewall.user"
//		}
//	}
func (f *Firewall) NFT() string {
	if f == nil {
		return ""
	}
	var b strings.Builder
	table := TableFamily + " " + TableName
	b.WriteString("table " + table + "\n")
	b.WriteString("delete table " + table + "\n")
	b.WriteString("table " + table + " {\n")
	first := true
	if f.Owner != "" {
		fmt.Fprintf(&b, "\tcomment %q\n", f.Owner)
		first = false
	}
	sep := func() {
		if !first {
			b.WriteByte('\n')
		}
		first = false
	}
	for _, s := range f.Sets {
		sep()
		kind := "set"
		if strings.Contains(s.Type, " : ") {
			kind = "map" // publish
		}
		fmt.Fprintf(&b, "\t%s %s {\n\t\ttype %s\n", kind, s.Name, s.Type)
		if s.Interval {
			b.WriteString("\t\tflags interval\n")
		}
		if len(s.Elements) > 0 {
			b.WriteString("\t\telements = {\n")
			for i, e := range s.Elements {
				b.WriteString("\t\t\t")
				b.WriteString(e.Key)
				writeComment(&b, e.Comment)
				if e.Value != "" {
					b.WriteString(" : ")
					b.WriteString(e.Value)
				}
				if i < len(s.Elements)-1 {
					b.WriteByte(',')
				}
				b.WriteByte('\n')
			}
			b.WriteString("\t\t}\n")
		}
		b.WriteString("\t}\n")
	}
	for _, c := range f.Chains {
		sep()
		fmt.Fprintf(&b, "\tchain %s {\n", c.Name)
		if c.Type != "" {
			fmt.Fprintf(&b, "\t\ttype %s hook %s priority %d;", c.Type, c.Hook, c.Priority)
			if c.Policy != "" {
				fmt.Fprintf(&b, " policy %s;", c.Policy)
			}
			b.WriteByte('\n')
		}
		for _, r := range c.Rules {
			b.WriteString("\t\t")
			b.WriteString(r.String())
			writeComment(&b, r.Comment)
			b.WriteByte('\n')
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// writeComment appends ` comment "…"`. nft strings have no escapes; the
// comments netctl writes are addresses built from validated names.
func writeComment(b *strings.Builder, comment string) {
	if comment == "" {
		return
	}
	b.WriteString(` comment "`)
	b.WriteString(comment)
	b.WriteByte('"')
}
