// Package nstest makes throwaway network namespaces for root tests. Tests use
// iproute2 as an independent observer; the product never shells out.
package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// netctlStateDir is apply.DefaultStateDir (not imported: nstest is below
// every package it serves).
const netctlStateDir = "/run/netctl"

// CI reports whether the tests run under CI (CI=true, as CI services set
// it). There a test that lacks what it needs fails instead of skipping: a CI
// run must not pass by proving nothing.
func CI() bool {
	v := os.Getenv("CI")
	return v == "true" || v == "1"
}

// Skip skips the test with the reason; under CI it fails it instead.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if CI() {
		t.Fatalf("CI=true, so this test may not skip: "+format, args...)
	}
	t.Skipf(format, args...)
}

// RequireRoot skips the test, with the reason, when not running as root
// (under CI it fails).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root (CAP_NET_ADMIN) to create network namespaces; run the suite as root")
	}
}

// RequireTool returns the path of the named program, or skips the test
// saying which package provides it (under CI it fails).
func RequireTool(t testing.TB, name, why string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Skip(t, "%s is not installed: %s", name, why)
	}
	return p
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
	key := stateKey(t, "/run/netns/"+name)
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", name).Run()
		// A journal or confirmation a failed test may leave would outlive
		// the namespace in /run/netctl, named by its identity (a new
		// namespace may get the same inode). netctl removes the lock
		// itself; a killed netctl may leave it.
		for _, ext := range []string{".lock", ".journal", ".confirm", ".watch.lock", ".forward"} {
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

// stateKey names the files netctl keeps for the namespace at path in
// /run/netctl: plan.NamespaceID's String (not imported: plan's own tests use
// nstest).
func stateKey(t testing.TB, path string) string {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatalf("namespace %s: %v", path, err)
	}
	return fmt.Sprintf("netns-%d-%d", st.Dev, st.Ino)
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
