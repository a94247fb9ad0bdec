package apply_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/apply"
	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/kernel"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// faulty is the test seam: it fails the n-th write, either before doing it
// or after (so the step's own partial work must be undone too).
type faulty struct {
	apply.Kernel
	failAt int
	after  bool
	writes []string
}

func (f *faulty) write(name string, do func() error) error {
	f.writes = append(f.writes, name)
	if len(f.writes) != f.failAt {
		return do()
	}
	if f.after {
		if err := do(); err != nil {
			return err
		}
	}
	return fmt.Errorf("injected fault at write %d (%s)", f.failAt, name)
}

func (f *faulty) SetSysctl(name, value string) error {
	return f.write("sysctl "+name, func() error { return f.Kernel.SetSysctl(name, value) })
}

func (f *faulty) SyncBridge(from, to *plan.Bridge) error {
	return f.write("bridge", func() error { return f.Kernel.SyncBridge(from, to) })
}

func (f *faulty) SyncFirewall(from, to *plan.Firewall) error {
	return f.write("firewall", func() error { return f.Kernel.SyncFirewall(from, to) })
}

func testConfig() *schema.Config { return apply.SampleConfig() }

// setup makes a namespace whose starting state differs from the desired one
// in every kind of object, so every kind of step runs: a sysctl switched off,
// an owned bridge to update, a foreign table and bridge that must survive.
func setup(t *testing.T) (string, *kernel.Handle) {
	ns := nstest.New(t)
	nstest.Exec(t, ns, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0")
	nstest.Run(t, "ip", "-n", ns, "link", "add", "br-app", "type", "bridge")
	nstest.Run(t, "ip", "-n", ns, "link", "set", "br-app", "alias", plan.Owner, "mtu", "1500")
	nstest.Run(t, "ip", "-n", ns, "link", "add", "foreign0", "type", "bridge")
	nstest.Exec(t, ns, "nft", "add", "table", "ip", "other")
	k, err := kernel.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return ns, k
}

// snapshot is the live state as JSON (handles excluded) plus what netctl
// must never touch, read by the nft and ip tools.
func snapshot(t *testing.T, ns string, k *kernel.Handle, scope plan.Scope) string {
	t.Helper()
	s, err := k.Read(scope)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(data) + "\n" + nstest.Exec(t, ns, "nft", "list", "table", "ip", "other") +
		nstest.Run(t, "ip", "-n", ns, "-br", "link", "show", "foreign0")
}

func TestEveryFailedStepRollsBack(t *testing.T) {
	nstest.RequireRoot(t)
	desired := plan.Desired(testConfig())

	// A clean run counts the writes, K, and proves the apply converges.
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
	desired, _ = plan.ResolveForward(desired, left) // as a new plan would (plan/forward.go)
	if !plan.Diff(desired, left).Empty() {
		t.Fatalf("apply did not converge: %+v", plan.Diff(desired, left).Changes)
	}
	steps := len(counter.writes)
	if steps < 5 {
		t.Fatalf("expected sysctls, firewall and bridges among the steps, got %v", counter.writes)
	}
	t.Logf("K = %d steps: %v", steps, counter.writes)

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
				if !errors.As(err, &fail) {
					t.Fatalf("want a *apply.Failure, got %v", err)
				}
				if !fail.RolledBack {
					t.Fatalf("rollback failed: %v", err)
				}
				var se *apply.StepError
				if !errors.As(err, &se) || !strings.Contains(err.Error(), "injected fault") {
					t.Fatalf("the error does not name the failed step: %v", err)
				}
				if got := snapshot(t, ns, k, scope); got != before {
					t.Fatalf("live state changed by a failed apply (%v)\nbefore:\n%s\nafter:\n%s", err, before, got)
				}
			})
		}
	}
}

