package apply_test

// The transaction's files are the namespace's, found by its identity, in a
// directory no one else can write to: a journal of another namespace, a
// planted symlink or a state directory others can write are refused, and
// nothing is touched.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/apply"
	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/kernel"
	"github.com/netctl/netctl/plan"
)

// stateDir is a state directory as netctl wants it: the test's own, 0700.
func stateDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// unconfirmedApply leaves a journal in dir as an apply killed while waiting
// for confirmation does.
func unconfirmedApply(t *testing.T, opts apply.Options, k apply.Kernel, desired plan.State) {
	t.Helper()
	txn, err := apply.Begin(k, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	p, err := txn.Plan(desired)
	if err != nil {
		t.Fatal(err)
	}
	if err := txn.Apply(p, apply.ApplyOptions{KeepJournal: true}); err != nil {
		t.Fatal(err)
	}
}

func TestJournalOfAnotherNamespaceIsRefused(t *testing.T) {
	nstest.RequireRoot(t)
	dir := stateDir(t)
	desired := plan.Desired(testConfig())
	nsA, kA := setup(t)
	nsB, kB := setup(t)
	optsA := apply.Options{Netns: nsA, NetnsID: kA.NamespaceID(), StateDir: dir}
	optsB := apply.Options{Netns: nsB, NetnsID: kB.NamespaceID(), StateDir: dir}
	beforeA := snapshot(t, nsA, kA, desired.Scope())
	unconfirmedApply(t, optsA, kA, desired)

	// A's journal where B's would be: as if two namespaces had one key.
	journalA := filepath.Join(dir, optsA.NetnsID.String()+".journal")
	journalB := filepath.Join(dir, optsB.NetnsID.String()+".journal")
	data, err := os.ReadFile(journalA)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(journalB, data, 0o600); err != nil {
		t.Fatal(err)
	}
	beforeB := snapshot(t, nsB, kB, desired.Scope())

	want := "was written for namespace " + `"` + nsA + `"`
	if _, err := apply.Begin(kB, optsB); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "touched nothing") {
		t.Fatalf("Begin in B with A's journal: want an error containing %q, got %v", want, err)
	}
	if w := apply.JournalPending(optsB); !strings.Contains(w, want) || strings.Contains(w, "rolls it back") {
		t.Errorf("plan's warning in B: %q", w)
	}
	if err := apply.RequestConfirm(optsB); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("confirm in B: %v", err)
	}
	if got := snapshot(t, nsB, kB, desired.Scope()); got != beforeB {
		t.Fatalf("B changed:\nbefore:\n%s\nafter:\n%s", beforeB, got)
	}
	if got, err := os.ReadFile(journalB); err != nil || string(got) != string(data) {
		t.Fatalf("the refused journal was not left as it was: %v", err)
	}

	// Positive control: in A, its own journal is rolled back.
	txn, err := apply.Begin(kA, optsA)
	if err != nil {
		t.Fatal(err)
	}
	txn.Close()
	if txn.Recovered == "" {
		t.Fatal("A's journal was not recovered in A")
	}
	if got := snapshot(t, nsA, kA, desired.Scope()); got != beforeA {
		t.Fatalf("A not rolled back:\nbefore:\n%s\nafter:\n%s", beforeA, got)
	}
}

