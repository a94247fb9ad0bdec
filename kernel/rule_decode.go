package kernel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/kernel/nfwire"
	"github.com/netctl/netctl/plan"
)

// Decoding: the expressions of a live rule back into a plan.Rule, strictly:
// anything but the shapes rule_encode.go writes (or nft writes for the same
// text) does not decode, and the rule is kept as Unknown.

// udataString returns the string of type typ in nftnl userdata TLVs.
func udataString(udata []byte, typ byte) string { return string(udataBytes(udata, typ)) }

// udataBytes is udataString's text, in place.
func udataBytes(udata []byte, typ byte) []byte {
	for len(udata) >= 2 {
		t, n := udata[0], int(udata[1])
		if len(udata) < 2+n {
			return nil
		}
		if t == typ {
			b := udata[2 : 2+n]
			if i := bytes.IndexByte(b, 0); i >= 0 {
				b = b[:i]
			}
			return b
		}
		udata = udata[2+n:]
	}
	return nil
}

// exprItem is one expression of a live rule: its name, its decoded form (nil
// when netctl does not know the expression) and whether its attributes are
// all ones the decoded form accounts for.
type exprItem struct {
	name   string
	e      expr.Any
	strict bool
}

// decodeRule turns live expressions back into matches and a verdict; ok is
// false unless the expressions are exactly one of the shapes encodeRule
// writes (or nft writes for the same text).
func decodeRule(items []exprItem) (ms []plan.Match, verdict string, ok bool) {
	if len(items) == 0 {
		return nil, "", false
	}
	for _, it := range items {
		if it.e == nil || !it.strict {
			return nil, "", false
		}
	}
	d := decoder{items: items[:len(items)-1]}
	dnat, n := dnatTail(items) // its expressions end the rule
	if dnat != nil {
		d.items = items[:len(items)-n]
	}
	// nfproto is the family of `meta nfproto` (at ms[nfprotoAt]): implied
	// by the address matches after it, or, without any, a match of its own.
	nfproto, nfprotoAt, ipSeen := 0, 0, false
	for d.i < len(d.items) {
		if fam, ok := d.nfproto(); ok {
			if nfproto != 0 || ipSeen {
				return nil, "", false
			}
			nfproto, nfprotoAt = fam, len(ms)
			continue
		}
		m, ok := d.match()
		if !ok {
			if m, ok = d.match6(); !ok {
				return nil, "", false
			}
		}
		if fam := plan.MatchFamily(m.Key); fam != 0 {
			if nfproto != fam {
				return nil, "", false
			}
			ipSeen = true
		}
		ms = append(ms, m)
	}
	if dnat != nil {
		if nfproto != dnat.nfproto() {
			return nil, "", false
		}
		return ms, dnat.verdict, true
	}
	if nfproto != 0 && !ipSeen {
		// meta nfproto on its own (forward.go, ipv6.go): a match of its own.
		ms = slices.Insert(ms, nfprotoAt, plan.Match{Key: plan.KeyNFProto, Value: map[int]string{4: nfprotoIPv4, 6: nfprotoIPv6}[nfproto]})
	}
	switch v := items[len(items)-1].e.(type) {
	case *expr.Verdict:
		switch {
		case v.Kind == expr.VerdictAccept:
			return ms, plan.VerdictAccept, true
		case v.Kind == expr.VerdictDrop:
			return ms, plan.VerdictDrop, true
		case v.Kind == expr.VerdictJump && validChainName(v.Chain):
			return ms, "jump " + v.Chain, true
		}
	case *expr.Masq:
		if *v == (expr.Masq{}) {
			return ms, plan.VerdictMasquerade, true
		}
	}
	return nil, "", false
}

// reg32 maps a register number to its 32-bit register index (0-15).
func reg32(r uint32) (int, bool) {
	switch {
	case r >= 1 && r <= 4:
		return int(r-1) * 4, true
	case r >= 8 && r <= 23:
		return int(r - 8), true
	}
	return 0, false
}

type decoder struct {
	items []exprItem
	i     int
}

func (d *decoder) at(k int) expr.Any {
	if d.i+k < len(d.items) {
		return d.items[d.i+k].e
	}
	return nil
}

func sameReg(a, b uint32) bool {
	x, ok1 := reg32(a)
	y, ok2 := reg32(b)
	return ok1 && ok2 && x == y
}

func regAt(r uint32, base uint32, off int) bool {
	x, ok1 := reg32(r)
	y, ok2 := reg32(base)
	return ok1 && ok2 && x == y+off
}

