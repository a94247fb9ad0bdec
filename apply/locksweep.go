package apply

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// sweepLocks removes the lock files nobody holds: those a killed netctl
// left (the kernel let go of its flock, the file stayed), typically of
// namespaces deleted since, which would otherwise pile up in the state
// directory. Each is removed as a holder removes its own (release): under
// its flock, and only while the path still names the file locked, so an
// acquirer waiting on it finds it gone and takes the lock on a new file.
// A lock someone holds is left alone; errors are ignored (the next sweep
// tries again).
//
// Only the transaction's locks are swept: their acquirers wait, so the
// sweep's moment of flock costs them a retry. The watch lock is taken
// without waiting (HoldWatch): a sweep there could turn a starting
// `watch --repair` away, so its file is left to its holder's release.
func sweepLocks(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".lock") || strings.HasSuffix(name, ".watch.lock") || !e.Type().IsRegular() {
			continue
		}
		sweepLock(filepath.Join(dir, e.Name()))
	}
}

func sweepLock(path string) {
	f, err := openStateFile(path, os.O_RDWR)
	if err != nil {
		return
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return // held (EWOULDBLOCK): an apply runs, or waits for confirmation
	}
	if isAt(f, path) {
		_ = os.Remove(path)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
