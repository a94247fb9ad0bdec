package plan

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/netctl/netctl/schema"
)

const hostWarning = "table ip filter has policy drop on its FORWARD chain (Docker's iptables?):\ntraffic netctl accepts may still be dropped there"

// driftPlan is a plan with every action on every kind of object, computed
// by Diff from a live state that drifted in every way.
func driftPlan() *Plan {
	cfg := fullConfig()
	cfg.Bridges = append(cfg.Bridges, schema.Bridge{Name: "br3", Address: pfx("10.20.0.1/24"), MTU: 1500, ICC: true})
	desired := Desired(cfg)
	live := liveOf(desired)

	live.Sysctls[SysctlIPForward] = "0"
	delete(live.Sysctls, SysctlBridgeNFIptables)
	live.Sysctls[SysctlBridgeNFIp6tables] = "0"

	delete(live.Bridges, "br-internal") // create
	d0 := live.Bridges["docker0"]       // update
	d0.MTU, d0.Up, d0.Ports = 1400, false, []string{"veth1a2b3c"}
	d0.Addresses = append(d0.Addresses, pfx("192.0.2.1/24"))
	live.Bridges["docker0"] = d0
	br3 := live.Bridges["br3"] // replace
	br3.Kind, br3.Owner, br3.Addresses = "dummy", "", nil
	live.Bridges["br3"] = br3
	live.Bridges["br-old"] = Bridge{Name: "br-old", Kind: "bridge", Addresses: []netip.Prefix{pfx("10.99.0.1/24")}, MTU: 1500, Up: true, Owner: Owner} // delete

	fw := live.Firewall
	fw.Chain(ChainForward).Policy = VerdictDrop // update
	fw.Chain(ChainPostrouting).Priority = 0     // replace
	removeChain(fw, ChainUser)                  // create
	fw.Sets[0].Interval = false                 // replace allowed_sources
	fwd := fw.Chain(ChainForward)
	fwd.Rules[0], fwd.Rules[1] = fwd.Rules[1], fwd.Rules[0] // order
	fwd.Rules = slices.DeleteFunc(fwd.Rules, func(r Rule) bool { return r.Comment == "bridge.docker0.icc" })
	fwd.Rules = append(fwd.Rules,
		Rule{Match: []Match{{Key: KeySAddr, Value: "192.0.2.66"}}, Verdict: VerdictAccept, Handle: 90},
		// A comment meant to reach the terminal: it must come out escaped.
		Rule{Comment: "pwn\x1b[2J\x1b[31m", Match: []Match{{Key: KeyIIFName, Value: "eth0"}}, Verdict: VerdictAccept, Handle: 91})
	post := fw.Chain(ChainPostrouting)
	post.Rules[0].Unknown = `oifname != "docker0" ip saddr 172.17.0.0/16 [payload load 4b @ network header + 12] masquerade`

	links := fw.Set(SetLinks)
	links.Elements = slices.DeleteFunc(links.Elements, func(e Element) bool {
		return e.Comment == "bridge.docker0.link.web->cache" || e.Key == "172.17.0.2 . 172.17.0.5 . udp . 53"
	})
	links.Elements = append(links.Elements,
		Element{Key: "172.17.0.2 . 172.17.0.5 . udp . 5353", Comment: "bridge.docker0.link.web->dns"},
		Element{Key: "172.17.0.3 . 172.17.0.2 . tcp . 80-90", Comment: "bridge.docker0.link.db->web"},
		Element{Key: "172.17.0.66 . 172.17.0.3 . tcp . 5432"})
	SortElements(links.Elements)
	sources := fw.Set(SetAllowedSources)
	sources.Elements = slices.DeleteFunc(sources.Elements, func(e Element) bool { return e.Key == `"docker0" . 203.0.113.7` })

	p := Diff(desired, live)
	p.Warnings = []string{hostWarning}
	return p
}

// createPlan builds everything from nothing.
func createPlan() *Plan { return Diff(Desired(fullConfig()), State{}) }

// destroyPlan removes the firewall, user rules included.
func destroyPlan() *Plan {
	cfg := fullConfig()
	live := liveOf(Desired(cfg))
	live.Firewall.Chain(ChainUser).Rules = []Rule{
		{Comment: "allow the backup host", Match: []Match{{Key: KeySAddr, Value: "192.0.2.10"}}, Verdict: VerdictAccept, Handle: 40},
	}
	cfg.Firewall = false
	return Diff(Desired(cfg), live)
}

