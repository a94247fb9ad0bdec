package kernel

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// forwardOthersRules are the shapes of plan/forward.go's rule, both families.
func forwardOthersRules() []plan.Rule {
	bridges := []plan.Match{m(plan.KeyIIFName, true, "@bridges"), m(plan.KeyOIFName, true, "@bridges")}
	return []plan.Rule{
		{Comment: "firewall.forward_others.ipv4.switched_by_netctl", Match: append([]plan.Match{m(plan.KeyNFProto, false, "ipv4")}, bridges...), Verdict: plan.VerdictDrop},
		{Comment: "firewall.forward_others.ipv6", Match: append([]plan.Match{m(plan.KeyNFProto, false, "ipv6")}, bridges...), Verdict: plan.VerdictAccept},
		{Comment: "positive.lookup", Match: []plan.Match{m(plan.KeyOIFName, false, "@bridges")}, Verdict: plan.VerdictAccept},
	}
}

func TestForwardOthersRuleRoundTrip(t *testing.T) {
	for _, r := range forwardOthersRules() {
		got, err := encodeDecode(t, r)
		if err != nil {
			t.Errorf("%s: %v", r.Comment, err)
			continue
		}
		if d := cmp.Diff(r, got, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s: decode(encode(r)) differs (-want +got):\n%s", r.Comment, d)
		}
	}
	// meta nfproto next to an ip match would not decode back the same.
	r := plan.Rule{Match: []plan.Match{m(plan.KeyNFProto, false, "ipv4"), m(plan.KeySAddr, false, "10.0.0.1")}, Verdict: "drop"}
	if _, err := encodeRule(r, func(string) uint32 { return 0 }); err == nil {
		t.Errorf("meta nfproto with ip saddr: encoded, want an error")
	}
}

func TestForwardOthersRuleNftLayout(t *testing.T) {
	// nft 1.0.6 --debug=netlink for
	// `meta nfproto ipv4 iifname != @bridges oifname != @bridges drop`
	// (nft writes the inverted lookup's flag as 0x1).
	es, err := encodeRule(forwardOthersRules()[0], func(string) uint32 { return 0 })
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range marshalItems(t, es) {
		got = append(got, describeExpr(it))
	}
	want := []string{
		"meta load nfproto => reg 1",
		"cmp eq reg 1 0x02",
		"meta load iifname => reg 1",
		"lookup reg 1 set bridges inverted",
		"meta load oifname => reg 1",
		"lookup reg 1 set bridges inverted",
		"drop",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("expressions differ from nft's (-nft +netctl):\n%s", d)
	}
}

// TestForwardOthersKernelRoundTrip writes the desired table of a file
// whose apply switches ip_forward on, reads it back equal, and checks that
// nft prints the rule and the set as netctl means them.
func TestForwardOthersKernelRoundTrip(t *testing.T) {
	nstest.RequireRoot(t)
	requireNft(t)
	h, ns := openNS(t)
	cfg, err := schema.Parse("t.yaml", []byte("ip_forward: true\nbridges:\n  docker0: {address: 172.17.0.1/16}\n  br-app: {address: 172.18.0.1/16}\n"))
	if err != nil {
		t.Fatal(err)
	}
	desired, _ := plan.ResolveForward(plan.Desired(cfg), plan.State{Sysctls: map[string]string{plan.SysctlIPForward: "0"}})
	if err := h.SyncFirewall(nil, desired.Firewall); err != nil {
		t.Fatalf("SyncFirewall: %v", err)
	}
	mustEqual(t, "read back", desired.Firewall, read(t, h, plan.Scope{}).Firewall)
	out := nstest.Exec(t, ns, "nft", "list", "table", "inet", "netctl")
	for _, want := range []string{
		`meta nfproto ipv4 iifname != @bridges oifname != @bridges drop comment "firewall.forward_others.ipv4.switched_by_netctl"`,
		`elements = { "br-app" comment "bridge.br-app.forward_others",`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("nft list table lacks %q:\n%s", want, out)
		}
	}
}
