package apply_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netctl/netctl/apply"
	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/kernel"
	"github.com/netctl/netctl/plan"
)

// qdisc is left out of kernelText: a link once up keeps the noqueue qdisc
// the kernel gave it when it is set down again; netctl does not manage it
// (nor IPv6 link-local addresses, whose flags change with DAD).
var qdisc = regexp.MustCompile(`qdisc \S+ `)

// kernelText is the namespace as the ip, nft and sysctl tools show it.
func kernelText(t *testing.T, ns string) string {
	t.Helper()
	return qdisc.ReplaceAllString(nstest.Run(t, "ip", "-n", ns, "link"), "") +
		nstest.Run(t, "ip", "-n", ns, "-4", "addr") +
		nstest.Exec(t, ns, "nft", "list", "ruleset") +
		nstest.Exec(t, ns, "sysctl", plan.SysctlIPForward, plan.SysctlBridgeNFIptables)
}

// amnesiac passes the first n writes to the kernel and then, claiming
// success, does nothing: a rollback that only a re-read can see fail.
type amnesiac struct {
	apply.Kernel
	n, writes int
}

func (f *amnesiac) pass() bool { f.writes++; return f.writes <= f.n }

func (f *amnesiac) SetSysctl(name, value string) error {
	if !f.pass() {
		return nil
	}
	return f.Kernel.SetSysctl(name, value)
}

func (f *amnesiac) SyncBridge(from, to *plan.Bridge) error {
	if !f.pass() {
		return nil
	}
	return f.Kernel.SyncBridge(from, to)
}

func (f *amnesiac) SyncFirewall(from, to *plan.Firewall) error {
	if !f.pass() {
		return nil
	}
	return f.Kernel.SyncFirewall(from, to)
}

// TestConfirmingJournalUnwritable: an apply that is to wait for confirmation
// but cannot write the journal that says so (a full disk) rolls back at
// once, and says it did only when a re-read shows the state before.
func TestConfirmingJournalUnwritable(t *testing.T) {
	nstest.RequireRoot(t)
	desired := plan.Desired(testConfig())
	run := func(t *testing.T, k apply.Kernel, ns, dir string) error {
		t.Helper()
		h, err := kernel.Open(ns)
		if err != nil {
			t.Fatal(err)
		}
		id := h.NamespaceID()
		h.Close()
		txn, err := apply.Begin(k, apply.Options{Netns: ns, NetnsID: id, StateDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer txn.Close()
		p, err := txn.Plan(desired)
		if err != nil {
			t.Fatal(err)
		}
		if p.Empty() {
			t.Fatal("nothing to apply")
		}
		return txn.Apply(p, apply.ApplyOptions{KeepJournal: true})
	}
	journals := func(t *testing.T, dir string) []string {
		t.Helper()
		m, err := filepath.Glob(filepath.Join(dir, "*.journal*"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	t.Run("positive control: written, the change waits", func(t *testing.T) {
		ns, k := setup(t)
		dir := t.TempDir()
		before := kernelText(t, ns)
		if err := run(t, k, ns, dir); err != nil {
			t.Fatal(err)
		}
		if kernelText(t, ns) == before {
			t.Fatal("the change is not live while it waits")
		}
		if !strings.Contains(apply.JournalPending(apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: dir}), "waiting for confirmation") {
			t.Fatal("the journal does not say the change waits")
		}
	})

	t.Run("full disk: rolled back now", func(t *testing.T) {
		ns, k := setup(t)
		dir := t.TempDir()
		before := kernelText(t, ns)
		defer apply.FailConfirmingJournal(syscall.ENOSPC)()
		err := run(t, k, ns, dir)
		var fail *apply.Failure
		if !errors.As(err, &fail) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("want a *apply.Failure for the full disk, got %v", err)
		}
		if !fail.RolledBack || !strings.Contains(err.Error(), "writing the journal for the wait for confirmation") {
			t.Fatalf("not rolled back, or not said why: %v", err)
		}
		if got := kernelText(t, ns); got != before {
			t.Fatalf("the change stayed live:\n%s\nbefore:\n%s", got, before)
		}
		if j := journals(t, dir); len(j) != 0 {
			t.Errorf("journal left after a proven rollback: %v", j)
		}
	})

	t.Run("full disk, rollback not proven: not claimed", func(t *testing.T) {
		ns, k := setup(t)
		dir := t.TempDir()
		// Count the apply's writes on a copy of the namespace's state.
		counter := &amnesiac{Kernel: k, n: 1 << 30}
		if err := run(t, counter, ns, dir); err != nil {
			t.Fatal(err)
		}
		ns, k = setup(t)
		dir = t.TempDir()
		before := kernelText(t, ns)
		defer apply.FailConfirmingJournal(syscall.ENOSPC)()
		err := run(t, &amnesiac{Kernel: k, n: counter.writes}, ns, dir)
		var fail *apply.Failure
		if !errors.As(err, &fail) || fail.RolledBack {
			t.Fatalf("a rollback the kernel did not do is claimed: %v", err)
		}
		if !strings.Contains(err.Error(), "ROLLBACK FAILED") || !strings.Contains(err.Error(), "not as before") {
			t.Errorf("the error does not say the rollback failed: %v", err)
		}
		if kernelText(t, ns) == before {
			t.Fatal("the amnesiac kernel rolled back: the test proves nothing")
		}
		if _, err := os.Stat(dir); err != nil {
			t.Fatal(err)
		}
	})
}

// TestConfirmationNamesItsWaiter: a confirmation meant for another apply
// (one that died) is not taken; one naming this apply is, and confirm hears
// back that it was.
func TestConfirmationNamesItsWaiter(t *testing.T) {
	nstest.RequireRoot(t)
	desired := plan.Desired(testConfig())
	begin := func(t *testing.T) (string, *apply.Txn, apply.Options) {
		t.Helper()
		ns, k := setup(t)
		before := kernelText(t, ns)
		opts := apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: t.TempDir()}
		txn, err := apply.Begin(k, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(txn.Close)
		p, err := txn.Plan(desired)
		if err != nil {
			t.Fatal(err)
		}
		if err := txn.Apply(p, apply.ApplyOptions{KeepJournal: true}); err != nil {
			t.Fatal(err)
		}
		return before, txn, opts
	}

	t.Run("meant for another: not taken", func(t *testing.T) {
		before, txn, opts := begin(t)
		ns := opts.Netns
		if err := os.WriteFile(apply.ConfirmPath(opts), []byte("1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		end, err := txn.AwaitConfirmation(500*time.Millisecond, nil, nil)
		if err != nil || end != apply.TimedOut {
			t.Fatalf("wait ended %v, %v; want timed out", end, err)
		}
		if got := kernelText(t, ns); got != before {
			t.Errorf("not rolled back:\n%s\nbefore:\n%s", got, before)
		}
	})

	t.Run("positive control: netctl confirm is taken and hears back", func(t *testing.T) {
		_, txn, opts := begin(t)
		asked := make(chan error, 1)
		go func() { asked <- apply.RequestConfirm(opts) }()
		end, err := txn.AwaitConfirmation(time.Minute, nil, nil)
		if err != nil || end != apply.Confirmed {
			t.Fatalf("wait ended %v, %v; want confirmed", end, err)
		}
		if err := <-asked; err != nil {
			t.Fatalf("confirm: %v", err)
		}
	})
}
