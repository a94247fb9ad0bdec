package kernel

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/plan"
)

// Rules: plan.Rule to nf_tables expressions and back. The expressions are
// exactly those the nft CLI generates for the same rule text, so that
// `nft list ruleset` prints netctl's rules as netctl means them and a rule a
// person adds with nft decodes to the same plan.Rule as netctl's own:
//
//	iifname "docker0"      meta load iifname => reg 1; cmp eq reg 1 "docker0\0..." (16 bytes)
//	ip saddr 10.0.0.1      meta load nfproto => reg 1; cmp eq reg 1 2 (once, before the first ip match)
//	                       payload load 4b @ network + 12 => reg 1; cmp eq reg 1 0a000001
//	ip saddr 10.0.0.0/8    payload load 1b @ network + 12 => reg 1; cmp eq reg 1 0a
//	ip daddr 10.1.2.0/23   payload load 4b @ network + 16 => reg 1; bitwise reg 1 = (reg 1 & fffffe00) ^ 0; cmp eq reg 1 0a010200
//	ct state est,rel       ct load state => reg 1; bitwise reg 1 = (reg 1 & 6) ^ 0; cmp neq reg 1 0
//	ip saddr . ip daddr . meta l4proto . th dport @links
//	                       payload 4b @ network + 12 => reg 1; payload 4b @ network + 16 => reg 9;
//	                       meta load l4proto => reg 10; byteorder reg 10 = hton(reg 10, 2, 1);
//	                       payload 2b @ transport + 2 => reg 11; lookup reg 1 set links [inverted]
//	oifname . ip saddr @allowed_sources
//	                       meta load oifname => reg 1 (16 bytes: 32-bit regs 8-11);
//	                       payload 4b @ network + 12 => reg 2 (= 32-bit reg 12); lookup reg 1 set allowed_sources
//
// Registers: 1-4 are the 16-byte registers, 8-23 the 32-bit ones (reg 1 is
// 32-bit regs 8-11); a concatenation puts each field in its own 32-bit
// register, every field padded to 4 bytes.

const (
	regVerdict = 0
	reg1       = 1 // NFT_REG_1
	reg2       = 2 // NFT_REG_2 (32-bit registers 12-15)
	reg32_01   = 9 // NFT_REG32_01
	reg32_02   = 10
	reg32_03   = 11

	ifnameSize    = 16
	offsetSAddr   = 12
	offsetDAddr   = 16
	offsetDPort   = 2
	maxCommentLen = 128 // NFTNL_UDATA_COMMENT_MAXLEN, as nft enforces
)

// ctStates are the bits of ct state, in the order nft prints them.
var ctStates = []struct {
	name string
	bit  uint32
}{
	{"invalid", 1}, {"established", 2}, {"related", 4}, {"new", 8}, {"untracked", 64},
}

// encodeRule returns the expressions of r. setID gives the batch ID of a set
// created in the same batch (0 for one that exists).
func encodeRule(r plan.Rule, setID func(string) uint32) ([]expr.Any, error) {
	if r.Unknown != "" {
		return nil, fmt.Errorf("rule %q: cannot write a rule netctl could not decode (%s)", r.Comment, r.Unknown)
	}
	if len(r.Comment) > maxCommentLen {
		return nil, fmt.Errorf("rule %q: comment longer than %d bytes", r.Comment, maxCommentLen)
	}
	es := make([]expr.Any, 0, 4*len(r.Match)+3)
	nfproto := false
	for _, m := range r.Match {
		if usesIP(m.Key) && !nfproto {
			nfproto = true
			es = append(es,
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{unix.NFPROTO_IPV4}})
		}
		var err error
		if es, err = encodeMatch(es, m, setID); err != nil {
			return nil, fmt.Errorf("rule %q: %s: %w", r.Comment, m, err)
		}
	}
	switch v := r.Verdict; {
	case v == plan.VerdictAccept:
		es = append(es, &expr.Verdict{Kind: expr.VerdictAccept})
	case v == plan.VerdictDrop:
		es = append(es, &expr.Verdict{Kind: expr.VerdictDrop})
	case v == plan.VerdictMasquerade:
		es = append(es, &expr.Masq{})
	case strings.HasPrefix(v, "jump ") && validChainName(v[len("jump "):]):
		es = append(es, &expr.Verdict{Kind: expr.VerdictJump, Chain: v[len("jump "):]})
	default:
		return nil, fmt.Errorf("rule %q: unsupported verdict %q", r.Comment, v)
	}
	return es, nil
}

