package plan

import "testing"

// TestTraceChainIsNotDrift: explain --trace's transient chain in netctl's
// table is neither a change of the plan nor written or deleted by an apply
// that keeps the table, nor part of the plan-file fingerprint.
func TestTraceChainIsNotDrift(t *testing.T) {
	desired := Desired(fullConfig())
	live := liveOf(desired)
	before := Fingerprint(live)
	live.Firewall.Chains = append(live.Firewall.Chains, Chain{
		Name: ChainTrace, Type: "filter", Hook: "forward", Priority: -10, Policy: VerdictAccept,
		Rules: []Rule{{Comment: "netctl.trace pid 1 start 2", Unknown: "[ meta set nftrace with reg 1 ]"}},
	})
	if p := Diff(desired, live); !p.Empty() {
		t.Errorf("the trace chain is drift: %v", p.Changes)
	}
	if ops := FirewallOps(live.Firewall, desired.Firewall); len(ops) != 0 {
		t.Errorf("an apply would write %v", ops)
	}
	if Fingerprint(live) != before {
		t.Error("the trace chain changes the plan-file fingerprint")
	}
}
