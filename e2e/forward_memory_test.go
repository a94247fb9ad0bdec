package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/apply"
	"github.com/netctl/netctl/internal/nsid"
	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
)

// A flush of the ruleset (a firewall restart) takes netctl's table, and the
// forward_others rule that remembers that netctl switched forwarding on,
// while ip_forward stays 1. The memory kept outside the table (apply's state
// directory, keyed by the namespace's cookie) brings the drop back at the
// next apply or watch repair: a flush cannot silently make the host a router
// between its other interfaces.

const alreadyOnWarning = "ip_forward was already 1: netctl leaves forwarding between other interfaces alone"

// memoryFile is where netctl keeps the host namespace's forward memory.
func (w *fwdWorld) memoryFile() string {
	return filepath.Join(apply.DefaultStateDir, nsid.ID(w.t, w.Host).String()+".forward")
}

// switchedByNetctl is the common start: forwarding between the other
// interfaces works when switched on by hand (the positive control of the
// path), and netctl's first apply, which switches forwarding on, drops it
// while the container still reaches both networks and both reach its
// published port. The memory file is there, root's only.
func switchedByNetctl(t *testing.T) (*fwdWorld, string) {
	w := newFwdWorld(t)
	w.setForward("1")
	w.expect(w.routed(true))
	w.setForward("0")
	path := w.file(forwardFile)
	w.applyFile(path)
	w.expect(w.routed(false), w.bridged())
	st, err := os.Lstat(w.memoryFile())
	if err != nil {
		t.Errorf("no forward memory after netctl switched forwarding on: %v", err)
	} else if st.Mode() != 0o600 {
		t.Errorf("forward memory %s has mode %v, want -rw-------", w.memoryFile(), st.Mode())
	}
	return w, path
}

// flush is a firewall restart: nft flush ruleset in the host namespace.
// Forwarding stays on, so outside ↔ other flows (shown, both ways).
func (w *fwdWorld) flush() {
	w.t.Helper()
	w.nft("flush", "ruleset")
	w.Changed("nft flush ruleset")
	if got := w.sysctl("net.ipv4.ip_forward"); got != "1" {
		w.t.Fatalf("ip_forward after the flush: %q, want 1", got)
	}
	w.expect(w.routed(true))
}

// TestForwardOthersMemorySurvivesFlush: after a flush, the next apply
// restores the drop without the "already on" warning; destroy removes the
// memory (ip_forward stays 1), so a later apply warns as before.
func TestForwardOthersMemorySurvivesFlush(t *testing.T) {
	w, path := switchedByNetctl(t)

	for _, drift := range []struct {
		name string
		do   func()
	}{
		{"nft flush ruleset", w.flush},
		{"table deleted", func() {
			w.nft("delete", "table", "inet", "netctl")
			w.Changed("table deleted")
			w.expect(w.routed(true))
		}},
	} {
		drift.do()
		out := w.wantInPlan(path, "# "+memoryRule+" will be created: forwarding between interfaces that are not netctl's bridges will be dropped, because netctl switches forwarding on")
		if strings.Contains(out, alreadyOnWarning) {
			t.Errorf("after %s: the plan says forwarding is left open although netctl switched it on:\n%s", drift.name, out)
		}
		out, code := w.netctl("apply", "-f", path, "--auto-approve")
		if code != 0 {
			t.Fatalf("apply after %s exited %d:\n%s", drift.name, code, out)
		}
		if strings.Contains(out, alreadyOnWarning) {
			t.Errorf("after %s: apply says forwarding is left open:\n%s", drift.name, out)
		}
		w.Ready(t)
		w.expect(w.routed(false), w.bridged())
		w.wantPlanClean(path)
	}

	// destroy: the drop and the memory go, ip_forward stays 1 (netctl
	// does not manage it without a file), as the plan says.
	out, code := w.netctl("destroy", "-f", path, "--auto-approve")
	if code != 0 {
		t.Fatalf("netctl destroy exited %d:\n%s", code, out)
	}
	if want := "netctl forgets that it switched forwarding on (its memory outside the table goes too)"; !strings.Contains(out, want) {
		t.Errorf("destroy's plan lacks %q:\n%s", want, out)
	}
	if _, err := os.Lstat(w.memoryFile()); !os.IsNotExist(err) {
		t.Errorf("destroy left the forward memory %s (%v)", w.memoryFile(), err)
	}
	if got := w.sysctl("net.ipv4.ip_forward"); got != "1" {
		t.Errorf("ip_forward after destroy: %q, want 1", got)
	}
	w.expect(w.routed(true))
	// Forgotten: the next apply finds forwarding on, leaves it open, warns.
	w.wantInPlan(path, "Warning: "+alreadyOnWarning)
	// (The bridge is new: the containers' ports went with the old one, so
	// only the routed path is probed.)
	w.applyFile(path)
	w.expect(w.routed(true))
	if _, err := os.Lstat(w.memoryFile()); !os.IsNotExist(err) {
		t.Errorf("an apply that did not switch forwarding on wrote a forward memory (%v)", err)
	}
}

