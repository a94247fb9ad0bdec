package kernel

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	mdnetlink "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/plan"
)

// CheckNetnsName accepts exactly the names `ip netns add` makes: a file name
// in /run/netns, so no "/", not "." or "..", and nothing that is not
// printable ASCII. "" means the current namespace. Anything else is refused
// before a file is opened: a path would reach any namespace (../../proc/1/ns/net
// is the host's), and two spellings of one namespace would get two locks.
func CheckNetnsName(name string) error {
	if name == "" {
		return nil
	}
	bad := func(why string) error {
		return fmt.Errorf("--netns %q: %s (a name as `ip netns add NAME` makes it, in /run/netns)", name, why)
	}
	switch {
	case name == "." || name == "..":
		return bad("not a namespace name")
	case strings.ContainsRune(name, '/'):
		return bad("a name, not a path, is expected")
	case len(name) > 255:
		return bad("longer than a file name may be")
	}
	for _, r := range name {
		if r <= ' ' || r > '~' {
			return bad("only printable ASCII without spaces is accepted")
		}
	}
	return nil
}

// namespaceIDOf reads the identity of an open namespace file descriptor.
func namespaceIDOf(fd int) (plan.NamespaceID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return plan.NamespaceID{}, err
	}
	return plan.NamespaceID{Dev: st.Dev, Ino: st.Ino}, nil
}

// NamespaceIDOf reads the identity of the named namespace ("" for the
// calling process's) without binding to it: for what needs only its lock and
// journal (netctl confirm). It needs no privilege beyond reading /run/netns.
func NamespaceIDOf(name string) (plan.NamespaceID, error) {
	if err := CheckNetnsName(name); err != nil {
		return plan.NamespaceID{}, err
	}
	if name == "" {
		return currentNamespaceID()
	}
	fd, err := unix.Open(netnsPath(name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return plan.NamespaceID{}, netnsOpenError(name, err)
	}
	defer unix.Close(fd)
	return namespaceIDOf(fd)
}

// netnsPath is where `ip netns add NAME` mounts the namespace.
func netnsPath(name string) string { return "/run/netns/" + name }

// netnsOpenError explains a failure to open the named namespace.
func netnsOpenError(name string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("network namespace %q does not exist (no %s)", name, netnsPath(name))
	}
	return mapPermission(fmt.Errorf("opening network namespace %q: %w", name, err))
}

// currentNamespaceID is the identity of the calling process's namespace.
func currentNamespaceID() (plan.NamespaceID, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return plan.NamespaceID{}, err
	}
	return plan.NamespaceID{Dev: st.Dev, Ino: st.Ino}, nil
}

// NamespaceID is the identity of the namespace the handle is bound to, read
// from the very file descriptor the handle uses.
func (h *Handle) NamespaceID() plan.NamespaceID { return h.id }

// NamespaceCookie is the cookie of the namespace the handle is bound to
// (SO_NETNS_COOKIE), 0 when the kernel does not tell (before Linux 5.14).
// The kernel gives a deleted namespace's inode, and so its NamespaceID, to
// the next namespace it makes; never its cookie. A journal records both, so
// that one left by a deleted namespace is never rolled back into another.
func (h *Handle) NamespaceCookie() uint64 { return h.cookie }

// netnsCookie reads the cookie of the namespace nsfd (0: the current one)
// through a netlink socket of its own there; 0 when it cannot.
func netnsCookie(nsfd int) uint64 {
	c, err := mdnetlink.Dial(unix.NETLINK_ROUTE, &mdnetlink.Config{NetNS: nsfd})
	if err != nil {
		return 0
	}
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var cookie uint64
	_ = rc.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(cookie))
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE,
			uintptr(unsafe.Pointer(&cookie)), uintptr(unsafe.Pointer(&size)), 0)
		if errno != 0 || size != uint32(unsafe.Sizeof(cookie)) {
			cookie = 0
		}
	})
	return cookie
}

// NamespaceCookies tells which of ids are network namespaces that exist,
// with their cookies (0 when the kernel does not tell): for apply's sweep
// of the forward memories of deleted namespaces. A namespace is found
// through a process or thread in it (/proc/PID/task/TID/ns/net), a bind
// mount in netctl's mount namespace (ip netns add mounts them under
// /run/netns), or a process's file descriptor on it; one kept alive only
// otherwise (a socket, a mount in another mount namespace) is not found.
// The identity (inode) of a deleted namespace may already be a new one's:
// the cookie, read from the namespace found, tells them apart.
func (h *Handle) NamespaceCookies(ids []plan.NamespaceID) (map[plan.NamespaceID]uint64, error) {
	paths, err := namespacePaths(ids)
	if err != nil {
		return nil, err
	}
	out := make(map[plan.NamespaceID]uint64, len(paths))
	for id, path := range paths {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			out[id] = 0 // found a moment ago: taken as alive
			continue
		}
		if got, err := namespaceIDOf(fd); err == nil && got == id {
			out[id] = netnsCookie(fd)
		} else {
			out[id] = 0
		}
		unix.Close(fd)
	}
	return out, nil
}

// namespacePaths finds a path to each of ids that exists (see
// NamespaceCookies), from the cheapest place to the dearest: mounts,
// processes and threads, then every process's file descriptors, each only
// for what is still not found.
func namespacePaths(ids []plan.NamespaceID) (map[plan.NamespaceID]string, error) {
	self, err := currentNamespaceID()
	if err != nil {
		return nil, err
	}
	missing := map[plan.NamespaceID]bool{}
	for _, id := range ids {
		missing[id] = true
	}
	found := map[plan.NamespaceID]string{}
	add := func(id plan.NamespaceID, path string) {
		if missing[id] {
			found[id] = path
			delete(missing, id)
		}
	}
	// stat of an nsfs file never reaches into another file system.
	stat := func(path string) {
		var st unix.Stat_t
		if unix.Stat(path, &st) == nil {
			add(plan.NamespaceID{Dev: st.Dev, Ino: st.Ino}, path)
		}
	}
	add(self, "/proc/self/ns/net")
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
		fields := strings.Fields(line)
		sep := slices.Index(fields, "-")
		if sep >= 5 && sep+1 < len(fields) && fields[sep+1] == "nsfs" {
			stat(unescapeMount(fields[4]))
		}
	}
	if len(missing) == 0 {
		return found, nil
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []string
	for _, p := range procs {
		if p.Name()[0] >= '0' && p.Name()[0] <= '9' {
			pids = append(pids, p.Name())
		}
	}
	for _, pid := range pids {
		tasks, _ := os.ReadDir("/proc/" + pid + "/task")
		for _, task := range tasks {
			stat("/proc/" + pid + "/task/" + task.Name() + "/ns/net")
		}
	}
	// A descriptor on a namespace: its fdinfo's ino is the namespace's
	// (read without touching the file's own file system); a stat of the
	// few that match confirms the device.
	for _, pid := range pids {
		if len(missing) == 0 {
			break
		}
		fds, _ := os.ReadDir("/proc/" + pid + "/fdinfo")
		for _, fd := range fds {
			if ino, ok := fdInode("/proc/" + pid + "/fdinfo/" + fd.Name()); ok && missing[plan.NamespaceID{Dev: self.Dev, Ino: ino}] {
				stat("/proc/" + pid + "/fd/" + fd.Name())
			}
		}
	}
	return found, nil
}

// fdInode reads the "ino:" line of a /proc/PID/fdinfo file.
func fdInode(path string) (uint64, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "ino:"); ok {
			ino, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return ino, err == nil
		}
	}
	return 0, false
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
