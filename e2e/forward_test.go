package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
)

// Forwarding that netctl switched on does not make the host a router for
// everyone (issue 13, plan/forward.go). The host has a bridge and two other
// interfaces: eth0 to the outside (198.51.100.0/24) and eth1 to another
// network (192.0.2.0/24). Outside ↔ other through the host touches none of
// netctl's bridges.

const forwardFile = `ip_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    containers:
      web: {address: 172.17.0.2, publish: [8080:80]}
`

const memoryRule = "firewall.forward_others.ipv4.switched_by_netctl"

// fwdWorld is the topology with its listeners and clients.
type fwdWorld struct {
	*env
	other                *testnet.Other
	toOther, toOutside   *testnet.Listener
	fromOutside, fromOth testnet.Client
	web80                *testnet.Listener // web's published port, once attached
}

func newFwdWorld(t *testing.T) *fwdWorld {
	e := setup(t)
	w := &fwdWorld{env: e, other: e.AddOther(t)}
	w.toOther = w.other.Listen(t, "tcp", 8080)
	w.toOutside = e.ListenOutside(t, "tcp", testnet.OutsideA.Addr(), 8080)
	w.fromOutside = e.FromOutside(testnet.OutsideA.Addr())
	w.fromOth = w.other.Client()
	return w
}

// setForward writes the host namespace's ip_forward by hand, as a person
// (or another tool) would.
func (w *fwdWorld) setForward(v string) {
	w.t.Helper()
	nstest.Exec(w.t, w.Host, "sysctl", "-qw", "net.ipv4.ip_forward="+v)
	w.Changed("ip_forward=" + v + " by hand")
}

// routed is the outside ↔ other path through the host, both ways.
func (w *fwdWorld) routed(open bool) []testnet.Probe {
	if open {
		return []testnet.Probe{w.fromOutside.Reaches(w.toOther), w.fromOth.Reaches(w.toOutside)}
	}
	ps := w.withControls(w.fromOutside.CannotReach(w.toOther), w.fromOth.CannotReach(w.toOutside))
	// The other namespace's own control: a round trip to the host (input,
	// which netctl's forward chain does not see).
	return append(ps, w.fromOth.Reaches(w.hostListener(testnet.HostOther.Addr())))
}

// bridged is traffic to and from netctl's bridge that the file allows:
// the container reaches both outside networks (masqueraded), and both
// outside networks reach its published port 8080 → 80 through the host's
// address on their side, whatever forward_others says.
func (w *fwdWorld) bridged() []testnet.Probe {
	web := w.C["web"]
	if w.web80 == nil {
		w.web80 = web.Listen(w.t, "tcp", 80)
	}
	return []testnet.Probe{web.Reaches(w.toOther), web.Reaches(w.toOutside),
		via(w.fromOutside, w.web80, testnet.HostExtA.Addr(), 8080, true),
		via(w.fromOth, w.web80, testnet.HostOther.Addr(), 8080, true)}
}

func (w *fwdWorld) expect(probes ...[]testnet.Probe) {
	w.t.Helper()
	var all []testnet.Probe
	for _, ps := range probes {
		all = append(all, ps...)
	}
	testnet.Expect(w.t, all...)
}

