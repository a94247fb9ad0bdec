package schema

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const validFile = "bridges:\n  docker0: {address: 172.17.0.1/16}\n"

// withStdin runs f with os.Stdin reading what write writes to a pipe.
func withStdin(t *testing.T, write func(w *os.File), f func()) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		defer w.Close()
		write(w)
	}()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old }()
	f()
}

func TestLoadStdin(t *testing.T) {
	withStdin(t, func(w *os.File) { w.WriteString(validFile) }, func() {
		cfg, err := Load("-")
		if err != nil || cfg.File != "<stdin>" || len(cfg.Bridges) != 1 {
			t.Fatalf("Load(-) = %+v, %v", cfg, err)
		}
	})
	// /dev/stdin, as scripts write it, is standard input too, not a FIFO
	// to refuse (here standard input is the pipe os.Stdin holds).
	withStdin(t, func(w *os.File) { w.WriteString(validFile) }, func() {
		path := fmt.Sprintf("/proc/self/fd/%d", os.Stdin.Fd())
		cfg, err := Load(path)
		if err != nil || cfg.File != path || len(cfg.Bridges) != 1 {
			t.Fatalf("Load(%s) = %+v, %v", path, cfg, err)
		}
	})
	withStdin(t, func(w *os.File) { w.WriteString("bridges: [\n") }, func() {
		_, err := Load("-")
		if err == nil || !strings.HasPrefix(err.Error(), "<stdin>:1:1: syntax error") {
			t.Fatalf("Load(-) of a broken file: %v", err)
		}
	})
}

// TestLoadRefuses: what is not a regular file of at most MaxFileSize bytes
// is refused with a message naming it, without reading it to the end (or
// at all: a FIFO with no writer would block an open without O_NONBLOCK).
func TestLoadRefuses(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(validFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxFileSize+1); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/dev/zero": "/dev/zero: is not a regular file (a character device): netctl reads a file, or standard input with -f -",
		"/dev/null": "/dev/null: is not a regular file (a character device): netctl reads a file, or standard input with -f -",
		fifo:        fifo + ": is not a regular file (a FIFO): netctl reads a file, or standard input with -f -",
		dir:         dir + ": is a directory, not a netctl file",
		big:         big + ": larger than 64 MiB, the most netctl reads",
	} {
		cfg, err := Load(path)
		if err == nil || err.Error() != want {
			t.Errorf("Load(%s) = %v, %v; want the error %q", path, cfg, err, want)
		}
	}
}

// TestLoadLimit: input past the limit is refused, from a file or standard
// input; input of exactly the limit loads (with the limit lowered, the
// same code).
func TestLoadLimit(t *testing.T) {
	defer func(old int64) { fileLimit = old }(fileLimit)
	fileLimit = 4096
	dir := t.TempDir()
	at := filepath.Join(dir, "at.yaml")
	past := filepath.Join(dir, "past.yaml")
	text := validFile + strings.Repeat("#", 4096-len(validFile))
	if err := os.WriteFile(at, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(past, []byte(text+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if cfg, err := Load(at); err != nil || len(cfg.Bridges) != 1 {
		t.Errorf("Load of a file of the limit's size: %v", err)
	}
	if _, err := Load(past); err == nil || err.Error() != past+": larger than 4096 bytes, the most netctl reads" {
		t.Errorf("Load of a file past the limit: %v", err)
	}
	withStdin(t, func(w *os.File) { w.WriteString(text) }, func() {
		if cfg, err := Load("-"); err != nil || len(cfg.Bridges) != 1 {
			t.Errorf("Load(-) of the limit's size: %v", err)
		}
	})
	withStdin(t, func(w *os.File) {
		for {
			if _, err := w.WriteString(text); err != nil {
				return // the reader stopped past the limit
			}
		}
	}, func() {
		if _, err := Load("-"); err == nil || err.Error() != "<stdin>: larger than 4096 bytes, the most netctl reads" {
			t.Errorf("Load(-) past the limit: %v", err)
		}
	})
}
