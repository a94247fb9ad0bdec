package apply

// The transaction's logic against fakeKernel: ordering, rollback,
// verification, recovery from every journal state, confirmation. No root,
// no namespace; milliseconds. apply_test.go and cli_test.go prove the same
// against the real kernel, as root.

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

func fakeConfig() *schema.Config {
	on := true
	tcp := func(p uint16) schema.Port { return schema.Port{Proto: "tcp", First: p, Last: p} }
	return &schema.Config{
		IPForward: &on,
		Firewall:  true,
		Bridges: []schema.Bridge{{
			Name:           "docker0",
			Address:        netip.MustParsePrefix("172.17.0.1/16"),
			MTU:            1500,
			ICC:            false,
			Masquerade:     true,
			AllowedSources: []netip.Prefix{netip.MustParsePrefix("198.51.100.10/32")},
			Containers: []schema.Container{
				{Name: "web", Address: netip.MustParseAddr("172.17.0.2"), Expose: []schema.Port{tcp(80)}},
				{Name: "db", Address: netip.MustParseAddr("172.17.0.3"), Expose: []schema.Port{tcp(5432)}},
			},
			Links: []schema.Link{{From: "web", To: "db", Ports: []schema.Port{tcp(5432)}}},
		}, {
			Name:    "br-app",
			Address: netip.MustParsePrefix("172.18.0.1/16"),
			MTU:     1400,
			ICC:     true,
		}},
	}
}

// fakeLive is a namespace that differs from fakeConfig in every kind of
// object: forwarding off, br_netfilter off, an owned bridge to update (with
// a container's port attached), an owned bridge the file dropped, a foreign
// bridge, no table.
func fakeLive() plan.State {
	return plan.State{
		Sysctls: map[string]string{plan.SysctlIPForward: "0", plan.SysctlBridgeNFIptables: "0", plan.SysctlBridgeNFIp6tables: "0"},
		Bridges: map[string]plan.Bridge{
			"br-app":   {Name: "br-app", Kind: "bridge", MTU: 1500, Owner: plan.Owner, Ports: []string{"veth-app"}},
			"br-old":   {Name: "br-old", Kind: "bridge", MTU: 1500, Up: true, Owner: plan.Owner},
			"foreign0": {Name: "foreign0", Kind: "bridge", MTU: 1500},
		},
	}
}

func fakeOpts(t *testing.T) Options {
	return Options{Netns: "fake", NetnsID: plan.NamespaceID{Dev: 1, Ino: 4026531840}, StateDir: t.TempDir()}
}

