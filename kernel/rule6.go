package kernel

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/plan"
)

// IPv6 rules, written as nft 1.0.6 writes them (nft --debug=netlink) in an
// inet table:
//
//	meta nfproto ipv6      meta load nfproto => reg 1; cmp eq reg 1 0x0a
//	                       (written once before the first IPv6 match, as
//	                       for IPv4; alone, it is the match itself)
//	ip6 saddr fd00::/64    payload load 8b @ network + 8 => reg 1; cmp eq reg 1 fd00...
//	ip6 saddr fd00::/57    payload load 16b @ network + 8 => reg 1; bitwise (mask); cmp eq
//	icmpv6 type nd-neighbor-solicit
//	                       meta load l4proto => reg 1; cmp eq reg 1 0x3a;
//	                       payload load 1b @ transport + 0 => reg 1; cmp eq reg 1 0x87
//	ip6 saddr . ip6 daddr . meta l4proto . th dport @links6
//	                       payload 16b @ network + 8 => reg 1; payload 16b @ network + 24 => reg 2;
//	                       meta load l4proto => reg 3; byteorder reg 3 = hton(reg 3, 2, 1);
//	                       payload 2b @ transport + 2 => reg 17; lookup reg 1 set links6
//	oifname . ip6 saddr @allowed_sources6
//	                       meta load oifname => reg 1; payload 16b @ network + 8 => reg 2;
//	                       lookup reg 1 set allowed_sources6

const (
	offsetSAddr6  = 8
	offsetDAddr6  = 24
	protoICMPv6   = 58
	ipv6AddrBytes = 16
)

var icmpv6Types = map[string]byte{
	plan.ICMPv6NeighborSolicit: 135,
	plan.ICMPv6NeighborAdvert:  136,
}

// nfprotoOf is the NFPROTO_* number of a match family (4 or 6).
func nfprotoOf(family int) byte {
	if family == 6 {
		return unix.NFPROTO_IPV6
	}
	return unix.NFPROTO_IPV4
}

// encodeMatch6 encodes the IPv6 match keys and meta nfproto.
func encodeMatch6(es []expr.Any, m plan.Match, setID func(string) uint32) ([]expr.Any, error) {
	switch m.Key {
	case plan.KeyICMPv6Type:
		typ, ok := icmpv6Types[m.Value]
		if !ok || m.Negate {
			return nil, fmt.Errorf("unsupported ICMPv6 type match %q", m.Value)
		}
		return append(es,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{protoICMPv6}},
			&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{typ}}), nil

	case plan.KeySAddr6, plan.KeyDAddr6:
		off := uint32(offsetSAddr6)
		if m.Key == plan.KeyDAddr6 {
			off = offsetDAddr6
		}
		p, err := parseIPv6Value(m.Value)
		if err != nil {
			return nil, err
		}
		a := p.Addr().As16()
		switch n := p.Bits(); {
		case n > 0 && n%8 == 0:
			return append(es,
				&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(n / 8)},
				&expr.Cmp{Op: cmpOp(m.Negate), Register: reg1, Data: slices.Clone(a[:n/8])}), nil
		default:
			mask := make([]byte, ipv6AddrBytes)
			for i := range n {
				mask[i/8] |= 0x80 >> (i % 8)
			}
			return append(es,
				&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: ipv6AddrBytes},
				&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: ipv6AddrBytes, Mask: mask, Xor: make([]byte, ipv6AddrBytes)},
				&expr.Cmp{Op: cmpOp(m.Negate), Register: reg1, Data: a[:]}), nil
		}

	case plan.KeyLinkTuple6:
		return appendLinkTuple(es, family6, m, setID)

	case plan.KeySourceTuple6:
		return appendSourceTuple(es, family6, m, setID)
	}
	return nil, fmt.Errorf("unsupported match key %q", m.Key)
}

// parseIPv6Value parses an address (a /128) or a prefix, canonical only:
// what decoding writes back.
func parseIPv6Value(v string) (netip.Prefix, error) {
	p, err := parseIPv4Value(v)
	if err == nil {
		return p, fmt.Errorf("%q is not an IPv6 address", v)
	}
	if p, err = netip.ParsePrefix(v); err != nil {
		a, err2 := netip.ParseAddr(v)
		if err2 != nil || a.Zone() != "" {
			return p, fmt.Errorf("%q is not an IPv6 address or prefix", v)
		}
		p = netip.PrefixFrom(a, 128)
	}
	if !p.Addr().Is6() || p.Addr().Is4In6() || p.Masked() != p || (p.Bits() == 128 && v != p.Addr().String()) || (p.Bits() < 128 && v != p.String()) {
		return p, fmt.Errorf("%q is not a canonical IPv6 address or prefix", v)
	}
	return p, nil
}

