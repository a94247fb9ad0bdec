package apply

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/netctl/netctl/plan"
)

// An apply made with KeepJournal waits for confirmation, like netplan try and
// iptables-apply: Enter on its terminal, or `netctl confirm` from another
// shell, which drops a file next to the journal naming the waiter's pid. The
// waiting apply holds the namespace's lock for the whole wait, and renames
// the file to the answer file when it takes the confirmation: that is how
// confirm knows someone waits, and was heard.

func confirmPath(dir, netns string) string {
	return filepath.Join(dir, nsKey(netns)+".confirm")
}

// answerPath is confirmPath once the waiter took the confirmation.
func answerPath(dir, netns string) string {
	return filepath.Join(dir, nsKey(netns)+".confirmed")
}

func lockPath(dir, netns string) string {
	return filepath.Join(dir, nsKey(netns)+".lock")
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
	jpath := journalPath(opts.StateDir, opts.Netns)
	j, err := readJournal(jpath)
	if err != nil {
		return err
	}
	none := fmt.Sprintf("no apply is waiting for confirmation in namespace %q", displayNS(opts.Netns))
	if j == nil || !j.Confirming {
		return errors.New(none)
	}
	held, err := lockHeld(lockPath(opts.StateDir, opts.Netns))
	if err != nil {
		return err
	}
	if !held {
		return fmt.Errorf("%s: %s; its change is still live, and the next apply rolls it back", none, describe(j))
	}
	path, answer := confirmPath(opts.StateDir, opts.Netns), answerPath(opts.StateDir, opts.Netns)
	pid := fmt.Sprintln(j.PID)
	if err := os.WriteFile(path, []byte(pid), 0o600); err != nil {
		return err
	}
	taken := func() bool {
		data, err := os.ReadFile(answer)
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
		held, err := lockHeld(lockPath(opts.StateDir, opts.Netns))
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
// it for longer than a look.
func lockHeld(path string) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
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
	path := confirmPath(t.opts.StateDir, t.opts.Netns)
	confirmAnswerPath := answerPath(t.opts.StateDir, t.opts.Netns)
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
			data, err := os.ReadFile(path)
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

// provenBack re-reads scope and fails unless it is before again: a rollback
// is claimed only when the kernel shows it. Rules netctl could not decode
// are left out: no rollback can write them back.
func provenBack(k Kernel, before plan.State, scope plan.Scope) error {
	live, err := k.Read(scope)
	if err != nil {
		return fmt.Errorf("re-reading after the rollback: %w", err)
	}
	before.Firewall = restorable(before.Firewall)
	if left := plan.Diff(before, live); !left.Empty() {
		addrs := make([]string, 0, len(left.Changes))
		for _, c := range left.Changes {
			addrs = append(addrs, c.Address)
		}
		if len(addrs) > 5 {
			addrs = append(addrs[:5], fmt.Sprintf("and %d more", len(addrs)-5))
		}
		return fmt.Errorf("after the rollback the live state still differs from before: %s", strings.Join(addrs, ", "))
	}
	return nil
}
