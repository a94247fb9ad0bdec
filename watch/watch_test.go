package watch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// fakeKernel is a Planner over a plan.State in memory: Plan diffs against
// it, Repair makes it the desired state (recording what it was asked).
type fakeKernel struct {
	live     plan.State
	repairs  []plan.State
	failNext error
}

func (k *fakeKernel) Plan(desired plan.State) (*plan.Plan, error) {
	p := plan.Diff(desired, k.live)
	return p, nil
}

func (k *fakeKernel) Repair(desired plan.State, decide func(*plan.Plan) Decision) (*plan.Plan, error) {
	p, _ := k.Plan(desired)
	d := decide(p)
	if !d.Apply {
		return nil, nil
	}
	if d.Desired != nil {
		desired = *d.Desired
		p, _ = k.Plan(desired)
	}
	if err := k.failNext; err != nil {
		k.failNext = nil
		return nil, err
	}
	k.repairs = append(k.repairs, desired)
	k.live = clone(desired)
	return p, nil
}

func (k *fakeKernel) Sysctls(names []string) (map[string]string, error) {
	m := map[string]string{}
	for _, n := range names {
		m[n] = k.live.Sysctls[n]
	}
	return m, nil
}

func clone(s plan.State) plan.State {
	return plan.State{Sysctls: maps.Clone(s.Sysctls), Bridges: maps.Clone(s.Bridges), Firewall: s.Firewall}
}

