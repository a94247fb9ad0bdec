package apply

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/netctl/netctl/plan"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestReleaseSweepsStaleLocks: the lock file a killed netctl left (no one
// holds its flock; its namespace may be long gone) is removed by the next
// apply's release, anywhere in the state directory; a lock someone holds
// and the other files stay.
func TestReleaseSweepsStaleLocks(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, plan.NamespaceID{Dev: 9, Ino: 1}.String()+".lock")
	held := filepath.Join(dir, plan.NamespaceID{Dev: 9, Ino: 2}.String()+".lock")
	journal := filepath.Join(dir, plan.NamespaceID{Dev: 9, Ino: 3}.String()+".journal")
	watch := filepath.Join(dir, plan.NamespaceID{Dev: 9, Ino: 1}.String()+".watch.lock") // HoldWatch does not wait: not swept
	for _, p := range []string{stale, held, journal, watch} {
		if err := os.WriteFile(p, []byte("pid 1 since then\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Another holder, as another process: flock belongs to the open file.
	h, err := os.OpenFile(held, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := syscall.Flock(int(h.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	l, err := acquire(dir, plan.NamespaceID{Dev: 9, Ino: 4}, "fake", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Positive control: while this apply runs, its own lock file is there.
	if got := dirNames(t, dir); len(got) != 5 {
		t.Fatalf("while holding the lock: %q", got)
	}
	l.release()
	want := []string{filepath.Base(held), filepath.Base(journal), filepath.Base(watch)}
	slices.Sort(want)
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after release the state directory holds %q, want %q (the stale lock removed; the held one, the journal and the watch lock kept)", got, want)
	}
	// The held lock is still the one its holder has.
	if !isAt(h, held) {
		t.Fatal("the sweep replaced a lock someone holds")
	}
}

// TestLockExclusiveWithSweeps: many acquirers and a sweeper on one lock
// never let two holders in at once, and leave no file behind: removing a
// lock file under its flock is safe because an acquirer re-checks, after
// its flock, that the path still names the file it locked.
func TestLockExclusiveWithSweeps(t *testing.T) {
	dir := t.TempDir()
	id := plan.NamespaceID{Dev: 9, Ino: 5}
	var inside, most, rounds atomic.Int32
	stop := make(chan struct{})
	var sweeper sync.WaitGroup
	sweeper.Add(1)
	go func() {
		defer sweeper.Done()
		for {
			select {
			case <-stop:
				return
			default:
				sweepLocks(dir)
			}
		}
	}()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				l, err := acquire(dir, id, "fake", time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				n := inside.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				for range 20 { // stay inside a while, for another to (wrongly) come in
					runtime.Gosched()
				}
				rounds.Add(1)
				inside.Add(-1)
				l.release()
			}
		}()
	}
	wg.Wait()
	close(stop)
	sweeper.Wait()
	if most.Load() != 1 || rounds.Load() != 8*50 {
		t.Fatalf("%d holders at once at most (want 1), %d rounds (want %d)", most.Load(), rounds.Load(), 8*50)
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Fatalf("left in the state directory: %q", got)
	}
}
