package kernel

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// dualStackConfig is driftConfig's docker0 made dual-stack (web and db with
// address6, an IPv6 allowed source, NAT66, ip6_forward) next to an
// IPv4-only bridge.
func dualStackConfig() *schema.Config {
	cfg := driftConfig()
	on := true
	cfg.IP6Forward = &on
	b := &cfg.Bridges[0]
	b.Address6 = netip.MustParsePrefix("fd00:17::1/64")
	b.Masquerade6 = true
	b.AllowedSources = append(b.AllowedSources, netip.MustParsePrefix("2001:db8:100::/48"), netip.MustParsePrefix("2001:db8:200::7/128"))
	b.Containers[0].Address6 = netip.MustParseAddr("fd00:17::2")
	b.Containers[1].Address6 = netip.MustParseAddr("fd00:17::3")
	cfg.Bridges = append(cfg.Bridges, schema.Bridge{Name: "br-v4", Address: netip.MustParsePrefix("10.1.0.1/24"), MTU: 1500, ICC: true})
	return cfg
}

// TestDualStackRoundTrip writes a dual-stack desired state and reads it
// back equal; ip and nft see the IPv6 objects as netctl means them.
func TestDualStackRoundTrip(t *testing.T) {
	requireNft(t)
	h, ns := openNS(t)
	desired := plan.Desired(dualStackConfig())
	writeDesired(t, h, desired)
	live := read(t, h, desired.Scope())
	if p := plan.Diff(desired, live); !p.Empty() {
		t.Fatalf("read back differs from what was written:\n%s", planText(t, p))
	}
	if got := live.Sysctls[plan.SysctlIP6Forward]; got != "1" {
		t.Errorf("%s = %q", plan.SysctlIP6Forward, got)
	}
	addrs := nstest.Exec(t, ns, "ip", "-6", "addr", "show", "dev", "docker0")
	if line := lineWith(addrs, "inet6 fd00:17::1/64 scope global"); line == "" || strings.Contains(line, "tentative") {
		t.Errorf("ip -6 addr show dev docker0: want fd00:17::1/64, not tentative:\n%s", addrs)
	}
	out := nstest.Exec(t, ns, "nft", "list", "table", "inet", "netctl")
	wantListed(t, out, []string{
		`type ipv6_addr . ipv6_addr . inet_proto . inet_service`,
		`type ifname . ipv6_addr`,
		`fd00:17::2 . fd00:17::3 . tcp . 5432 comment "bridge.docker0.link.web->db"`,
		`"docker0" . 2001:db8:100::/48 comment "bridge.docker0.allowed_source.2001:db8:100::/48"`,
		`iifname "docker0" oifname "docker0" icmpv6 type nd-neighbor-solicit accept comment "bridge.docker0.icc.nd-neighbor-solicit"`,
		`iifname "docker0" oifname "docker0" ip6 saddr . ip6 daddr . meta l4proto . th dport @links6 accept comment "bridge.docker0.links6"`,
		`iifname != "docker0" oifname "docker0" oifname . ip6 saddr != @allowed_sources6 drop comment "bridge.docker0.allowed_sources6"`,
		`iifname "br-v4" meta nfproto ipv6 drop comment "bridge.br-v4.ipv4_only.in"`,
		`oifname "br-v4" meta nfproto ipv6 drop comment "bridge.br-v4.ipv4_only.out"`,
		`oifname != "docker0" ip6 saddr fd00:17::/64 masquerade comment "bridge.docker0.masquerade6"`,
	})

	// What nft writes for the text it printed reads back the same.
	mustEqual(t, "table written by nft", desired.Firewall, nftRewrite(t, out))
}

// TestIPv6Drift: the IPv6 objects are drift like the IPv4 ones, and the
// kernel's own link-local address is not; SyncBridge puts a removed IPv6
// address back.
func TestIPv6Drift(t *testing.T) {
	requireNft(t)
	h, ns := openNS(t)
	desired := plan.Desired(dualStackConfig())
	writeDesired(t, h, desired)
	// The kernel's link-local address on an up bridge is not netctl's.
	nstest.Exec(t, ns, "ip", "-6", "addr", "add", "fe80::99/64", "dev", "docker0")
	if p := plan.Diff(desired, read(t, h, desired.Scope())); !p.Empty() {
		t.Fatalf("a link-local address is drift:\n%s", planText(t, p))
	}
	for _, tc := range []struct {
		name, want string
		drift      []string // an ip or nft command line
	}{
		{"address6 removed", "update bridge.docker0", []string{"ip", "-6", "addr", "del", "fd00:17::1/64", "dev", "docker0"}},
		{"IPv6 address added", "update bridge.docker0", []string{"ip", "-6", "addr", "add", "2001:db8:9::1/64", "dev", "docker0"}},
		{"links6 element removed", "update bridge.docker0.link.web->db", []string{"nft", "delete", "element", "inet", "netctl", "links6", "{ fd00:17::2 . fd00:17::3 . tcp . 5432 }"}},
		{"allowed_sources6 element added", `delete firewall.set.allowed_sources6.element["docker0" . 2001:db8:300::/48]`, []string{"nft", "add", "element", "inet", "netctl", "allowed_sources6", `{ "docker0" . 2001:db8:300::/48 }`}},
		{"ip6_forward off", "update sysctl." + plan.SysctlIP6Forward, []string{"sysctl", "-q", "-w", plan.SysctlIP6Forward + "=0"}},
	} {
		nstest.Exec(t, ns, tc.drift[0], tc.drift[1:]...)
		live := read(t, h, desired.Scope())
		p := plan.Diff(desired, live)
		var got []string
		for _, c := range p.Changes {
			got = append(got, string(c.Action)+" "+c.Address)
		}
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: plan %q, want [%s]", tc.name, got, tc.want)
		}
		// Repair as apply does, and read again.
		for _, name := range desired.Scope().Bridges {
			if b, l := desired.Bridges[name], live.Bridges[name]; !plan.BridgeEqual(b, l) {
				if err := h.SyncBridge(&l, &b); err != nil {
					t.Fatalf("%s: SyncBridge: %v", tc.name, err)
				}
			}
		}
		if !plan.FirewallsEqual(desired.Firewall, live.Firewall) {
			if err := h.SyncFirewall(live.Firewall, desired.Firewall); err != nil {
				t.Fatalf("%s: SyncFirewall: %v", tc.name, err)
			}
		}
		for k, v := range desired.Sysctls {
			if live.Sysctls[k] != v {
				if err := h.SetSysctl(k, v); err != nil {
					t.Fatal(err)
				}
			}
		}
		if p := plan.Diff(desired, read(t, h, desired.Scope())); !p.Empty() {
			t.Errorf("%s: not repaired:\n%s", tc.name, planText(t, p))
		}
	}
}

func lineWith(text, sub string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