// TestWatchRepairsForwardOthersAfterFlush: watch --repair, on the flush,
// restores the drop at once, and logs no "already on" warning.
func TestWatchRepairsForwardOthersAfterFlush(t *testing.T) {
	w, path := switchedByNetctl(t)
	wp := w.startWatch(path, "--repair")
	from := wp.mark()
	// watch repairs within milliseconds, so the path is not probed open
	// here (TestForwardOthersMemorySurvivesFlush shows the flush opens it).
	w.nft("flush", "ruleset")
	w.Changed("nft flush ruleset")
	wp.waitFrom(from, "the repair of the firewall", func(l map[string]any) bool {
		return l["msg"] == "repaired" && l["address"] == memoryRule
	})
	w.Changed("watch repaired the firewall")
	w.Ready(t)
	w.expect(w.routed(false), w.bridged())
	if wp.has(func(l map[string]any) bool {
		s, _ := l["message"].(string)
		return strings.Contains(s, alreadyOnWarning)
	}) {
		t.Errorf("watch warned that forwarding is left open although netctl switched it on:\n%s", strings.Join(wp.raw, "\n"))
	}
	w.wantPlanClean(path)
	if code := wp.stop(); code != 0 {
		t.Errorf("watch exited %d after SIGTERM, want 0", code)
	}
}

// TestForwardOthersIPv6MemorySurvivesFlush: each family's memory survives
// the flush: IPv6 forwarded between the other interfaces is dropped again
// by the next apply.
func TestForwardOthersIPv6MemorySurvivesFlush(t *testing.T) {
	w := newFwdWorld(t)
	w.AddOutside6(t)
	nstest.Run(t, "ip", "-n", w.Host, "-6", "addr", "add", hostOther6.String(), "dev", testnet.OtherInterface, "nodad")
	nstest.Run(t, "ip", "-n", w.other.NS, "-6", "addr", "add", other6.String(), "dev", "eth0", "nodad")
	nstest.Run(t, "ip", "-n", w.other.NS, "-6", "route", "add", "default", "via", hostOther6.Addr().String())
	testnet.WaitLinkLocal(t, w.Host, testnet.OtherInterface)
	testnet.WaitLinkLocal(t, w.other.NS, "eth0")
	w.Changed("other network's IPv6 added")
	toOther := testnet.Listen(t, w.other.NS, "other", "tcp", other6.Addr(), 8080)
	toOutside := w.ListenOutside(t, "tcp", testnet.Outside6A.Addr(), 8080)
	fromOutside := testnet.Client{Name: "outside " + testnet.Outside6A.Addr().String(), NS: w.Outside, Src: testnet.Outside6A.Addr()}
	fromOther := testnet.Client{Name: "other " + other6.Addr().String(), NS: w.other.NS, Src: other6.Addr()}
	open := func() []testnet.Probe {
		return []testnet.Probe{fromOutside.Reaches(toOther), fromOther.Reaches(toOutside)}
	}
	blocked := func() []testnet.Probe {
		host := w.FromHost()
		return []testnet.Probe{
			fromOutside.Reaches(w.hostListener(testnet.HostExt6A.Addr())),
			fromOther.Reaches(w.hostListener(hostOther6.Addr())),
			host.Reaches(toOther), host.Reaches(toOutside),
			fromOutside.CannotReach(toOther), fromOther.CannotReach(toOutside),
		}
	}
	// Positive control: IPv6 forwarding on by hand routes both ways.
	nstest.Exec(t, w.Host, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	w.Changed("ip6 forwarding on by hand")
	testnet.Expect(t, open()...)
	nstest.Exec(t, w.Host, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=0")
	w.Changed("ip6 forwarding off by hand")

	p := w.file(forward6File)
	w.applyFile(p)
	testnet.Expect(t, blocked()...)

	w.nft("flush", "ruleset")
	w.Changed("nft flush ruleset")
	testnet.Expect(t, open()...)
	out := w.wantInPlan(p, "# firewall.forward_others.ipv6.switched_by_netctl will be created")
	if strings.Contains(out, "ip6_forward was already 1") {
		t.Errorf("the plan says IPv6 forwarding is left open although netctl switched it on:\n%s", out)
	}
	w.applyFile(p)
	testnet.Expect(t, blocked()...)
	w.wantPlanClean(p)
}
