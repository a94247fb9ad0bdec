// Package nsid gives tests a namespace's identity as netctl keys it
// (plan.NamespaceID). It is apart from nstest because plan's own tests use
// nstest, and nstest must not import plan.
package nsid

import (
	"syscall"
	"testing"

	"github.com/netctl/netctl/plan"
)

// ID is the identity of the named namespace (device and inode of its nsfs
// file): netctl's files in /run/netctl are named by ID(t, name).String().
func ID(t testing.TB, name string) plan.NamespaceID {
	t.Helper()
	return IDOfPath(t, "/run/netns/"+name)
}

// IDOfPath is the identity of the namespace at an nsfs path (e.g.
// /proc/PID/ns/net).
func IDOfPath(t testing.TB, path string) plan.NamespaceID {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatalf("namespace %s: %v", path, err)
	}
	return plan.NamespaceID{Dev: st.Dev, Ino: st.Ino}
}