func (d *decoder) nfprotoIPv4() bool {
	m, ok := d.at(0).(*expr.Meta)
	if !ok || m.Key != expr.MetaKeyNFPROTO || m.SourceRegister {
		return false
	}
	c, ok := d.at(1).(*expr.Cmp)
	if !ok || c.Op != expr.CmpOpEq || !sameReg(c.Register, m.Register) || !bytes.Equal(c.Data, []byte{unix.NFPROTO_IPV4}) {
		return false
	}
	d.i += 2
	return true
}

func isLoad(p *expr.Payload, base expr.PayloadBase, off, n uint32) bool {
	return p.OperationType == expr.PayloadLoad && p.Base == base && p.Offset == off && p.Len == n &&
		p.CsumType == 0 && p.CsumOffset == 0 && p.CsumFlags == 0
}

func (d *decoder) match() (plan.Match, bool) {
	if m, ok := d.portsMatch(); ok {
		return m, true
	}
	switch e := d.at(0).(type) {
	case *expr.Meta:
		if m, ok := d.nfprotoOther(e); ok { // forward.go
			return m, true
		}
		if e.SourceRegister || (e.Key != expr.MetaKeyIIFNAME && e.Key != expr.MetaKeyOIFNAME) {
			break
		}
		key := plan.KeyIIFName
		if e.Key == expr.MetaKeyOIFNAME {
			key = plan.KeyOIFName
			if m, ok := d.sourceTuple(e); ok {
				return m, true
			}
		}
		if m, ok := d.ifnameLookup(e, key); ok { // forward.go
			return m, true
		}
		c, ok := d.at(1).(*expr.Cmp)
		if !ok || !sameReg(c.Register, e.Register) || (c.Op != expr.CmpOpEq && c.Op != expr.CmpOpNeq) {
			break
		}
		name, ok := ifnameFromCmp(c.Data)
		if !ok {
			break
		}
		d.i += 2
		return plan.Match{Key: key, Negate: c.Op == expr.CmpOpNeq, Value: name}, true

	case *expr.Payload:
		if e.OperationType != expr.PayloadLoad || e.Base != expr.PayloadBaseNetworkHeader {
			break
		}
		if m, ok := d.linkTuple(e); ok {
			return m, true
		}
		key := plan.KeySAddr
		switch e.Offset {
		case offsetSAddr:
		case offsetDAddr:
			key = plan.KeyDAddr
		default:
			return plan.Match{}, false
		}
		if e.Len < 1 || e.Len > 4 || !isLoad(e, e.Base, e.Offset, e.Len) {
			break
		}
		var mask []byte
		n := 1
		if bw, ok := d.at(1).(*expr.Bitwise); ok && e.Len == 4 {
			if !sameReg(bw.SourceRegister, e.DestRegister) || !sameReg(bw.DestRegister, e.DestRegister) ||
				bw.Len != 4 || len(bw.Mask) != 4 || !bytes.Equal(bw.Xor, []byte{0, 0, 0, 0}) {
				break
			}
			mask, n = bw.Mask, 2
		}
		c, ok := d.at(n).(*expr.Cmp)
		if !ok || !sameReg(c.Register, e.DestRegister) || (c.Op != expr.CmpOpEq && c.Op != expr.CmpOpNeq) ||
			len(c.Data) != int(e.Len) {
			break
		}
		var a [4]byte
		copy(a[:], c.Data)
		bitsN := int(e.Len) * 8
		if mask != nil {
			m := binary.BigEndian.Uint32(mask)
			ones := bits.LeadingZeros32(^m)
			if m != ^uint32(0)<<(32-ones) && !(ones == 0 && m == 0) {
				break
			}
			if binary.BigEndian.Uint32(a[:])&^m != 0 {
				break
			}
			bitsN = ones
		}
		p := netip.PrefixFrom(netip.AddrFrom4(a), bitsN)
		d.i += n + 1
		v := p.String()
		if bitsN == 32 {
			v = p.Addr().String()
		}
		return plan.Match{Key: key, Negate: c.Op == expr.CmpOpNeq, Value: v}, true

	case *expr.Ct:
		mask, ok := d.ctMask(e, expr.CtKeySTATE)
		if !ok {
			break
		}
		var names []string
		for _, s := range ctStates {
			if mask&s.bit != 0 {
				names = append(names, s.name)
				mask &^= s.bit
			}
		}
		if mask != 0 || len(names) == 0 {
			break
		}
		d.i += 3
		return plan.Match{Key: plan.KeyCTState, Value: strings.Join(names, ",")}, true
	}
	return plan.Match{}, false
}

