package kernel

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/google/nftables/expr"

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
//	dnat ip to meta l4proto . th dport map @publish_any
//	                          (no meta nfproto: the kernel's ip NAT does nothing to IPv6)
//	                          meta load l4proto => reg 1; payload 2b @ transport + 2 => reg 9;
//	                          lookup reg 1 set publish_any dreg 1; nat dnat ip addr_min reg 1 proto_min reg 9
//
// One table (dnatStmts) describes the statements of both families, and
// one encoder and decoder serve them all; ports6_rule.go has the IPv6 ones.

const (
	rtnLocal     = 2    // RTN_LOCAL
	ctStatusDNAT = 0x20 // IPS_DST_NAT
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

// dnatStmt is one of the DNAT statements of published ports: a lookup of
// the packet in a map (by the link tuple, or by protocol . port alone)
// whose data are the address and port to translate to.
type dnatStmt struct {
	verdict, set string
	fam          tupleFamily
	tuple        bool // keyed by saddr . daddr . meta l4proto . th dport
}

// dnatStmts are the DNAT statements netctl writes (ports6_rule.go has
// the IPv6 ones).
var dnatStmts = append([]dnatStmt{
	{plan.VerdictDNATPublish, plan.SetPublish, family4, true},
	{plan.VerdictDNATPublishAny, plan.SetPublishAny, family4, false},
}, dnatStmts6...)

// dnatStmtOf is the DNAT statement of a verdict, nil for another verdict.
func dnatStmtOf(verdict string) *dnatStmt {
	for i := range dnatStmts {
		if dnatStmts[i].verdict == verdict {
			return &dnatStmts[i]
		}
	}
	return nil
}

// nfproto is the family the rule matches with meta nfproto before the
// statement, as nft writes it: the tuple's saddr implies it (a match of
// its own unless one came before); protocol . port implies none, and the
// kernel's NAT expression of the other family does nothing.
func (s *dnatStmt) nfproto() int {
	if s.tuple {
		return s.fam.family
	}
	return 0
}

// items is the number of expressions of the statement, after its nfproto.
func (s *dnatStmt) items() int {
	if s.tuple {
		return 7
	}
	return 4
}

// appendDNAT appends the DNAT statement s; nfproto is the family the
// rule's matches have checked so far (0 for none).
func appendDNAT(es []expr.Any, s *dnatStmt, nfproto int, setID func(string) uint32) []expr.Any {
	if s.tuple {
		if nfproto != s.nfproto() {
			es = appendNFProto(es, s.fam.family)
		}
		es = appendTuple(es, s.fam)
	} else {
		es = append(es,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
			&expr.Payload{DestRegister: regAtWord(1), Base: expr.PayloadBaseTransportHeader, Offset: offsetDPort, Len: 2})
	}
	// The map's data: the address from reg 1 on, the port in the word
	// after it.
	return append(es,
		&expr.Lookup{SourceRegister: reg1, SetName: s.set, SetID: setID(s.set), DestRegister: reg1, IsDestRegSet: true},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: uint32(nfprotoOf(s.fam.family)), RegAddrMin: reg1, RegProtoMin: regAtWord(int(s.fam.size / 4))})
}

// dnatTail finds the DNAT statement that ends items (without its nfproto
// match) and the number of its expressions; nil for none.
func dnatTail(items []exprItem) (*dnatStmt, int) {
	for i := range dnatStmts {
		s := &dnatStmts[i]
		if n := s.items(); len(items) >= n && s.decodes(items[len(items)-n:]) {
			return s, n
		}
	}
	return nil, 0
}

// decodes reports whether items are exactly the statement s.
func (s *dnatStmt) decodes(items []exprItem) bool {
	d := decoder{items: items}
	var base uint32
	if s.tuple {
		saddr, ok := d.at(0).(*expr.Payload)
		if !ok {
			return false
		}
		// The byteorder nft writes is not optional here: its count is fixed.
		if n, ok := d.tupleLoads(saddr, s.fam); !ok || n != s.items()-2 {
			return false
		}
		base = saddr.DestRegister
	} else {
		proto, ok := d.at(0).(*expr.Meta)
		if !ok || proto.Key != expr.MetaKeyL4PROTO || proto.SourceRegister {
			return false
		}
		base = proto.Register
		dport, ok := d.at(1).(*expr.Payload)
		if !ok || !isLoad(dport, expr.PayloadBaseTransportHeader, offsetDPort, 2) || !regAt(dport.DestRegister, base, 1) {
			return false
		}
	}
	d.i = len(items) - 2
	lk, ok := d.at(0).(*expr.Lookup)
	if !ok || !sameReg(lk.SourceRegister, base) || !lk.IsDestRegSet || lk.Invert || lk.SetName != s.set {
		return false
	}
	nat, ok := d.at(1).(*expr.NAT)
	// The kernel reads back the maxima equal to the minima and the flags
	// it derives from them (NF_NAT_RANGE_MAP_IPS, _PROTO_SPECIFIED).
	return ok && nat.Type == expr.NATTypeDestNAT && nat.Family == uint32(nfprotoOf(s.fam.family)) &&
		sameReg(nat.RegAddrMin, lk.DestRegister) && regAt(nat.RegProtoMin, lk.DestRegister, int(s.fam.size/4)) &&
		(nat.RegAddrMax == 0 || nat.RegAddrMax == nat.RegAddrMin) &&
		(nat.RegProtoMax == 0 || nat.RegProtoMax == nat.RegProtoMin) &&
		!nat.Random && !nat.FullyRandom && !nat.Persistent && !nat.Prefix
}
