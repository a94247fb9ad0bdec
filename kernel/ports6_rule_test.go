package kernel

import (
	"testing"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/plan"
)

// publishRuleShapes has the DNAT rules of published ports of both
// families, as plan writes them and after an address match.
func publishRuleShapes() []plan.Rule {
	local := []plan.Match{m(plan.KeyFibDAddrType, false, "local"), m(plan.KeyL4Proto, false, "tcp")}
	return []plan.Rule{
		{Comment: "firewall.publish.tcp", Match: local, Verdict: plan.VerdictDNATPublish},
		{Comment: "firewall.publish_any.tcp", Match: local, Verdict: plan.VerdictDNATPublishAny},
		{Comment: "firewall.publish6.tcp", Match: local, Verdict: plan.VerdictDNATPublish6},
		{Comment: "firewall.publish_any6.udp", Match: []plan.Match{m(plan.KeyFibDAddrType, false, "local"), m(plan.KeyL4Proto, false, "udp")}, Verdict: plan.VerdictDNATPublishAny6},
		{Comment: "publish6.after.ip6", Match: []plan.Match{m(plan.KeyDAddr6, true, "::1")}, Verdict: plan.VerdictDNATPublish6},
		{Comment: "publish6.alone", Verdict: plan.VerdictDNATPublish6},
		{Comment: "routed6", Match: []plan.Match{m(plan.KeyIIFName, true, "docker0"), m(plan.KeyOIFName, false, "docker0"), m(plan.KeyLinkTuple6, false, "@"+plan.SetRoutedPorts6)}, Verdict: plan.VerdictAccept},
	}
}

func TestPublishRuleRoundTrip(t *testing.T) { checkRoundTrips(t, publishRuleShapes()) }

// TestPublish6NftLayout: the expressions are those nft 1.0.6 prints with
// --debug=netlink for the same rule text in an inet table (and, checked by
// hand against --debug=mnl, the same bytes).
func TestPublish6NftLayout(t *testing.T) {
	// After the protocol match (the fib match before it is IPv4's too).
	tcp := []plan.Match{m(plan.KeyL4Proto, false, "tcp")}
	local := []string{"meta load l4proto => reg 1", "cmp eq reg 1 0x06"}
	for _, tc := range []struct {
		rule plan.Rule
		want []string
	}{{
		plan.Rule{Match: tcp, Verdict: plan.VerdictDNATPublish6},
		append(local[:2:2],
			"meta load nfproto => reg 1", "cmp eq reg 1 0x0a",
			"payload load 16b @ network header + 8 => reg 1",
			"payload load 16b @ network header + 24 => reg 2",
			"meta load l4proto => reg 3",
			"byteorder reg 3 = 1(reg 3, 2, 1)",
			"payload load 2b @ transport header + 2 => reg 17",
			"lookup reg 1 set publish6 dreg 1",
			"nat dnat ip6 addr_min reg 1 proto_min reg 2"),
	}, {
		plan.Rule{Match: tcp, Verdict: plan.VerdictDNATPublishAny6},
		append(local[:2:2],
			"meta load l4proto => reg 1",
			"payload load 2b @ transport header + 2 => reg 9",
			"lookup reg 1 set publish_any6 dreg 1",
			"nat dnat ip6 addr_min reg 1 proto_min reg 2"),
	}, {
		// The IPv4 twins, unchanged.
		plan.Rule{Match: tcp, Verdict: plan.VerdictDNATPublish},
		append(local[:2:2],
			"meta load nfproto => reg 1", "cmp eq reg 1 0x02",
			"payload load 4b @ network header + 12 => reg 1",
			"payload load 4b @ network header + 16 => reg 9",
			"meta load l4proto => reg 10",
			"byteorder reg 10 = 1(reg 10, 2, 1)",
			"payload load 2b @ transport header + 2 => reg 11",
			"lookup reg 1 set publish dreg 1",
			"nat dnat ip addr_min reg 1 proto_min reg 9"),
	}, {
		plan.Rule{Match: tcp, Verdict: plan.VerdictDNATPublishAny},
		append(local[:2:2],
			"meta load l4proto => reg 1",
			"payload load 2b @ transport header + 2 => reg 9",
			"lookup reg 1 set publish_any dreg 1",
			"nat dnat ip addr_min reg 1 proto_min reg 9"),
	}} {
		checkLayout(t, tc.rule, tc.want)
	}
}

// dnat6 is `dnat ip6 to ip6 saddr . ip6 daddr . meta l4proto . th dport
// map @publish6` in the kernel's spelling of registers (32-bit numbers),
// with change applied to its expressions.
func dnat6(change func(es []expr.Any)) []expr.Any {
	es := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Register: 1, Data: []byte{unix.NFPROTO_IPV6}},
		&expr.Payload{DestRegister: 8, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 16},
		&expr.Payload{DestRegister: 12, Base: expr.PayloadBaseNetworkHeader, Offset: 24, Len: 16},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 16},
		&expr.Byteorder{SourceRegister: 16, DestRegister: 16, Op: expr.ByteorderHton, Len: 1, Size: 2},
		&expr.Payload{DestRegister: 17, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: 8, SetName: plan.SetPublish6, DestRegister: 8, IsDestRegSet: true},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV6, RegAddrMin: 8, RegProtoMin: 12, RegAddrMax: 8, RegProtoMax: 12, Specified: true},
	}
	if change != nil {
		change(es)
	}
	return es
}

// dnatAny6 is `dnat ip6 to meta l4proto . th dport map @publish_any6`, as
// dnat6.
func dnatAny6(change func(es []expr.Any)) []expr.Any {
	es := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: 1, SetName: plan.SetPublishAny6, DestRegister: 1, IsDestRegSet: true},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV6, RegAddrMin: 1, RegProtoMin: 2},
	}
	if change != nil {
		change(es)
	}
	return es
}

