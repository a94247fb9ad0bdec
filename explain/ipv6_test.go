package explain

import (
	"slices"
	"strings"
	"testing"

	"github.com/netctl/netctl/plan"
)

// testFile6 has a dual-stack bridge with icc off, links and allowed
// sources of both families (cache without address6), a dual-stack bridge
// with icc on, and an IPv4-only bridge.
const testFile6 = `
ip_forward: true
ip6_forward: true
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    address6: fd00:17::1/64
    gateway_mode: nat-unprotected
    icc: false
    external_interface: eth0
    allowed_sources: [198.51.100.10, 2001:db8:100::/48]
    containers:
      web:   { address: 172.17.0.2, address6: "fd00:17::2", expose: [80/tcp] }
      db:    { address: 172.17.0.3, address6: "fd00:17::3", expose: [5432/tcp, 22/tcp, 53/udp] }
      cache: { address: 172.17.0.4, expose: [6379/tcp] }
    links:
      - { from: web, to: db, ports: [5432/tcp, 53/udp] }
  br-app:
    address: 172.18.0.1/16
    address6: fd00:18::1/64
    gateway_mode: nat-unprotected
    containers:
      api: { address: 172.18.0.2, address6: "fd00:18::2", expose: [8000/tcp] }
  br-v4:
    address: 172.19.0.1/16
    gateway_mode: nat-unprotected
    containers:
      old:  { address: 172.19.0.2, expose: [80/tcp] }
      old2: { address: 172.19.0.3, expose: [80/tcp] }
`

// How the kernel package reads the person's rules (it does not decode
// them): `ip6 saddr fd00:17::2 drop` and `ip saddr != 172.17.0.3 drop`.
const (
	userDropIP6Web = "[ meta load nfproto => reg 1 ] [ cmp eq reg 1 0x0a ] [ payload load 16b @ network header + 8 => reg 1 ] " +
		"[ cmp eq reg 1 0xfd000017000000000000000000000002 ] [ drop ]"
	userDropIPNotDB = "[ meta load nfproto => reg 1 ] [ cmp eq reg 1 0x02 ] [ payload load 4b @ network header + 12 => reg 1 ] " +
		"[ cmp neq reg 1 0xac110003 ] [ drop ]"
	// `ip6 nexthdr tcp ip6 hoplimit 64 meta protocol ip6 drop`: the rest of
	// the IPv6 header the VM builds.
	userDropIP6Header = "[ meta load nfproto => reg 1 ] [ cmp eq reg 1 0x0a ] [ payload load 1b @ network header + 6 => reg 1 ] " +
		"[ cmp eq reg 1 0x06 ] [ payload load 1b @ network header + 7 => reg 1 ] [ cmp eq reg 1 0x40 ] " +
		"[ meta load protocol => reg 1 ] [ cmp eq reg 1 0x86dd ] [ payload load 1b @ network header + 0 => reg 1 ] " +
		"[ bitwise reg 1 = ( reg 1 & 0xf0 ) ^ 0x00 ] [ cmp eq reg 1 0x60 ] [ drop ]"
)

