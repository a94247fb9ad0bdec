package kernel

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/kernel/nfwire"
	"github.com/netctl/netctl/plan"
)

func m(key plan.MatchKey, neg bool, v string) plan.Match {
	return plan.Match{Key: key, Negate: neg, Value: v}
}

// everyRuleShape has every match key (negated where nft allows) and every
// verdict netctl writes.
func everyRuleShape() []plan.Rule {
	return []plan.Rule{
		{Comment: "firewall.user", Verdict: plan.VerdictJumpUser},
		{Comment: "firewall.established", Match: []plan.Match{m(plan.KeyCTState, false, "established,related")}, Verdict: plan.VerdictAccept},
		{Comment: "ct.all", Match: []plan.Match{m(plan.KeyCTState, false, "invalid,established,related,new,untracked")}, Verdict: plan.VerdictDrop},
		{Comment: "bridge.docker0.isolation.br1", Match: []plan.Match{m(plan.KeyIIFName, false, "docker0"), m(plan.KeyOIFName, false, "br1")}, Verdict: plan.VerdictDrop},
		{Comment: "bridge.docker0.allowed_sources", Match: []plan.Match{m(plan.KeyIIFName, true, "docker0"), m(plan.KeyOIFName, false, "docker0"), m(plan.KeySourceTuple, true, "@allowed_sources")}, Verdict: plan.VerdictDrop},
		{Comment: "sources.positive", Match: []plan.Match{m(plan.KeySourceTuple, false, "@allowed_sources")}, Verdict: plan.VerdictAccept},
		{Comment: "bridge.docker0.links", Match: []plan.Match{m(plan.KeyIIFName, false, "docker0"), m(plan.KeyOIFName, false, "docker0"), m(plan.KeyLinkTuple, false, "@links")}, Verdict: plan.VerdictAccept},
		{Comment: "links.negated", Match: []plan.Match{m(plan.KeyLinkTuple, true, "@links")}, Verdict: plan.VerdictDrop},
		{Comment: "bridge.docker0.icc", Match: []plan.Match{m(plan.KeyIIFName, false, "docker0"), m(plan.KeyOIFName, false, "docker0")}, Verdict: plan.VerdictDrop},
		{Comment: "addr", Match: []plan.Match{m(plan.KeySAddr, false, "10.0.0.1"), m(plan.KeyDAddr, true, "10.0.0.2")}, Verdict: plan.VerdictAccept},
		{Comment: "prefixes", Match: []plan.Match{m(plan.KeySAddr, false, "10.0.0.0/8"), m(plan.KeySAddr, true, "10.1.0.0/16"), m(plan.KeyDAddr, false, "10.1.2.0/23"), m(plan.KeyDAddr, true, "192.168.1.128/25")}, Verdict: plan.VerdictDrop},
		{Comment: "any", Match: []plan.Match{m(plan.KeySAddr, false, "0.0.0.0/0"), m(plan.KeyDAddr, false, "10.1.2.0/24")}, Verdict: plan.VerdictAccept},
		{Comment: "wildcard", Match: []plan.Match{m(plan.KeyIIFName, false, "veth*"), m(plan.KeyOIFName, true, "br-*")}, Verdict: plan.VerdictAccept},
		{Comment: "ip.after.ifname", Match: []plan.Match{m(plan.KeyOIFName, true, "docker0"), m(plan.KeySAddr, false, "172.17.0.0/16")}, Verdict: plan.VerdictMasquerade},
		{Comment: "", Verdict: plan.VerdictAccept},
		{Comment: "jump.other", Verdict: "jump filter-forward"},
	}
}

func encodeDecode(t *testing.T, r plan.Rule) (plan.Rule, error) {
	t.Helper()
	es, err := encodeRule(r, func(string) uint32 { return 0 })
	if err != nil {
		return plan.Rule{}, err
	}
	items := marshalItems(t, es)
	got := plan.Rule{Comment: r.Comment}
	ms, verdict, ok := decodeRule(items)
	if !ok {
		got.Unknown = describe(items)
	}
	got.Match, got.Verdict = ms, verdict
	return got, checkRoundTrip(r, es)
}

