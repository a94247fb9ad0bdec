package kernel

import (
	"testing"

	"github.com/netctl/netctl/plan"
)

// ipv6RuleShapes has every IPv6 rule shape netctl writes.
func ipv6RuleShapes() []plan.Rule {
	return []plan.Rule{
		{Comment: "bridge.docker0.ipv4_only.in", Match: []plan.Match{m(plan.KeyIIFName, false, "docker0"), m(plan.KeyNFProto, false, "ipv6")}, Verdict: plan.VerdictDrop},
		{Comment: "bridge.docker0.ipv4_only.out", Match: []plan.Match{m(plan.KeyOIFName, false, "docker0"), m(plan.KeyNFProto, false, "ipv6")}, Verdict: plan.VerdictDrop},
		{Comment: "nfproto.alone", Match: []plan.Match{m(plan.KeyNFProto, false, "ipv4")}, Verdict: plan.VerdictAccept},
		{Comment: "bridge.docker0.allowed_sources6", Match: []plan.Match{m(plan.KeyIIFName, true, "docker0"), m(plan.KeyOIFName, false, "docker0"), m(plan.KeySourceTuple6, true, "@allowed_sources6")}, Verdict: plan.VerdictDrop},
		{Comment: "bridge.docker0.links6", Match: []plan.Match{m(plan.KeyIIFName, false, "docker0"), m(plan.KeyOIFName, false, "docker0"), m(plan.KeyLinkTuple6, false, "@links6")}, Verdict: plan.VerdictAccept},
		{Comment: "bridge.docker0.icc.nd-neighbor-solicit", Match: []plan.Match{m(plan.KeyIIFName, false, "docker0"), m(plan.KeyOIFName, false, "docker0"), m(plan.KeyICMPv6Type, false, plan.ICMPv6NeighborSolicit)}, Verdict: plan.VerdictAccept},
		{Comment: "bridge.docker0.icc.nd-neighbor-advert", Match: []plan.Match{m(plan.KeyIIFName, false, "docker0"), m(plan.KeyOIFName, false, "docker0"), m(plan.KeyICMPv6Type, false, plan.ICMPv6NeighborAdvert)}, Verdict: plan.VerdictAccept},
		{Comment: "bridge.docker0.masquerade6", Match: []plan.Match{m(plan.KeyOIFName, true, "docker0"), m(plan.KeySAddr6, false, "fd00:17::/64")}, Verdict: plan.VerdictMasquerade},
		{Comment: "addr6", Match: []plan.Match{m(plan.KeySAddr6, false, "fd00:17::1"), m(plan.KeyDAddr6, true, "fd00:17::/57"), m(plan.KeyDAddr6, false, "::/0")}, Verdict: plan.VerdictAccept},
	}
}

func TestRule6RoundTrip(t *testing.T) { checkRoundTrips(t, ipv6RuleShapes()) }

// TestRule6NftLayout: the expressions are those nft 1.0.6 prints with
// --debug=netlink for the same rule text.
func TestRule6NftLayout(t *testing.T) {
	dk := "cmp eq reg 1 0x646f636b657230000000000000000000"
	for _, tc := range []struct {
		rule plan.Rule
		want []string
	}{{
		ipv6RuleShapes()[0],
		[]string{"meta load iifname => reg 1", dk, "meta load nfproto => reg 1", "cmp eq reg 1 0x0a", "drop"},
	}, {
		ipv6RuleShapes()[4],
		[]string{"meta load iifname => reg 1", dk, "meta load oifname => reg 1", dk,
			"meta load nfproto => reg 1", "cmp eq reg 1 0x0a",
			"payload load 16b @ network header + 8 => reg 1",
			"payload load 16b @ network header + 24 => reg 2",
			"meta load l4proto => reg 3",
			"byteorder reg 3 = 1(reg 3, 2, 1)",
			"payload load 2b @ transport header + 2 => reg 17",
			"lookup reg 1 set links6",
			"accept"},
	}, {
		ipv6RuleShapes()[3],
		[]string{"meta load iifname => reg 1", "cmp neq reg 1 0x646f636b657230000000000000000000", "meta load oifname => reg 1", dk,
			"meta load nfproto => reg 1", "cmp eq reg 1 0x0a",
			"meta load oifname => reg 1",
			"payload load 16b @ network header + 8 => reg 2",
			"lookup reg 1 set allowed_sources6 inverted",
			"drop"},
	}, {
		ipv6RuleShapes()[5],
		[]string{"meta load iifname => reg 1", dk, "meta load oifname => reg 1", dk,
			"meta load nfproto => reg 1", "cmp eq reg 1 0x0a",
			"meta load l4proto => reg 1", "cmp eq reg 1 0x3a",
			"payload load 1b @ transport header + 0 => reg 1", "cmp eq reg 1 0x87",
			"accept"},
	}, {
		ipv6RuleShapes()[7],
		[]string{"meta load oifname => reg 1", "cmp neq reg 1 0x646f636b657230000000000000000000",
			"meta load nfproto => reg 1", "cmp eq reg 1 0x0a",
			"payload load 8b @ network header + 8 => reg 1", "cmp eq reg 1 0xfd00001700000000",
			"masq {Random:false FullyRandom:false Persistent:false ToPorts:false RegProtoMin:0 RegProtoMax:0}"},
	}} {
		checkLayout(t, tc.rule, tc.want)
	}
}

func TestRule6NotCanonical(t *testing.T) {
	for _, r := range []plan.Rule{
		{Match: []plan.Match{m(plan.KeySAddr6, false, "10.0.0.1")}, Verdict: "drop"},
		{Match: []plan.Match{m(plan.KeySAddr6, false, "fd00:17::1/64")}, Verdict: "drop"},
		{Match: []plan.Match{m(plan.KeySAddr6, false, "FD00::1")}, Verdict: "drop"},
		{Match: []plan.Match{m(plan.KeySAddr6, false, "fe80::1%eth0")}, Verdict: "drop"},
		{Match: []plan.Match{m(plan.KeyNFProto, false, "ipx")}, Verdict: "drop"},
		{Match: []plan.Match{m(plan.KeyICMPv6Type, false, "echo-request")}, Verdict: "accept"},
		{Match: []plan.Match{m(plan.KeyLinkTuple6, false, "links6")}, Verdict: "accept"},
	} {
		if got, err := encodeDecode(t, r); err == nil {
			t.Errorf("%q accepted (reads back as %q)", r.String(), got.String())
		}
	}
}

func TestSetKey6(t *testing.T) {
	for _, tc := range []struct{ typ, key string }{
		{plan.Links6KeyType, "fd00:17::2 . fd00:17::3 . tcp . 5432"},
		{plan.Links6KeyType, "fd00:17::2 . fd00:17::3 . udp . 1000-2000"},
		{plan.AllowedSources6KeyType, `"docker0" . 2001:db8:100::/48`},
		{plan.AllowedSources6KeyType, `"docker0" . 2001:db8:200::7`},
	} {
		kt, err := parseKeyType(tc.typ)
		if err != nil {
			t.Fatal(err)
		}
		key, end := make([]byte, kt.len), make([]byte, kt.len)
		if _, err := kt.parseKey(tc.key, key, end, nil); err != nil {
			t.Errorf("%s: %v", tc.key, err)
		}
		if got := string(kt.renderKey(nil, key, end)); got != tc.key {
			t.Errorf("%s: renders back as %s", tc.key, got)
		}
		if back := keyTypeFromKernel(kt.magic, kt.len); back.name != tc.typ {
			t.Errorf("%s: type from the kernel is %q", tc.typ, back.name)
		}
	}
}