// applyFake plans and applies desired on k in a transaction of its own.
func applyFake(t *testing.T, k Kernel, opts Options, desired plan.State, o ApplyOptions) error {
	t.Helper()
	txn, err := Begin(k, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	p, err := txn.Plan(desired)
	if err != nil {
		t.Fatal(err)
	}
	return txn.Apply(p, o)
}

// converged fails unless k's state is desired (plan.Diff finds nothing).
func converged(t *testing.T, k *fakeKernel, desired plan.State) {
	t.Helper()
	live, err := k.Read(desired.Scope())
	if err != nil {
		t.Fatal(err)
	}
	// The forward_others rule depends on the live ip_forward: what a new
	// plan would want of it (plan/forward.go).
	desired, _ = plan.ResolveForward(desired, live)
	if d := plan.Diff(desired, live); !d.Empty() {
		t.Fatalf("not converged: %d changes left, first %s", len(d.Changes), d.Changes[0].Address)
	}
}

// writeCount is the number of writes of a clean apply from live to desired.
func writeCount(t *testing.T, live, desired plan.State) int {
	t.Helper()
	k := newFake(live)
	if err := applyFake(t, k, fakeOpts(t), desired, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	converged(t, k, desired)
	return len(k.log())
}

// TestFakeStepOrder: the writes come in the order that never opens a
// window: forwarding off first, br_netfilter before the firewall, the
// firewall before any bridge, deletes before creates, forwarding on last.
func TestFakeStepOrder(t *testing.T) {
	up := plan.Desired(fakeConfig())
	cfg := fakeConfig()
	off := false
	cfg.IPForward, cfg.Bridges = &off, cfg.Bridges[:1]
	down := plan.Desired(cfg)
	running := clone(up)
	running.Bridges["br-old"] = plan.Bridge{Name: "br-old", Kind: "bridge", MTU: 1500, Up: true, Owner: plan.Owner}
	for _, tc := range []struct {
		name          string
		live, desired plan.State
		want          []string
	}{
		{"from scratch", fakeLive(), up, []string{
			"sysctl net.bridge.bridge-nf-call-ip6tables=1",
			"sysctl net.bridge.bridge-nf-call-iptables=1",
			"firewall create",
			"bridge br-old delete",
			"bridge br-app update",
			"bridge docker0 create",
			"sysctl net.ipv4.ip_forward=1",
		}},
		{"forwarding off, a bridge dropped", running, down, []string{
			"sysctl net.ipv4.ip_forward=0",
			"firewall update",
			"bridge br-app delete",
			"bridge br-old delete",
		}},
		{"nothing to do", up, up, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "nothing to do" {
				k := newFake(fakeLive())
				if err := applyFake(t, k, fakeOpts(t), up, ApplyOptions{}); err != nil {
					t.Fatal(err)
				}
				tc.live = clone(k.state)
			}
			k := newFake(tc.live)
			if err := applyFake(t, k, fakeOpts(t), tc.desired, ApplyOptions{}); err != nil {
				t.Fatal(err)
			}
			if got := k.log(); !slices.Equal(got, tc.want) {
				t.Errorf("writes:\n got %q\nwant %q", got, tc.want)
			}
			converged(t, k, tc.desired)
		})
	}
}

// TestFakeEveryFailedStepRollsBack: for every write of an apply and every
// way it can fail (an error before or after writing, a lost write), the
// apply fails naming the step, rolls back, and the whole namespace is as
// before; the journal is gone.
func TestFakeEveryFailedStepRollsBack(t *testing.T) {
	desired := plan.Desired(fakeConfig())
	steps := writeCount(t, fakeLive(), desired)
	if steps < 5 {
		t.Fatalf("%d writes: expected sysctls, firewall and bridges", steps)
	}
	for _, f := range []fault{failBefore, failAfter, lose} {
		for n := 1; n <= steps; n++ {
			t.Run(fmt.Sprintf("%s/write%d", f, n), func(t *testing.T) {
				k := newFake(fakeLive())
				before := k.snapshot()
				k.faults[n] = f
				opts := fakeOpts(t)
				err := applyFake(t, k, opts, desired, ApplyOptions{})
				var fail *Failure
				if !errors.As(err, &fail) {
					t.Fatalf("want a *Failure, got %v", err)
				}
				if !fail.RolledBack {
					t.Fatalf("rollback failed: %v", err)
				}
				switch f {
				case lose:
					// Every write "succeeded": only verification can tell.
					if !strings.Contains(err.Error(), "verify") {
						t.Errorf("a lost write: want a verification failure, got %v", err)
					}
				default:
					var se *StepError
					if !errors.As(err, &se) || !errors.Is(err, errInjected) || !strings.Contains(se.Error(), k.log()[n-1]) {
						t.Errorf("the error does not name write %d (%s): %v", n, k.log()[n-1], err)
					}
				}
				if got := k.snapshot(); got != before {
					t.Fatalf("state changed by a failed apply (%v):\nbefore:\n%s\nafter:\n%s", err, before, got)
				}
				if p := JournalPending(opts); p != "" {
					t.Errorf("journal left after a rollback that worked: %s", p)
				}
			})
		}
	}
}

// TestFakeVerifyFailures: the verification re-reads; a read error there, or
// a write the kernel did not keep, fails the apply and rolls it back.
func TestFakeVerifyFailures(t *testing.T) {
	desired := plan.Desired(fakeConfig())
	steps := writeCount(t, fakeLive(), desired)
	t.Run("read error", func(t *testing.T) {
		k := newFake(fakeLive())
		before := k.snapshot()
		// Read 1 is the plan's; read 2 the verification's.
		k.readFaults[2] = failBefore
		err := applyFake(t, k, fakeOpts(t), desired, ApplyOptions{})
		var fail *Failure
		if !errors.As(err, &fail) || !fail.RolledBack || !strings.Contains(err.Error(), "verify") {
			t.Fatalf("want a rolled-back verification failure, got %v", err)
		}
		if len(k.log()) <= steps {
			t.Errorf("no undo writes after the failed verification: %q", k.log())
		}
		if got := k.snapshot(); got != before {
			t.Fatalf("state changed:\nbefore:\n%s\nafter:\n%s", before, got)
		}
	})
	t.Run("every write lost names what differs", func(t *testing.T) {
		k := newFake(fakeLive())
		for n := 1; n <= steps; n++ {
			k.faults[n] = lose
		}
		err := applyFake(t, k, fakeOpts(t), desired, ApplyOptions{})
		if err == nil || !strings.Contains(err.Error(), "still differs") || !strings.Contains(err.Error(), "more") {
			t.Fatalf("want a verification failure naming the differences, got %v", err)
		}
	})
}

// TestFakeRollbackFailureIsReported: when an undo write fails too, the
// failure says so (not rolled back, which undo failed), the journal stays,
// and the next Begin rolls back from it.
func TestFakeRollbackFailureIsReported(t *testing.T) {
	desired := plan.Desired(fakeConfig())
	steps := writeCount(t, fakeLive(), desired)
	for n := 1; n <= steps; n++ {
		t.Run(fmt.Sprintf("write%d", n), func(t *testing.T) {
			k := newFake(fakeLive())
			before := k.snapshot()
			opts := fakeOpts(t)
			// Write n fails after writing; the first undo write (of that
			// same step: undo goes newest first) fails too.
			k.faults[n] = failAfter
			k.faults[n+1] = failBefore
			err := applyFake(t, k, opts, desired, ApplyOptions{})
			var fail *Failure
			if !errors.As(err, &fail) {
				t.Fatalf("want a *Failure, got %v", err)
			}
			if fail.RolledBack || fail.RollbackErr == nil || !strings.Contains(err.Error(), "ROLLBACK FAILED") {
				t.Fatalf("an undo write failed, yet: RolledBack=%v, %v", fail.RolledBack, err)
			}
			if JournalPending(opts) == "" {
				t.Fatal("the journal is gone after a failed rollback: nothing can finish it")
			}
			k.heal()
			txn, err := Begin(k, opts)
			if err != nil {
				t.Fatalf("recovery: %v", err)
			}
			txn.Close()
			if txn.Recovered == "" {
				t.Error("Begin did not report the interrupted apply")
			}
			if got := k.snapshot(); got != before {
				t.Fatalf("recovery did not restore the state:\nbefore:\n%s\nafter:\n%s", before, got)
			}
		})
	}
}

// crashApply runs an apply that the fake kills; it returns what the panic
// said. The transaction's lock is released as a dead process's would be.
func crashApply(t *testing.T, k *fakeKernel, opts Options, desired plan.State, o ApplyOptions) (where string) {
	t.Helper()
	txn, err := Begin(k, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	p, err := txn.Plan(desired)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		r := recover()
		c, ok := r.(crash)
		if !ok {
			panic(r)
		}
		where = c.at
	}()
	err = txn.Apply(p, o)
	t.Fatalf("the apply was not killed (returned %v)", err)
	return ""
}

// recoverFake is the next netctl's Begin: it must report the interrupted
// apply and leave the whole namespace as it was before it.
func recoverFake(t *testing.T, k *fakeKernel, opts Options, before string) {
	t.Helper()
	if JournalPending(opts) == "" {
		t.Fatal("no journal pending after the kill")
	}
	txn, err := Begin(k, opts)
	if err != nil {
		t.Fatalf("recovery: %v", err)
	}
	txn.Close()
	if txn.Recovered == "" {
		t.Error("Begin did not report the interrupted apply")
	}
	if got := k.snapshot(); got != before {
		t.Fatalf("recovery did not restore the state:\nbefore:\n%s\nafter:\n%s", before, got)
	}
	if p := JournalPending(opts); p != "" {
		t.Errorf("journal still pending after recovery: %s", p)
	}
}

// TestFakeRecoveryFromEveryJournalState: an apply killed at any point (the
// journal written and no step run, after any step, before or after the
// verification, while waiting for confirmation) is rolled back by the next
// Begin; an unreadable journal stops Begin before any write; a recovery that
// fails keeps the journal for the next.
func TestFakeRecoveryFromEveryJournalState(t *testing.T) {
	desired := plan.Desired(fakeConfig())
	steps := writeCount(t, fakeLive(), desired)

	t.Run("no journal", func(t *testing.T) {
		k := newFake(fakeLive())
		txn, err := Begin(k, fakeOpts(t))
		if err != nil {
			t.Fatal(err)
		}
		txn.Close()
		if txn.Recovered != "" || len(k.log()) != 0 {
			t.Errorf("Begin without a journal: Recovered=%q, writes %q", txn.Recovered, k.log())
		}
	})
	t.Run("killed before the first step", func(t *testing.T) {
		k := newFake(fakeLive())
		before, opts := k.snapshot(), fakeOpts(t)
		k.faults[1] = crashBefore
		crashApply(t, k, opts, desired, ApplyOptions{})
		k.heal()
		recoverFake(t, k, opts, before)
	})
	for n := 1; n <= steps; n++ {
		t.Run(fmt.Sprintf("killed after write %d", n), func(t *testing.T) {
			k := newFake(fakeLive())
			before, opts := k.snapshot(), fakeOpts(t)
			k.faults[n] = crashAfter
			crashApply(t, k, opts, desired, ApplyOptions{})
			k.heal()
			recoverFake(t, k, opts, before)
		})
	}
	t.Run("killed in the verification", func(t *testing.T) {
		k := newFake(fakeLive())
		before, opts := k.snapshot(), fakeOpts(t)
		k.readFaults[2] = crashBefore // read 1 plans, read 2 verifies
		crashApply(t, k, opts, desired, ApplyOptions{})
		k.heal()
		recoverFake(t, k, opts, before)
	})
	t.Run("killed while waiting for confirmation", func(t *testing.T) {
		k := newFake(fakeLive())
		before, opts := k.snapshot(), fakeOpts(t)
		if err := applyFake(t, k, opts, desired, ApplyOptions{KeepJournal: true}); err != nil {
			t.Fatal(err)
		}
		converged(t, k, desired)
		if p := JournalPending(opts); !strings.Contains(p, "waiting for confirmation") {
			t.Fatalf("JournalPending = %q, want an apply waiting for confirmation", p)
		}
		recoverFake(t, k, opts, before)
	})
	t.Run("confirmed: nothing to recover", func(t *testing.T) {
		k := newFake(fakeLive())
		opts := fakeOpts(t)
		txn, err := Begin(k, opts)
		if err != nil {
			t.Fatal(err)
		}
		p, err := txn.Plan(desired)
		if err != nil {
			t.Fatal(err)
		}
		if err := txn.Apply(p, ApplyOptions{KeepJournal: true}); err != nil {
			t.Fatal(err)
		}
		if err := txn.Confirm(); err != nil {
			t.Fatal(err)
		}
		txn.Close()
		after := k.snapshot()
		txn, err = Begin(k, opts)
		if err != nil {
			t.Fatal(err)
		}
		txn.Close()
		if txn.Recovered != "" || k.snapshot() != after {
			t.Errorf("a confirmed apply was rolled back (Recovered=%q)", txn.Recovered)
		}
	})
	t.Run("unreadable journal", func(t *testing.T) {
		k := newFake(fakeLive())
		opts := fakeOpts(t)
		if err := os.WriteFile(journalPath(opts.StateDir, opts.NetnsID), []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Begin(k, opts); err == nil || !strings.Contains(err.Error(), "unreadable") {
			t.Fatalf("Begin with a corrupt journal: %v; want it refused as unreadable", err)
		}
		if len(k.log()) != 0 {
			t.Errorf("writes despite an unreadable journal: %q", k.log())
		}
	})
	t.Run("journal of an older netctl (desired state, no scope)", func(t *testing.T) {
		k := newFake(fakeLive())
		before, opts := k.snapshot(), fakeOpts(t)
		live, err := k.Read(desired.Scope())
		if err != nil {
			t.Fatal(err)
		}
		// The older netctl got as far as creating docker0 and died.
		k.state.Bridges["docker0"] = desired.Bridges["docker0"]
		j := journal{PID: 1, Started: time.Unix(0, 0), Netns: opts.Netns, NetnsID: opts.NetnsID, Before: live, Desired: &desired}
		if err := writeJournal(journalPath(opts.StateDir, opts.NetnsID), j); err != nil {
			t.Fatal(err)
		}
		recoverFake(t, k, opts, before)
	})
	t.Run("recovery fails, then succeeds", func(t *testing.T) {
		k := newFake(fakeLive())
		before, opts := k.snapshot(), fakeOpts(t)
		k.faults[steps] = crashAfter
		crashApply(t, k, opts, desired, ApplyOptions{})
		k.heal()
		k.faults[len(k.log())+1] = failBefore // the recovery's first write
		if _, err := Begin(k, opts); err == nil || !strings.Contains(err.Error(), "journal kept") {
			t.Fatalf("Begin with a failing recovery: %v; want an error keeping the journal", err)
		}
		recoverFake(t, k, opts, before)
	})
}

// TestFakeConfirmation: an apply made with KeepJournal is kept when
// confirmed (on the terminal, or by RequestConfirm from elsewhere) and
// rolled back when the time runs out; a confirmation left from before does
// not count.
func TestFakeConfirmation(t *testing.T) {
	desired := plan.Desired(fakeConfig())
	// begin applies desired with the journal kept and returns the waiting
	// transaction.
	begin := func(t *testing.T, k *fakeKernel, opts Options) *Txn {
		t.Helper()
		txn, err := Begin(k, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(txn.Close)
		p, err := txn.Plan(desired)
		if err != nil {
			t.Fatal(err)
		}
		if err := txn.Apply(p, ApplyOptions{KeepJournal: true}); err != nil {
			t.Fatal(err)
		}
		return txn
	}
	// never is a wait bound no test reaches: the outcome must come from
	// the event, not from the clock.
	const never = time.Hour

	t.Run("enter", func(t *testing.T) {
		k, opts := newFake(fakeLive()), fakeOpts(t)
		txn := begin(t, k, opts)
		enter := make(chan struct{}, 1)
		enter <- struct{}{}
		end, err := txn.AwaitConfirmation(never, enter, nil)
		if end != Confirmed || err != nil {
			t.Fatalf("AwaitConfirmation = %v, %v; want confirmed", end, err)
		}
		converged(t, k, desired)
		if p := JournalPending(opts); p != "" {
			t.Errorf("journal left after confirmation: %s", p)
		}
	})
	t.Run("netctl confirm", func(t *testing.T) {
		k, opts := newFake(fakeLive()), fakeOpts(t)
		txn := begin(t, k, opts)
		done := make(chan struct{})
		go func() {
			// Confirm until the waiter has seen it: a confirmation written
			// before the wait started is rightly ignored.
			defer close(done)
			for JournalPending(opts) != "" {
				_ = RequestConfirm(opts)
				time.Sleep(10 * time.Millisecond)
			}
		}()
		end, err := txn.AwaitConfirmation(never, nil, nil)
		<-done
		if end != Confirmed || err != nil {
			t.Fatalf("AwaitConfirmation = %v, %v; want confirmed", end, err)
		}
		converged(t, k, desired)
	})
	t.Run("timeout rolls back", func(t *testing.T) {
		k, opts := newFake(fakeLive()), fakeOpts(t)
		before := k.snapshot()
		txn := begin(t, k, opts)
		// A confirmation left over from an earlier apply must not count.
		if err := os.WriteFile(confirmPath(opts.StateDir, opts.NetnsID), []byte("1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// The wait is long enough for the waiter to look for a
		// confirmation several times (it looks every 50 ms), so a stale one
		// would be seen; the outcome asserted is the rollback, not a time.
		end, err := txn.AwaitConfirmation(300*time.Millisecond, nil, nil)
		if end != TimedOut || err != nil {
			t.Fatalf("AwaitConfirmation = %v, %v; want not confirmed, rolled back", end, err)
		}
		if got := k.snapshot(); got != before {
			t.Fatalf("not rolled back:\nbefore:\n%s\nafter:\n%s", before, got)
		}
		if p := JournalPending(opts); p != "" {
			t.Errorf("journal left after the rollback: %s", p)
		}
	})
	t.Run("nothing waiting", func(t *testing.T) {
		if err := RequestConfirm(fakeOpts(t)); err == nil || !strings.Contains(err.Error(), "no apply is waiting") {
			t.Errorf("RequestConfirm with nothing waiting: %v", err)
		}
	})
}