// nfproto decodes `meta load nfproto; cmp eq` and returns the family (4 or
// 6).
func (d *decoder) nfproto() (int, bool) {
	if d.nfprotoIPv4() {
		return 4, true
	}
	m, ok := d.at(0).(*expr.Meta)
	if !ok || m.Key != expr.MetaKeyNFPROTO || m.SourceRegister {
		return 0, false
	}
	c, ok := d.at(1).(*expr.Cmp)
	if !ok || c.Op != expr.CmpOpEq || !sameReg(c.Register, m.Register) || !bytes.Equal(c.Data, []byte{unix.NFPROTO_IPV6}) {
		return 0, false
	}
	d.i += 2
	return 6, true
}

// match6 decodes the IPv6 matches.
func (d *decoder) match6() (plan.Match, bool) {
	switch e := d.at(0).(type) {
	case *expr.Meta:
		if e.SourceRegister {
			break
		}
		switch e.Key {
		case expr.MetaKeyOIFNAME:
			return d.sourceTuple6(e)
		case expr.MetaKeyL4PROTO:
			return d.icmpv6Type(e)
		}
	case *expr.Payload:
		if m, ok := d.linkTuple6(e); ok {
			return m, true
		}
		return d.addr6(e)
	}
	return plan.Match{}, false
}

func (d *decoder) icmpv6Type(l4 *expr.Meta) (plan.Match, bool) {
	c, ok := d.at(1).(*expr.Cmp)
	if !ok || c.Op != expr.CmpOpEq || !sameReg(c.Register, l4.Register) || !bytes.Equal(c.Data, []byte{protoICMPv6}) {
		return plan.Match{}, false
	}
	p, ok := d.at(2).(*expr.Payload)
	if !ok || !isLoad(p, expr.PayloadBaseTransportHeader, 0, 1) {
		return plan.Match{}, false
	}
	c2, ok := d.at(3).(*expr.Cmp)
	if !ok || c2.Op != expr.CmpOpEq || !sameReg(c2.Register, p.DestRegister) || len(c2.Data) != 1 {
		return plan.Match{}, false
	}
	for name, typ := range icmpv6Types {
		if c2.Data[0] == typ {
			d.i += 4
			return plan.Match{Key: plan.KeyICMPv6Type, Value: name}, true
		}
	}
	return plan.Match{}, false
}

func (d *decoder) addr6(e *expr.Payload) (plan.Match, bool) {
	key := plan.KeySAddr6
	switch e.Offset {
	case offsetSAddr6:
	case offsetDAddr6:
		key = plan.KeyDAddr6
	default:
		return plan.Match{}, false
	}
	if e.Len < 1 || e.Len > ipv6AddrBytes || !isLoad(e, expr.PayloadBaseNetworkHeader, e.Offset, e.Len) {
		return plan.Match{}, false
	}
	var mask []byte
	n := 1
	if bw, ok := d.at(1).(*expr.Bitwise); ok && e.Len == ipv6AddrBytes {
		if !sameReg(bw.SourceRegister, e.DestRegister) || !sameReg(bw.DestRegister, e.DestRegister) ||
			bw.Len != ipv6AddrBytes || len(bw.Mask) != ipv6AddrBytes || !bytes.Equal(bw.Xor, make([]byte, ipv6AddrBytes)) {
			return plan.Match{}, false
		}
		mask, n = bw.Mask, 2
	}
	c, ok := d.at(n).(*expr.Cmp)
	if !ok || !sameReg(c.Register, e.DestRegister) || (c.Op != expr.CmpOpEq && c.Op != expr.CmpOpNeq) || len(c.Data) != int(e.Len) {
		return plan.Match{}, false
	}
	var a [16]byte
	copy(a[:], c.Data)
	bitsN := int(e.Len) * 8
	if mask != nil {
		ones, ok := prefixBits(make([]byte, ipv6AddrBytes), invert(mask))
		if !ok {
			return plan.Match{}, false
		}
		for i := ones; i < 128; i++ {
			if a[i/8]&(0x80>>(i%8)) != 0 {
				return plan.Match{}, false
			}
		}
		bitsN = ones
	}
	p := netip.PrefixFrom(netip.AddrFrom16(a), bitsN)
	d.i += n + 1
	v := p.String()
	if bitsN == 128 {
		v = p.Addr().String()
	}
	return plan.Match{Key: key, Negate: c.Op == expr.CmpOpNeq, Value: v}, true
}

// invert is the bitwise complement of b: prefixBits of (0, ^mask) is the
// mask's number of leading ones when the mask is a prefix mask.
func invert(b []byte) []byte {
	out := make([]byte, len(b))
	for i, x := range b {
		out[i] = ^x
	}
	return out
}

// linkTuple6 decodes ip6 saddr . ip6 daddr . meta l4proto . th dport @set:
// 16-byte fields take four 32-bit registers each.
func (d *decoder) linkTuple6(saddr *expr.Payload) (plan.Match, bool) {
	return d.linkTupleOf(saddr, family6)
}

// sourceTuple6 decodes oifname . ip6 saddr @set.
func (d *decoder) sourceTuple6(oif *expr.Meta) (plan.Match, bool) {
	return d.sourceTupleOf(oif, family6)
}

// usesIP reports whether a match key implies an address family (and so
// writes its own meta nfproto check).
func usesIP(k plan.MatchKey) bool { return plan.MatchFamily(k) != 0 }