// tupleFamily is what an address family changes in a set lookup's tuple:
// the family (4 or 6, its meta nfproto), where the addresses sit in the
// network header, their size, and the match keys of the link and source
// tuples.
type tupleFamily struct {
	family             int
	saddr, daddr, size uint32
	link, source       plan.MatchKey
}

var (
	family4 = tupleFamily{4, offsetSAddr, offsetDAddr, 4, plan.KeyLinkTuple, plan.KeySourceTuple}
	family6 = tupleFamily{6, offsetSAddr6, offsetDAddr6, ipv6AddrBytes, plan.KeyLinkTuple6, plan.KeySourceTuple6}
)

// ctMask decodes `ct KEY & MASK != 0` (ct state, ct status): the three
// expressions nft writes for a bit test, and the mask.
func (d *decoder) ctMask(e *expr.Ct, key expr.CtKey) (uint32, bool) {
	if e.SourceRegister || e.Key != key || e.Direction != 0 {
		return 0, false
	}
	bw, ok := d.at(1).(*expr.Bitwise)
	if !ok || !sameReg(bw.SourceRegister, e.Register) || !sameReg(bw.DestRegister, e.Register) ||
		bw.Len != 4 || len(bw.Mask) != 4 || !bytes.Equal(bw.Xor, []byte{0, 0, 0, 0}) {
		return 0, false
	}
	c, ok := d.at(2).(*expr.Cmp)
	if !ok || c.Op != expr.CmpOpNeq || !sameReg(c.Register, e.Register) || !bytes.Equal(c.Data, []byte{0, 0, 0, 0}) {
		return 0, false
	}
	return binary.NativeEndian.Uint32(bw.Mask), true
}

// linkTuple decodes ip saddr . ip daddr . meta l4proto . th dport @set.
func (d *decoder) linkTuple(saddr *expr.Payload) (plan.Match, bool) {
	return d.linkTupleOf(saddr, family4)
}

// linkTupleOf decodes saddr . daddr . meta l4proto . th dport @set of a
// family.
func (d *decoder) linkTupleOf(saddr *expr.Payload, f tupleFamily) (plan.Match, bool) {
	n, ok := d.tupleLoads(saddr, f)
	if !ok {
		return plan.Match{}, false
	}
	lk, ok := d.at(n).(*expr.Lookup)
	if !ok || !sameReg(lk.SourceRegister, saddr.DestRegister) || lk.IsDestRegSet || lk.DestRegister != 0 {
		return plan.Match{}, false
	}
	d.i += n + 1
	return plan.Match{Key: f.link, Negate: lk.Invert, Value: "@" + lk.SetName}, true
}

// tupleLoads decodes the loads of saddr . daddr . meta l4proto . th dport
// of a family at d (saddr is the first) and returns their number: each
// field starts at the register after the previous one's last (an address
// takes size/4 32-bit registers).
func (d *decoder) tupleLoads(saddr *expr.Payload, f tupleFamily) (int, bool) {
	if !isLoad(saddr, expr.PayloadBaseNetworkHeader, f.saddr, f.size) {
		return 0, false
	}
	base, words := saddr.DestRegister, int(f.size/4)
	daddr, ok := d.at(1).(*expr.Payload)
	if !ok || !isLoad(daddr, expr.PayloadBaseNetworkHeader, f.daddr, f.size) || !regAt(daddr.DestRegister, base, words) {
		return 0, false
	}
	proto, ok := d.at(2).(*expr.Meta)
	if !ok || proto.Key != expr.MetaKeyL4PROTO || proto.SourceRegister || !regAt(proto.Register, base, 2*words) {
		return 0, false
	}
	n := 3
	if bo, ok := d.at(3).(*expr.Byteorder); ok {
		if !sameReg(bo.SourceRegister, proto.Register) || !sameReg(bo.DestRegister, proto.Register) ||
			bo.Op != expr.ByteorderHton || bo.Len != 1 || bo.Size != 2 {
			return 0, false
		}
		n = 4
	}
	dport, ok := d.at(n).(*expr.Payload)
	if !ok || !isLoad(dport, expr.PayloadBaseTransportHeader, offsetDPort, 2) || !regAt(dport.DestRegister, base, 2*words+1) {
		return 0, false
	}
	return n + 1, true
}

