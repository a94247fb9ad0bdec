package apply

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/netctl/netctl/plan"
)

// DefaultStateDir holds netctl's locks and journals, one per namespace.
const DefaultStateDir = "/run/netctl"

// The files of a namespace in the state directory are named by its identity
// (plan.NamespaceID: device and inode of its nsfs file), never by the name a
// person typed: two names of one namespace share them, and no two
// namespaces do.
func stateFile(dir string, id plan.NamespaceID, ext string) string {
	return filepath.Join(dir, id.String()+ext)
}

// checkStateDir refuses a state directory that someone other than root
// could write in, where a planted file or symlink would steer netctl's
// writes: it must be a real directory (not a symlink), owned by root (or by
// the user running netctl, for tests), and not group- or world-writable.
// With create, a missing directory is made (0700); without, it is reported
// as absent: there is nothing in it to read.
func checkStateDir(dir string, create bool) (exists bool, err error) {
	st, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if !create {
			return false, nil
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, fmt.Errorf("state directory: %w", err)
		}
		st, err = os.Lstat(dir)
	}
	if err != nil {
		return false, fmt.Errorf("state directory: %w", err)
	}
	bad := func(why string) error {
		return fmt.Errorf("state directory %s %s: netctl keeps its locks and journals only in a directory that no one but root can write to; fix it or remove it", dir, why)
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	switch {
	case st.Mode()&os.ModeSymlink != 0:
		return false, bad("is a symlink")
	case !st.IsDir():
		return false, bad("is not a directory")
	case sys == nil:
		return false, bad("has no owner netctl can read")
	case sys.Uid != 0 && int(sys.Uid) != os.Geteuid():
		return false, bad(fmt.Sprintf("is owned by uid %d, not root", sys.Uid))
	case st.Mode().Perm()&0o022 != 0:
		return false, bad(fmt.Sprintf("is group- or world-writable (mode %04o)", st.Mode().Perm()))
	}
	return true, nil
}

// openStateFile opens a file of the state directory without following a
// symlink, and refuses anything but a regular file with one name.
func openStateFile(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symlink: netctl opens nothing in its state directory through a symlink; remove it by hand", path)
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !st.Mode().IsRegular() || !ok || sys.Nlink > 1 {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file of its own (mode %v): netctl uses nothing else in its state directory; remove it by hand", path, st.Mode())
	}
	return f, nil
}

// lock is an flock(2) on a file per namespace: the kernel releases it when
// the holder dies, so a killed apply never leaves a stale lock behind. The
// holder removes the file when it lets go, so that namespaces long deleted
// leave nothing in the state directory.
type lock struct {
	f    *os.File
	path string
}

func acquire(dir string, id plan.NamespaceID, netns string, wait time.Duration) (*lock, error) {
	if _, err := checkStateDir(dir, true); err != nil {
		return nil, err
	}
	path := stateFile(dir, id, ".lock")
	deadline := time.Now().Add(wait)
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for {
		if f == nil {
			var err error
			if f, err = openStateFile(path, os.O_RDWR|os.O_CREATE); err != nil {
				return nil, fmt.Errorf("lock: %w", err)
			}
		}
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			// The holder before may have removed the file as it let go:
			// a lock on a file no longer at path locks nothing. Try again
			// on the file that is there now.
			if isAt(f, path) {
				break
			}
			f.Close()
			f = nil
			continue
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			holder, _ := io.ReadAll(io.LimitReader(f, 200))
			return nil, fmt.Errorf("another netctl holds the lock for namespace %s (%s) after waiting %s: %s",
				displayNS(netns, id), path, wait, strings.TrimSpace(string(holder)))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Say who holds it, for the error of whoever waits next.
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("pid %d since %s\n", os.Getpid(), time.Now().Format(time.RFC3339))), 0)
	l := &lock{f: f, path: path}
	f = nil
	return l, nil
}

// isAt reports whether the open file f is the one named path.
func isAt(f *os.File, path string) bool {
	fst, err := f.Stat()
	if err != nil {
		return false
	}
	pst, err := os.Lstat(path)
	return err == nil && os.SameFile(fst, pst)
}

// release removes the lock file while still holding the lock, then lets go:
// whoever waits on the removed file finds it gone and takes the lock on a
// new one (acquire), so two holders never coexist.
func (l *lock) release() {
	_ = os.Remove(l.path)
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	_ = l.f.Close()
	sweepLocks(filepath.Dir(l.path))
}

// displayNS names a namespace for a message: its name and its identity.
func displayNS(netns string, id plan.NamespaceID) string {
	if netns == "" {
		return fmt.Sprintf("(netctl's own, %s)", id)
	}
	return fmt.Sprintf("%q (%s)", netns, id)
}