func (w *fwdWorld) wantInPlan(path string, wants ...string) string {
	w.t.Helper()
	out, _ := w.plan(path)
	for _, want := range wants {
		if !strings.Contains(out, want) {
			w.t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	return out
}

func (w *fwdWorld) ruleset() string {
	w.t.Helper()
	if !w.hasTable() {
		return ""
	}
	return w.nft("list", "table", "inet", "netctl")
}

// TestForwardOthersSwitchedByNetctl: netctl switches forwarding on, so
// forwarding between the other interfaces is dropped, and stays dropped on
// later applies (the memory in its table); forward_others: accept opens it;
// destroy removes the drop (and the memory, as the plan says).
func TestForwardOthersSwitchedByNetctl(t *testing.T) {
	w := newFwdWorld(t)
	if got := w.sysctl("net.ipv4.ip_forward"); got != "0" {
		t.Fatalf("ip_forward in a new namespace is %q, want 0", got)
	}
	// Positive control of the path itself: with forwarding on by hand (no
	// netctl), the host routes outside ↔ other.
	w.setForward("1")
	w.expect(w.routed(true))
	w.setForward("0")

	path := w.file(forwardFile)
	w.wantInPlan(path,
		"# "+memoryRule+" will be created: forwarding between interfaces that are not netctl's bridges will be dropped, because netctl switches forwarding on",
		`"meta nfproto ipv4 iifname != @bridges oifname != @bridges drop"`)
	out, _ := w.netctl("plan", "-f", path, "--json")
	var doc struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  struct {
				Actions []string        `json:"actions"`
				After   json.RawMessage `json:"after"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, out)
	}
	found := false
	for _, c := range doc.ResourceChanges {
		found = found || c.Address == memoryRule && strings.Contains(string(c.Change.After), `"verdict":"drop"`)
	}
	if !found {
		t.Errorf("the JSON plan has no creation of %s with verdict drop:\n%s", memoryRule, out)
	}

	// (1) The first apply switches forwarding on: outside ↔ other dropped,
	// the bridge's traffic as before.
	w.applyFile(path)
	if got := w.sysctl("net.ipv4.ip_forward"); got != "1" {
		t.Fatalf("ip_forward after apply: %q, want 1", got)
	}
	w.expect(w.routed(false), w.bridged())
	if rs := w.ruleset(); !strings.Contains(rs, `meta nfproto ipv4 iifname != @bridges oifname != @bridges drop comment "`+memoryRule+`"`) {
		t.Errorf("no forward_others rule in netctl's table:\n%s", rs)
	}

	// (2) A second apply sees ip_forward = 1 and still knows it was netctl.
	w.wantPlanClean(path)
	w.applyFile(path)
	w.expect(w.routed(false), w.bridged())

	// (3) forward_others: accept keeps the host a router.
	accept := w.file("forward_others: accept\n" + forwardFile)
	w.wantInPlan(accept, "stays open (forward_others: accept)")
	w.applyFile(accept)
	w.expect(w.routed(true), w.bridged())
	w.wantPlanClean(accept)
	// ... and remembers: without the key, the default drops again.
	w.wantInPlan(path, "will be dropped, because netctl switches forwarding on")
	w.applyFile(path)
	w.expect(w.routed(false), w.bridged())

	// (5) destroy: the drop goes with the table, ip_forward stays 1, and
	// the plan says that the memory goes.
	out, code := w.netctl("destroy", "-f", path, "--auto-approve")
	if code != 0 {
		t.Fatalf("netctl destroy exited %d:\n%s", code, out)
	}
	for _, want := range []string{
		memoryRule + " will be destroyed: forwarding between interfaces that are not netctl's bridges is no longer dropped, and netctl forgets that it switched forwarding on",
		"net.ipv4.ip_forward is left as it is and the rule " + memoryRule + " goes with netctl's table: netctl forgets",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("destroy's plan lacks %q:\n%s", want, out)
		}
	}
	if w.hasTable() {
		t.Errorf("netctl's table still there after destroy:\n%s", w.ruleset())
	}
	if got := w.sysctl("net.ipv4.ip_forward"); got != "1" {
		t.Errorf("ip_forward after destroy: %q, want 1 (netctl leaves it)", got)
	}
	w.expect(w.routed(true))
}

// TestForwardOthersAlreadyOn: forwarding on before netctl's first apply is
// left open, and the plan warns; forward_others: drop closes it.
func TestForwardOthersAlreadyOn(t *testing.T) {
	w := newFwdWorld(t)
	w.setForward("1")
	w.expect(w.routed(true))

	path := w.file(forwardFile)
	const warning = "Warning: ip_forward was already 1: netctl leaves forwarding between other interfaces alone; set forward_others: drop to close it."
	if plan := w.wantInPlan(path, warning); strings.Contains(plan, "forward_others.ipv4") {
		t.Errorf("a forward_others rule planned although forwarding was already on:\n%s", plan)
	}
	out, _ := w.netctl("plan", "-f", path, "--json")
	if !strings.Contains(out, `"warnings":["ip_forward was already 1`) {
		t.Errorf("the JSON plan lacks the warning:\n%s", out)
	}
	w.applyFile(path)
	w.expect(w.routed(true), w.bridged())
	if rs := w.ruleset(); strings.Contains(rs, "forward_others") {
		t.Errorf("a forward_others rule although forwarding was already on:\n%s", rs)
	}
	w.wantInPlan(path, warning) // still true, still said

	drop := w.file("forward_others: drop\n" + forwardFile)
	w.wantInPlan(drop, "firewall.forward_others.ipv4 will be created: forwarding between interfaces that are not netctl's bridges will be dropped (forward_others: drop)")
	w.applyFile(drop)
	w.expect(w.routed(false), w.bridged())
	w.wantPlanClean(drop)
}
