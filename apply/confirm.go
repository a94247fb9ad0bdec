package apply

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/netctl/netctl/internal/atomicfile"
	"github.com/netctl/netctl/plan"
)

// An apply made with KeepJournal waits for confirmation, like netplan try and
// iptables-apply: Enter on its terminal, or `netctl confirm` from another
// shell, which drops a file next to the journal.

func confirmPath(dir string, id plan.NamespaceID) string {
	return stateFile(dir, id, ".confirm")
}

// RequestConfirm confirms the apply waiting in the namespace.
func RequestConfirm(opts Options) error {
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir
	}
	if opts.NetnsID.IsZero() {
		return errNoIdentity
	}
	exists, err := checkStateDir(opts.StateDir, false)
	if err != nil {
		return err
	}
	var j *journal
	if exists {
		path := journalPath(opts.StateDir, opts.NetnsID)
		if j, err = readJournal(path); err != nil {
			return err
		}
		if j != nil {
			if err := j.checkNamespace(path, opts.NetnsID, 0, opts.Netns); err != nil {
				return err
			}
		}
	}
	if j == nil || !j.Confirming {
		return fmt.Errorf("no apply is waiting for confirmation in namespace %s", displayNS(opts.Netns, opts.NetnsID))
	}
	return atomicfile.WriteFile(confirmPath(opts.StateDir, opts.NetnsID), []byte(fmt.Sprintln(os.Getpid())), 0o600)
}

// AwaitConfirmation waits for a confirmation (a value on enter, or
// RequestConfirm from another process) until timeout. Confirmed, the change
// is kept; otherwise it is rolled back.
func (t *Txn) AwaitConfirmation(timeout time.Duration, enter <-chan struct{}) (confirmed bool, err error) {
	path := confirmPath(t.opts.StateDir, t.opts.NetnsID)
	_ = os.Remove(path) // a confirmation left from before does not count
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-enter:
			return true, t.Confirm()
		case <-tick.C:
			if _, err := os.Stat(path); err == nil {
				_ = os.Remove(path)
				return true, t.Confirm()
			} else if !errors.Is(err, os.ErrNotExist) {
				return false, err
			}
		case <-deadline.C:
			return false, t.Rollback()
		}
	}
}