// TestExplainIPv6: flows of both families on a dual-stack file: each
// family meets its own sysctls, sets and rules, and a match bound to one
// family never matches a packet of the other, negated or not.
func TestExplainIPv6(t *testing.T) {
	cfg := load(t, testFile6)
	user := func(desc string) func(*Input) {
		return func(in *Input) {
			c := in.Live.Firewall.Chain(plan.ChainUser)
			c.Rules = append(c.Rules, plan.Rule{Unknown: desc, Handle: 7})
		}
	}
	// first puts a decoded rule first in netctl's forward chain.
	first := func(m plan.Match) func(*Input) {
		return func(in *Input) {
			c := in.Live.Firewall.Chain(plan.ChainForward)
			c.Rules = append([]plan.Rule{{Comment: "test.first", Match: []plan.Match{m}, Verdict: plan.VerdictDrop, Handle: 1}}, c.Rules...)
		}
	}
	sysctl := func(name, v string) func(*Input) { return func(in *Input) { in.Live.Sysctls[name] = v } }
	cases := []struct {
		name     string
		from, to string
		port     string
		ipv6     bool
		mutate   func(*Input)
		verdict  string
		texts    []string
		object   string // a step's Object contains it
		drift    bool
	}{
		{name: "link6 tcp", from: "web", to: "db", port: "5432", ipv6: true,
			verdict: Allowed, texts: []string{"bridge.docker0.link.web->db accepts 5432/tcp"}, object: "set links6 element fd00:17::2 . fd00:17::3 . tcp . 5432"},
		{name: "link6 tcp by address", from: "fd00:17::2", to: "fd00:17::3", port: "5432",
			verdict: Allowed, texts: []string{"bridge.docker0.link.web->db accepts 5432/tcp"}, object: "set links6"},
		{name: "link4 same flow", from: "web", to: "db", port: "5432",
			verdict: Allowed, object: "set links element 172.17.0.2 . 172.17.0.3 . tcp . 5432"},
		{name: "link6 udp", from: "web", to: "db", port: "53/udp", ipv6: true,
			verdict: Allowed, texts: []string{"bridge.docker0.link.web->db accepts 53/udp"}},
		// The neighbour discovery accepts come before the icc drop: they
		// do not match a tcp flow.
		{name: "icc6 drops, ND accepts do not match tcp", from: "web", to: "db", port: "22", ipv6: true,
			verdict: Blocked, texts: []string{"bridge.docker0.icc drops", "port 22/tcp is not among the ports of bridge.docker0.link.web->db"}},
		{name: "icc6 one way", from: "db", to: "web", port: "80", ipv6: true,
			verdict: Blocked, texts: []string{"bridge.docker0.icc drops", "no link from db to web on bridge docker0"}},
		{name: "negated ND match does not match tcp", from: "web", to: "db", port: "5432", ipv6: true,
			mutate:  first(plan.Match{Key: plan.KeyICMPv6Type, Negate: true, Value: plan.ICMPv6NeighborSolicit}),
			verdict: Allowed, texts: []string{"bridge.docker0.link.web->db accepts 5432/tcp"}, drift: true},
		{name: "icc on over IPv6", from: "fd00:18::2", to: "fd00:18::99", port: "80",
			verdict: Allowed, texts: []string{"same bridge br-app: bridged, seen by the forward hook through br_netfilter", "chain filter-forward policy accept"}},
		{name: "isolation6", from: "web", to: "api", port: "8000", ipv6: true,
			verdict: Blocked, texts: []string{"different bridges: isolation"}},
		// The IPv4 rule `oifname . ip saddr != @allowed_sources drop` comes
		// first: it must not drop an IPv6 packet.
		{name: "allowed source6 admitted", from: "2001:db8:100::10", to: "db", port: "5432",
			verdict: Allowed, texts: []string{"bridge.docker0.allowed_source.2001:db8:100::/48 admits 2001:db8:100::10", "chain filter-forward policy accept"}},
		{name: "allowed source6 refused", from: "2001:db8:200::20", to: "db", port: "5432",
			verdict: Blocked, texts: []string{"bridge.docker0.allowed_sources6 drops 2001:db8:200::20"}},
		{name: "allowed source4 still by its own set", from: "198.51.100.10", to: "db", port: "5432",
			verdict: Allowed, texts: []string{"bridge.docker0.allowed_source.198.51.100.10/32 admits 198.51.100.10"}},
		{name: "allowed source4 refused", from: "198.51.100.20", to: "db", port: "5432",
			verdict: Blocked, texts: []string{"bridge.docker0.allowed_sources drops 198.51.100.20"}},
		{name: "outside6 to an unrestricted bridge", from: "2001:db8:200::20", to: "api", port: "8000",
			verdict: Allowed, texts: []string{"routed from eth0 to br-app"}},
		{name: "to outside6", from: "web", to: "2001:db8:200::20", port: "443",
			verdict: Allowed},
		{name: "ip6_forward 0", from: "web", to: "2001:db8:200::20", port: "443",
			mutate:  sysctl(plan.SysctlIP6Forward, "0"),
			verdict: Blocked, texts: []string{"IPv6 forwarding (net.ipv6.conf.all.forwarding) = 0"}, drift: true},
		{name: "ip6_forward 0 leaves IPv4 routed", from: "web", to: "203.0.113.10", port: "443",
			mutate: sysctl(plan.SysctlIP6Forward, "0"), verdict: Allowed, drift: true},
		{name: "ip_forward 0 leaves IPv6 routed", from: "web", to: "2001:db8:200::20", port: "443",
			mutate: sysctl(plan.SysctlIPForward, "0"), verdict: Allowed, drift: true},
		{name: "bridge-nf-call-ip6tables 0", from: "db", to: "web", port: "80", ipv6: true,
			mutate:  sysctl(plan.SysctlBridgeNFIp6tables, "0"),
			verdict: Allowed, texts: []string{"bridge-nf-call-ip6tables = 0 (icc cannot be enforced)"}, drift: true},
		{name: "bridge-nf-call-ip6tables 0 leaves IPv4 bridged", from: "db", to: "web", port: "80",
			mutate:  sysctl(plan.SysctlBridgeNFIp6tables, "0"),
			verdict: Blocked, texts: []string{"bridge.docker0.icc drops"}, drift: true},
		// IPv4-only bridge: nothing IPv6 crosses it, link-local included.
		{name: "ipv4-only bridge: across", from: "fe80::2%br-v4", to: "fe80::3%br-v4", port: "80",
			verdict: Blocked, texts: []string{"same bridge br-v4: bridged, seen by the forward hook through br_netfilter", "bridge.br-v4.ipv4_only.in drops IPv6 (br-v4 has no address6)"}},
		{name: "ipv4-only bridge: in", from: "2001:db8:200::20", to: "2001:db8:1::3%br-v4", port: "80",
			verdict: Blocked, texts: []string{"bridge.br-v4.ipv4_only.out drops IPv6 (br-v4 has no address6)"}},
		{name: "ipv4-only bridge: out", from: "2001:db8:1::3%br-v4", to: "2001:db8:200::20", port: "443",
			verdict: Blocked, texts: []string{"bridge.br-v4.ipv4_only.in drops IPv6 (br-v4 has no address6)"}},
		{name: "ipv4-only bridge: bridge-nf-call-ip6tables 0", from: "fe80::2%br-v4", to: "fe80::3%br-v4", port: "80",
			mutate:  sysctl(plan.SysctlBridgeNFIp6tables, "0"),
			verdict: Allowed, texts: []string{"bridge-nf-call-ip6tables = 0 (the IPv4-only drop cannot be enforced)"}, drift: true},
		// The IPv4-only drop is `meta nfproto ipv6`: IPv4 passes it.
		{name: "ipv4-only bridge: IPv4 across", from: "old", to: "old2", port: "80",
			verdict: Allowed, texts: []string{"chain filter-forward policy accept"}},
		{name: "ipv4-only bridge: IPv4 in", from: "203.0.113.10", to: "old", port: "80",
			verdict: Allowed},
		// A family-bound match never matches the other family, negated or not.
		{name: "negated ip saddr meets IPv6", from: "web", to: "db", port: "5432", ipv6: true,
			mutate:  first(plan.Match{Key: plan.KeySAddr, Negate: true, Value: "172.17.0.3"}),
			verdict: Allowed, texts: []string{"bridge.docker0.link.web->db accepts 5432/tcp"}, drift: true},
		{name: "negated ip saddr meets IPv4", from: "web", to: "db", port: "5432",
			mutate:  first(plan.Match{Key: plan.KeySAddr, Negate: true, Value: "172.17.0.3"}),
			verdict: Blocked, texts: []string{"test.first drops"}, drift: true},
		{name: "negated ip6 saddr meets IPv4", from: "web", to: "db", port: "5432",
			mutate:  first(plan.Match{Key: plan.KeySAddr6, Negate: true, Value: "fd00:17::3"}),
			verdict: Allowed, texts: []string{"bridge.docker0.link.web->db accepts 5432/tcp"}, drift: true},
		{name: "negated ip6 saddr meets IPv6", from: "web", to: "db", port: "5432", ipv6: true,
			mutate:  first(plan.Match{Key: plan.KeySAddr6, Negate: true, Value: "fd00:17::3"}),
			verdict: Blocked, texts: []string{"test.first drops"}, drift: true},
		// The person's rules in the user chain, run by the VM.
		{name: "user rule on ip6 saddr", from: "web", to: "db", port: "5432", ipv6: true, mutate: user(userDropIP6Web),
			verdict: Blocked, texts: []string{"user chain rule handle 7 drops"}},
		{name: "user rule on ip6 saddr, other source", from: "2001:db8:100::10", to: "db", port: "5432", mutate: user(userDropIP6Web),
			verdict: Allowed},
		{name: "user rule on ip6 saddr meets IPv4", from: "web", to: "db", port: "5432", mutate: user(userDropIP6Web),
			verdict: Allowed, texts: []string{"bridge.docker0.link.web->db accepts 5432/tcp"}},
		{name: "user rule ip saddr != meets IPv6", from: "web", to: "db", port: "5432", ipv6: true, mutate: user(userDropIPNotDB),
			verdict: Allowed, texts: []string{"bridge.docker0.link.web->db accepts 5432/tcp"}},
		{name: "user rule ip saddr != meets IPv4", from: "web", to: "db", port: "5432", mutate: user(userDropIPNotDB),
			verdict: Blocked, texts: []string{"user chain rule handle 7 drops"}},
		{name: "user rule on the IPv6 header", from: "web", to: "db", port: "5432", ipv6: true, mutate: user(userDropIP6Header),
			verdict: Blocked, texts: []string{"user chain rule handle 7 drops"}},
		{name: "user rule on the IPv6 header, udp", from: "web", to: "db", port: "53/udp", ipv6: true, mutate: user(userDropIP6Header),
			verdict: Allowed},
		{name: "user rule on the IPv6 header meets IPv4", from: "web", to: "db", port: "5432", mutate: user(userDropIP6Header),
			verdict: Allowed},
		{name: "user rule on ip daddr meets IPv6", from: "web", to: "db", port: "5432", ipv6: true, mutate: user(userDropDB),
			verdict: Allowed},
		{name: "host to container over IPv6", from: "host", to: "db", port: "22", ipv6: true, verdict: Allowed},
		{name: "container to gateway6", from: "db", to: "fd00:17::1", port: "22", verdict: Allowed,
			texts: []string{"delivered to the host itself (input): netctl's forward chain does not see it"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := Input{Config: cfg, Live: liveOf(cfg)}
			if c.mutate != nil {
				c.mutate(&in)
			}
			from, to, ipv6, err := ResolveFlow(cfg, c.from, c.to, c.ipv6)
			if err != nil {
				t.Fatal(err)
			}
			proto, port, err := ParsePort(c.port)
			if err != nil {
				t.Fatal(err)
			}
			a := Explain(in, Flow{From: from, To: to, Proto: proto, Port: port, IPv6: ipv6})
			var texts, objects []string
			for _, s := range a.Path {
				texts = append(texts, s.Text)
				objects = append(objects, s.Object)
			}
			wantV6 := c.ipv6 || strings.Contains(c.from+c.to, ":")
			if a.IPv6 != wantV6 {
				t.Errorf("answer IPv6 %v, want %v", a.IPv6, wantV6)
			}
			if a.Verdict != c.verdict {
				t.Errorf("verdict %s, want %s; path:\n  %s", a.Verdict, c.verdict, strings.Join(texts, "\n  "))
			}
			i := 0
			for _, s := range texts {
				if i < len(c.texts) && s == c.texts[i] {
					i++
				}
			}
			if i < len(c.texts) {
				t.Errorf("path lacks %q (in order); path:\n  %s", c.texts[i:], strings.Join(texts, "\n  "))
			}
			if c.object != "" && !slices.ContainsFunc(objects, func(o string) bool { return strings.Contains(o, c.object) }) {
				t.Errorf("no step names %q; objects:\n  %s", c.object, strings.Join(objects, "\n  "))
			}
			if got := len(a.Drift) > 0; got != c.drift {
				t.Errorf("drift %v (%v), want %v", got, a.Drift, c.drift)
			}
		})
	}
}

