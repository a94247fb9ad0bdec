package apply

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/netctl/netctl/plan"
)

// cookieKernel is the fake with a namespace cookie, as kernel.Handle has
// one on Linux 5.14 and later: the forward memory is kept.
type cookieKernel struct {
	*fakeKernel
	cookie uint64
}

func (c cookieKernel) NamespaceCookie() uint64 { return c.cookie }

// lister is the fake's NamespaceCookies: the namespaces that exist, with
// their cookies.
type lister struct {
	cookieKernel
	live map[plan.NamespaceID]uint64
}

func (l lister) NamespaceCookies(ids []plan.NamespaceID) (map[plan.NamespaceID]uint64, error) {
	out := map[plan.NamespaceID]uint64{}
	for _, id := range ids {
		if c, ok := l.live[id]; ok {
			out[id] = c
		}
	}
	return out, nil
}

func readMemory(t *testing.T, opts Options) *memory {
	t.Helper()
	m, err := readMemoryFile(memoryPath(opts.StateDir, opts.NetnsID))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func planFake(t *testing.T, k Kernel, opts Options, desired plan.State) *plan.Plan {
	t.Helper()
	p, err := Plan(k, desired, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func hasChange(p *plan.Plan, addr string) bool {
	return slices.ContainsFunc(p.Changes, func(c plan.Change) bool { return c.Address == addr })
}

const memoryRule = "firewall.forward_others.ipv4.switched_by_netctl"

// TestForwardMemoryKeptAcrossFlush: the apply that switches ip_forward on
// writes the memory (0600, with the namespace's cookie); after the table is
// flushed away, the next plan brings the drop back, without the "already
// on" warning; destroy removes the memory.
func TestForwardMemoryKeptAcrossFlush(t *testing.T) {
	fk := newFake(fakeLive())
	k := cookieKernel{fk, 77}
	opts := fakeOpts(t)
	desired := plan.Desired(fakeConfig())
	if err := applyFake(t, k, opts, desired, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	m := readMemory(t, opts)
	if m == nil || !slices.Equal(m.Switched, []string{plan.SysctlIPForward}) || m.NetnsCookie != 77 || m.NetnsID != opts.NetnsID {
		t.Fatalf("memory after the switch: %+v", m)
	}
	if st, err := os.Lstat(memoryPath(opts.StateDir, opts.NetnsID)); err != nil || st.Mode() != 0o600 {
		t.Errorf("memory file: %v %v, want mode 0600", st.Mode(), err)
	}

	fk.state.Firewall = nil // nft flush ruleset
	p := planFake(t, k, opts, desired)
	if !hasChange(p, memoryRule) {
		t.Errorf("after the flush the plan does not bring back %s: %v", memoryRule, p.Changes)
	}
	if w := strings.Join(p.Warnings, "\n"); strings.Contains(w, "was already 1") {
		t.Errorf("after the flush the plan warns that forwarding is left open: %q", w)
	}
	if err := applyFake(t, k, opts, desired, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if p := planFake(t, k, opts, desired); !p.Empty() {
		t.Errorf("not converged: %v", p.Changes)
	}

	if err := applyFake(t, k, opts, plan.State{}, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if m := readMemory(t, opts); m != nil {
		t.Errorf("destroy left the memory: %+v", m)
	}
	fk.state.Firewall = nil
	if p := planFake(t, k, opts, desired); !strings.Contains(strings.Join(p.Warnings, "\n"), "ip_forward was already 1") || hasChange(p, memoryRule) {
		t.Errorf("after destroy: warnings %q, changes %v; want the 'already on' warning and no drop", p.Warnings, p.Changes)
	}
}

// TestForwardMemoryRolledBack: an apply that fails after the memory was
// written (the switch of ip_forward, its last write) removes it again with
// the rest; one killed there is rolled back, memory too, by the next Begin.
func TestForwardMemoryRolledBack(t *testing.T) {
	probe := newFake(fakeLive())
	if err := applyFake(t, cookieKernel{probe, 1}, fakeOpts(t), plan.Desired(fakeConfig()), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	last := len(probe.log())
	if w := probe.log()[last-1]; w != "sysctl "+plan.SysctlIPForward+"=1" {
		t.Fatalf("the last write is %q, want the switch of ip_forward", w)
	}

	t.Run("failure", func(t *testing.T) {
		fk := newFake(fakeLive())
		fk.faults[last] = failAfter
		opts := fakeOpts(t)
		err := applyFake(t, cookieKernel{fk, 5}, opts, plan.Desired(fakeConfig()), ApplyOptions{})
		var f *Failure
		if !errors.As(err, &f) || !f.RolledBack {
			t.Fatalf("apply: %v, want a proved rollback", err)
		}
		if m := readMemory(t, opts); m != nil {
			t.Errorf("the rolled back apply left the memory: %+v", m)
		}
	})
	t.Run("killed", func(t *testing.T) {
		fk := newFake(fakeLive())
		fk.faults[last] = crashBefore
		opts := fakeOpts(t)
		k := cookieKernel{fk, 6}
		func() {
			defer func() {
				if _, ok := recover().(crash); !ok {
					t.Fatal("no crash")
				}
			}()
			_ = applyFake(t, k, opts, plan.Desired(fakeConfig()), ApplyOptions{})
		}()
		if m := readMemory(t, opts); m == nil {
			t.Fatal("positive control: the memory is written before the switch of ip_forward")
		}
		fk.heal()
		txn, err := Begin(k, opts)
		if err != nil {
			t.Fatal(err)
		}
		txn.Close()
		if txn.Recovered == "" {
			t.Fatal("Begin did not roll back the killed apply")
		}
		if m := readMemory(t, opts); m != nil {
			t.Errorf("the recovery left the memory: %+v", m)
		}
	})
}

// TestForwardMemoryOtherNamespace: a memory file with another cookie (left
// by a deleted namespace whose identity the kernel reused) is not this
// namespace's memory, and the next transaction removes it.
func TestForwardMemoryOtherNamespace(t *testing.T) {
	fk := newFake(fakeLive())
	fk.state.Sysctls[plan.SysctlIPForward] = "1"
	opts := fakeOpts(t)
	old := cookieKernel{fk, 1}
	if err := remembering(old, opts).(*rememberingKernel).SetForwardMemory([]string{plan.SysctlIPForward}); err != nil {
		t.Fatal(err)
	}
	k := cookieKernel{fk, 2}
	p := planFake(t, k, opts, plan.Desired(fakeConfig()))
	if hasChange(p, memoryRule) || !strings.Contains(strings.Join(p.Warnings, "\n"), "ip_forward was already 1") {
		t.Errorf("another namespace's memory was taken for this one's: changes %v, warnings %q", p.Changes, p.Warnings)
	}
	txn, err := Begin(k, opts)
	if err != nil {
		t.Fatal(err)
	}
	txn.Close()
	if m := readMemory(t, opts); m != nil {
		t.Errorf("the stale memory is still there: %+v", m)
	}
}

// TestForwardMemoryWithoutCookie: without the namespace's cookie (before
// Linux 5.14) nothing is written; the plan says that only the table
// remembers.
func TestForwardMemoryWithoutCookie(t *testing.T) {
	fk := newFake(fakeLive())
	opts := fakeOpts(t)
	p := planFake(t, fk, opts, plan.Desired(fakeConfig()))
	if w := strings.Join(p.Warnings, "\n"); !strings.Contains(w, "SO_NETNS_COOKIE") {
		t.Errorf("no word that the memory is not kept: %q", w)
	}
	if err := applyFake(t, fk, opts, plan.Desired(fakeConfig()), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if m := readMemory(t, opts); m != nil {
		t.Errorf("a memory without a cookie: %+v", m)
	}
}

// TestSweepMemories: memories of namespaces that no longer exist go, also
// when their identity is a new namespace's (another cookie); the
// transaction's own and those of namespaces that exist stay.
func TestSweepMemories(t *testing.T) {
	opts := fakeOpts(t)
	ids := map[string]plan.NamespaceID{"own": opts.NetnsID, "live": {Dev: 1, Ino: 2}, "gone": {Dev: 1, Ino: 3}, "reused": {Dev: 1, Ino: 5}}
	for _, id := range ids {
		o := opts
		o.NetnsID = id
		if err := remembering(cookieKernel{newFake(plan.State{}), 9}, o).(*rememberingKernel).SetForwardMemory([]string{plan.SysctlIPForward}); err != nil {
			t.Fatal(err)
		}
	}
	other := filepath.Join(opts.StateDir, "netns-1-4.journal")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// "reused": a namespace of that identity exists, with another cookie.
	k := lister{cookieKernel{newFake(plan.State{}), 9}, map[plan.NamespaceID]uint64{ids["live"]: 9, ids["reused"]: 10}}
	txn, err := Begin(k, opts)
	if err != nil {
		t.Fatal(err)
	}
	txn.Close()
	for name, id := range ids {
		_, err := os.Lstat(memoryPath(opts.StateDir, id))
		if gone := os.IsNotExist(err); gone != (name == "gone" || name == "reused") {
			t.Errorf("memory of the %s namespace: %v", name, err)
		}
	}
	if _, err := os.Lstat(other); err != nil {
		t.Errorf("the sweep removed another file: %v", err)
	}
}