func usesIP(k plan.MatchKey) bool {
	switch k {
	case plan.KeySAddr, plan.KeyDAddr, plan.KeyLinkTuple, plan.KeySourceTuple:
		return true
	}
	return false
}

func validChainName(s string) bool {
	return s != "" && len(s) < 256 && !strings.ContainsAny(s, " \t\n\"\x00")
}

func cmpOp(negate bool) expr.CmpOp {
	if negate {
		return expr.CmpOpNeq
	}
	return expr.CmpOpEq
}

func encodeMatch(es []expr.Any, m plan.Match, setID func(string) uint32) ([]expr.Any, error) {
	switch m.Key {
	case plan.KeyIIFName, plan.KeyOIFName:
		data, err := ifnameCmpData(m.Value)
		if err != nil {
			return nil, err
		}
		key := expr.MetaKeyIIFNAME
		if m.Key == plan.KeyOIFName {
			key = expr.MetaKeyOIFNAME
		}
		return append(es,
			&expr.Meta{Key: key, Register: reg1},
			&expr.Cmp{Op: cmpOp(m.Negate), Register: reg1, Data: data}), nil

	case plan.KeySAddr, plan.KeyDAddr:
		off := uint32(offsetSAddr)
		if m.Key == plan.KeyDAddr {
			off = offsetDAddr
		}
		p, err := parseIPv4Value(m.Value)
		if err != nil {
			return nil, err
		}
		a := p.Addr().As4()
		switch n := p.Bits(); {
		case n == 32:
			return append(es,
				&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
				&expr.Cmp{Op: cmpOp(m.Negate), Register: reg1, Data: a[:]}), nil
		case n > 0 && n%8 == 0:
			return append(es,
				&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(n / 8)},
				&expr.Cmp{Op: cmpOp(m.Negate), Register: reg1, Data: slices.Clone(a[:n/8])}), nil
		default:
			mask := binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-n))
			if n == 0 {
				mask = []byte{0, 0, 0, 0}
			}
			return append(es,
				&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
				&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
				&expr.Cmp{Op: cmpOp(m.Negate), Register: reg1, Data: a[:]}), nil
		}

	case plan.KeyCTState:
		if m.Negate {
			return nil, fmt.Errorf("negated ct state is not supported")
		}
		var mask uint32
		for _, name := range strings.Split(m.Value, ",") {
			i := slices.IndexFunc(ctStates, func(s struct {
				name string
				bit  uint32
			}) bool {
				return s.name == name
			})
			if i < 0 {
				return nil, fmt.Errorf("unknown conntrack state %q", name)
			}
			mask |= ctStates[i].bit
		}
		return append(es,
			&expr.Ct{Key: expr.CtKeySTATE, Register: reg1},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
				Mask: binary.NativeEndian.AppendUint32(nil, mask), Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: []byte{0, 0, 0, 0}}), nil

	case plan.KeyLinkTuple:
		set, err := setRef(m.Value)
		if err != nil {
			return nil, err
		}
		return append(es,
			&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: offsetSAddr, Len: 4},
			&expr.Payload{DestRegister: reg32_01, Base: expr.PayloadBaseNetworkHeader, Offset: offsetDAddr, Len: 4},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32_02},
			&expr.Byteorder{SourceRegister: reg32_02, DestRegister: reg32_02, Op: expr.ByteorderHton, Len: 1, Size: 2},
			&expr.Payload{DestRegister: reg32_03, Base: expr.PayloadBaseTransportHeader, Offset: offsetDPort, Len: 2},
			&expr.Lookup{SourceRegister: reg1, SetName: set, SetID: setID(set), Invert: m.Negate}), nil

	case plan.KeySourceTuple:
		set, err := setRef(m.Value)
		if err != nil {
			return nil, err
		}
		return append(es,
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: reg1},
			&expr.Payload{DestRegister: reg2, Base: expr.PayloadBaseNetworkHeader, Offset: offsetSAddr, Len: 4},
			&expr.Lookup{SourceRegister: reg1, SetName: set, SetID: setID(set), Invert: m.Negate}), nil
	}
	return nil, fmt.Errorf("unsupported match key %q", m.Key)
}

