package kernel

import (
	"fmt"
	"slices"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/plan"
)

// The shapes of the forward_others rule (plan/forward.go), as nft writes
//
//	meta nfproto ipv4 iifname != @bridges oifname != @bridges drop
//
//	meta nfproto ipv4      meta load nfproto => reg 1; cmp eq reg 1 2
//	iifname != @bridges    meta load iifname => reg 1; lookup reg 1 set bridges 0x1 (inverted)

const nfprotoIPv4, nfprotoIPv6 = "ipv4", "ipv6"

// nfprotoValue is the byte nft compares meta nfproto with.
func nfprotoValue(v string) (byte, bool) {
	switch v {
	case nfprotoIPv4:
		return unix.NFPROTO_IPV4, true
	case nfprotoIPv6:
		return unix.NFPROTO_IPV6, true
	}
	return 0, false
}

// checkNFProto refuses meta nfproto next to an ip match: the ip match
// writes its own nfproto check, and the rule would not decode back the same.
func checkNFProto(ms []plan.Match) error {
	explicit := slices.ContainsFunc(ms, func(m plan.Match) bool { return m.Key == plan.KeyNFProto })
	if explicit && slices.ContainsFunc(ms, func(m plan.Match) bool { return usesIP(m.Key) }) {
		return fmt.Errorf("meta nfproto is implied by the ip match; write one or the other")
	}
	return nil
}

func encodeNFProto(es []expr.Any, m plan.Match) ([]expr.Any, error) {
	b, ok := nfprotoValue(m.Value)
	if !ok || m.Negate {
		return nil, fmt.Errorf("meta nfproto: want ipv4 or ipv6, got %q", m.String())
	}
	return append(es,
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{b}}), nil
}

func encodeIfnameLookup(es []expr.Any, key expr.MetaKey, m plan.Match, setID func(string) uint32) ([]expr.Any, error) {
	set, err := setRef(m.Value)
	if err != nil {
		return nil, err
	}
	return append(es,
		&expr.Meta{Key: key, Register: reg1},
		&expr.Lookup{SourceRegister: reg1, SetName: set, SetID: setID(set), Invert: m.Negate}), nil
}

// nfprotoOther decodes meta nfproto ipv6 (ipv4 is nfprotoIPv4's, which
// also sees it when an ip match implies it).
func (d *decoder) nfprotoOther(m *expr.Meta) (plan.Match, bool) {
	if m.Key != expr.MetaKeyNFPROTO || m.SourceRegister {
		return plan.Match{}, false
	}
	c, ok := d.at(1).(*expr.Cmp)
	if !ok || c.Op != expr.CmpOpEq || !sameReg(c.Register, m.Register) || len(c.Data) != 1 || c.Data[0] != unix.NFPROTO_IPV6 {
		return plan.Match{}, false
	}
	d.i += 2
	return plan.Match{Key: plan.KeyNFProto, Value: nfprotoIPv6}, true
}

// ifnameLookup decodes iifname @set and oifname @set (negated: != @set).
func (d *decoder) ifnameLookup(m *expr.Meta, key plan.MatchKey) (plan.Match, bool) {
	lk, ok := d.at(1).(*expr.Lookup)
	if !ok || !sameReg(lk.SourceRegister, m.Register) || lk.IsDestRegSet || lk.DestRegister != 0 {
		return plan.Match{}, false
	}
	d.i += 2
	return plan.Match{Key: key, Negate: lk.Invert, Value: "@" + lk.SetName}, true
}
