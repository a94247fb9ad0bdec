package apply

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// DefaultStateDir holds netctl's locks and journals, one per namespace.
const DefaultStateDir = "/run/netctl"

// lock is an flock(2) on a file per namespace: the kernel releases it when
// the holder dies, so a killed apply never leaves a stale lock behind.
type lock struct {
	f *os.File
}

// nsKey names a namespace's files: "default" for netctl's own namespace.
func nsKey(netns string) string {
	if netns == "" {
		return "default"
	}
	return strings.NewReplacer("/", "_", "..", "_").Replace(netns)
}

func acquire(dir, netns string, wait time.Duration) (*lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, nsKey(netns)+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			holder, _ := os.ReadFile(path)
			f.Close()
			return nil, fmt.Errorf("another netctl holds the lock for namespace %q (%s) after waiting %s: %s",
				displayNS(netns), path, wait, strings.TrimSpace(string(holder)))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Say who holds it, for the error of whoever waits next.
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("pid %d since %s\n", os.Getpid(), time.Now().Format(time.RFC3339))), 0)
	return &lock{f: f}, nil
}

func (l *lock) release() {
	_ = l.f.Truncate(0)
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	_ = l.f.Close()
}

func displayNS(netns string) string {
	if netns == "" {
		return "(netctl's own)"
	}
	return netns
}