func setRef(v string) (string, error) {
	name, ok := strings.CutPrefix(v, "@")
	if !ok || !validChainName(name) {
		return "", fmt.Errorf("want a set reference (@name), got %q", v)
	}
	return name, nil
}

// parseIPv4Value parses an address (a /32) or a prefix.
func parseIPv4Value(v string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(v, "/") {
		var err error
		if p, err = netip.ParsePrefix(v); err != nil {
			return p, err
		}
	} else {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return p, err
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if !p.Addr().Is4() {
		return p, fmt.Errorf("%q is not an IPv4 address", v)
	}
	return p, nil
}

// ifnameCmpData is what nft compares an interface name with: the name
// NUL-padded to IFNAMSIZ, or for a wildcard "veth*" just the prefix.
func ifnameCmpData(v string) ([]byte, error) {
	if strings.HasPrefix(v, "@") {
		return nil, fmt.Errorf("set lookups on one interface name are not supported")
	}
	prefix, wild := strings.CutSuffix(v, "*")
	if len(prefix) >= ifnameSize || strings.ContainsAny(prefix, "\x00\"*") || (!wild && prefix == "") {
		return nil, fmt.Errorf("invalid interface name %q", v)
	}
	if wild {
		return []byte(prefix), nil
	}
	data := make([]byte, ifnameSize)
	copy(data, prefix)
	return data, nil
}

// commentUserdata is the rule userdata nft writes for `comment "..."`.
func commentUserdata(c string) []byte {
	if c == "" {
		return nil
	}
	b := make([]byte, 0, len(c)+3)
	b = append(b, 0, byte(len(c)+1)) // NFTNL_UDATA_RULE_COMMENT
	b = append(b, c...)
	return append(b, 0)
}

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
	nfproto, ipSeen := false, false
	for d.i < len(d.items) {
		if d.nfprotoIPv4() {
			if nfproto || ipSeen {
				return nil, "", false
			}
			nfproto = true
			continue
		}
		m, ok := d.match()
		if !ok {
			return nil, "", false
		}
		if usesIP(m.Key) {
			if !nfproto {
				return nil, "", false
			}
			ipSeen = true
		}
		ms = append(ms, m)
	}
	if nfproto && !ipSeen {
		return nil, "", false
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
	switch e := d.at(0).(type) {
	case *expr.Meta:
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
		if e.SourceRegister || e.Key != expr.CtKeySTATE || e.Direction != 0 {
			break
		}
		bw, ok := d.at(1).(*expr.Bitwise)
		if !ok || !sameReg(bw.SourceRegister, e.Register) || !sameReg(bw.DestRegister, e.Register) ||
			bw.Len != 4 || len(bw.Mask) != 4 || !bytes.Equal(bw.Xor, []byte{0, 0, 0, 0}) {
			break
		}
		c, ok := d.at(2).(*expr.Cmp)
		if !ok || c.Op != expr.CmpOpNeq || !sameReg(c.Register, e.Register) || !bytes.Equal(c.Data, []byte{0, 0, 0, 0}) {
			break
		}
		mask := binary.NativeEndian.Uint32(bw.Mask)
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

// linkTuple decodes ip saddr . ip daddr . meta l4proto . th dport @set.
func (d *decoder) linkTuple(saddr *expr.Payload) (plan.Match, bool) {
	if !isLoad(saddr, expr.PayloadBaseNetworkHeader, offsetSAddr, 4) {
		return plan.Match{}, false
	}
	base := saddr.DestRegister
	daddr, ok := d.at(1).(*expr.Payload)
	if !ok || !isLoad(daddr, expr.PayloadBaseNetworkHeader, offsetDAddr, 4) || !regAt(daddr.DestRegister, base, 1) {
		return plan.Match{}, false
	}
	proto, ok := d.at(2).(*expr.Meta)
	if !ok || proto.Key != expr.MetaKeyL4PROTO || proto.SourceRegister || !regAt(proto.Register, base, 2) {
		return plan.Match{}, false
	}
	n := 3
	if bo, ok := d.at(3).(*expr.Byteorder); ok {
		if !sameReg(bo.SourceRegister, proto.Register) || !sameReg(bo.DestRegister, proto.Register) ||
			bo.Op != expr.ByteorderHton || bo.Len != 1 || bo.Size != 2 {
			return plan.Match{}, false
		}
		n = 4
	}
	dport, ok := d.at(n).(*expr.Payload)
	if !ok || !isLoad(dport, expr.PayloadBaseTransportHeader, offsetDPort, 2) || !regAt(dport.DestRegister, base, 3) {
		return plan.Match{}, false
	}
	lk, ok := d.at(n + 1).(*expr.Lookup)
	if !ok || !sameReg(lk.SourceRegister, base) || lk.IsDestRegSet || lk.DestRegister != 0 {
		return plan.Match{}, false
	}
	d.i += n + 2
	return plan.Match{Key: plan.KeyLinkTuple, Negate: lk.Invert, Value: "@" + lk.SetName}, true
}

// sourceTuple decodes oifname . ip saddr @set.
func (d *decoder) sourceTuple(oif *expr.Meta) (plan.Match, bool) {
	saddr, ok := d.at(1).(*expr.Payload)
	if !ok || !isLoad(saddr, expr.PayloadBaseNetworkHeader, offsetSAddr, 4) || !regAt(saddr.DestRegister, oif.Register, ifnameSize/4) {
		return plan.Match{}, false
	}
	lk, ok := d.at(2).(*expr.Lookup)
	if !ok || !sameReg(lk.SourceRegister, oif.Register) || lk.IsDestRegSet || lk.DestRegister != 0 {
		return plan.Match{}, false
	}
	d.i += 3
	return plan.Match{Key: plan.KeySourceTuple, Negate: lk.Invert, Value: "@" + lk.SetName}, true
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

// describe renders expressions in the style of `nft --debug=netlink`, for
// Rule.Unknown.
func describe(items []exprItem) string {
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("[ ")
		b.WriteString(describeExpr(it))
		b.WriteString(" ]")
	}
	if len(items) == 0 {
		return "(no expressions)"
	}
	return b.String()
}

var metaKeys = map[expr.MetaKey]string{
	expr.MetaKeyLEN: "len", expr.MetaKeyPROTOCOL: "protocol", expr.MetaKeyMARK: "mark",
	expr.MetaKeyIIF: "iif", expr.MetaKeyOIF: "oif", expr.MetaKeyIIFNAME: "iifname",
	expr.MetaKeyOIFNAME: "oifname", expr.MetaKeyIIFTYPE: "iiftype", expr.MetaKeyOIFTYPE: "oiftype",
	expr.MetaKeySKUID: "skuid", expr.MetaKeySKGID: "skgid", expr.MetaKeyNFPROTO: "nfproto",
	expr.MetaKeyL4PROTO: "l4proto", expr.MetaKeyPKTTYPE: "pkttype",
	expr.MetaKeyIIFGROUP: "iifgroup", expr.MetaKeyOIFGROUP: "oifgroup",
}

var cmpOps = map[expr.CmpOp]string{
	expr.CmpOpEq: "eq", expr.CmpOpNeq: "neq", expr.CmpOpLt: "lt",
	expr.CmpOpLte: "lte", expr.CmpOpGt: "gt", expr.CmpOpGte: "gte",
}

var payloadBases = map[expr.PayloadBase]string{
	expr.PayloadBaseLLHeader: "link", expr.PayloadBaseNetworkHeader: "network", expr.PayloadBaseTransportHeader: "transport",
}

func named[K comparable](m map[K]string, k K) string {
	if s, ok := m[k]; ok {
		return s
	}
	return fmt.Sprint(k)
}

func describeExpr(it exprItem) string {
	suffix := ""
	if it.e != nil && !it.strict {
		suffix = " (with attributes netctl does not know)"
	}
	switch e := it.e.(type) {
	case nil:
		return it.name + " (not decoded)"
	case *expr.Meta:
		if e.SourceRegister {
			return fmt.Sprintf("meta set %s with reg %d", named(metaKeys, e.Key), e.Register) + suffix
		}
		return fmt.Sprintf("meta load %s => reg %d", named(metaKeys, e.Key), e.Register) + suffix
	case *expr.Cmp:
		return fmt.Sprintf("cmp %s reg %d 0x%s", named(cmpOps, e.Op), e.Register, hex.EncodeToString(e.Data)) + suffix
	case *expr.Payload:
		if e.OperationType == expr.PayloadWrite {
			return fmt.Sprintf("payload write reg %d => %db @ %s header + %d", e.SourceRegister, e.Len, named(payloadBases, e.Base), e.Offset) + suffix
		}
		return fmt.Sprintf("payload load %db @ %s header + %d => reg %d", e.Len, named(payloadBases, e.Base), e.Offset, e.DestRegister) + suffix
	case *expr.Bitwise:
		return fmt.Sprintf("bitwise reg %d = ( reg %d & 0x%s ) ^ 0x%s", e.DestRegister, e.SourceRegister,
			hex.EncodeToString(e.Mask), hex.EncodeToString(e.Xor)) + suffix
	case *expr.Ct:
		return fmt.Sprintf("ct load %d => reg %d", e.Key, e.Register) + suffix
	case *expr.Lookup:
		inv := ""
		if e.Invert {
			inv = " inverted"
		}
		return fmt.Sprintf("lookup reg %d set %s%s", e.SourceRegister, e.SetName, inv) + suffix
	case *expr.Byteorder:
		return fmt.Sprintf("byteorder reg %d = %d(reg %d, %d, %d)", e.DestRegister, e.Op, e.SourceRegister, e.Size, e.Len) + suffix
	case *expr.Verdict:
		switch e.Kind {
		case expr.VerdictAccept:
			return "accept" + suffix
		case expr.VerdictDrop:
			return "drop" + suffix
		case expr.VerdictJump:
			return "jump " + e.Chain + suffix
		case expr.VerdictGoto:
			return "goto " + e.Chain + suffix
		case expr.VerdictReturn:
			return "return" + suffix
		case expr.VerdictContinue:
			return "continue" + suffix
		}
		return fmt.Sprintf("verdict %d", e.Kind) + suffix
	case *expr.Counter:
		return "counter" // its values change; the description must not
	case *expr.Masq:
		return fmt.Sprintf("masq %+v", *e) + suffix
	}
	return fmt.Sprintf("%s %+v", it.name, it.e) + suffix
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
	"lookup":    {unix.NFTA_LOOKUP_SET, unix.NFTA_LOOKUP_SREG, unix.NFTA_LOOKUP_SET_ID, unix.NFTA_LOOKUP_FLAGS},
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
	list := attrs{b: b}
	for {
		typ, elem, ok := list.next()
		if !ok {
			break
		}
		if typ != unix.NFTA_LIST_ELEM {
			continue
		}
		var it exprItem
		var data []byte
		ea := attrs{b: elem}
		for {
			t, d, ok := ea.next()
			if !ok {
				break
			}
			switch t {
			case unix.NFTA_EXPR_NAME:
				it.name = cstr(d)
			case unix.NFTA_EXPR_DATA:
				data = d
			}
		}
		if ea.err != nil {
			return nil, ea.err
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
	return items, list.err
}

func strictAttrs(name string, data []byte) bool {
	allowed, ok := exprAttrs[name]
	if !ok {
		return false
	}
	a := attrs{b: data}
	for {
		typ, d, ok := a.next()
		if !ok {
			return a.err == nil
		}
		if !slices.Contains(allowed, typ) {
			return false
		}
		if name == "bitwise" && typ == nftaBitwiseOp && beU32(d) != nftBitwiseMaskXor {
			return false
		}
		if name == "lookup" && typ == unix.NFTA_LOOKUP_FLAGS && beU32(d)&^unix.NFT_LOOKUP_F_INV != 0 {
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
	a := attrs{b: data}
	for {
		typ, d, ok := a.next()
		if !ok {
			return e
		}
		switch typ {
		case unix.NFTA_BYTEORDER_SREG:
			e.SourceRegister = beU32(d)
		case unix.NFTA_BYTEORDER_DREG:
			e.DestRegister = beU32(d)
		case unix.NFTA_BYTEORDER_OP:
			e.Op = expr.ByteorderOp(beU32(d))
		case unix.NFTA_BYTEORDER_LEN:
			e.Len = beU32(d)
		case unix.NFTA_BYTEORDER_SIZE:
			e.Size = beU32(d)
		}
	}
}
