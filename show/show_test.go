package show

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// roundTripCases are files whose desired state, taken as the live state,
// must come back through show unchanged. The examples are added to them.
var roundTripCases = map[string]string{
	"published ports and gateway modes": `
bridges:
  br.routed:
    address: 10.1.0.1/24
    gateway_mode: routed
    icc: false
    containers:
      app.1: {address: 10.1.0.2, publish: ["9090:90", {port: "9091-9092:91-92/udp", allowed_sources: [192.0.2.0/25, 198.51.100.7]}]}
      app.2: {address: 10.1.0.3, publish: ["127.0.0.1:5432:5432"]}
  br-open:
    address: 10.2.0.1/24
    gateway_mode: nat-unprotected
    containers:
      web: {address: 10.2.0.2, publish: ["198.51.100.1:8080:80/sctp"]}
  br-nat:
    address: 10.3.0.1/24
    masquerade: false
`,
	"names with dots and dashes": `
ip_forward: false
bridges:
  br:
    address: 10.1.0.1/24
    icc: false
    containers:
      a-: { address: 10.1.0.2, expose: [53/udp, 54/udp] }
      b: { address: 10.1.0.3, expose: [80, 443/tcp, 8000-8100/tcp, 53/udp, 9/sctp] }
      c.d: { address: 10.1.0.4, expose: [1-65535/udp] }
    links:
      - { from: a-, to: b, ports: [80/tcp, 53/udp, 8000-8010/tcp] }
      - { from: b, to: a-, ports: [53/udp] }
      - { from: c.d, to: a- }
      - { from: a-, to: c.d }
  br.x:
    address: 10.2.0.1/24
    masquerade: false
    containers:
      a-: { address: 10.2.0.2, expose: [22] }
      "1": { address: 10.2.0.3 }
    links:
      - { from: "1", to: a- }
  "null":
    address: 10.3.0.1/30
    mtu: 9000
`,
	"isolation order is file order": `
bridges:
  zz: { address: 10.9.0.1/16, icc: false }
  aa: { address: 10.8.0.1/16 }
  mm: { address: 10.7.0.1/16, masquerade: false, allowed_sources: [192.0.2.0/24] }
`,
	"sources and external interface": `
ip_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    external_interface: eth0
    allowed_sources: [198.51.100.10, 203.0.113.0/24, 192.0.2.128/25]
  br-b:
    address: 172.18.0.1/16
    allowed_sources: [0.0.0.0/0]
`,
	"no firewall": `
ip_forward: true
firewall: false
bridges:
  docker0: { address: 172.17.0.1/16, mtu: 1400 }
  br-app: { address: 172.18.0.1/16 }
`,
	"nothing": `
firewall: false
`,
	"adopted": `
bridges:
  uplink0: { address: 10.5.0.1/16, adopt: true }
  docker0: { address: 172.17.0.1/16 }
`,
	// Names YAML would misread unquoted: a merge key, null, booleans,
	// numbers, indicators.
	"tricky names": `
bridges:
  "<<": { address: 10.1.0.1/24, external_interface: "<<x" }
  "<<y": { address: 10.16.0.1/24, external_interface: "<<=" }
  "~": { address: 10.2.0.1/24, external_interface: "null" }
  "true": { address: 10.3.0.1/24, external_interface: "0x1F" }
  "-": { address: 10.4.0.1/24, external_interface: "--" }
  "?a": { address: 10.5.0.1/24, external_interface: "!x" }
  "&a": { address: 10.6.0.1/24, external_interface: "@b" }
  "#c": { address: 10.7.0.1/24, external_interface: "a#b" }
  "[x": { address: 10.8.0.1/24, external_interface: "{y" }
  "|": { address: 10.9.0.1/24, external_interface: ">" }
  "1e3": { address: 10.10.0.1/24, external_interface: "1_000" }
  "a,": { address: 10.11.0.1/24, external_interface: "a-" }
  ".inf": { address: 10.12.0.1/24, external_interface: "-.5" }
  "=": { address: 10.13.0.1/24, external_interface: "2001-01-01" }
  "y": { address: 10.14.0.1/24, external_interface: "Off" }
  ",": { address: 10.15.0.1/24, external_interface: "a,b" }
`,
}

func loadCases(t *testing.T) map[string][]byte {
	t.Helper()
	cases := map[string][]byte{}
	for name, text := range roundTripCases {
		cases[name] = []byte(text)
	}
	files, _ := filepath.Glob("../examples/*.yaml")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cases[filepath.Base(f)] = data
	}
	return cases
}

