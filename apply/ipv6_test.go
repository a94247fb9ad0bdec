package apply_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/apply"
	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/plan"
)

// TestDualStackFailedStepsRollBack is TestEveryFailedStepRollsBack with
// docker0 dual-stack (address6, containers' address6, an IPv6 source,
// NAT66) and ip6_forward: a failure at any write, before or after it, is
// rolled back to the exact before state, IPv6 objects included (the
// forwarding sysctl, the bridge's IPv6 address, links6 and
// allowed_sources6), as a re-read proves.
func TestDualStackFailedStepsRollBack(t *testing.T) {
	nstest.RequireRoot(t)
	cfg := testConfig()
	on := true
	cfg.IP6Forward = &on
	b := &cfg.Bridges[0]
	b.Address6 = netip.MustParsePrefix("fd00:17::1/64")
	b.Masquerade6 = true
	b.AllowedSources = append(b.AllowedSources, netip.MustParsePrefix("2001:db8:100::/48"))
	b.Containers[0].Address6 = netip.MustParseAddr("fd00:17::2")
	b.Containers[1].Address6 = netip.MustParseAddr("fd00:17::3")
	desired := plan.Desired(cfg)
	if desired.Firewall.Set(plan.SetLinks6) == nil || len(desired.Firewall.Set(plan.SetLinks6).Elements) == 0 {
		t.Fatal("test bug: no IPv6 link elements")
	}

	ns, k := setup(t)
	counter := &faulty{Kernel: k}
	txn, err := apply.Begin(counter, apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := txn.Plan(desired)
	if err != nil {
		t.Fatal(err)
	}
	if err := txn.Apply(p, apply.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	txn.Close()
	left, _ := k.Read(desired.Scope())
	resolved, _ := plan.ResolveForward(desired, left) // as a new plan would (plan/forward.go)
	if !plan.Diff(resolved, left).Empty() {
		t.Fatalf("apply did not converge: %+v", plan.Diff(resolved, left).Changes)
	}
	if out := nstest.Run(t, "ip", "-n", ns, "-6", "addr", "show", "dev", "docker0"); !strings.Contains(out, "fd00:17::1/64") {
		t.Fatalf("docker0 lacks its address6:\n%s", out)
	}
	steps := len(counter.writes)
	if !strings.Contains(fmt.Sprint(counter.writes), plan.SysctlIP6Forward) {
		t.Fatalf("no step writes %s: %v", plan.SysctlIP6Forward, counter.writes)
	}

	for _, after := range []bool{false, true} {
		for failAt := 1; failAt <= steps; failAt++ {
			t.Run(fmt.Sprintf("step%d/after=%v", failAt, after), func(t *testing.T) {
				ns, k := setup(t)
				scope := desired.Scope()
				before := snapshot(t, ns, k, scope)
				f := &faulty{Kernel: k, failAt: failAt, after: after}
				txn, err := apply.Begin(f, apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: t.TempDir()})
				if err != nil {
					t.Fatal(err)
				}
				defer txn.Close()
				p, err := txn.Plan(desired)
				if err != nil {
					t.Fatal(err)
				}
				err = txn.Apply(p, apply.ApplyOptions{})
				var fail *apply.Failure
				if !errors.As(err, &fail) || !fail.RolledBack {
					t.Fatalf("want a rolled-back *apply.Failure, got %v", err)
				}
				if got := snapshot(t, ns, k, scope); got != before {
					t.Fatalf("live state changed by a failed apply (%v)\nbefore:\n%s\nafter:\n%s", err, before, got)
				}
			})
		}
	}
}
