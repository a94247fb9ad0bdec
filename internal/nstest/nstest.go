// Package nstest makes throwaway network namespaces for root tests. Tests use
// iproute2 as an independent observer; the product never shells out.
package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/netctl/netctl/plan"
)

// netctlStateDir is apply.DefaultStateDir (not imported: nstest is below
// every package it serves).
const netctlStateDir = "/run/netctl"

// RequireRoot skips the test, with the reason, when not running as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN) to create network namespaces; run the suite as root")
	}
}

// Prefix starts the name of every namespace a test makes: "nctest-", or
// $NETCTL_TEST_NS_PREFIX, so that parallel runs can tell theirs apart.
func Prefix() string {
	if p := os.Getenv("NETCTL_TEST_NS_PREFIX"); p != "" {
		return p
	}
	return "nctest-"
}

// New creates a named network namespace (/run/netns/NAME) and deletes it when
// the test ends, whether it passed or not. Loopback is brought up.
func New(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := Prefix() + hex.EncodeToString(b)
	Run(t, "ip", "netns", "add", name)
	key := ID(t, name).String()
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", name).Run()
		// A journal or confirmation a failed test may leave would outlive
		// the namespace in /run/netctl, named by its identity (a new
		// namespace may get the same inode). netctl removes the lock
		// itself; a killed netctl may leave it.
		for _, ext := range []string{".lock", ".journal", ".confirm"} {
			_ = os.Remove(filepath.Join(netctlStateDir, key+ext))
		}
		tmps, _ := filepath.Glob(filepath.Join(netctlStateDir, "."+key+".*.tmp-*"))
		for _, tmp := range tmps {
			_ = os.Remove(tmp)
		}
	})
	Run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

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

// Run runs a command and fails the test, showing its output, if it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Exec runs a command inside the namespace (ip netns exec) and fails the test
// if it fails.
func Exec(t testing.TB, ns string, name string, args ...string) string {
	t.Helper()
	return Run(t, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}
