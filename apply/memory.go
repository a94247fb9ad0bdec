package apply

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/netctl/netctl/internal/atomicfile"
	"github.com/netctl/netctl/plan"
)

// The forward memory (plan.State.ForwardMemory) says which forwarding
// sysctls netctl switched on, so that the forward_others drop comes back
// after someone flushes the ruleset and netctl's table with it (the table's
// rule is the first memory: plan/forward.go). It is a file of the state
// directory, <identity>.forward, holding the namespace's cookie: the state
// directory is on tmpfs, so it goes at reboot as ip_forward's value does;
// the cookie is never given to another namespace, so a file left by a
// deleted namespace whose identity (inode) the kernel gave to a new one is
// not that one's memory. Without a cookie (before Linux 5.14) there is no
// such memory: only the table's rule remembers, as before.
//
// The memory is part of the live state that the transaction reads, writes
// (a step, beside the firewall's), verifies and rolls back; it is written
// only by a transaction, under the namespace's lock.
type memory struct {
	NetnsID     plan.NamespaceID `json:"netns_id"`
	NetnsCookie uint64           `json:"netns_cookie"`
	// Switched are the forwarding sysctls netctl switched on, sorted.
	Switched []string `json:"switched"`
}

func memoryPath(dir string, id plan.NamespaceID) string { return stateFile(dir, id, ".forward") }

// rememberingKernel is a Kernel whose live state includes the forward
// memory of its namespace, and that writes it (SetForwardMemory).
type rememberingKernel struct {
	Kernel
	dir    string
	id     plan.NamespaceID
	cookie uint64
}

// memoryWriter is the write of the forward memory, a step of an apply.
type memoryWriter interface {
	SetForwardMemory(switched []string) error
}

// remembering wraps k so that its reads include the forward memory kept in
// opts' state directory. Without the namespace's cookie nothing is read or
// written (MemoryKept says so).
func remembering(k Kernel, opts Options) Kernel {
	if r, ok := k.(*rememberingKernel); ok {
		return r
	}
	dir := opts.StateDir
	if dir == "" {
		dir = DefaultStateDir
	}
	return &rememberingKernel{Kernel: k, dir: dir, id: opts.NetnsID, cookie: cookieOf(k)}
}

// kept reports whether the memory outside the table can be kept: the
// namespace's cookie and identity are known.
func (r *rememberingKernel) kept() bool { return r.cookie != 0 && !r.id.IsZero() }

func (r *rememberingKernel) NamespaceCookie() uint64 { return r.cookie }

func (r *rememberingKernel) Read(scope plan.Scope) (plan.State, error) {
	s, err := r.Kernel.Read(scope)
	if err != nil {
		return s, err
	}
	s.ForwardMemory, err = r.readMemory()
	return s, err
}

// readMemory is the namespace's forward memory: nil when there is none, no
// state directory (or one netctl refuses: apply says why), or the file is
// another namespace's, left by a deleted one whose identity was reused.
func (r *rememberingKernel) readMemory() ([]string, error) {
	if !r.kept() {
		return nil, nil
	}
	if exists, err := checkStateDir(r.dir, false); err != nil || !exists {
		return nil, nil
	}
	path := memoryPath(r.dir, r.id)
	m, err := readMemoryFile(path)
	if err != nil || m == nil || m.NetnsID != r.id || m.NetnsCookie != r.cookie {
		return nil, err
	}
	return m.Switched, nil
}

func readMemoryFile(path string) (*memory, error) {
	f, err := openStateFile(path, os.O_RDONLY)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, memoryUnreadable(path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1<<16))
	if err != nil {
		return nil, memoryUnreadable(path, err)
	}
	var m memory
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, memoryUnreadable(path, err)
	}
	slices.Sort(m.Switched)
	return &m, nil
}

// memoryUnreadable refuses to plan without the memory: guessing "not
// switched by netctl" could leave the host a router unannounced.
func memoryUnreadable(path string, err error) error {
	return fmt.Errorf("forward memory %s is unreadable (%v): it says whether netctl switched forwarding on; remove it by hand (the next apply then decides as if forwarding was already on, and warns)", path, err)
}

// SetForwardMemory replaces the namespace's forward memory (atomically, as
// the journal is written), or removes it when switched is empty.
func (r *rememberingKernel) SetForwardMemory(switched []string) error {
	if !r.kept() {
		return nil
	}
	path := memoryPath(r.dir, r.id)
	if len(switched) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("forward memory: %w", err)
		}
		return nil
	}
	if _, err := checkStateDir(r.dir, true); err != nil {
		return err
	}
	data, err := json.Marshal(memory{NetnsID: r.id, NetnsCookie: r.cookie, Switched: slices.Sorted(slices.Values(switched))})
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("forward memory: %w", err)
	}
	return nil
}

// dropStaleMemory removes the namespace's memory file when it is another
// namespace's (its cookie differs): left by a deleted namespace whose
// identity the kernel gave to this one. Under the lock.
func (r *rememberingKernel) dropStaleMemory() {
	if !r.kept() {
		return
	}
	path := memoryPath(r.dir, r.id)
	if m, err := readMemoryFile(path); err == nil && m != nil && (m.NetnsCookie != r.cookie || m.NetnsID != r.id) {
		_ = os.Remove(path)
	}
}

// memoryKept reports whether k keeps the forward memory outside the table.
func memoryKept(k Kernel) bool {
	r, ok := k.(*rememberingKernel)
	return ok && r.kept()
}

// namespaceCookies is what a Kernel may also tell: which namespaces exist,
// with their cookies (kernel.Handle.NamespaceCookies).
type namespaceCookies interface {
	NamespaceCookies(ids []plan.NamespaceID) (map[plan.NamespaceID]uint64, error)
}

// sweepMemories removes the forward memories of namespaces that no longer
// exist, as sweepLocks removes their locks: a namespace deleted without a
// destroy leaves nothing in the state directory once netctl runs again. A
// memory is removed when no namespace of its identity is found, or the one
// found has another cookie (the kernel gave the deleted one's identity to
// it). Namespaces are looked for only when a memory of another namespace
// than self (k's) is there. A namespace alive but not found (held only by a
// socket, or mounted in another mount namespace) loses its memory: its next
// apply then finds forwarding on and warns, as without a memory. Errors are
// ignored (the next sweep tries again).
func sweepMemories(dir string, k Kernel, self plan.NamespaceID) {
	finder, ok := k.(namespaceCookies)
	if !ok {
		return
	}
	if dir == "" {
		dir = DefaultStateDir
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	files := map[plan.NamespaceID]*memory{}
	var ids []plan.NamespaceID
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".forward") || !e.Type().IsRegular() {
			continue
		}
		var id plan.NamespaceID
		if _, err := fmt.Sscanf(name, "netns-%d-%d.forward", &id.Dev, &id.Ino); err != nil || memoryPath(dir, id) != filepath.Join(dir, name) || id == self {
			continue
		}
		m, err := readMemoryFile(memoryPath(dir, id))
		if err != nil || m == nil {
			continue // unreadable: for a person to look at, as a journal
		}
		files[id] = m
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return
	}
	live, err := finder.NamespaceCookies(ids)
	if err != nil {
		return
	}
	for _, id := range ids {
		cookie, alive := live[id]
		if !alive || cookie != 0 && cookie != files[id].NetnsCookie {
			_ = os.Remove(memoryPath(dir, id))
		}
	}
}
