package e2e

import (
	"slices"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/testnet"
	"github.com/netctl/netctl/kernel"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// TestBrokenFirewallFailsBlockedAssertions proves the blocked-path
// assertions can fail: with netctl's firewall as written, TestLinks'
// assertions hold; with the same firewall minus the icc drop rule (written
// with the kernel package, as a broken netctl would), every assertion that a
// path is blocked fails, while the positive controls still pass.
func TestBrokenFirewallFailsBlockedAssertions(t *testing.T) {
	e := setup(t)
	cfgText := linksConfig(false)
	e.apply(cfgText)
	web, db, cache := e.C["web"], e.C["db"], e.C["cache"]
	web80 := web.Listen(t, "tcp", 80)
	db5432, db22 := db.Listen(t, "tcp", 5432), db.Listen(t, "tcp", 22)
	db53u, db53t := db.Listen(t, "udp", 53), db.Listen(t, "tcp", 53)
	cache6379, cache6380 := cache.Listen(t, "tcp", 6379), cache.Listen(t, "tcp", 6380)
	blocked := []testnet.Probe{
		web.CannotReach(db22), web.CannotReach(db53t), db.CannotReach(web80), cache.CannotReach(web80),
		web.CannotReach(cache6380), db.CannotReach(cache6379), cache.CannotReach(db5432),
	}
	opened := []testnet.Probe{web.Reaches(db5432), web.Reaches(db53u), web.Reaches(cache6379)}
	if !testnet.Expect(t, e.withControls(append(opened, blocked...)...)...) {
		t.Fatal("the firewall as netctl writes it already fails the assertions")
	}

	// Break it: the desired firewall minus the icc drop rule.
	cfg, err := schema.Parse("links.yaml", []byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	desired := plan.Desired(cfg)
	k, err := kernel.Open(e.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	live, err := k.Read(desired.Scope())
	if err != nil {
		t.Fatal(err)
	}
	broken := *desired.Firewall
	broken.Chains = slices.Clone(broken.Chains)
	removed := 0
	for i, c := range broken.Chains {
		broken.Chains[i].Rules = slices.DeleteFunc(slices.Clone(c.Rules), func(r plan.Rule) bool {
			if r.Comment == "bridge.docker0.icc" && r.Verdict == plan.VerdictDrop {
				removed++
				return true
			}
			return false
		})
	}
	if removed != 1 {
		t.Fatalf("the desired firewall has %d icc drop rules, want 1", removed)
	}
	if err := k.SyncFirewall(live.Firewall, &broken); err != nil {
		t.Fatal(err)
	}
	e.Changed("icc drop rule removed by the test")
	if chain := e.nft("list", "chain", "inet", "netctl", plan.ChainForward); strings.Contains(chain, `"bridge.docker0.icc"`) {
		t.Fatalf("the icc rule is still there:\n%s", chain)
	}

	// Every blocked assertion fails now, for the right reason (the round
	// trip completed); the opened paths and the controls still pass.
	results := testnet.Check(e.withControls(append(opened, blocked...)...)...)
	for _, r := range results {
		msg := r.Problem()
		switch {
		case r.Probe.Want && msg != "":
			t.Errorf("with the icc rule removed, a path that should work fails: %s", msg)
		case !r.Probe.Want && !strings.Contains(msg, "want blocked, but the echo round trip completed"):
			t.Errorf("with the icc rule removed, the blocked assertion %s still passes (Problem() = %q)", r.Probe, msg)
		case !r.Probe.Want:
			t.Logf("fails as it must: %s", msg)
		}
	}
}
