package apply

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"
)

// WatchLock is held by `netctl watch --repair` for as long as it runs: two
// watchers repairing one namespace would each see the other's writes as
// drift. It is another file than the transaction's lock, keyed by the same
// namespace identity, so that a person's `netctl apply` still runs (and a
// watcher takes the transaction's lock only for each repair).
type WatchLock struct{ l *lock }

// HoldWatch takes the namespace's watch lock without waiting: when another
// process holds it, the error names that process.
func HoldWatch(opts Options) (*WatchLock, error) {
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir
	}
	if opts.NetnsID.IsZero() {
		return nil, errNoIdentity
	}
	if _, err := checkStateDir(opts.StateDir, true); err != nil {
		return nil, err
	}
	path := stateFile(opts.StateDir, opts.NetnsID, ".watch.lock")
	for {
		f, err := openStateFile(path, os.O_RDWR|os.O_CREATE)
		if err != nil {
			return nil, fmt.Errorf("watch lock: %w", err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder, _ := io.ReadAll(io.LimitReader(f, 200))
			f.Close()
			return nil, fmt.Errorf("another netctl watch --repair is already repairing namespace %s (%s, held by %s): two would fight over every change; stop that one first",
				displayNS(opts.Netns, opts.NetnsID), path, strings.TrimSpace(string(holder)))
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("watch lock %s: %w", path, err)
		}
		// As the transaction's lock: a holder that let go removed the file
		// first; a lock on a file no longer at path locks nothing.
		if !isAt(f, path) {
			f.Close()
			continue
		}
		_ = f.Truncate(0)
		_, _ = f.WriteAt([]byte(fmt.Sprintf("pid %d since %s\n", os.Getpid(), time.Now().Format(time.RFC3339))), 0)
		return &WatchLock{l: &lock{f: f, path: path}}, nil
	}
}

// Release lets the watch lock go (removing its file).
func (w *WatchLock) Release() {
	if w != nil && w.l != nil {
		w.l.release()
		w.l = nil
	}
}
