package kernel

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Describing: expressions that do not decode, rendered for Rule.Unknown.

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
		if e.IsDestRegSet {
			inv += fmt.Sprintf(" dreg %d", e.DestRegister)
		}
		return fmt.Sprintf("lookup reg %d set %s%s", e.SourceRegister, e.SetName, inv) + suffix
	case *expr.NAT:
		return describeNAT(e) + suffix
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

// describeNAT writes a NAT expression as nft --debug=netlink does.
func describeNAT(e *expr.NAT) string {
	var b strings.Builder
	b.WriteString("nat ")
	switch e.Type {
	case expr.NATTypeDestNAT:
		b.WriteString("dnat")
	case expr.NATTypeSourceNAT:
		b.WriteString("snat")
	}
	switch e.Family {
	case unix.NFPROTO_IPV4:
		b.WriteString(" ip")
	case unix.NFPROTO_IPV6:
		b.WriteString(" ip6")
	default:
		fmt.Fprintf(&b, " family %d", e.Family)
	}
	for _, r := range []struct {
		name string
		reg  uint32
	}{{"addr_min", e.RegAddrMin}, {"addr_max", e.RegAddrMax}, {"proto_min", e.RegProtoMin}, {"proto_max", e.RegProtoMax}} {
		if r.reg != 0 {
			fmt.Fprintf(&b, " %s reg %d", r.name, r.reg)
		}
	}
	for _, f := range []struct {
		name string
		on   bool
	}{{"random", e.Random}, {"fully-random", e.FullyRandom}, {"persistent", e.Persistent}, {"prefix", e.Prefix}} {
		if f.on {
			b.WriteString(" " + f.name)
		}
	}
	return b.String()
}