func TestVerifyFailureRollsBack(t *testing.T) {
	nstest.RequireRoot(t)
	ns, k := setup(t)
	desired := plan.Desired(testConfig())
	before := snapshot(t, ns, k, desired.Scope())
	// A kernel that silently drops the firewall write: every step
	// "succeeds", and only the verification by re-reading can tell.
	lying := &lyingKernel{Kernel: k}
	txn, err := apply.Begin(lying, apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	p, err := txn.Plan(desired)
	if err != nil {
		t.Fatal(err)
	}
	err = txn.Apply(p, apply.ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "verify") {
		t.Fatalf("want a verification failure, got %v", err)
	}
	if got := snapshot(t, ns, k, desired.Scope()); got != before {
		t.Fatalf("state changed:\nbefore:\n%s\nafter:\n%s", before, got)
	}
}

type lyingKernel struct{ apply.Kernel }

func (lyingKernel) SyncFirewall(from, to *plan.Firewall) error { return nil }

func TestJournalRecovery(t *testing.T) {
	nstest.RequireRoot(t)
	ns, k := setup(t)
	dir := t.TempDir()
	desired := plan.Desired(testConfig())
	before := snapshot(t, ns, k, desired.Scope())

	// Apply with the journal kept (as --confirm-timeout does), then drop the
	// transaction as a killed process would: the next Begin rolls it back.
	txn, err := apply.Begin(k, apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	p, err := txn.Plan(desired)
	if err != nil {
		t.Fatal(err)
	}
	if err := txn.Apply(p, apply.ApplyOptions{KeepJournal: true}); err != nil {
		t.Fatal(err)
	}
	txn.Close()
	if pending := apply.JournalPending(apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: dir}); pending == "" {
		t.Fatal("no pending journal reported")
	}
	txn, err = apply.Begin(k, apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	if txn.Recovered == "" {
		t.Fatal("Begin did not report the interrupted apply")
	}
	if got := snapshot(t, ns, k, desired.Scope()); got != before {
		t.Fatalf("recovery did not restore the state:\nbefore:\n%s\nafter:\n%s", before, got)
	}
}

// TestSecondApplyWaitsThenNamesTheHolder: while one transaction holds the
// namespace's lock, a second gives up after its wait naming the holder, and
// a second with a long wait gets the lock when the first lets go. The
// assertions are on the events (refused while held, granted on release),
// never on how long anything took.
func TestSecondApplyWaitsThenNamesTheHolder(t *testing.T) {
	nstest.RequireRoot(t)
	ns, k := setup(t)
	dir := t.TempDir()
	opts := apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: dir, LockWait: 200 * time.Millisecond}
	first, err := apply.Begin(k, opts)
	if err != nil {
		t.Fatal(err)
	}
	refused := func(when string) {
		t.Helper()
		if _, err := apply.Begin(k, opts); err == nil ||
			!strings.Contains(err.Error(), "holds the lock") || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
			t.Fatalf("second Begin %s: want a lock error naming pid %d, got %v", when, os.Getpid(), err)
		}
	}
	refused("while the first holds the lock")

	// A second Begin that may wait (the bound is only a backstop) is
	// waiting while the lock is held, and gets it once it is released.
	waited := make(chan error, 1)
	go func() {
		second, err := apply.Begin(k, apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: dir, LockWait: time.Minute})
		if err == nil {
			second.Close()
		}
		waited <- err
	}()
	refused("while another waits")
	select {
	case err := <-waited:
		t.Fatalf("the waiting Begin returned (%v) while the lock was held", err)
	default:
	}
	first.Close()
	if err := <-waited; err != nil {
		t.Fatalf("after the holder let go: %v", err)
	}
	third, err := apply.Begin(k, opts)
	if err != nil {
		t.Fatalf("after both let go: %v", err)
	}
	third.Close()
}

// forgetful fails its failAt-th write, and from then on does no bridge
// write at all while answering success: an undo that silently does not
// happen.
type forgetful struct {
	faulty
	failed bool
}

func (f *forgetful) SyncBridge(from, to *plan.Bridge) error {
	if f.failed {
		return nil
	}
	return f.faulty.SyncBridge(from, to)
}

func (f *forgetful) SetSysctl(name, value string) error {
	err := f.faulty.SetSysctl(name, value)
	f.failed = f.failed || err != nil
	return err
}