// TestPublish6DecodeVariants: the kernel's register spellings decode; any
// other offset, family, register or map reads as Unknown.
func TestPublish6DecodeVariants(t *testing.T) {
	nfproto4 := &expr.Cmp{Register: 1, Data: []byte{unix.NFPROTO_IPV4}}
	for _, tc := range []struct {
		name string
		es   []expr.Any
		want string // "" means Unknown
	}{
		{"publish6 with 32-bit register numbers", dnat6(nil), plan.VerdictDNATPublish6},
		{"publish_any6", dnatAny6(nil), plan.VerdictDNATPublishAny6},
		{"publish_any6 with 32-bit register numbers", dnatAny6(func(es []expr.Any) {
			es[0].(*expr.Meta).Register = 8
			es[2].(*expr.Lookup).SourceRegister, es[2].(*expr.Lookup).DestRegister = 8, 8
			es[3].(*expr.NAT).RegAddrMin, es[3].(*expr.NAT).RegProtoMin = 8, 12
		}), plan.VerdictDNATPublishAny6},

		{"publish6 without nfproto", dnat6(nil)[2:], ""},
		{"publish6 after nfproto ipv4", dnat6(func(es []expr.Any) { es[1] = nfproto4 }), ""},
		{"publish6 with saddr at the IPv4 offset", dnat6(func(es []expr.Any) { es[2].(*expr.Payload).Offset = 12 }), ""},
		{"publish6 with daddr at the saddr offset", dnat6(func(es []expr.Any) { es[3].(*expr.Payload).Offset = 8 }), ""},
		{"publish6 with 4-byte addresses", dnat6(func(es []expr.Any) { es[2].(*expr.Payload).Len, es[3].(*expr.Payload).Len = 4, 4 }), ""},
		{"publish6 with daddr overlapping saddr", dnat6(func(es []expr.Any) { es[3].(*expr.Payload).DestRegister = 9 }), ""},
		{"publish6 with sport", dnat6(func(es []expr.Any) { es[6].(*expr.Payload).Offset = 0 }), ""},
		{"publish6 without byteorder", append(dnat6(nil)[:5:5], dnat6(nil)[6:]...), ""},
		{"publish6 with an IPv4 NAT", dnat6(func(es []expr.Any) { es[8].(*expr.NAT).Family = unix.NFPROTO_IPV4 }), ""},
		{"publish6 with proto_min in the word after the address's first", dnat6(func(es []expr.Any) { es[8].(*expr.NAT).RegProtoMin = 9 }), ""},
		{"publish6 with snat", dnat6(func(es []expr.Any) { es[8].(*expr.NAT).Type = expr.NATTypeSourceNAT }), ""},
		{"publish6 with random", dnat6(func(es []expr.Any) { es[8].(*expr.NAT).Random = true }), ""},
		{"publish6 looking up the IPv4 map", dnat6(func(es []expr.Any) { es[7].(*expr.Lookup).SetName = plan.SetPublish }), ""},
		{"publish6 looking up publish_any6", dnat6(func(es []expr.Any) { es[7].(*expr.Lookup).SetName = plan.SetPublishAny6 }), ""},
		{"publish6 inverted lookup", dnat6(func(es []expr.Any) { es[7].(*expr.Lookup).Invert = true }), ""},
		{"publish6 lookup without dreg", dnat6(func(es []expr.Any) {
			es[7].(*expr.Lookup).DestRegister, es[7].(*expr.Lookup).IsDestRegSet = 0, false
		}), ""},

		{"publish_any6 after nfproto ipv6", append([]expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, &expr.Cmp{Register: 1, Data: []byte{unix.NFPROTO_IPV6}}}, dnatAny6(nil)...), ""},
		{"publish_any6 with an IPv4 NAT", dnatAny6(func(es []expr.Any) { es[3].(*expr.NAT).Family = unix.NFPROTO_IPV4 }), ""},
		{"publish_any6 with the IPv4 proto_min", dnatAny6(func(es []expr.Any) { es[3].(*expr.NAT).RegProtoMin = 9 }), ""},
		{"publish_any6 looking up publish_any", dnatAny6(func(es []expr.Any) { es[2].(*expr.Lookup).SetName = plan.SetPublishAny }), ""},
		{"publish_any6 with the port at offset 0", dnatAny6(func(es []expr.Any) { es[1].(*expr.Payload).Offset = 0 }), ""},
		{"publish_any6 with the port in reg 10", dnatAny6(func(es []expr.Any) { es[1].(*expr.Payload).DestRegister = 10 }), ""},
		{"publish_any6 followed by accept", append(dnatAny6(nil), &expr.Verdict{Kind: expr.VerdictAccept}), ""},
	} {
		checkDecodes(t, tc.name, tc.es, tc.want)
	}
}

// TestPublish6NotCanonical: a rule whose DNAT statement would not read
// back as written is refused.
func TestPublish6NotCanonical(t *testing.T) {
	for _, r := range []plan.Rule{
		{Match: []plan.Match{m(plan.KeySAddr, false, "10.0.0.1")}, Verdict: plan.VerdictDNATPublish6},
		{Match: []plan.Match{m(plan.KeySAddr6, false, "fd00::1")}, Verdict: plan.VerdictDNATPublish},
		{Match: []plan.Match{m(plan.KeySAddr6, false, "fd00::1")}, Verdict: plan.VerdictDNATPublishAny6},
	} {
		if got, err := encodeDecode(t, r); err == nil {
			t.Errorf("%q accepted (reads back as %q)", r.String(), got.String())
		}
	}
}