func TestWriteText(t *testing.T) {
	for _, tt := range []struct {
		golden string
		plan   *Plan
		color  bool
	}{
		{"drift.txt", driftPlan(), false},
		{"drift.color.txt", driftPlan(), true},
		{"create.txt", createPlan(), false},
		{"destroy.txt", destroyPlan(), false},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.plan.WriteText(&b, TextOptions{Color: tt.color, Source: "netctl.yaml"}); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, b.Bytes())
			out := b.String()
			if !tt.color && strings.Contains(out, "\x1b") {
				t.Error("an escape character without colour")
			}
			if tt.color && strings.Contains(stripColor(out), "\x1b") {
				t.Error("an escape character that is not a colour")
			}
			if want := summaryLine(tt.plan); !strings.HasSuffix(stripColor(out), want) {
				t.Errorf("last line is not %q", want)
			}
			if n := strings.Count(stripColor(out), "\n  # "); n != len(tt.plan.Changes) {
				t.Errorf("%d blocks for %d changes", n, len(tt.plan.Changes))
			}
		})
	}
}

func summaryLine(p *Plan) string {
	s := p.Summary()
	return "Plan: " + strconv.Itoa(s.Add) + " to add, " + strconv.Itoa(s.Change) + " to change, " + strconv.Itoa(s.Destroy) + " to destroy.\n"
}

func stripColor(s string) string {
	for _, code := range []string{ansiReset, ansiBold, ansiRed, ansiGreen, ansiYellow} {
		s = strings.ReplaceAll(s, code, "")
	}
	return s
}

// TestWriteTextExample is the example of the design: a created bridge, a
// sysctl updated in place, a created link.
func TestWriteTextExample(t *testing.T) {
	p := &Plan{Changes: []Change{
		{Address: "bridge.docker0", Type: TypeBridge, Name: "docker0", Action: Create,
			After: Bridge{Name: "docker0", Kind: "bridge", Addresses: []netip.Prefix{pfx("172.17.0.1/16")}, MTU: 1500, Up: true, Owner: Owner}},
		{Address: "sysctl.net.ipv4.ip_forward", Type: TypeSysctl, Name: "net.ipv4.ip_forward", Action: Update, Before: "0", After: "1"},
		{Address: "bridge.docker0.link.web->db", Type: TypeLink, Name: "web->db", Action: Create,
			After: []string{"172.17.0.2 . 172.17.0.3 . tcp . 5432"}},
	}}
	want := `netctl will perform the following actions:

  # bridge.docker0 will be created
  + bridge "docker0" {
      + addresses = ["172.17.0.1/16"]
      + mtu       = 1500
      + up        = true
    }

  # sysctl.net.ipv4.ip_forward will be updated in-place
  ~ sysctl "net.ipv4.ip_forward" {
      ~ value = "0" -> "1"
    }

  # bridge.docker0.link.web->db will be created
  + link "web->db" {
      + elements = ["172.17.0.2 . 172.17.0.3 . tcp . 5432"]
    }

Plan: 2 to add, 1 to change, 0 to destroy.
`
	var b strings.Builder
	if err := p.WriteText(&b, TextOptions{Source: "netctl.yaml"}); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteTextNoChanges(t *testing.T) {
	d := Desired(fullConfig())
	for _, tt := range []struct {
		name string
		plan *Plan
		opts TextOptions
		want string
	}{
		{"plain", Diff(d, liveOf(d)), TextOptions{Source: "/etc/netctl/netctl.yaml"},
			"No changes. The live state matches /etc/netctl/netctl.yaml.\n"},
		{"default file", &Plan{}, TextOptions{},
			"No changes. The live state matches netctl.yaml.\n"},
		{"colour", &Plan{}, TextOptions{Color: true, Source: "netctl.yaml"},
			ansiBold + ansiGreen + "No changes." + ansiReset + " The live state matches netctl.yaml.\n"},
		{"warnings still shown", &Plan{Warnings: []string{"forwarding is off in namespace x"}}, TextOptions{Source: "n.yaml"},
			"Warning: forwarding is off in namespace x\n\nNo changes. The live state matches n.yaml.\n"},
		{"destroy", &Plan{}, TextOptions{Source: "n.yaml", Destroy: true},
			"No changes. No objects need to be destroyed.\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := tt.plan.WriteText(&b, tt.opts); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got %q\nwant %q", b.String(), tt.want)
			}
		})
	}
}