func marshalItems(t *testing.T, es []expr.Any) []exprItem {
	t.Helper()
	w := &nfwire.Writer{}
	for _, e := range es {
		data, err := expr.Marshal(familyInet, e)
		if err != nil {
			t.Fatal(err)
		}
		n := w.Begin(unix.NFTA_LIST_ELEM)
		w.B = append(w.B, data...)
		w.End(n)
	}
	items, err := parseExprs(familyInet, w.B)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func TestRuleRoundTrip(t *testing.T) { checkRoundTrips(t, everyRuleShape()) }

// checkRoundTrips checks that each rule decodes as it was encoded.
func checkRoundTrips(t *testing.T, rules []plan.Rule) {
	t.Helper()
	for _, r := range rules {
		got, err := encodeDecode(t, r)
		if err != nil {
			t.Errorf("%s: %v", r.Comment, err)
			continue
		}
		if d := cmp.Diff(r, got, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s: decode(encode(r)) differs (-want +got):\n%s", r.Comment, d)
		}
	}
}

func TestRuleNftLayout(t *testing.T) {
	// The exact expressions nft 1.0.6 prints with --debug=netlink for
	// `iifname "docker0" oifname "docker0" ip saddr . ip daddr . meta l4proto . th dport @links accept`.
	r := plan.Rule{Match: []plan.Match{m(plan.KeyIIFName, false, "docker0"), m(plan.KeyOIFName, false, "docker0"), m(plan.KeyLinkTuple, false, "@links")}, Verdict: "accept"}
	checkLayout(t, r, []string{
		"meta load iifname => reg 1",
		"cmp eq reg 1 0x646f636b657230000000000000000000",
		"meta load oifname => reg 1",
		"cmp eq reg 1 0x646f636b657230000000000000000000",
		"meta load nfproto => reg 1",
		"cmp eq reg 1 0x02",
		"payload load 4b @ network header + 12 => reg 1",
		"payload load 4b @ network header + 16 => reg 9",
		"meta load l4proto => reg 10",
		"byteorder reg 10 = 1(reg 10, 2, 1)",
		"payload load 2b @ transport header + 2 => reg 11",
		"lookup reg 1 set links",
		"accept",
	})
}

// checkLayout checks that r encodes as the expressions want, in the words
// of nft --debug=netlink.
func checkLayout(t *testing.T, r plan.Rule, want []string) {
	t.Helper()
	es, err := encodeRule(r, func(string) uint32 { return 0 })
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range marshalItems(t, es) {
		got = append(got, describeExpr(it))
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s: expressions differ from nft's (-nft +netctl):\n%s", r, d)
	}
}

func TestRuleNotCanonical(t *testing.T) {
	for _, r := range []plan.Rule{
		{Match: []plan.Match{m(plan.KeySAddr, false, "10.0.0.1/8")}, Verdict: "drop"},
		{Match: []plan.Match{m(plan.KeySAddr, false, "10.0.0.1/32")}, Verdict: "drop"},
		{Match: []plan.Match{m(plan.KeyCTState, false, "related,established")}, Verdict: "accept"},
		{Match: []plan.Match{m(plan.KeyCTState, true, "established")}, Verdict: "accept"},
		{Match: []plan.Match{m(plan.KeyCTState, false, "bogus")}, Verdict: "accept"},
		{Match: []plan.Match{m(plan.KeySAddr, false, "2001:db8::1")}, Verdict: "accept"},
		{Match: []plan.Match{m(plan.KeyIIFName, false, "averyveryverylongname")}, Verdict: "accept"},
		{Match: []plan.Match{m(plan.KeyLinkTuple, false, "links")}, Verdict: "accept"},
		{Match: []plan.Match{m("tcp dport", false, "22")}, Verdict: "accept"},
		{Verdict: "reject"},
		{Unknown: "[ counter ]"},
		{Comment: strings.Repeat("x", 129), Verdict: "accept"},
	} {
		if got, err := encodeDecode(t, r); err == nil {
			t.Errorf("%q accepted (reads back as %q)", r.String(), got.String())
		}
	}
}

func TestRuleDecodeVariants(t *testing.T) {
	ifname := func(s string) []byte { b := make([]byte, 16); copy(b, s); return b }
	nfproto := []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, &expr.Cmp{Register: 1, Data: []byte{2}}}
	for _, tc := range []struct {
		name string
		es   []expr.Any
		want string // "" means Unknown
	}{
		{"32-bit register numbers for a concatenation", append(append([]expr.Any{}, nfproto...),
			&expr.Payload{DestRegister: 8, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 10},
			&expr.Payload{DestRegister: 11, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Lookup{SourceRegister: 8, SetName: "links"},
			&expr.Verdict{Kind: expr.VerdictAccept}),
			"ip saddr . ip daddr . meta l4proto . th dport @links accept"},
		{"oifname . ip saddr with reg 12", append(append([]expr.Any{}, nfproto...),
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 8},
			&expr.Payload{DestRegister: 12, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: "allowed_sources", Invert: true},
			&expr.Verdict{Kind: expr.VerdictDrop}),
			"oifname . ip saddr != @allowed_sources drop"},
		{"prefix with a byte-aligned mask", append(append([]expr.Any{}, nfproto...),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 0, 0, 0}, Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Register: 1, Data: []byte{10, 0, 0, 0}},
			&expr.Verdict{Kind: expr.VerdictDrop}),
			"ip saddr 10.0.0.0/8 drop"},
		{"ip match without nfproto", []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Cmp{Register: 1, Data: []byte{10, 0, 0, 1}},
			&expr.Verdict{Kind: expr.VerdictDrop}}, ""},
		// A match of its own since forward_others (plan/forward.go).
		{"nfproto without ip match", append(append([]expr.Any{}, nfproto...), &expr.Verdict{Kind: expr.VerdictDrop}), "meta nfproto ipv4 drop"},
		{"nfproto twice", append(append(append([]expr.Any{}, nfproto...), nfproto...),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Cmp{Register: 1, Data: []byte{10, 0, 0, 1}},
			&expr.Verdict{Kind: expr.VerdictDrop}), ""},
		{"a counter", []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictAccept}}, ""},
		{"cmp on another register", []expr.Any{&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Register: 2, Data: ifname("docker0")}, &expr.Verdict{Kind: expr.VerdictAccept}}, ""},
		{"an ifname with junk after the NUL", []expr.Any{&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Register: 1, Data: append([]byte("eth0\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), 1)}, &expr.Verdict{Kind: expr.VerdictAccept}}, ""},
		{"a lookup with a map", append(append([]expr.Any{}, nfproto...),
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Payload{DestRegister: 2, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: "m", DestRegister: 3, IsDestRegSet: true},
			&expr.Verdict{Kind: expr.VerdictDrop}), ""},
		{"masquerade with flags", []expr.Any{&expr.Masq{Random: true}}, ""},
		{"no verdict", []expr.Any{&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1}, &expr.Cmp{Register: 1, Data: ifname("docker0")}}, ""},
		{"goto", []expr.Any{&expr.Verdict{Kind: expr.VerdictGoto, Chain: "user"}}, ""},
	} {
		checkDecodes(t, tc.name, tc.es, tc.want)
	}
}

// checkDecodes checks that es decode as the rule text want ("" for
// Unknown).
func checkDecodes(t *testing.T, name string, es []expr.Any, want string) {
	t.Helper()
	items := marshalItems(t, es)
	ms, verdict, ok := decodeRule(items)
	got := ""
	if ok {
		got = plan.Rule{Match: ms, Verdict: verdict}.String()
	}
	if got != want {
		t.Errorf("%s: decoded as %q, want %q (%s)", name, got, want, describe(items))
	}
}

func TestMapPermission(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{syscall.EPERM, true},
		{fmt.Errorf("opening: %w", syscall.EACCES), true},
		{&netlink.OpError{Op: "receive", Err: unix.EPERM}, true},
		{fmt.Errorf("nftables: %w", &netlink.OpError{Op: "receive", Err: unix.EPERM}), true},
		{&os.PathError{Op: "open", Path: "/proc/sys/net/ipv4/ip_forward", Err: syscall.EACCES}, true},
		{syscall.ENOENT, false},
		{errors.New("operation not permitted"), false},
	} {
		got := mapPermission(tc.err)
		if errors.Is(got, ErrPermission) != tc.want {
			t.Errorf("mapPermission(%v) = %v", tc.err, got)
		}
		if tc.want && !strings.Contains(got.Error(), "netctl needs CAP_NET_ADMIN (run as root)") {
			t.Errorf("message %q", got)
		}
		if tc.want && !errors.Is(got, tc.err) {
			t.Errorf("%v no longer wraps %v", got, tc.err)
		}
	}
	if mapPermission(nil) != nil {
		t.Error("nil mapped")
	}
}