// sourceTuple decodes oifname . ip saddr @set.
func (d *decoder) sourceTuple(oif *expr.Meta) (plan.Match, bool) {
	return d.sourceTupleOf(oif, family4)
}

// sourceTupleOf decodes oifname . saddr @set of a family.
func (d *decoder) sourceTupleOf(oif *expr.Meta, f tupleFamily) (plan.Match, bool) {
	saddr, ok := d.at(1).(*expr.Payload)
	if !ok || !isLoad(saddr, expr.PayloadBaseNetworkHeader, f.saddr, f.size) || !regAt(saddr.DestRegister, oif.Register, ifnameSize/4) {
		return plan.Match{}, false
	}
	lk, ok := d.at(2).(*expr.Lookup)
	if !ok || !sameReg(lk.SourceRegister, oif.Register) || lk.IsDestRegSet || lk.DestRegister != 0 {
		return plan.Match{}, false
	}
	d.i += 3
	return plan.Match{Key: f.source, Negate: lk.Invert, Value: "@" + lk.SetName}, true
}

// ifnameFromCmp reads the operand of an interface name comparison: the name
// NUL-padded to 16 bytes, or a shorter prefix for a wildcard.
func ifnameFromCmp(b []byte) (string, bool) {
	if len(b) == 0 || len(b) > ifnameSize {
		return "", false
	}
	if len(b) < ifnameSize {
		if bytes.IndexByte(b, 0) >= 0 || !printableName(b) {
			return "", false
		}
		return string(b) + "*", true
	}
	n := bytes.IndexByte(b, 0)
	if n <= 0 || !printableName(b[:n]) {
		return "", false
	}
	for _, c := range b[n:] {
		if c != 0 {
			return "", false
		}
	}
	return string(b[:n]), true
}

// exprAttrs lists, for each expression netctl decodes, the attributes its
// decoded form fully accounts for; an expression with any other attribute
// (a newer kernel's option, a shift where a mask was expected) is not
// strict and its rule does not decode.
var exprAttrs = map[string][]uint16{
	"meta":      {unix.NFTA_META_DREG, unix.NFTA_META_KEY, unix.NFTA_META_SREG},
	"cmp":       {unix.NFTA_CMP_SREG, unix.NFTA_CMP_OP, unix.NFTA_CMP_DATA},
	"payload":   {unix.NFTA_PAYLOAD_DREG, unix.NFTA_PAYLOAD_BASE, unix.NFTA_PAYLOAD_OFFSET, unix.NFTA_PAYLOAD_LEN},
	"bitwise":   {unix.NFTA_BITWISE_SREG, unix.NFTA_BITWISE_DREG, unix.NFTA_BITWISE_LEN, unix.NFTA_BITWISE_MASK, unix.NFTA_BITWISE_XOR, nftaBitwiseOp},
	"ct":        {unix.NFTA_CT_DREG, unix.NFTA_CT_KEY},
	"lookup":    {unix.NFTA_LOOKUP_SET, unix.NFTA_LOOKUP_SREG, unix.NFTA_LOOKUP_SET_ID, unix.NFTA_LOOKUP_FLAGS, unix.NFTA_LOOKUP_DREG},
	"fib":       {unix.NFTA_FIB_DREG, unix.NFTA_FIB_RESULT, unix.NFTA_FIB_FLAGS},
	"nat":       {unix.NFTA_NAT_TYPE, unix.NFTA_NAT_FAMILY, unix.NFTA_NAT_REG_ADDR_MIN, unix.NFTA_NAT_REG_ADDR_MAX, unix.NFTA_NAT_REG_PROTO_MIN, unix.NFTA_NAT_REG_PROTO_MAX, unix.NFTA_NAT_FLAGS},
	"immediate": {unix.NFTA_IMMEDIATE_DREG, unix.NFTA_IMMEDIATE_DATA},
	"byteorder": {unix.NFTA_BYTEORDER_SREG, unix.NFTA_BYTEORDER_DREG, unix.NFTA_BYTEORDER_OP, unix.NFTA_BYTEORDER_LEN, unix.NFTA_BYTEORDER_SIZE},
	"masq":      {unix.NFTA_MASQ_FLAGS},
}

