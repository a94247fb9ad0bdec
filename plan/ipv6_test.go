package plan

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/schema"
)

// dualStack is docker0 with address6, some containers with address6, IPv6
// allowed sources and NAT66.
func dualStack() *schema.Config {
	b := docker0()
	b.Address6 = pfx("fd00:17::1/64")
	b.Masquerade6 = true
	b.AllowedSources = append(b.AllowedSources, pfx("2001:db8:100::/48"), pfx("2001:db8:200::7/128"))
	for i, a := range map[string]string{"web": "fd00:17::2", "db": "fd00:17::3", "dns": "fd00:17::5"} {
		for j := range b.Containers {
			if b.Containers[j].Name == i {
				b.Containers[j].Address6 = addr(a)
			}
		}
	}
	cfg := &schema.Config{File: "netctl.yaml", IPForward: ptr(true), Firewall: true, Bridges: []schema.Bridge{b, internal()}}
	cfg.IP6Forward = ptr(true)
	return cfg
}

func TestDesiredDualStack(t *testing.T) {
	s := Desired(dualStack())
	if got := s.Sysctls[SysctlIP6Forward]; got != "1" {
		t.Errorf("%s = %q, want 1", SysctlIP6Forward, got)
	}
	if got, want := s.Bridges["docker0"].Addresses, []netip.Prefix{pfx("172.17.0.1/16"), pfx("fd00:17::1/64")}; !slicesEqual(got, want) {
		t.Errorf("docker0 addresses = %v, want %v", got, want)
	}
	if got := s.Bridges["br-internal"].Addresses; len(got) != 1 {
		t.Errorf("br-internal addresses = %v, want its IPv4 one", got)
	}
	wantRules(t, s.Firewall.Chain(ChainForward), []string{
		`jump user comment "firewall.user"`,
		`ct state established,related accept comment "firewall.established"`,
		`iifname "docker0" oifname "br-internal" drop comment "bridge.docker0.isolation.br-internal"`,
		`iifname != "docker0" oifname "docker0" oifname . ip saddr != @allowed_sources drop comment "bridge.docker0.allowed_sources"`,
		`iifname != "docker0" oifname "docker0" oifname . ip6 saddr != @allowed_sources6 drop comment "bridge.docker0.allowed_sources6"`,
		`iifname "docker0" oifname "docker0" icmpv6 type nd-neighbor-solicit accept comment "bridge.docker0.icc.nd-neighbor-solicit"`,
		`iifname "docker0" oifname "docker0" icmpv6 type nd-neighbor-advert accept comment "bridge.docker0.icc.nd-neighbor-advert"`,
		`iifname "docker0" oifname "docker0" ip6 saddr . ip6 daddr . meta l4proto . th dport @links6 accept comment "bridge.docker0.links6"`,
		`iifname "docker0" oifname "docker0" ip saddr . ip daddr . meta l4proto . th dport @links accept comment "bridge.docker0.links"`,
		`iifname "docker0" oifname "docker0" drop comment "bridge.docker0.icc"`,
		`iifname "br-internal" oifname "docker0" drop comment "bridge.br-internal.isolation.docker0"`,
		`iifname "br-internal" meta nfproto ipv6 drop comment "bridge.br-internal.ipv4_only.in"`,
		`oifname "br-internal" meta nfproto ipv6 drop comment "bridge.br-internal.ipv4_only.out"`,
		`iifname "eth0" oifname "br-internal" oifname . ip saddr != @allowed_sources drop comment "bridge.br-internal.allowed_sources"`,
	})
	wantRules(t, s.Firewall.Chain(ChainPostrouting), []string{
		`oifname != "docker0" ip saddr 172.17.0.0/16 masquerade comment "bridge.docker0.masquerade"`,
		`oifname != "docker0" ip6 saddr fd00:17::/64 masquerade comment "bridge.docker0.masquerade6"`,
	})
	var sets []string
	for _, st := range s.Firewall.Sets {
		sets = append(sets, st.Name+": "+st.Type)
	}
	wantStrings(t, "sets", sets, []string{
		SetAllowedSources + ": " + AllowedSourcesKeyType, SetAllowedSources6 + ": " + AllowedSources6KeyType,
		SetLinks + ": " + LinksKeyType, SetLinks6 + ": " + Links6KeyType,
	})
	elements := func(name string) []string {
		var out []string
		for _, e := range s.Firewall.Set(name).Elements {
			out = append(out, e.Key+" # "+e.Comment)
		}
		return out
	}
	// The IPv4 set keeps only IPv4 sources; cache has no address6, so
	// web->cache opens nothing over IPv6.
	wantStrings(t, "allowed_sources", elements(SetAllowedSources), []string{
		`"br-internal" . 192.0.2.0/24 # bridge.br-internal.allowed_source.192.0.2.0/24`,
		`"docker0" . 198.51.100.0/24 # bridge.docker0.allowed_source.198.51.100.0/24`,
		`"docker0" . 203.0.113.7 # bridge.docker0.allowed_source.203.0.113.7/32`,
	})
	wantStrings(t, "allowed_sources6", elements(SetAllowedSources6), []string{
		`"docker0" . 2001:db8:100::/48 # bridge.docker0.allowed_source.2001:db8:100::/48`,
		`"docker0" . 2001:db8:200::7 # bridge.docker0.allowed_source.2001:db8:200::7/128`,
	})
	wantStrings(t, "links6", elements(SetLinks6), []string{
		`fd00:17::2 . fd00:17::3 . tcp . 5432 # bridge.docker0.link.web->db`,
		`fd00:17::2 . fd00:17::5 . tcp . 53 # bridge.docker0.link.web->dns`,
		`fd00:17::2 . fd00:17::5 . udp . 53 # bridge.docker0.link.web->dns`,
	})
}