func desiredOf(t *testing.T, file string) plan.State {
	t.Helper()
	cfg, err := schema.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return plan.Desired(cfg)
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// harness is a Watcher on a fake kernel that starts in sync, logging JSON
// into a buffer.
type harness struct {
	w   *Watcher
	k   *fakeKernel
	log *bytes.Buffer
	clk *clock
	m   *Metrics
}

func newHarness(t *testing.T, repair bool, load func() (plan.State, error)) *harness {
	t.Helper()
	d := desiredOf(t, "../examples/icc-links.yaml")
	h := &harness{k: &fakeKernel{live: clone(d)}, log: &bytes.Buffer{}, clk: &clock{t: time.Unix(1_700_000_000, 0)}, m: NewMetrics()}
	h.w = New(Options{Planner: h.k, Desired: d, Load: load, Repair: repair, MaxRepairs: 3,
		Log: slog.New(slog.NewJSONHandler(h.log, nil)), Metrics: h.m, Now: h.clk.now})
	h.w.Check(Trigger{Kind: "start"})
	if !h.w.InSync() {
		t.Fatalf("the fake kernel does not start in sync: %s", h.log)
	}
	return h
}

// lines returns the log lines whose msg is msg.
func (h *harness) lines(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(h.log.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func (h *harness) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := h.m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}

func TestReportOnlyLogsEachDriftOnce(t *testing.T) {
	h := newHarness(t, false, nil)
	h.k.live.Sysctls["net.ipv4.ip_forward"] = "0"
	h.w.Check(Trigger{Kind: "sysctl"})
	h.w.Check(Trigger{Kind: "nftables"}) // the same drift: not logged again
	if len(h.k.repairs) != 0 {
		t.Fatalf("without Repair the kernel was repaired %d times", len(h.k.repairs))
	}
	drift := h.lines("drift")
	if len(drift) != 1 || drift[0]["address"] != "sysctl.net.ipv4.ip_forward" || drift[0]["action"] != "update" {
		t.Fatalf("drift lines: %v", drift)
	}
	if h.w.InSync() || h.metric(t, "netctl_watch_in_sync") != 0 {
		t.Fatal("drifted, yet in sync")
	}
	if got := h.metric(t, "netctl_watch_drift_events_total", "type", "sysctl"); got != 1 {
		t.Fatalf("drift events (sysctl) = %v, want 1", got)
	}
	h.k.live.Sysctls["net.ipv4.ip_forward"] = "1"
	h.w.Check(Trigger{Kind: "sysctl"})
	if !h.w.InSync() || len(h.lines("in sync")) != 2 {
		t.Fatalf("back in sync not reported: %s", h.log)
	}
}

func TestRepairRestoresAndCounts(t *testing.T) {
	h := newHarness(t, true, nil)
	want := clone(h.k.live)
	h.k.live.Firewall = nil // nft flush ruleset
	delete(h.k.live.Bridges, "docker0")
	h.w.Check(Trigger{Kind: "nftables", Who: "nft (pid 1)"})
	if len(h.k.repairs) != 1 {
		t.Fatalf("repairs = %d, want 1", len(h.k.repairs))
	}
	if p := plan.Diff(want, h.k.live); !p.Empty() {
		t.Fatalf("not restored: %d changes left", len(p.Changes))
	}
	for _, typ := range []string{"firewall", "bridge"} {
		if got := h.metric(t, "netctl_watch_repairs_total", "type", typ); got != 1 {
			t.Errorf("repairs_total{type=%s} = %v, want 1", typ, got)
		}
	}
	if !h.w.InSync() || h.metric(t, "netctl_watch_in_sync") != 1 {
		t.Fatal("repaired, yet not in sync")
	}
	drift := h.lines("drift")
	if len(drift) == 0 || drift[0]["by"] != "nft (pid 1)" {
		t.Fatalf("drift lines do not name the writer: %v", drift)
	}
	// Long plans log logLimit lines and a count.
	if n := len(h.lines("repaired")); n == 0 || n > logLimit {
		t.Fatalf("%d repaired lines", n)
	}
}

func TestRepairFailureIsLoggedAndRetried(t *testing.T) {
	h := newHarness(t, true, nil)
	h.k.live.Firewall = nil
	h.k.failNext = errors.New("step \"firewall\": boom; rolled back")
	h.w.Check(Trigger{Kind: "nftables"})
	if len(h.lines("repair failed")) != 1 || h.metric(t, "netctl_watch_repair_failures_total") != 1 || h.w.InSync() {
		t.Fatalf("failure not reported: %s", h.log)
	}
	if !h.w.retry {
		t.Fatal("a failed repair is not marked for a retry at the next poll")
	}
	h.w.Check(Trigger{Kind: "retry"})
	if !h.w.InSync() || h.w.retry {
		t.Fatal("the retry did not repair")
	}
}

// Another writer that undoes every repair: after MaxRepairs+1 repairs in a
// window the object is left alone (reported, counted), other objects are
// still repaired, and a reload repairs it again.
func TestSuppressionStopsTheFight(t *testing.T) {
	desired := desiredOf(t, "../examples/icc-links.yaml")
	h := newHarness(t, true, func() (plan.State, error) { return clone(desired), nil })
	for i := range 20 {
		h.clk.t = h.clk.t.Add(time.Second)
		h.k.live.Firewall = nil
		if i == 15 {
			h.k.live.Sysctls["net.ipv4.ip_forward"] = "0"
		}
		h.w.Check(Trigger{Kind: "nftables"})
	}
	if got := len(h.k.repairs); got != 4+1 { // 4 of the firewall, then the sysctl alone
		t.Fatalf("repairs = %d, want 5", got)
	}
	last := h.k.repairs[4]
	if last.Firewall != nil || last.Sysctls["net.ipv4.ip_forward"] != "1" {
		t.Fatalf("the repair while the firewall is suppressed must leave it as it is live (nil) and repair the sysctl: firewall=%v sysctls=%v", last.Firewall, last.Sysctls)
	}
	if h.k.live.Sysctls["net.ipv4.ip_forward"] != "1" {
		t.Fatal("the sysctl was not repaired")
	}
	sup := h.lines("repair suppressed")
	if len(sup) != 1 || sup[0]["object"] != "firewall" {
		t.Fatalf("suppression lines: %v", sup)
	}
	if h.metric(t, "netctl_repair_suppressed", "type", "firewall") != 1 || h.metric(t, "netctl_repair_suppressions_total", "type", "firewall") != 1 {
		t.Fatal("suppression not counted")
	}
	if h.w.InSync() {
		t.Fatal("in sync while the firewall is suppressed and absent")
	}
	// A minute later the writer is still winning: still suppressed.
	h.clk.t = h.clk.t.Add(2 * time.Minute)
	h.w.Check(Trigger{Kind: "nftables"})
	if len(h.k.repairs) != 5 {
		t.Fatal("suppression lifted by time alone")
	}
	h.w.Reload()
	if len(h.k.repairs) != 6 || !h.w.InSync() || h.metric(t, "netctl_repair_suppressed", "type", "firewall") != 0 {
		t.Fatalf("reload did not lift the suppression: repairs=%d", len(h.k.repairs))
	}
}

func TestSuppressorMemoryIsBounded(t *testing.T) {
	s := newSuppressor(5, time.Minute)
	now := time.Unix(0, 0)
	for i := range 100_000 {
		s.record(fmt.Sprint("obj", i%3), now.Add(time.Duration(i)*time.Millisecond))
	}
	if got := s.size(); got > 3*(5+1) {
		t.Fatalf("suppressor keeps %d times, want at most %d", got, 3*6)
	}
}

func TestReloadInvalidKeepsRunningState(t *testing.T) {
	invalid := errors.New("netctl.yaml:4:7: bridges.docker0.address: not a CIDR")
	h := newHarness(t, true, func() (plan.State, error) { return plan.State{}, invalid })
	before := clone(h.w.desired)
	h.w.Reload()
	l := h.lines("reload failed: the file is invalid, the running state is kept")
	if len(l) != 1 || l[0]["error"] != invalid.Error() {
		t.Fatalf("reload error not logged with its position: %s", h.log)
	}
	if p := plan.Diff(before, h.w.desired); !p.Empty() || len(h.k.repairs) != 0 {
		t.Fatal("an invalid file changed the running state")
	}
	if h.metric(t, "netctl_watch_reloads_total", "result", "error") != 1 {
		t.Fatal("reload error not counted")
	}
}

func TestReloadAppliesNewFile(t *testing.T) {
	next := desiredOf(t, "../examples/two-bridges.yaml")
	h := newHarness(t, true, func() (plan.State, error) { return next, nil })
	h.w.Reload()
	if len(h.k.repairs) != 1 || !plan.Diff(next, h.k.live).Empty() {
		t.Fatal("the reloaded file was not applied")
	}
}

func TestSysctlPollTriggersOnMove(t *testing.T) {
	h := newHarness(t, false, nil)
	if h.w.SysctlsMoved() {
		t.Fatal("moved while in sync")
	}
	h.k.live.Sysctls["net.ipv4.ip_forward"] = "0"
	if !h.w.SysctlsMoved() {
		t.Fatal("a sysctl set to 0 was not noticed")
	}
	if h.w.SysctlsMoved() {
		t.Fatal("the same drift triggered a second plan")
	}
}

func TestBurst(t *testing.T) {
	bridges := map[string]bool{"docker0": true}
	for _, tc := range []struct {
		name   string
		events []Trigger
		want   bool
	}{
		{"container veths only", []Trigger{{Kind: "link", Name: "veth1"}, {Kind: "address", Name: "veth2"}}, false},
		{"a bridge's link", []Trigger{{Kind: "link", Name: "veth1"}, {Kind: "link", Name: "docker0"}}, true},
		{"a bridge's address", []Trigger{{Kind: "address", Name: "docker0"}}, true},
		{"an address without a label (IPv6)", []Trigger{{Kind: "address"}}, true},
		{"nftables", []Trigger{{Kind: "nftables"}}, true},
		{"notifications lost", []Trigger{{Kind: "lost"}}, true},
		{"a port joins, no publications", []Trigger{{Kind: "link", Name: "veth1", Port: true}}, false},
		{"a port joins, publications", []Trigger{{Kind: "link", Name: "veth1", Port: true}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b Burst
			for _, ev := range tc.events {
				b.Add(ev)
			}
			ports := tc.name == "a port joins, publications" // a bridge of the file publishes ports
			if _, got := b.Trigger(bridges, ports); got != tc.want {
				t.Fatalf("Trigger = %v, want %v", got, tc.want)
			}
		})
	}
}

// A burst of any length is a fixed-size value, and Drain takes everything
// queued into one.
func TestBurstIsBounded(t *testing.T) {
	ch := make(chan Trigger, 1000)
	var b Burst
	for i := range 100_000 {
		if len(ch) == cap(ch) {
			Drain(ch, &b)
		}
		ch <- Trigger{Kind: "link", Name: fmt.Sprint("veth", i)}
	}
	Drain(ch, &b)
	if b.N != 100_000 || len(b.Links) > burstNames {
		t.Fatalf("N=%d links kept=%d", b.N, len(b.Links))
	}
	if _, ok := b.Trigger(map[string]bool{"docker0": true}, false); !ok {
		t.Fatal("past burstNames names a burst must be looked at")
	}
}

func TestWithLive(t *testing.T) {
	d := desiredOf(t, "../examples/icc-links.yaml")
	live := clone(d)
	live.Firewall = nil
	live.Sysctls["net.ipv4.ip_forward"] = "0"
	delete(live.Bridges, "docker0")
	got := WithLive(d, live, []string{"firewall", "sysctl.net.ipv4.ip_forward", "bridge.docker0"})
	if !plan.Diff(got, live).Empty() {
		t.Fatal("WithLive of every object is not the live state")
	}
	if d.Firewall == nil || d.Sysctls["net.ipv4.ip_forward"] != "1" || len(d.Bridges) == 0 {
		t.Fatal("WithLive changed its argument")
	}
}

// TestWithLiveKeepsForwardMemory: holding the firewall while someone keeps
// flushing the ruleset must not make a repair of another object forget
// that netctl switched forwarding on (as a destroy would), nor drop the
// file's forward_others.
func TestWithLiveKeepsForwardMemory(t *testing.T) {
	d := desiredOf(t, "../examples/icc-links.yaml")
	d.ForwardOthers = plan.ForwardOthersAccept
	live := clone(d)
	live.Firewall = nil // flushed
	live.ForwardMemory = []string{plan.SysctlIPForward}
	live.Sysctls[plan.SysctlIPForward] = "1"
	got := WithLive(d, live, []string{"firewall"})
	if got.ForwardOthers != plan.ForwardOthersAccept {
		t.Errorf("forward_others %q, want the file's %q", got.ForwardOthers, plan.ForwardOthersAccept)
	}
	resolved, err := plan.Resolve(got, live)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resolved.ForwardMemory, live.ForwardMemory) {
		t.Errorf("the repair's desired memory %q, want the live %q kept", resolved.ForwardMemory, live.ForwardMemory)
	}
	if ws := plan.ForwardWarnings(resolved, live); len(ws) != 0 {
		t.Errorf("warnings %q, want none (nothing is forgotten)", ws)
	}
	// Positive control: not holding the firewall, the file's table comes
	// back with the rule, and the memory with it.
	resolved, err = plan.Resolve(WithLive(d, live, nil), live)
	if err != nil {
		t.Fatal(err)
	}
	if fwd := resolved.Firewall.Chain(plan.ChainForward); fwd == nil || !slices.ContainsFunc(fwd.Rules, func(r plan.Rule) bool {
		return r.Comment == "firewall.forward_others.ipv4.switched_by_netctl" && r.Verdict == plan.VerdictAccept
	}) || !slices.Equal(resolved.ForwardMemory, live.ForwardMemory) {
		t.Errorf("without holding: memory %q, forward chain %+v", resolved.ForwardMemory, fwd)
	}
}