// TestWriteTextUnknownValues: a change whose values are not the types Diff
// writes (a plan file read back holds JSON maps) still renders.
func TestWriteTextUnknownValues(t *testing.T) {
	p := &Plan{Changes: []Change{{Address: "bridge.x", Type: TypeBridge, Name: "x", Action: Update,
		Before: map[string]any{"mtu": 1500.0}, After: map[string]any{"mtu": 9000.0}}}}
	var b strings.Builder
	if err := p.WriteText(&b, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `~ value = {"mtu":1500} -> {"mtu":9000}`) {
		t.Errorf("got\n%s", b.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

var errWrite = &json.UnsupportedValueError{Str: "write failed"}

func TestWriteErrors(t *testing.T) {
	p := driftPlan()
	if err := p.WriteText(failingWriter{}, TextOptions{}); err != errWrite {
		t.Errorf("WriteText error = %v, want %v", err, errWrite)
	}
	if err := p.WriteJSON(failingWriter{}); err != errWrite {
		t.Errorf("WriteJSON error = %v, want %v", err, errWrite)
	}
}

func TestWriteJSON(t *testing.T) {
	for _, tt := range []struct {
		golden string
		plan   *Plan
	}{
		{"drift.json", driftPlan()},
		{"destroy.json", destroyPlan()},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.plan.WriteJSON(&b); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(b.String(), "\n"); n != 1 || !strings.HasSuffix(b.String(), "}\n") {
				t.Errorf("not one document on one line: %d newlines", n)
			}
			var indented bytes.Buffer
			if err := json.Indent(&indented, b.Bytes(), "", "  "); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, indented.Bytes())

			var doc struct {
				FormatVersion   string `json:"format_version"`
				ResourceChanges []struct {
					Address, Type, Name string
					Change              struct {
						Actions       []string
						Before, After json.RawMessage
					}
				} `json:"resource_changes"`
				Summary  Summary
				Warnings []string
			}
			if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.FormatVersion != "1.0" || doc.Summary != tt.plan.Summary() || len(doc.ResourceChanges) != len(tt.plan.Changes) {
				t.Errorf("format %q, summary %+v, %d changes", doc.FormatVersion, doc.Summary, len(doc.ResourceChanges))
			}
			for i, rc := range doc.ResourceChanges {
				c := tt.plan.Changes[i]
				if rc.Address != c.Address || rc.Type != c.Type || rc.Name != c.Name || !slices.Equal(rc.Change.Actions, c.Action.Actions()) {
					t.Errorf("resource_changes[%d] = %+v, want %+v", i, rc, c)
				}
			}
		})
	}
}

func TestWriteJSONEmpty(t *testing.T) {
	var b strings.Builder
	if err := (&Plan{}).WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	want := `{"format_version":"1.0","resource_changes":[],"summary":{"add":0,"change":0,"destroy":0},"warnings":[]}` + "\n"
	if b.String() != want {
		t.Errorf("got  %s\nwant %s", b.String(), want)
	}
}

func TestActions(t *testing.T) {
	for a, want := range map[Action][]string{
		Create: {"create"}, Update: {"update"}, Delete: {"delete"}, Replace: {"delete", "create"},
	} {
		if got := a.Actions(); !slices.Equal(got, want) {
			t.Errorf("%s.Actions() = %q, want %q", a, got, want)
		}
	}
	p := &Plan{Changes: []Change{{Action: Create}, {Action: Replace}, {Action: Update}, {Action: Delete}, {Action: Delete}}}
	if got, want := p.Summary(), (Summary{Add: 2, Change: 1, Destroy: 3}); got != want {
		t.Errorf("Summary() = %+v, want %+v", got, want)
	}
}

func TestListDiffs(t *testing.T) {
	show := func(ops []listOp) string {
		var s []string
		for _, op := range ops {
			sign := " "
			switch op.action {
			case Create:
				sign = "+"
			case Delete:
				sign = "-"
			}
			s = append(s, sign+op.item)
		}
		return strings.Join(s, " ")
	}
	for _, tt := range []struct {
		ordered       bool
		before, after []string
		want          string
	}{
		{false, []string{"c", "a"}, []string{"b", "a"}, " a +b -c"},
		{false, nil, []string{"a"}, "+a"},
		{false, []string{"a"}, nil, "-a"},
		{true, []string{"u", "e", "i", "l", "c"}, []string{"u", "e", "i", "c", "l"}, " u  e  i -l  c +l"},
		{true, []string{"e", "u", "x"}, []string{"u", "e", "x"}, "-e  u +e  x"},
	} {
		var got string
		if tt.ordered {
			got = show(orderedDiff(tt.before, tt.after))
		} else {
			got = show(setDiff(tt.before, tt.after))
		}
		if got != tt.want {
			t.Errorf("diff(%q, %q) = %q, want %q", tt.before, tt.after, got, tt.want)
		}
	}
	// Past the size of the table, everything is removed and added.
	big := make([]string, 3000)
	for i := range big {
		big[i] = strconv.Itoa(i)
	}
	if ops := orderedDiff(big, big); len(ops) != 6000 {
		t.Errorf("large ordered diff: %d lines, want 6000", len(ops))
	}
}