func TestStateDirMustBeRootsAlone(t *testing.T) {
	nstest.RequireRoot(t)
	ns, k := setup(t)
	for _, tc := range []struct {
		name string
		make func(t *testing.T) string
		want string
	}{
		{"symlink", func(t *testing.T) string {
			link := filepath.Join(t.TempDir(), "link")
			if err := os.Symlink(stateDir(t), link); err != nil {
				t.Fatal(err)
			}
			return link
		}, "is a symlink"},
		{"world-writable", func(t *testing.T) string { return chmod(t, stateDir(t), 0o777) }, "group- or world-writable (mode 0777)"},
		{"group-writable", func(t *testing.T) string { return chmod(t, stateDir(t), 0o770) }, "group- or world-writable (mode 0770)"},
		{"a file", func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return path
		}, "is not a directory"},
		{"another owner", func(t *testing.T) string {
			dir := stateDir(t)
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "is owned by uid 65534, not root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: tc.make(t)}
			if _, err := apply.Begin(k, opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Begin: want an error containing %q, got %v", tc.want, err)
			}
			if w := apply.JournalPending(opts); !strings.Contains(w, tc.want) {
				t.Errorf("plan's warning: %q", w)
			}
			if err := apply.RequestConfirm(opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("confirm: %v", err)
			}
		})
	}
	// Positive control: a 0700 directory of root's, and one that does not
	// exist yet (made 0700).
	for _, dir := range []string{stateDir(t), filepath.Join(t.TempDir(), "new")} {
		txn, err := apply.Begin(k, apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: dir})
		if err != nil {
			t.Fatalf("Begin with %s: %v", dir, err)
		}
		txn.Close()
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// planted makes a file outside the state directory that a symlink planted
// in it points to.
func planted(t *testing.T) (target, content string) {
	t.Helper()
	target = filepath.Join(t.TempDir(), "precious")
	content = "precious, not netctl's\n"
	if err := os.WriteFile(target, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return target, content
}

func untouched(t *testing.T, target, content string) {
	t.Helper()
	if got, err := os.ReadFile(target); err != nil || string(got) != content {
		t.Fatalf("the symlink's target was written: %q, %v", got, err)
	}
}

func TestPlantedSymlinkAsLock(t *testing.T) {
	nstest.RequireRoot(t)
	ns, k := setup(t)
	dir := stateDir(t)
	opts := apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: dir}
	target, content := planted(t)
	lock := filepath.Join(dir, opts.NetnsID.String()+".lock")
	if err := os.Symlink(target, lock); err != nil {
		t.Fatal(err)
	}
	if _, err := apply.Begin(k, opts); err == nil || !strings.Contains(err.Error(), lock+" is a symlink") {
		t.Fatalf("Begin with a symlink as the lock: %v", err)
	}
	untouched(t, target, content)
	// Positive control: without the symlink, the lock is taken.
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	txn, err := apply.Begin(k, opts)
	if err != nil {
		t.Fatal(err)
	}
	txn.Close()
}

func TestPlantedSymlinksAsJournal(t *testing.T) {
	nstest.RequireRoot(t)
	ns, k := setup(t)
	desired := plan.Desired(testConfig())
	dir := stateDir(t)
	opts := apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: dir}
	journal := filepath.Join(dir, opts.NetnsID.String()+".journal")

	// As the journal's temporary file, under the name netctl used to
	// write it with: never written through, the journal is written anyway.
	target, content := planted(t)
	if err := os.Symlink(target, journal+".tmp"); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, ns, k, desired.Scope())
	unconfirmedApply(t, opts, k, desired)
	untouched(t, target, content)
	if st, err := os.Lstat(journal); err != nil || !st.Mode().IsRegular() {
		t.Fatalf("no journal written: %v, %v", st, err)
	}

	// As the journal itself: refused, with a clear error, nothing touched.
	applied := snapshot(t, ns, k, desired.Scope())
	if err := os.Rename(journal, target); err != nil {
		t.Fatal(err)
	}
	journalText, _ := os.ReadFile(target)
	if err := os.Symlink(target, journal); err != nil {
		t.Fatal(err)
	}
	want := journal + " is a symlink"
	if _, err := apply.Begin(k, opts); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Begin with a symlink as the journal: %v", err)
	}
	if w := apply.JournalPending(opts); !strings.Contains(w, want) {
		t.Errorf("plan's warning: %q", w)
	}
	untouched(t, target, string(journalText))
	if got := snapshot(t, ns, k, desired.Scope()); got != applied {
		t.Fatalf("the namespace changed:\n%s\nwas:\n%s", got, applied)
	}

	// Positive control: the real journal in its place is rolled back.
	if err := os.Remove(journal); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(target, journal); err != nil {
		t.Fatal(err)
	}
	txn, err := apply.Begin(k, opts)
	if err != nil {
		t.Fatal(err)
	}
	txn.Close()
	if got := snapshot(t, ns, k, desired.Scope()); got != before {
		t.Fatalf("not rolled back:\n%s\nwas:\n%s", got, before)
	}
}

