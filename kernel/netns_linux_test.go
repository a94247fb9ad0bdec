package kernel

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nsid"
	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/plan"
)

func TestCheckNetnsName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"", true}, {"demo", true}, {"a..b", true}, {"a_b", true}, {"ci-test.1", true},
		{".", false}, {"..", false}, {"../../proc/1/ns/net", false}, {"./demo", false},
		{"../netns/demo", false}, {"/run/netns/demo", false}, {"a b", false}, {"tab\t", false},
		{"caf\u00e9", false}, {strings.Repeat("n", 256), false},
	} {
		err := CheckNetnsName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("CheckNetnsName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// One namespace under two names has one identity and one cookie; another
// namespace has others. NamespaceIDOf (no handle) agrees with the handle.
func TestNamespaceIdentity(t *testing.T) {
	h, ns := openNS(t)
	other, _ := openNS(t)
	alias := ns + "-alias"
	path := "/run/netns/" + alias
	nstest.Run(t, "touch", path)
	t.Cleanup(func() { _ = os.Remove(path) })
	nstest.Run(t, "mount", "--bind", "/run/netns/"+ns, path)
	t.Cleanup(func() { _ = exec.Command("umount", path).Run() })
	a, err := Open(alias)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	if h.NamespaceID().IsZero() || h.NamespaceCookie() == 0 {
		t.Fatalf("identity %v, cookie %d: not read", h.NamespaceID(), h.NamespaceCookie())
	}
	if a.NamespaceID() != h.NamespaceID() || a.NamespaceCookie() != h.NamespaceCookie() {
		t.Errorf("alias: %v/%d, name: %v/%d", a.NamespaceID(), a.NamespaceCookie(), h.NamespaceID(), h.NamespaceCookie())
	}
	if other.NamespaceID() == h.NamespaceID() || other.NamespaceCookie() == h.NamespaceCookie() {
		t.Errorf("two namespaces: %v/%d and %v/%d", other.NamespaceID(), other.NamespaceCookie(), h.NamespaceID(), h.NamespaceCookie())
	}
	if id, err := NamespaceIDOf(alias); err != nil || id != h.NamespaceID() {
		t.Errorf("NamespaceIDOf(%q) = %v, %v; want %v", alias, id, err, h.NamespaceID())
	}
	if want := nsid.ID(t, ns); h.NamespaceID() != want {
		t.Errorf("identity %v, stat of /run/netns/%s says %v", h.NamespaceID(), ns, want)
	}
	for _, bad := range []string{"../netns/" + ns, ".", ".."} {
		if _, err := NamespaceIDOf(bad); err == nil || !strings.Contains(err.Error(), "ip netns add NAME") {
			t.Errorf("NamespaceIDOf(%q): %v", bad, err)
		}
	}
	if _, err := NamespaceIDOf(ns + "-missing"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("NamespaceIDOf of a missing namespace: %v", err)
	}
}

// NamespaceCookies finds a namespace mounted by ip netns add, and one held
// only by a file descriptor, with their cookies; one deleted is not found
// (or, when the kernel already gave its inode to a new namespace, found
// with another cookie).
func TestNamespaceCookies(t *testing.T) {
	h, _ := openNS(t)
	held, _ := openNS(t)
	heldNS := nstest.New(t)
	hh, err := Open(heldNS)
	if err != nil {
		t.Fatal(err)
	}
	heldID, heldCookie := hh.NamespaceID(), hh.NamespaceCookie()
	hh.Close()
	fd, err := os.Open("/run/netns/" + heldNS)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	nstest.Run(t, "ip", "netns", "del", heldNS) // only fd holds it now

	goneNS := nstest.New(t)
	g, err := Open(goneNS)
	if err != nil {
		t.Fatal(err)
	}
	goneID, goneCookie := g.NamespaceID(), g.NamespaceCookie()
	g.Close()
	nstest.Run(t, "ip", "netns", "del", goneNS)

	got, err := h.NamespaceCookies([]plan.NamespaceID{h.NamespaceID(), heldID, goneID})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := got[h.NamespaceID()]; !ok || c != h.NamespaceCookie() {
		t.Errorf("mounted namespace: %d, %v; want cookie %d", c, ok, h.NamespaceCookie())
	}
	if c, ok := got[heldID]; !ok || c != heldCookie {
		t.Errorf("namespace held by a descriptor: %d, %v; want cookie %d", c, ok, heldCookie)
	}
	if c, ok := got[goneID]; ok && (c == goneCookie || c == 0) {
		t.Errorf("deleted namespace found with cookie %d (its own was %d)", c, goneCookie)
	}
	if _, ok := got[held.NamespaceID()]; ok {
		t.Errorf("a namespace not asked for is in the answer: %v", got)
	}
}
