package kernel

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables/expr"

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
	reg32_00   = 8 // NFT_REG32_00 (the first word of reg 1)

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
	nfproto := 0 // the family checked so far
	if err := checkNFProto(r.Match); err != nil {
		return nil, fmt.Errorf("rule %q: %w", r.Comment, err)
	}
	for _, m := range r.Match {
		if fam := plan.MatchFamily(m.Key); fam != 0 && nfproto == 0 {
			nfproto = fam
			es = appendNFProto(es, fam)
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
	case dnatStmtOf(v) != nil:
		es = appendDNAT(es, dnatStmtOf(v), nfproto, setID)
	case strings.HasPrefix(v, "jump ") && validChainName(v[len("jump "):]):
		es = append(es, &expr.Verdict{Kind: expr.VerdictJump, Chain: v[len("jump "):]})
	default:
		return nil, fmt.Errorf("rule %q: unsupported verdict %q", r.Comment, v)
	}
	return es, nil
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
		key := expr.MetaKeyIIFNAME
		if m.Key == plan.KeyOIFName {
			key = expr.MetaKeyOIFNAME
		}
		if strings.HasPrefix(m.Value, "@") {
			return encodeIfnameLookup(es, key, m, setID) // forward.go
		}
		data, err := ifnameCmpData(m.Value)
		if err != nil {
			return nil, err
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
		return appendLinkTuple(es, family4, m, setID)

	case plan.KeySourceTuple:
		return appendSourceTuple(es, family4, m, setID)

	case plan.KeyNFProto:
		return encodeNFProto(es, m) // forward.go
	}
	if es, ok, err := encodePortsMatch(es, m); ok {
		return es, err
	}
	return encodeMatch6(es, m, setID)
}

// appendNFProto appends meta nfproto of a family (4 or 6).
func appendNFProto(es []expr.Any, family int) []expr.Any {
	return append(es,
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{nfprotoOf(family)}})
}

// regAtWord is the register nft names for 32-bit word w (0-15) of the
// registers: the 16-byte register the word starts (NFT_REG_1-4), else
// NFT_REG32_xx.
func regAtWord(w int) uint32 {
	if w%4 == 0 {
		return uint32(reg1 + w/4)
	}
	return uint32(reg32_00 + w)
}

// appendTuple appends the loads of saddr . daddr . meta l4proto . th dport
// of a family from reg 1 on, each field in the word after the previous
// one's last (an address takes size/4 words), as nft writes them.
func appendTuple(es []expr.Any, f tupleFamily) []expr.Any {
	words := int(f.size / 4)
	proto := regAtWord(2 * words)
	return append(es,
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: f.saddr, Len: f.size},
		&expr.Payload{DestRegister: regAtWord(words), Base: expr.PayloadBaseNetworkHeader, Offset: f.daddr, Len: f.size},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: proto},
		&expr.Byteorder{SourceRegister: proto, DestRegister: proto, Op: expr.ByteorderHton, Len: 1, Size: 2},
		&expr.Payload{DestRegister: regAtWord(2*words + 1), Base: expr.PayloadBaseTransportHeader, Offset: offsetDPort, Len: 2})
}

// appendLinkTuple appends saddr . daddr . meta l4proto . th dport @set.
func appendLinkTuple(es []expr.Any, f tupleFamily, m plan.Match, setID func(string) uint32) ([]expr.Any, error) {
	set, err := setRef(m.Value)
	if err != nil {
		return nil, err
	}
	es = appendTuple(es, f)
	return append(es, &expr.Lookup{SourceRegister: reg1, SetName: set, SetID: setID(set), Invert: m.Negate}), nil
}

// appendSourceTuple appends oifname . saddr @set.
func appendSourceTuple(es []expr.Any, f tupleFamily, m plan.Match, setID func(string) uint32) ([]expr.Any, error) {
	set, err := setRef(m.Value)
	if err != nil {
		return nil, err
	}
	return append(es,
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: reg1},
		&expr.Payload{DestRegister: regAtWord(ifnameSize / 4), Base: expr.PayloadBaseNetworkHeader, Offset: f.saddr, Len: f.size},
		&expr.Lookup{SourceRegister: reg1, SetName: set, SetID: setID(set), Invert: m.Negate}), nil
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
