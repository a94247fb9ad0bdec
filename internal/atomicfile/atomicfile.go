// Package atomicfile replaces a file so that a reader sees the old content or
// the new, never a part, and a crash leaves one of the two: a temporary file
// in the same directory, written, synced, renamed over the path, and the
// directory synced. It does file I/O only.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFile replaces path with data, with mode perm (not masked by the
// umask). The temporary file has a random name and is created with O_EXCL
// and O_NOFOLLOW: a file or symlink planted in the directory is never
// written through. It is removed when anything fails. A symlink at path
// itself is replaced, not followed.
func WriteFile(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, tmp, err := create(dir, base, perm)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// The rename is durable once the directory is synced.
	return SyncDir(dir)
}

// create makes the temporary file: ".BASE.tmp-RANDOM", which is no name a
// reader of BASE (or of *.prom, *.journal) looks for.
func create(dir, base string, perm os.FileMode) (*os.File, string, error) {
	for range 10 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, "", err
		}
		tmp := filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(b[:]))
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, perm)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		return f, tmp, err
	}
	return nil, "", &os.PathError{Op: "create temporary file", Path: filepath.Join(dir, "."+base+".tmp-*"), Err: os.ErrExist}
}

// SyncDir makes the names in dir durable: a rename, a new or a removed file.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
