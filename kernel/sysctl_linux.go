package kernel

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Sysctls. /proc/sys/net shows the network namespace of the thread that
// opens a file, and the open file stays bound to it. So files are opened on a
// fresh goroutine that locks its thread, enters the namespace and never
// unlocks: the runtime then ends that thread with the goroutine, and no
// other goroutine ever runs in the wrong namespace. Reads and writes of the
// opened files happen on the caller's goroutine.

// sysctlPath maps a dotted name to its file. Only net.* sysctls belong to a
// network namespace; any other would change the whole machine.
func sysctlPath(name string) (string, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 5 && (parts[2] == "conf" || parts[2] == "neigh") {
		// An interface name may hold dots (net.ipv4.conf.br.lan.route_localnet):
		// its directory is the name as it is.
		parts = append(parts[:3:3], strings.Join(parts[3:len(parts)-1], "."), parts[len(parts)-1])
	}
	if len(parts) < 2 || parts[0] != "net" {
		return "", fmt.Errorf("sysctl %q: only net.* sysctls are per network namespace", name)
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || strings.ContainsAny(p, "/\x00") {
			return "", fmt.Errorf("invalid sysctl name %q", name)
		}
	}
	return "/proc/sys/" + strings.Join(parts, "/"), nil
}

// openSysctls opens the files in the handle's namespace; a file that does
// not exist is a nil *os.File with no error.
func (h *Handle) openSysctls(paths []string, flag int) ([]*os.File, error) {
	open := func() ([]*os.File, error) {
		files := make([]*os.File, len(paths))
		for i, p := range paths {
			f, err := os.OpenFile(p, flag, 0)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				for _, f := range files {
					if f != nil {
						f.Close()
					}
				}
				return nil, err
			}
			files[i] = f
		}
		return files, nil
	}
	if h.nsfd < 0 {
		return open()
	}
	type result struct {
		files []*os.File
		err   error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		if err := unix.Setns(h.nsfd, unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("entering %s: %w", h.where(), err)}
			return
		}
		files, err := open()
		ch <- result{files, err}
	}()
	r := <-ch
	return r.files, r.err
}

func (h *Handle) readSysctls(names []string) (map[string]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	paths := make([]string, len(names))
	for i, n := range names {
		p, err := sysctlPath(n)
		if err != nil {
			return nil, err
		}
		paths[i] = p
	}
	files, err := h.openSysctls(paths, os.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("reading sysctls: %w", err)
	}
	out := make(map[string]string, len(names))
	var first error
	for i, f := range files {
		if f == nil {
			continue // absent: not in the state
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil && first == nil {
			first = fmt.Errorf("reading sysctl %s: %w", names[i], err)
		}
		out[names[i]] = strings.TrimSpace(string(b))
	}
	return out, first
}

// SetSysctl writes a sysctl of the handle's namespace (dotted name, e.g.
// net.ipv4.ip_forward).
func (h *Handle) SetSysctl(name, value string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.open(); err != nil {
		return err
	}
	p, err := sysctlPath(name)
	if err != nil {
		return err
	}
	files, err := h.openSysctls([]string{p}, os.O_WRONLY)
	if err != nil {
		return mapPermission(fmt.Errorf("setting sysctl %s: %w", name, err))
	}
	f := files[0]
	if f == nil {
		return fmt.Errorf("setting sysctl %s: no such sysctl in %s", name, h.where())
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return mapPermission(fmt.Errorf("setting sysctl %s=%s: %w", name, value, err))
	}
	return nil
}