// TestDesiredIPv4OnlyHasNoIPv6Sets: a file without address6 has the table
// it had before IPv6, plus the IPv4-only drops.
func TestDesiredIPv4OnlyHasNoIPv6Sets(t *testing.T) {
	s := Desired(fullConfig())
	for _, st := range s.Firewall.Sets {
		if st.Name == SetLinks6 || st.Name == SetAllowedSources6 {
			t.Errorf("IPv4-only file has set %s", st.Name)
		}
	}
	if _, ok := s.Sysctls[SysctlIP6Forward]; ok {
		t.Errorf("ip6_forward omitted, but %s is managed", SysctlIP6Forward)
	}
	cfg := fullConfig()
	cfg.IP6Forward = ptr(false)
	if got := Desired(cfg).Sysctls[SysctlIP6Forward]; got != "0" {
		t.Errorf("ip6_forward: false: %s = %q, want 0", SysctlIP6Forward, got)
	}
}

// TestIPv4OnlyNotes: the plan says that IPv6 will be dropped when it brings
// the drop in, and is silent once it is there.
func TestIPv4OnlyNotes(t *testing.T) {
	desired := Desired(dualStack())
	notes := IPv4OnlyNotes(desired, State{})
	if len(notes) != 1 || !strings.HasPrefix(notes[0], "bridge.br-internal has no address6: netctl's table will drop all IPv6") {
		t.Errorf("notes = %q, want one for br-internal", notes)
	}
	if notes := IPv4OnlyNotes(desired, desired); len(notes) != 0 {
		t.Errorf("notes with the drop in place = %q, want none", notes)
	}
	p := Diff(desired, State{})
	p.Warnings = IPv4OnlyNotes(desired, State{})
	var text, js bytes.Buffer
	if err := p.WriteText(&text, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for what, out := range map[string]string{"text": text.String(), "JSON": js.String()} {
		if !strings.Contains(out, "bridge.br-internal has no address6") {
			t.Errorf("plan %s does not say that br-internal drops IPv6:\n%s", what, out)
		}
	}
}

// TestDiffDualStack: the FirewallOps of going from an IPv4-only table to a
// dual-stack one and back reach the desired table (simulated).
func TestDiffDualStack(t *testing.T) {
	v4, v6 := Desired(fullConfig()), Desired(dualStack())
	for _, c := range []struct {
		name     string
		from, to State
	}{{"to dual-stack", v4, v6}, {"back", v6, v4}, {"create", State{}, v6}} {
		p := Diff(c.to, c.from)
		if p.Empty() {
			t.Errorf("%s: empty plan", c.name)
		}
		got, err := simulate(c.from.Firewall, FirewallOps(c.from.Firewall, c.to.Firewall))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
		} else if !FirewallsEqual(got, c.to.Firewall) {
			t.Errorf("%s: the operations do not reach the desired table", c.name)
		}
	}
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDesiredBridgeNFDualStack: dual-stack bridges with icc true need no
// br_netfilter; an IPv4-only one needs the IPv6 switch, icc or not.
func TestDesiredBridgeNFDualStack(t *testing.T) {
	b := internal()
	b.Address6 = pfx("fd00:10::1/64")
	cfg := &schema.Config{Firewall: true, Bridges: []schema.Bridge{b}}
	if s := Desired(cfg); len(s.Sysctls) != 0 {
		t.Errorf("dual-stack, icc true: sysctls %v, want none", s.Sysctls)
	}
	cfg.Bridges = append(cfg.Bridges, schema.Bridge{Name: "br-v4", Address: pfx("10.99.0.1/24"), MTU: 1500, ICC: true})
	if got := Desired(cfg).Sysctls; len(got) != 1 || got[SysctlBridgeNFIp6tables] != "1" {
		t.Errorf("with an IPv4-only bridge: sysctls %v, want only %s=1", got, SysctlBridgeNFIp6tables)
	}
	cfg.Firewall = false
	if s := Desired(cfg); len(s.Sysctls) != 0 {
		t.Errorf("firewall off: sysctls %v, want none", s.Sysctls)
	}
}