// TestResolveFlow: the family of a flow and where each end is.
func TestResolveFlow(t *testing.T) {
	cfg := load(t, testFile6)
	cases := []struct {
		from, to string
		ipv6     bool
		want     string // from | to | family
		err      string
	}{
		{from: "web", to: "db", want: "container web on docker0 172.17.0.2 via docker0 | container db on docker0 172.17.0.3 via docker0 | 4"},
		{from: "web", to: "db", ipv6: true, want: "container web on docker0 fd00:17::2 via docker0 | container db on docker0 fd00:17::3 via docker0 | 6"},
		{from: "fd00:17::2", to: "db", want: "container web on docker0 fd00:17::2 via docker0 | container db on docker0 fd00:17::3 via docker0 | 6"},
		{from: "web", to: "fd00:17::99", want: "container web on docker0 fd00:17::2 via docker0 | address  on docker0 fd00:17::99 via docker0 | 6"},
		{from: "2001:db8:100::10", to: "br-app/api", want: "address  on  2001:db8:100::10 via eth0 | container api on br-app fd00:18::2 via br-app | 6"},
		{from: "host", to: "fd00:18::1", want: "host  on  invalid IP via  | host  on  fd00:18::1 via  | 6"},
		{from: "host", to: "api", ipv6: true, want: "host  on  invalid IP via  | container api on br-app fd00:18::2 via br-app | 6"},
		{from: "fe80::2%br-v4", to: "fe80::3%br-v4", want: "address  on br-v4 fe80::2 via br-v4 | address  on br-v4 fe80::3 via br-v4 | 6"},
		{from: "fd00:17::3%docker0", to: "2001:db8::1%eth1", want: "container db on docker0 fd00:17::3 via docker0 | address  on  2001:db8::1 via eth1 | 6"},
		{from: "::ffff:172.17.0.2", to: "db", want: "container web on docker0 172.17.0.2 via docker0 | container db on docker0 172.17.0.3 via docker0 | 4"},
		{from: "cache", to: "db", ipv6: true, err: `"cache" has no IPv6 address (it has no address6): an IPv6 flow cannot start or end there`},
		{from: "web", to: "old", ipv6: true, err: `"old" has no IPv6 address (its bridge br-v4 has no address6): an IPv6 flow cannot start or end there`},
		{from: "fd00:17::2", to: "old", err: `"old" has no IPv6 address (its bridge br-v4 has no address6): an IPv6 flow cannot start or end there`},
		{from: "172.17.0.2", to: "fd00:17::3", err: "172.17.0.2 is an IPv4 address and fd00:17::3 an IPv6 one: a flow is of one family"},
		{from: "fd00:17::2", to: "172.17.0.3", err: "fd00:17::2 is an IPv6 address and 172.17.0.3 an IPv4 one: a flow is of one family"},
		{from: "web", to: "172.17.0.3", ipv6: true, err: "-6 asks for an IPv6 flow, but 172.17.0.3 is an IPv4 address"},
	}
	for _, c := range cases {
		from, to, ipv6, err := ResolveFlow(cfg, c.from, c.to, c.ipv6)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("ResolveFlow(%q, %q, %v) error %v, want %q", c.from, c.to, c.ipv6, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ResolveFlow(%q, %q, %v): %v", c.from, c.to, c.ipv6, err)
			continue
		}
		fam := "4"
		if ipv6 {
			fam = "6"
		}
		e := func(e Endpoint) string {
			return e.Kind + " " + e.Container + " on " + e.Bridge + " " + e.Addr.String() + " via " + e.Iface
		}
		if got := e(from) + " | " + e(to) + " | " + fam; got != c.want {
			t.Errorf("ResolveFlow(%q, %q, %v) =\n  %s\nwant\n  %s", c.from, c.to, c.ipv6, got, c.want)
		}
	}
}
