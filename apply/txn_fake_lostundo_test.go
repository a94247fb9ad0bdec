package apply

import (
	"errors"
	"fmt"
	"testing"

	"github.com/netctl/netctl/plan"
)

// TestFakeLostUndoIsNotClaimed: when an undo write is lost (the kernel says
// yes and keeps nothing), the rollback is not claimed: only a re-read that
// finds the state as before may say "rolled back". The journal stays for the
// next run, which does restore it.
func TestFakeLostUndoIsNotClaimed(t *testing.T) {
	desired := plan.Desired(fakeConfig())
	steps := writeCount(t, fakeLive(), desired)
	for n := 1; n <= steps; n++ {
		t.Run(fmt.Sprintf("write%d", n), func(t *testing.T) {
			k := newFake(fakeLive())
			before, opts := k.snapshot(), fakeOpts(t)
			k.faults[n] = failAfter // step n writes, then fails
			k.faults[n+1] = lose    // its undo is lost
			err := applyFake(t, k, opts, desired, ApplyOptions{})
			var fail *Failure
			if !errors.As(err, &fail) {
				t.Fatalf("want a *Failure, got %v", err)
			}
			if k.snapshot() == before {
				t.Fatalf("test bug: write %d wrote nothing, so losing its undo loses nothing", n)
			}
			if fail.RolledBack {
				t.Fatalf("the state differs from before, yet the failure claims a rollback: %v", err)
			}
			if JournalPending(opts) == "" {
				t.Fatal("no journal kept after an unproven rollback")
			}
			k.heal()
			recoverFake(t, k, opts, before)
		})
	}
}
