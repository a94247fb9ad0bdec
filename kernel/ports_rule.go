package kernel

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/plan"
)

// Rules of published ports: the matches and the DNAT statement that
// plan/ports.go uses, encoded as nft encodes them and decoded back:
//
//	meta l4proto tcp          meta load l4proto => reg 1; cmp eq reg 1 0x06
//	fib daddr type local      fib daddr type => reg 1; cmp eq reg 1 0x00000002 (RTN_LOCAL, host order)
//	ct status dnat            ct load status => reg 1; bitwise reg 1 = (reg 1 & 0x20) ^ 0; cmp neq reg 1 0
//	dnat ip to ip saddr . ip daddr . meta l4proto . th dport map @publish
//	                          (meta nfproto ipv4, unless an ip match came before)
//	                          payload 4b @ network + 12 => reg 1; payload 4b @ network + 16 => reg 9;
//	                          meta load l4proto => reg 10; byteorder reg 10 = hton(reg 10, 2, 1);
//	                          payload 2b @ transport + 2 => reg 11; lookup reg 1 set publish dreg 1;
//	                          nat dnat ip addr_min reg 1 proto_min reg 9

const (
	rtnLocal      = 2    // RTN_LOCAL
	ctStatusDNAT  = 0x20 // IPS_DST_NAT
	dnatTailItems = 7    // the expressions of the DNAT statement after nfproto
)

// ctStatuses are the bits of ct status netctl writes or reads, as nft
// names them.
var ctStatuses = []struct {
	name string
	bit  uint32
}{
	{"expected", 0x1}, {"seen-reply", 0x2}, {"assured", 0x4}, {"confirmed", 0x8},
	{"snat", 0x10}, {"dnat", 0x20}, {"dying", 0x200},
}

// encodePortsMatch encodes the match keys of published ports; ok is false
// for any other key.
func encodePortsMatch(es []expr.Any, m plan.Match) ([]expr.Any, bool, error) {
	switch m.Key {
	case plan.KeyL4Proto:
		p, known := protoNames[m.Value]
		if !known {
			return nil, true, fmt.Errorf("unknown protocol %q", m.Value)
		}
		return append(es,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
			&expr.Cmp{Op: cmpOp(m.Negate), Register: reg1, Data: []byte{p}}), true, nil
	case plan.KeyFibDAddrType:
		if m.Value != "local" || m.Negate {
			return nil, true, fmt.Errorf("only fib daddr type local is supported")
		}
		return append(es,
			&expr.Fib{Register: reg1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binary.NativeEndian.AppendUint32(nil, rtnLocal)}), true, nil
	case plan.KeyCTStatus:
		if m.Negate {
			return nil, true, fmt.Errorf("negated ct status is not supported")
		}
		var mask uint32
		for _, s := range ctStatuses {
			if s.name == m.Value {
				mask = s.bit
			}
		}
		if mask == 0 {
			return nil, true, fmt.Errorf("unknown conntrack status %q", m.Value)
		}
		return append(es,
			&expr.Ct{Key: expr.CtKeySTATUS, Register: reg1},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
				Mask: binary.NativeEndian.AppendUint32(nil, mask), Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: []byte{0, 0, 0, 0}}), true, nil
	}
	return es, false, nil
}

// appendDNATPublish appends the DNAT statement; nfproto says whether the
// rule has already matched meta nfproto ipv4.
func appendDNATPublish(es []expr.Any, nfproto bool, setID func(string) uint32) []expr.Any {
	if !nfproto {
		es = append(es,
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{unix.NFPROTO_IPV4}})
	}
	return append(es,
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: offsetSAddr, Len: 4},
		&expr.Payload{DestRegister: reg32_01, Base: expr.PayloadBaseNetworkHeader, Offset: offsetDAddr, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32_02},
		&expr.Byteorder{SourceRegister: reg32_02, DestRegister: reg32_02, Op: expr.ByteorderHton, Len: 1, Size: 2},
		&expr.Payload{DestRegister: reg32_03, Base: expr.PayloadBaseTransportHeader, Offset: offsetDPort, Len: 2},
		&expr.Lookup{SourceRegister: reg1, SetName: plan.SetPublish, SetID: setID(plan.SetPublish), DestRegister: reg1, IsDestRegSet: true},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1, RegProtoMin: reg32_01})
}

// dnatPublishTail reports whether items end with the DNAT statement
// (without its nfproto match).
func dnatPublishTail(items []exprItem) bool {
	if len(items) < dnatTailItems {
		return false
	}
	d := decoder{items: items[len(items)-dnatTailItems:]}
	saddr, ok := d.at(0).(*expr.Payload)
	if !ok || !isLoad(saddr, expr.PayloadBaseNetworkHeader, offsetSAddr, 4) {
		return false
	}
	base := saddr.DestRegister
	daddr, ok := d.at(1).(*expr.Payload)
	if !ok || !isLoad(daddr, expr.PayloadBaseNetworkHeader, offsetDAddr, 4) || !regAt(daddr.DestRegister, base, 1) {
		return false
	}
	proto, ok := d.at(2).(*expr.Meta)
	if !ok || proto.Key != expr.MetaKeyL4PROTO || proto.SourceRegister || !regAt(proto.Register, base, 2) {
		return false
	}
	bo, ok := d.at(3).(*expr.Byteorder)
	if !ok || !sameReg(bo.SourceRegister, proto.Register) || !sameReg(bo.DestRegister, proto.Register) ||
		bo.Op != expr.ByteorderHton || bo.Len != 1 || bo.Size != 2 {
		return false
	}
	dport, ok := d.at(4).(*expr.Payload)
	if !ok || !isLoad(dport, expr.PayloadBaseTransportHeader, offsetDPort, 2) || !regAt(dport.DestRegister, base, 3) {
		return false
	}
	lk, ok := d.at(5).(*expr.Lookup)
	if !ok || !sameReg(lk.SourceRegister, base) || !lk.IsDestRegSet || lk.Invert || lk.SetName != plan.SetPublish {
		return false
	}
	nat, ok := d.at(6).(*expr.NAT)
	return ok && natToMap(nat, lk)
}