// TestJournalOfADeletedNamespaceIsRefused: the kernel gives a deleted
// namespace's inode, so its identity, to the next namespace it makes. A
// journal the deleted one left must not be rolled back into the new one.
func TestJournalOfADeletedNamespaceIsRefused(t *testing.T) {
	nstest.RequireRoot(t)
	dir := stateDir(t)
	desired := plan.Desired(testConfig())
	nsX, kX := setup(t)
	optsX := apply.Options{Netns: nsX, NetnsID: kX.NamespaceID(), StateDir: dir}
	unconfirmedApply(t, optsX, kX, desired)
	kX.Close()
	nstest.Run(t, "ip", "netns", "del", nsX)

	nsY := nstest.New(t)
	kY, err := kernel.Open(nsY)
	if err != nil {
		t.Fatal(err)
	}
	defer kY.Close()
	optsY := apply.Options{Netns: nsY, NetnsID: kY.NamespaceID(), StateDir: dir}
	journalX := filepath.Join(dir, optsX.NetnsID.String()+".journal")
	journalY := filepath.Join(dir, optsY.NetnsID.String()+".journal")
	if optsY.NetnsID == optsX.NetnsID {
		t.Logf("the kernel gave %s's identity %s to %s", nsX, optsX.NetnsID, nsY)
	} else {
		// Not (yet) reused: make it so, as the kernel would.
		var j map[string]any
		data, err := os.ReadFile(journalX)
		if err == nil {
			err = json.Unmarshal(data, &j)
		}
		if err != nil {
			t.Fatal(err)
		}
		j["netns_id"] = optsY.NetnsID
		if data, err = json.Marshal(j); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(journalY, data, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s's identity was not reused yet: its journal was moved to %s's", nsX, nsY)
	}
	state := func() string {
		s, err := kY.Read(desired.Scope())
		if err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(s)
		return string(data) + nstest.Run(t, "ip", "-n", nsY, "-br", "link")
	}
	before := state()
	const want = "which no longer exists"
	if _, err := apply.Begin(kY, optsY); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "touched nothing") {
		t.Fatalf("Begin in %s with %s's journal: %v", nsY, nsX, err)
	}
	p, err := apply.Plan(kY, desired, optsY)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(p.Warnings, "\n"), want) {
		t.Errorf("plan's warnings do not say so: %q", p.Warnings)
	}
	if got := state(); got != before {
		t.Fatalf("%s changed:\n%s\nwas:\n%s", nsY, got, before)
	}
	if _, err := os.Stat(journalY); err != nil {
		t.Fatalf("the refused journal is gone: %v", err)
	}
}

// TestJournalOfAnOlderNetctlIsRefused: a journal an older netctl left under
// the namespace's name is not ignored (a killed apply's change would stay,
// unannounced), nor rolled back (its namespace is not proved): refused.
func TestJournalOfAnOlderNetctlIsRefused(t *testing.T) {
	nstest.RequireRoot(t)
	ns, k := setup(t)
	dir := stateDir(t)
	opts := apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: dir}
	legacy := filepath.Join(dir, ns+".journal")
	if err := os.WriteFile(legacy, []byte(`{"pid":1,"netns":"`+ns+`","before":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	desired := plan.Desired(testConfig())
	before := snapshot(t, ns, k, desired.Scope())
	want := "journal " + legacy + " was left by an older netctl"
	if _, err := apply.Begin(k, opts); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Begin with an older netctl's journal: %v", err)
	}
	if w := apply.JournalPending(opts); !strings.Contains(w, want) {
		t.Errorf("plan's warning: %q", w)
	}
	if got := snapshot(t, ns, k, desired.Scope()); got != before {
		t.Fatalf("the namespace changed:\n%s\nwas:\n%s", got, before)
	}
	// Positive control: removed by hand, the apply runs.
	if err := os.Remove(legacy); err != nil {
		t.Fatal(err)
	}
	txn, err := apply.Begin(k, opts)
	if err != nil {
		t.Fatal(err)
	}
	txn.Close()
}