func desired(t *testing.T, name string, data []byte) plan.State {
	t.Helper()
	cfg, err := schema.Parse(name, data)
	if err != nil {
		t.Fatalf("%s does not load: %v", name, err)
	}
	return plan.Desired(cfg)
}

// asLive makes a desired state look read: ip_forward always read, rule
// handles set, a bridge to adopt adopted.
func asLive(s plan.State) plan.State {
	for name, b := range s.Bridges {
		if b.Adopt {
			b.Owner, b.Adopt = plan.Adopted, false
			s.Bridges[name] = b
		}
	}
	if _, ok := s.Sysctls[plan.SysctlIPForward]; !ok {
		s.Sysctls[plan.SysctlIPForward] = "0"
	}
	if s.Firewall != nil {
		h := uint64(1)
		for i := range s.Firewall.Chains {
			for j := range s.Firewall.Chains[i].Rules {
				s.Firewall.Chains[i].Rules[j].Handle = h
				h++
			}
		}
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	for name, data := range loadCases(t) {
		t.Run(name, func(t *testing.T) {
			want := desired(t, name, data)
			live := asLive(desired(t, name, data))
			r := Config(live)
			if len(r.Residual) > 0 || len(r.Notes) > 0 {
				t.Fatalf("not a faithful file:\nnotes: %q\n%s", r.Notes, r.YAML)
			}
			// The file compiles to the state it was made from, exactly.
			got := desired(t, "shown", []byte(r.YAML))
			if _, ok := want.Sysctls[plan.SysctlIPForward]; !ok {
				delete(got.Sysctls, plan.SysctlIPForward)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("the file compiles to another state:\n%s", r.YAML)
			}
			// And writing it again gives the same text.
			if again := Config(asLive(got)); again.YAML != r.YAML {
				t.Fatalf("not stable:\n%s\n---\n%s", r.YAML, again.YAML)
			}
		})
	}
}

func TestOutputShape(t *testing.T) {
	live := asLive(desired(t, "f", []byte(roundTripCases["names with dots and dashes"])))
	b := live.Bridges["br"]
	b.Ports = []string{"veth1", "veth2"}
	live.Bridges["br"] = b
	r := Config(live)
	for _, want := range []string{
		"# Written by netctl show from the live state",
		"ip_forward: false\nfirewall: true\nbridges:\n",
		"  # attached ports, not netctl's: veth1, veth2\n  br:\n    address: 10.1.0.1/24\n    mtu: 1500\n    icc: false\n    masquerade: true\n",
		"      a-: {address: 10.1.0.2, expose: [53-54/udp]}\n",
		"      b: {address: 10.1.0.3, expose: [80/tcp, 8000-8010/tcp, 53/udp]}\n",
		"      - from: a-\n        to: b\n        ports: [80/tcp, 8000-8010/tcp, 53/udp]\n",
		`  "null":` + "\n    address: 10.3.0.1/30\n    mtu: 9000\n",
		`      "1": {address: 10.2.0.3}`,
	} {
		if !strings.Contains(r.YAML, want) {
			t.Errorf("output lacks %q:\n%s", want, r.YAML)
		}
	}
	if len(r.Residual) != 0 {
		t.Errorf("attached ports are not drift, got %v", r.Residual)
	}
}

func TestNotes(t *testing.T) {
	base := `
ip_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    icc: false
    containers:
      web: { address: 172.17.0.2 }
      db: { address: 172.17.0.3, expose: [5432/tcp] }
    links: [{ from: web, to: db }]
`
	type edit func(s *plan.State)
	fw := func(s *plan.State) *plan.Firewall { return s.Firewall }
	cases := []struct {
		name     string
		edit     edit
		notes    []string // each must appear in a note
		residual []string // addresses plan would still change, in order
	}{
		{
			name:  "attached ports",
			edit:  func(s *plan.State) { b := s.Bridges["docker0"]; b.Ports = []string{"veth0"}; s.Bridges["docker0"] = b },
			notes: []string{`bridge "docker0" has attached ports, not netctl's: veth0`},
		},
		{
			name: "rules of one's own in the user chain",
			edit: func(s *plan.State) {
				u := fw(s).Chain(plan.ChainUser)
				u.Rules = append(u.Rules, plan.Rule{Match: []plan.Match{{Key: plan.KeySAddr, Value: "192.0.2.1"}}, Verdict: "drop"})
			},
			notes: []string{"chain user holds 1 rule of your own"},
		},
		{
			name: "foreign rule",
			edit: func(s *plan.State) {
				c := fw(s).Chain(plan.ChainForward)
				c.Rules = append(c.Rules, plan.Rule{Comment: "mine", Verdict: "accept", Handle: 99})
			},
			notes:    []string{`rule in chain filter-forward not from a netctl file: accept comment "mine"`},
			residual: []string{"mine"},
		},
		{
			name: "foreign and malformed elements",
			edit: func(s *plan.State) {
				l := fw(s).Set(plan.SetLinks)
				l.Elements = append(l.Elements,
					plan.Element{Key: "172.17.0.9 . 172.17.0.3 . tcp . 22"},
					plan.Element{Key: "172.17.0.9 . 172.17.0.3 . tcp . 23", Comment: "bridge.docker0.link.x"},
				)
				a := fw(s).Set(plan.SetAllowedSources)
				a.Elements = append(a.Elements, plan.Element{Key: `"eth9" . 192.0.2.0/24`, Comment: "bridge.eth9.allowed_source.192.0.2.0/24"})
			},
			notes: []string{
				"element of set links not from a netctl file: 172.17.0.9 . 172.17.0.3 . tcp . 22",
				`element of set links not from a netctl file: 172.17.0.9 . 172.17.0.3 . tcp . 23 comment "bridge.docker0.link.x"`,
				`element of set allowed_sources not from a netctl file: "eth9" . 192.0.2.0/24`,
			},
			residual: []string{"bridge.docker0.link.x", "bridge.eth9.allowed_source.192.0.2.0/24", "firewall.set.links.element[172.17.0.9 . 172.17.0.3 . tcp . 22]"},
		},
		{
			name:     "ip_forward not read",
			edit:     func(s *plan.State) { delete(s.Sysctls, plan.SysctlIPForward) },
			notes:    []string{"net.ipv4.ip_forward was not read"},
			residual: nil,
		},
		{
			name: "a container with two addresses",
			edit: func(s *plan.State) {
				l := fw(s).Set(plan.SetLinks)
				l.Elements = append(l.Elements, plan.Element{Key: "172.17.0.8 . 172.17.0.3 . tcp . 5432", Comment: "bridge.docker0.link.web->db"})
				plan.SortElements(l.Elements)
			},
			notes:    []string{`container "web" has two addresses`},
			residual: []string{"bridge.docker0.link.web->db"},
		},
		{
			name: "two addresses on the bridge, and down",
			edit: func(s *plan.State) {
				b := s.Bridges["docker0"]
				b.Addresses = append(b.Addresses, netip.MustParsePrefix("172.17.0.1/24"))
				b.Up = false
				s.Bridges["docker0"] = b
			},
			notes:    []string{`bridge "docker0" has 2 addresses`, `bridge "docker0" is down`},
			residual: []string{"bridge.docker0"},
		},
		{
			name:     "a bridge netctl did not create",
			edit:     func(s *plan.State) { b := s.Bridges["docker0"]; b.Owner = "uplink"; s.Bridges["docker0"] = b },
			notes:    []string{`bridge "docker0" does not carry netctl's mark (alias "uplink"): adopt: true is written`},
			residual: []string{"bridge.docker0"}, // the mark to write
		},
		{
			name:     "no address",
			edit:     func(s *plan.State) { b := s.Bridges["docker0"]; b.Addresses = nil; s.Bridges["docker0"] = b },
			notes:    []string{`bridge "docker0" has no address`},
			residual: []string{"bridge.docker0", "bridge.docker0.links", "bridge.docker0.icc", "bridge.docker0.gateway_mode", "bridge.docker0.masquerade", "bridge.docker0.link.web->db"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			live := asLive(desired(t, "base", []byte(base)))
			c.edit(&live)
			r := Config(live)
			for _, n := range c.notes {
				if !slices.ContainsFunc(r.Notes, func(s string) bool { return strings.Contains(s, n) }) {
					t.Errorf("no note says %q; notes: %q", n, r.Notes)
				}
				if !strings.Contains(r.YAML, "\n# note: ") {
					t.Errorf("notes are not comments of the file:\n%s", r.YAML)
				}
			}
			var got []string
			for _, ch := range r.Residual {
				got = append(got, ch.Address)
			}
			if !slices.Equal(got, c.residual) {
				t.Errorf("residual changes %q, want %q\n%s", got, c.residual, r.YAML)
			}
			// Whatever was seen, the file loads.
			if _, err := schema.Parse("shown", []byte(r.YAML)); err != nil {
				t.Errorf("the file does not load: %v\n%s", err, r.YAML)
			}
		})
	}
}