// portsMatch decodes the match keys of published ports at d's position.
func (d *decoder) portsMatch() (plan.Match, bool) {
	switch e := d.at(0).(type) {
	case *expr.Meta:
		if e.SourceRegister || e.Key != expr.MetaKeyL4PROTO {
			break
		}
		c, ok := d.at(1).(*expr.Cmp)
		if !ok || !sameReg(c.Register, e.Register) || (c.Op != expr.CmpOpEq && c.Op != expr.CmpOpNeq) || len(c.Data) != 1 {
			break
		}
		name := string(appendProto(nil, c.Data[0]))
		if _, known := protoNames[name]; !known {
			break
		}
		d.i += 2
		return plan.Match{Key: plan.KeyL4Proto, Negate: c.Op == expr.CmpOpNeq, Value: name}, true
	case *expr.Fib:
		if *e != (expr.Fib{Register: e.Register, FlagDADDR: true, ResultADDRTYPE: true}) {
			break
		}
		c, ok := d.at(1).(*expr.Cmp)
		if !ok || c.Op != expr.CmpOpEq || !sameReg(c.Register, e.Register) || !bytes.Equal(c.Data, binary.NativeEndian.AppendUint32(nil, rtnLocal)) {
			break
		}
		d.i += 2
		return plan.Match{Key: plan.KeyFibDAddrType, Value: "local"}, true
	case *expr.Ct:
		mask, ok := d.ctMask(e, expr.CtKeySTATUS)
		if !ok {
			break
		}
		for _, s := range ctStatuses {
			if mask == s.bit {
				d.i += 3
				return plan.Match{Key: plan.KeyCTStatus, Value: s.name}, true
			}
		}
	}
	return plan.Match{}, false
}

// appendDNATPublishAny appends the DNAT statement of the map publish_any,
// as nft writes it (no nfproto match: `dnat ip` does nothing to IPv6).
func appendDNATPublishAny(es []expr.Any, setID func(string) uint32) []expr.Any {
	return append(es,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Payload{DestRegister: reg32_01, Base: expr.PayloadBaseTransportHeader, Offset: offsetDPort, Len: 2},
		&expr.Lookup{SourceRegister: reg1, SetName: plan.SetPublishAny, SetID: setID(plan.SetPublishAny), DestRegister: reg1, IsDestRegSet: true},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1, RegProtoMin: reg32_01})
}

// dnatPublishAnyTail reports whether items end with the DNAT statement of
// publish_any.
func dnatPublishAnyTail(items []exprItem) bool {
	const n = dnatAnyTailItems
	if len(items) < n {
		return false
	}
	d := decoder{items: items[len(items)-n:]}
	proto, ok := d.at(0).(*expr.Meta)
	if !ok || proto.Key != expr.MetaKeyL4PROTO || proto.SourceRegister {
		return false
	}
	base := proto.Register
	dport, ok := d.at(1).(*expr.Payload)
	if !ok || !isLoad(dport, expr.PayloadBaseTransportHeader, offsetDPort, 2) || !regAt(dport.DestRegister, base, 1) {
		return false
	}
	lk, ok := d.at(2).(*expr.Lookup)
	if !ok || !sameReg(lk.SourceRegister, base) || !lk.IsDestRegSet || lk.Invert || lk.SetName != plan.SetPublishAny {
		return false
	}
	nat, ok := d.at(3).(*expr.NAT)
	return ok && natToMap(nat, lk)
}

const dnatAnyTailItems = 4

// natToMap reports whether nat translates to the address and port a map
// lookup put in its registers.
func natToMap(nat *expr.NAT, lk *expr.Lookup) bool {
	// The kernel reads back the maxima equal to the minima and the flags
	// it derives from them (NF_NAT_RANGE_MAP_IPS, _PROTO_SPECIFIED).
	return nat.Type == expr.NATTypeDestNAT && nat.Family == unix.NFPROTO_IPV4 && sameReg(nat.RegAddrMin, lk.DestRegister) &&
		regAt(nat.RegProtoMin, lk.DestRegister, 1) && (nat.RegAddrMax == 0 || nat.RegAddrMax == nat.RegAddrMin) &&
		(nat.RegProtoMax == 0 || nat.RegProtoMax == nat.RegProtoMin) &&
		!nat.Random && !nat.FullyRandom && !nat.Persistent && !nat.Prefix
}