// TestRollbackClaimsOnlyWhatARereadProves: issue 10's rollback rule. An
// undo that does not happen is found by the re-read after it: the Failure
// says ROLLBACK FAILED naming the object, RolledBack is false (what apply
// --json prints as rolled_back), and the journal stays for the next apply,
// which does restore the state before.
func TestRollbackClaimsOnlyWhatARereadProves(t *testing.T) {
	nstest.RequireRoot(t)
	ns, k := setup(t)
	dir := t.TempDir()
	desired := plan.Desired(testConfig())
	scope := desired.Scope()
	before := snapshot(t, ns, k, scope)

	// The last write is forwarding on, after the bridges: fail it.
	counter := &faulty{Kernel: k}
	steps := func() int {
		ns2, k2 := setup(t)
		counter.Kernel = k2
		txn, err := apply.Begin(counter, apply.Options{Netns: ns2, NetnsID: k2.NamespaceID(), StateDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer txn.Close()
		p, err := txn.Plan(desired)
		if err != nil {
			t.Fatal(err)
		}
		if err := txn.Apply(p, apply.ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		return len(counter.writes)
	}()
	if last := counter.writes[steps-1]; last != "sysctl "+plan.SysctlIPForward {
		t.Fatalf("the last write is %q, want ip_forward: %v", last, counter.writes)
	}

	k2 := &forgetful{faulty: faulty{Kernel: k, failAt: steps}}
	txn, err := apply.Begin(k2, apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	p, err := txn.Plan(desired)
	if err != nil {
		t.Fatal(err)
	}
	err = txn.Apply(p, apply.ApplyOptions{})
	txn.Close()
	var fail *apply.Failure
	if !errors.As(err, &fail) {
		t.Fatalf("want a *apply.Failure, got %v", err)
	}
	msg := err.Error()
	t.Logf("apply: %s", msg)
	if fail.RolledBack || !strings.Contains(msg, "ROLLBACK FAILED") || strings.Contains(msg, "as it was before") {
		t.Errorf("a rollback that did not happen is claimed (rolled back %v): %s", fail.RolledBack, msg)
	}
	for _, want := range []string{"bridge.docker0 exists (a bridge), was absent", "bridge.br-app differs"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the failure does not say %q: %s", want, msg)
		}
	}
	if pending := apply.JournalPending(apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: dir}); pending == "" {
		t.Error("the journal of an apply whose rollback failed is gone")
	}

	// Recovery through the same forgetful kernel is no more believed.
	k3 := &forgetful{faulty: faulty{Kernel: k}, failed: true}
	if txn, err := apply.Begin(k3, apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: dir}); err == nil || !strings.Contains(err.Error(), "bridge.docker0") {
		t.Errorf("recovery that did nothing: want an error naming bridge.docker0, got %v", err)
		if err == nil {
			txn.Close()
		}
	}
	// An honest kernel restores the state before, and says so.
	txn, err = apply.Begin(k, apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: dir})
	if err != nil {
		t.Fatalf("recovery: %v", err)
	}
	txn.Close()
	if got := snapshot(t, ns, k, scope); got != before {
		t.Fatalf("recovery did not restore the state:\nbefore:\n%s\nafter:\n%s", before, got)
	}

	// Rollback of an apply waiting for confirmation (--confirm-timeout)
	// likewise: refused while the undo does not happen, then done.
	k4 := &forgetful{faulty: faulty{Kernel: k}}
	txn, err = apply.Begin(k4, apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	if p, err = txn.Plan(desired); err != nil {
		t.Fatal(err)
	}
	if err := txn.Apply(p, apply.ApplyOptions{KeepJournal: true}); err != nil {
		t.Fatal(err)
	}
	k4.failed = true
	if err := txn.Rollback(); err == nil || !strings.Contains(err.Error(), "bridge.docker0") {
		t.Errorf("Rollback that did nothing: want an error naming bridge.docker0, got %v", err)
	}
	k4.failed = false
	if err := txn.Rollback(); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if got := snapshot(t, ns, k, scope); got != before {
		t.Fatalf("Rollback did not restore the state:\nbefore:\n%s\nafter:\n%s", before, got)
	}
}