// newExpr returns an empty expression of the named kind, nil for one the
// nftables library does not decode.
func newExpr(name string) expr.Any {
	switch name {
	case "meta":
		return &expr.Meta{}
	case "cmp":
		return &expr.Cmp{}
	case "payload":
		return &expr.Payload{}
	case "bitwise":
		return &expr.Bitwise{}
	case "ct":
		return &expr.Ct{}
	case "lookup":
		return &expr.Lookup{}
	case "immediate":
		return &expr.Immediate{}
	case "masq":
		return &expr.Masq{}
	case "counter":
		return &expr.Counter{}
	case "log":
		return &expr.Log{}
	case "limit":
		return &expr.Limit{}
	case "reject":
		return &expr.Reject{}
	case "nat":
		return &expr.NAT{}
	case "range":
		return &expr.Range{}
	case "fib":
		return &expr.Fib{}
	case "dynset":
		return &expr.Dynset{}
	case "objref":
		return &expr.Objref{}
	case "redir":
		return &expr.Redir{}
	case "queue":
		return &expr.Queue{}
	case "quota":
		return &expr.Quota{}
	case "exthdr":
		return &expr.Exthdr{}
	case "numgen":
		return &expr.Numgen{}
	case "hash":
		return &expr.Hash{}
	}
	return nil
}

// parseExprs decodes the NFTA_RULE_EXPRESSIONS of a live rule.
func parseExprs(fam byte, b []byte) ([]exprItem, error) {
	var items []exprItem
	list := nfwire.Attrs{B: b}
	for {
		typ, elem, ok := list.Next()
		if !ok {
			break
		}
		if typ != unix.NFTA_LIST_ELEM {
			continue
		}
		var it exprItem
		var data []byte
		ea := nfwire.Attrs{B: elem}
		for {
			t, d, ok := ea.Next()
			if !ok {
				break
			}
			switch t {
			case unix.NFTA_EXPR_NAME:
				it.name = nfwire.CStr(d)
			case unix.NFTA_EXPR_DATA:
				data = d
			}
		}
		if ea.Err != nil {
			return nil, ea.Err
		}
		if it.name == "byteorder" {
			// The library cannot decode byteorder (v0.3.0): do it here.
			it.e, it.strict = decodeByteorder(data), strictAttrs(it.name, data)
		} else if e := newExpr(it.name); e != nil {
			if err := expr.Unmarshal(fam, data, e); err != nil {
				return nil, fmt.Errorf("expression %s: %w", it.name, err)
			}
			if imm, ok := e.(*expr.Immediate); ok && imm.Register == regVerdict && len(imm.Data) == 0 {
				v := &expr.Verdict{}
				if err := expr.Unmarshal(fam, data, v); err != nil {
					return nil, fmt.Errorf("expression %s: %w", it.name, err)
				}
				e = v
			}
			it.e = e
			it.strict = strictAttrs(it.name, data)
		}
		items = append(items, it)
	}
	return items, list.Err
}

func strictAttrs(name string, data []byte) bool {
	allowed, ok := exprAttrs[name]
	if !ok {
		return false
	}
	a := nfwire.Attrs{B: data}
	for {
		typ, d, ok := a.Next()
		if !ok {
			return a.Err == nil
		}
		if !slices.Contains(allowed, typ) {
			return false
		}
		if name == "bitwise" && typ == nftaBitwiseOp && nfwire.BeU32(d) != nftBitwiseMaskXor {
			return false
		}
		if name == "lookup" && typ == unix.NFTA_LOOKUP_FLAGS && nfwire.BeU32(d)&^unix.NFT_LOOKUP_F_INV != 0 {
			return false
		}
	}
}

const (
	nftaBitwiseOp     = 6 // NFTA_BITWISE_OP
	nftBitwiseMaskXor = 0 // NFT_BITWISE_MASK_XOR (was NFT_BITWISE_BOOL)
)

func decodeByteorder(data []byte) *expr.Byteorder {
	e := &expr.Byteorder{}
	a := nfwire.Attrs{B: data}
	for {
		typ, d, ok := a.Next()
		if !ok {
			return e
		}
		switch typ {
		case unix.NFTA_BYTEORDER_SREG:
			e.SourceRegister = nfwire.BeU32(d)
		case unix.NFTA_BYTEORDER_DREG:
			e.DestRegister = nfwire.BeU32(d)
		case unix.NFTA_BYTEORDER_OP:
			e.Op = expr.ByteorderOp(nfwire.BeU32(d))
		case unix.NFTA_BYTEORDER_LEN:
			e.Len = nfwire.BeU32(d)
		case unix.NFTA_BYTEORDER_SIZE:
			e.Size = nfwire.BeU32(d)
		}
	}
}
