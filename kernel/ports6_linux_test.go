package kernel

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// withPublish6 adds to fw the IPv6 objects of published ports as
// plan/ports6.go names them: the maps publish6 and publish_any6 and their
// DNAT rules (nat-prerouting, nat-output), the set routed_ports6 and its
// rule (filter-forward); extra adds that many more tcp ports to
// publish_any6. Chains fw lacks are created with plan's headers.
func withPublish6(fw *plan.Firewall, extra int) *plan.Firewall {
	out := &plan.Firewall{Owner: plan.Owner}
	if fw != nil {
		out.Owner = fw.Owner
		out.Sets = slices.Clone(fw.Sets)
		for _, c := range fw.Chains {
			c.Rules = slices.Clone(c.Rules)
			out.Chains = append(out.Chains, c)
		}
	}
	const web = "bridge.docker0.container.web.publish."
	any6 := []plan.Element{
		{Key: "tcp . 8080", Value: "fd00:17::2 . 80", Comment: web + "8080:80/tcp"},
		{Key: "sctp . 8000", Value: "fd00:17::2 . 9000", Comment: web + "8000-8002:9000-9002/sctp"},
	}
	for i := range extra {
		any6 = append(any6, plan.Element{Key: fmt.Sprintf("tcp . %d", 20000+i), Value: fmt.Sprintf("fd00:17::2 . %d", 20000+i), Comment: fmt.Sprintf("%s%d:%d/tcp", web, 20000+i, 20000+i)})
	}
	sets := []plan.Set{{
		Name: plan.SetPublish6, Type: plan.PublishMap6Type, Interval: true,
		Elements: []plan.Element{
			{Key: "2001:db8:100::/48 . ::/0 . tcp . 8443", Value: "fd00:17::2 . 443", Comment: web + "8443:443/tcp"},
			{Key: "2001:db8:200::7 . ::/0 . tcp . 8443", Value: "fd00:17::2 . 443", Comment: web + "8443:443/tcp"},
			{Key: "::/0 . 2001:db8::1 . udp . 53", Value: "fd00:17::2 . 53", Comment: web + "[2001:db8::1]:53:53/udp"},
		},
	}, {
		Name: plan.SetPublishAny6, Type: plan.PublishAnyMap6Type, Elements: any6,
	}, {
		Name: plan.SetRoutedPorts6, Type: plan.RoutedPorts6KeyType, Interval: true,
		Elements: []plan.Element{
			{Key: "::/0 . fd00:10::2 . tcp . 90", Comment: "bridge.br-routed.container.app.publish.9090:90/tcp"},
			{Key: "2001:db8:100::/48 . fd00:10::2 . udp . 91", Comment: "bridge.br-routed.container.app.publish.9091:91/udp"},
		},
	}}
	for i := range sets {
		plan.SortElements(sets[i].Elements)
	}
	out.Sets = append(out.Sets, sets...)

	var pre, outp []plan.Rule
	for _, proto := range []string{"tcp", "udp", "sctp"} {
		ms := []plan.Match{{Key: plan.KeyFibDAddrType, Value: "local"}, {Key: plan.KeyL4Proto, Value: proto}}
		pre = append(pre,
			plan.Rule{Comment: "firewall.publish6." + proto, Match: ms, Verdict: plan.VerdictDNATPublish6},
			plan.Rule{Comment: "firewall.publish_any6." + proto, Match: ms, Verdict: plan.VerdictDNATPublishAny6})
		outp = append(outp,
			plan.Rule{Comment: "firewall.publish6." + proto + ".host", Match: ms, Verdict: plan.VerdictDNATPublish6},
			plan.Rule{Comment: "firewall.publish_any6." + proto + ".host", Match: ms, Verdict: plan.VerdictDNATPublishAny6})
	}
	routed := plan.Rule{Comment: "bridge.br-routed.routed6", Match: []plan.Match{
		{Key: plan.KeyIIFName, Negate: true, Value: "br-routed"}, {Key: plan.KeyOIFName, Value: "br-routed"},
		{Key: plan.KeyLinkTuple6, Value: "@" + plan.SetRoutedPorts6},
	}, Verdict: plan.VerdictAccept}
	for _, c := range []plan.Chain{
		{Name: plan.ChainNATPrerouting, Type: "nat", Hook: "prerouting", Priority: -100, Policy: plan.VerdictAccept, Rules: pre},
		{Name: plan.ChainNATOutput, Type: "nat", Hook: "output", Priority: -100, Policy: plan.VerdictAccept, Rules: outp},
		{Name: plan.ChainForward, Type: "filter", Hook: "forward", Priority: 0, Policy: plan.VerdictAccept, Rules: []plan.Rule{routed}},
	} {
		if have := out.Chain(c.Name); have != nil {
			have.Rules = append(have.Rules, c.Rules...)
		} else {
			out.Chains = append(out.Chains, c)
		}
	}
	slices.SortFunc(out.Chains, func(a, b plan.Chain) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(out.Sets, func(a, b plan.Set) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// dualStackPublishFile has publications of both families on dual-stack
// bridges, in gateway modes nat and routed.
const dualStackPublishFile = `bridges:
  docker0:
    address: 172.17.0.1/16
    address6: fd00:17::1/64
    containers:
      web:
        address: 172.17.0.2
        address6: "fd00:17::2"
        publish: ["8080:80", "9000-9001:90-91/udp", "[2001:db8::1]:53:53/udp", "[::]:8081:81",
                  {port: "8443:443", allowed_sources: [203.0.113.0/24, 2001:db8:100::/48]}]
  br-routed:
    address: 10.10.0.1/24
    address6: fd00:10::1/64
    gateway_mode: routed
    containers:
      app: {address: 10.10.0.2, address6: "fd00:10::2", publish: [{port: "9091:91/udp", allowed_sources: [2001:db8:200::/48]}]}
`

// TestPublish6RoundTrip writes the IPv6 maps, set and rules of published
// ports next to the IPv4 ones, reads them back as written, checks nft
// prints them as netctl means them, and that what nft writes for that text
// reads back the same (netctl encodes as nft does); the same for what
// plan makes of a dual-stack file.
func TestPublish6RoundTrip(t *testing.T) {
	requireNft(t)
	t.Run("every object", func(t *testing.T) {
		want := withPublish6(publishFirewall(t, 0), 0)
		h, ns, live, out := writeFirewall(t, want)
		wantListed(t, out, []string{
			"map publish6 {",
			"type ipv6_addr . ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service",
			"map publish_any6 {",
			"type inet_proto . inet_service : ipv6_addr . inet_service",
			"set routed_ports6 {",
			`tcp . 8080 comment "bridge.docker0.container.web.publish.8080:80/tcp" : fd00:17::2 . 80`,
			`2001:db8:100::/48 . ::/0 . tcp . 8443 comment "bridge.docker0.container.web.publish.8443:443/tcp" : fd00:17::2 . 443`,
			`::/0 . 2001:db8::1 . udp . 53 comment "bridge.docker0.container.web.publish.[2001:db8::1]:53:53/udp" : fd00:17::2 . 53`,
			`fib daddr type local dnat ip6 to ip6 saddr . ip6 daddr . meta l4proto . tcp dport map @publish6 comment "firewall.publish6.tcp"`,
			`fib daddr type local dnat ip6 to meta l4proto . udp dport map @publish_any6 comment "firewall.publish_any6.udp"`,
			`fib daddr type local dnat ip6 to meta l4proto . sctp dport map @publish_any6 comment "firewall.publish_any6.sctp.host"`,
			`iifname != "br-routed" oifname "br-routed" ip6 saddr . ip6 daddr . meta l4proto . th dport @routed_ports6 accept comment "bridge.br-routed.routed6"`,
			`2001:db8:100::/48 . fd00:10::2 . udp . 91 comment "bridge.br-routed.container.app.publish.9091:91/udp"`,
			// The IPv4 twins are unchanged next to them.
			`fib daddr type local dnat ip to ip saddr . ip daddr . meta l4proto . tcp dport map @publish comment "firewall.publish.tcp"`,
			`fib daddr type local dnat ip to meta l4proto . tcp dport map @publish_any comment "firewall.publish_any.tcp"`,
		})
		mustEqual(t, "table written by nft", want, nftRewrite(t, out))

		// One more port is one element; removing it takes it away again.
		more := withPublish6(publishFirewall(t, 0), 1)
		if err := h.SyncFirewall(live, more); err != nil {
			t.Fatal(err)
		}
		got := read(t, h, plan.Scope{}).Firewall
		mustEqual(t, "one more port", more, got)
		wantListed(t, nstest.Exec(t, ns, "nft", "list", "map", "inet", "netctl", plan.SetPublishAny6), []string{
			`tcp . 20000 comment "bridge.docker0.container.web.publish.20000:20000/tcp" : fd00:17::2 . 20000`,
		})
		if err := h.SyncFirewall(got, want); err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "port removed", want, read(t, h, plan.Scope{}).Firewall)
		if err := h.SyncFirewall(want, nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("plan of a dual-stack file", func(t *testing.T) {
		cfg, err := schema.Parse("dual.yaml", []byte(dualStackPublishFile))
		if err != nil {
			t.Fatal(err)
		}
		want := plan.Desired(cfg).Firewall
		if s := want.Set(plan.SetPublish6); s == nil || len(s.Elements) == 0 {
			t.Fatalf("plan has no IPv6 publications for %s", dualStackPublishFile)
		}
		_, _, _, out := writeFirewall(t, want)
		wantListed(t, out, []string{
			`udp . 9001 comment "bridge.docker0.container.web.publish.9000-9001:90-91/udp" : fd00:17::2 . 91`,
			`tcp . 8081 comment "bridge.docker0.container.web.publish.[::]:8081:81/tcp" : fd00:17::2 . 81`,
			`2001:db8:100::/48 . ::/0 . tcp . 8443 comment "bridge.docker0.container.web.publish.8443:443/tcp" : fd00:17::2 . 443`,
			`::/0 . 2001:db8::1 . udp . 53 comment "bridge.docker0.container.web.publish.[2001:db8::1]:53:53/udp" : fd00:17::2 . 53`,
			`2001:db8:200::/48 . fd00:10::2 . udp . 91 comment "bridge.br-routed.container.app.publish.9091:91/udp"`,
			`fib daddr type local dnat ip6 to meta l4proto . tcp dport map @publish_any6 comment "firewall.publish_any6.tcp"`,
			`fib daddr type local dnat ip6 to ip6 saddr . ip6 daddr . meta l4proto . udp dport map @publish6 comment "firewall.publish6.udp"`,
			`iifname != "br-routed" oifname "br-routed" ip6 saddr . ip6 daddr . meta l4proto . th dport @routed_ports6 accept comment "bridge.br-routed.routed6"`,
			`oifname "docker0" ct status dnat ip6 saddr fd00:17::/64 masquerade comment "bridge.docker0.hairpin6"`,
		})
		mustEqual(t, "table written by nft", want, nftRewrite(t, out))
	})
}

// TestPublish6MapReplacedUnderRules: a map of another type or kind (here
// publish_any6 made an interval map, publish6 a hash one) is replaced
// under the DNAT rules that look it up (their chains are refilled around
// it), and back.
func TestPublish6MapReplacedUnderRules(t *testing.T) {
	want := withPublish6(nil, 0)
	h, _, live, _ := writeFirewall(t, want)
	to := withPublish6(nil, 0)
	to.Set(plan.SetPublishAny6).Interval = true
	to.Set(plan.SetPublish6).Interval = false
	to.Set(plan.SetPublish6).Elements = []plan.Element{{Key: "2001:db8:200::7 . 2001:db8::1 . tcp . 8443", Value: "fd00:17::2 . 443", Comment: "exact"}}
	if err := h.SyncFirewall(live, to); err != nil {
		t.Fatal(err)
	}
	got := read(t, h, plan.Scope{}).Firewall
	mustEqual(t, "maps replaced", to, got)
	if err := h.SyncFirewall(got, want); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "replace undone", want, read(t, h, plan.Scope{}).Firewall)
}
