package apply

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/netctl/netctl/internal/atomicfile"
	"github.com/netctl/netctl/plan"
)

// An apply made with KeepJournal waits for confirmation, like netplan try and
// iptables-apply: Enter on its terminal, or `netctl confirm` from another
// shell, which drops a file next to the journal naming the waiter's pid. The
// waiting apply holds the namespace's lock for the whole wait, and renames
// the file to the answer file when it takes the confirmation: that is how
// confirm knows someone waits, and was heard.

func confirmPath(dir string, id plan.NamespaceID) string {
	return stateFile(dir, id, ".confirm")
}

// answerPath is confirmPath once the waiter took the confirmation.
func answerPath(dir string, id plan.NamespaceID) string {
	return stateFile(dir, id, ".confirmed")
}

// confirmAnswer bounds how long RequestConfirm waits for the waiting apply
// to take the confirmation (it looks every 50 ms).
const confirmAnswer = 10 * time.Second

// RequestConfirm confirms the apply waiting in the namespace, and returns
// once that apply took the confirmation. It fails, saying so, when no apply
// waits: none was made with --confirm-timeout, or the one that was has died
// (its change stays live until the next apply rolls it back).
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
	none := fmt.Sprintf("no apply is waiting for confirmation in namespace %s", displayNS(opts.Netns, opts.NetnsID))
	if j == nil || !j.Confirming {
		return errors.New(none)
	}
	lockFile := stateFile(opts.StateDir, opts.NetnsID, ".lock")
	held, err := lockHeld(lockFile)
	if err != nil {
		return err
	}
	if !held {
		return fmt.Errorf("%s: %s; its change is still live, and the next apply rolls it back", none, describe(j))
	}
	path, answer := confirmPath(opts.StateDir, opts.NetnsID), answerPath(opts.StateDir, opts.NetnsID)
	pid := fmt.Sprintln(j.PID)
	if err := atomicfile.WriteFile(path, []byte(pid), 0o600); err != nil {
		return err
	}
	taken := func() bool {
		data, err := readStateFile(answer)
		if err == nil && string(data) == pid {
			_ = os.Remove(answer)
			return true
		}
		return false
	}
	deadline := time.Now().Add(confirmAnswer)
	for {
		time.Sleep(20 * time.Millisecond)
		if taken() {
			return nil
		}
		held, err := lockHeld(lockFile)
		if err != nil {
			return err
		}
		if !held && taken() { // answered, then ended, between two looks
			return nil
		}
		if !held || time.Now().After(deadline) {
			_ = os.Remove(path)
			if !held {
				return fmt.Errorf("%s: the apply (pid %d) ended before it took the confirmation (timed out or interrupted), and rolled its change back or left it to the next apply", none, j.PID)
			}
			return fmt.Errorf("the apply waiting for confirmation (pid %d) did not take it within %s", j.PID, confirmAnswer)
		}
	}
}

// lockHeld reports whether an apply holds the lock at path, without taking
// it for longer than a look. The holder removes the file as it lets go: no
// file, no holder.
func lockHeld(path string) (bool, error) {
	f, err := openStateFile(path, os.O_RDONLY)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	return false, err
}

// readStateFile reads a small file of the state directory, never through a
// symlink.
func readStateFile(path string) ([]byte, error) {
	f, err := openStateFile(path, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 64))
}

// WaitEnd is how a wait for confirmation ended.
type WaitEnd int

// The ends of a wait for confirmation.
const (
	// Confirmed: the change is kept.
	Confirmed WaitEnd = iota
	// TimedOut: not confirmed in time; the change was rolled back.
	TimedOut
	// Stopped: told to stop (a signal: the terminal hung up, Ctrl-C,
	// systemctl stop); the change was rolled back.
	Stopped
)

// AwaitConfirmation waits for a confirmation (a value on enter, or
// RequestConfirm from another process) until timeout, or until stop is
// closed. Confirmed, the change is kept; otherwise it is rolled back, and a
// non-nil error says the rollback failed or a re-read did not prove it.
func (t *Txn) AwaitConfirmation(timeout time.Duration, enter, stop <-chan struct{}) (WaitEnd, error) {
	if timeout <= 0 {
		return TimedOut, t.Rollback()
	}
	path := confirmPath(t.opts.StateDir, t.opts.NetnsID)
	confirmAnswerPath := answerPath(t.opts.StateDir, t.opts.NetnsID)
	mine := fmt.Sprintln(os.Getpid())
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return Stopped, t.Rollback()
		case <-enter:
			return Confirmed, t.Confirm()
		case <-tick.C:
			// A confirmation names its waiter: one meant for an apply that
			// died before this one is not taken.
			data, err := readStateFile(path)
			if err == nil && string(data) == mine {
				if err := os.Rename(path, confirmAnswerPath); err != nil {
					return TimedOut, errors.Join(err, t.Rollback())
				}
				return Confirmed, t.Confirm()
			} else if err != nil && !errors.Is(err, os.ErrNotExist) {
				return TimedOut, errors.Join(err, t.Rollback())
			}
		case <-deadline.C:
			return TimedOut, t.Rollback()
		}
	}
}
