package apply

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/plan"
)

// One watch --repair per namespace identity: a second is refused at once,
// naming the holder; another namespace is not; the transaction's lock is a
// separate file, so an apply still runs; after Release a new one succeeds
// and no file is left.
func TestHoldWatch(t *testing.T) {
	opts := Options{Netns: "ns1", NetnsID: plan.NamespaceID{Dev: 4, Ino: 4026531840}, StateDir: t.TempDir()}
	w, err := HoldWatch(opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = HoldWatch(opts)
	if err == nil || !strings.Contains(err.Error(), "another netctl watch --repair is already repairing namespace \"ns1\"") ||
		!strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second HoldWatch: %v", err)
	}
	// The same namespace under another name is the same identity.
	alias := opts
	alias.Netns = "alias-of-ns1"
	if _, err := HoldWatch(alias); err == nil {
		t.Fatal("an alias of the namespace got a second watch lock")
	}
	other := opts
	other.NetnsID.Ino++
	w2, err := HoldWatch(other)
	if err != nil {
		t.Fatalf("another namespace: %v", err)
	}
	w2.Release()
	l, err := acquire(opts.StateDir, opts.NetnsID, opts.Netns, 0)
	if err != nil {
		t.Fatalf("the transaction's lock while a watcher runs: %v", err)
	}
	l.release()
	w.Release()
	w, err = HoldWatch(opts)
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	w.Release()
	w.Release() // twice is harmless
	if left, _ := filepath.Glob(filepath.Join(opts.StateDir, "*")); len(left) != 0 {
		t.Fatalf("files left: %v", left)
	}
}
