package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
)

// watchProc is a running `netctl watch --log-format json`: its log lines,
// parsed, as they come.
type watchProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	cond *sync.Cond
	logs []map[string]any
	raw  []string
	done chan struct{}
	err  error
}

// watchBackstop bounds every wait for a line of watch's log: an event
// wait, not a measurement.
const watchBackstop = 60 * time.Second

func (e *env) startWatch(file string, extra ...string) *watchProc {
	e.t.Helper()
	return e.startWatchEnv(nil, file, extra...)
}

// startWatchEnv is startWatch with more environment variables.
func (e *env) startWatchEnv(environ []string, file string, extra ...string) *watchProc {
	e.t.Helper()
	args := append([]string{"watch", "-f", file, "--netns", e.Host, "--log-format", "json", "--metrics-listen", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(netctlBin, args...)
	cmd.Env = append(os.Environ(), environ...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	w := &watchProc{t: e.t, cmd: cmd, done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.read(stderr)
	e.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-w.done
		if e.t.Failed() {
			e.t.Logf("watch log:\n%s", strings.Join(w.raw, "\n"))
		}
	})
	w.wait("ready", func(l map[string]any) bool { return l["msg"] == "in sync" && l["trigger"] == "start" })
	return w
}

func (w *watchProc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		_ = json.Unmarshal(sc.Bytes(), &m)
		w.mu.Lock()
		w.raw = append(w.raw, sc.Text())
		if m != nil {
			w.logs = append(w.logs, m)
		}
		w.cond.Broadcast()
		w.mu.Unlock()
	}
	w.err = w.cmd.Wait()
	w.mu.Lock()
	close(w.done)
	w.cond.Broadcast()
	w.mu.Unlock()
}

// mark is the number of log lines so far: wait(from mark) looks only at
// lines logged after it.
func (w *watchProc) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.logs)
}

// wait waits for a log line matching fn (from line 0) and returns it.
func (w *watchProc) wait(what string, fn func(map[string]any) bool) map[string]any {
	w.t.Helper()
	return w.waitFrom(0, what, fn)
}

func (w *watchProc) waitFrom(from int, what string, fn func(map[string]any) bool) map[string]any {
	w.t.Helper()
	timer := time.AfterFunc(watchBackstop, func() {
		w.mu.Lock()
		w.cond.Broadcast()
		w.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(watchBackstop)
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := from; ; {
		for ; i < len(w.logs); i++ {
			if fn(w.logs[i]) {
				return w.logs[i]
			}
		}
		select {
		case <-w.done:
			w.t.Fatalf("watch ended (%v) before %s:\n%s", w.err, what, strings.Join(w.raw, "\n"))
		default:
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no %s in watch's log after %s:\n%s", what, watchBackstop, strings.Join(w.raw, "\n"))
		}
		w.cond.Wait()
	}
}

// has reports whether a line logged so far matches fn.
func (w *watchProc) has(fn func(map[string]any) bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.logs {
		if fn(l) {
			return true
		}
	}
	return false
}

// metricsAddr is where watch serves /metrics (from its log).
func (w *watchProc) metricsAddr() string {
	w.t.Helper()
	l := w.wait("the metrics address", func(l map[string]any) bool { return l["msg"] == "serving metrics" })
	return l["address"].(string)
}

// scrape fetches /metrics over HTTP and parses it with expfmt.
func (w *watchProc) scrape() map[string]*dto.MetricFamily {
	w.t.Helper()
	resp, err := http.Get("http://" + w.metricsAddr() + "/metrics")
	if err != nil {
		w.t.Fatalf("scraping watch's metrics: %v", err)
	}
	defer resp.Body.Close()
	var p expfmt.TextParser
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		w.t.Fatalf("watch's /metrics does not parse: %v", err)
	}
	return mfs
}

// value is the sample of mfs[name] with the given labels (name, value
// pairs); it fails the test when there is none.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("no metric %s in /metrics", name)
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
			}
			if !found {
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
	t.Fatalf("no sample %s%v in /metrics", name, labels)
	return 0
}

// stop sends SIGTERM and returns the exit code.
func (w *watchProc) stop() int {
	w.t.Helper()
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	return w.exited()
}

// exited waits for the process to end and returns its exit code.
func (w *watchProc) exited() int {
	w.t.Helper()
	select {
	case <-w.done:
	case <-time.After(watchBackstop):
		w.t.Fatal("watch did not end after SIGTERM")
	}
	return w.cmd.ProcessState.ExitCode()
}

func isMsg(msg string) func(map[string]any) bool {
	return func(l map[string]any) bool { return l["msg"] == msg }
}

// TestWatchRepairsDrift: with a long-lived connection over a link open, each
// drift in turn — nft flush ruleset, the table deleted, the links set
// flushed, the bridge deleted, ip_forward 0 — is noticed and repaired by
// watch --repair: a re-read (plan) finds nothing to do, the blocked path is
// blocked again (with its positive controls), the link works, and the
// long-lived connection still carries data.
func TestWatchRepairsDrift(t *testing.T) {
	e := setup(t)
	p := e.file(driftConfig)
	e.applyFile(p)
	web, db := e.C["web"], e.C["db"]
	db22, db5432 := db.Listen(t, "tcp", 22), db.Listen(t, "tcp", 5432)
	long, err := testnet.Open(t, web.NS, web.Addr, "tcp", db.Addr, 5432, 5*time.Second)
	if err != nil {
		t.Fatalf("long-lived connection web → db:5432: %v", err)
	}
	w := e.startWatch(p, "--repair", "--sysctl-interval", "200ms")

	cases := []struct {
		name  string
		drift func()
		// after: what a runtime would do again after the drift (the
		// containers' ports of a deleted bridge are theirs, not netctl's).
		after  func()
		object string
	}{
		{"nft flush ruleset", func() { e.nft("flush", "ruleset") }, nil, "firewall"},
		{"table deleted", func() { e.nft("delete", "table", "inet", "netctl") }, nil, "firewall"},
		{"links set flushed", func() { e.nft("flush", "set", "inet", "netctl", "links") }, nil, "firewall"},
		{"bridge deleted", func() {
			nstest.Run(t, "ip", "-n", e.Host, "link", "del", "docker0")
			e.Changed("docker0 deleted")
		}, func() {
			for _, c := range []*testnet.Container{web, db} {
				nstest.Run(t, "ip", "-n", e.Host, "link", "set", c.HostVeth, "master", "docker0")
			}
			e.Changed("ports attached again")
			e.Ready(t)
		}, "bridge.docker0"},
		{"ip_forward 0", func() {
			nstest.Exec(t, e.Host, "sysctl", "-qw", "net.ipv4.ip_forward=0")
			e.Changed("ip_forward 0")
		}, nil, "sysctl.net.ipv4.ip_forward"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			from := w.mark()
			tc.drift()
			w.waitFrom(from, "the drift of "+tc.object, func(l map[string]any) bool { return l["msg"] == "drift" && l["object"] == tc.object })
			w.waitFrom(from, "the repair of "+tc.object, func(l map[string]any) bool { return l["msg"] == "repaired" && l["object"] == tc.object })
			e.Changed("watch repaired " + tc.object)
			if tc.after != nil {
				tc.after()
			}
			e.wantPlanClean(p)
			testnet.Expect(t, e.withControls(web.CannotReach(db22), web.Reaches(db5432))...)
			if err := long.Ping(10 * time.Second); err != nil {
				t.Errorf("the long-lived connection web → db:5432 after the repair: %v", err)
			}
		})
	}
	mfs := w.scrape()
	// Firewall: the three drifts of the table. The forward_others drop
	// comes back with the repair of the flushed table (the memory outside
	// the table says netctl switched forwarding on: plan/forward.go), so
	// the repair of ip_forward 0 touches the sysctl only.
	for typ, want := range map[string]float64{"firewall": 3, "bridge": 1, "sysctl": 1} {
		if got := value(t, mfs, "netctl_watch_repairs_total", "type", typ); got != want {
			t.Errorf("netctl_watch_repairs_total{type=%q} = %v, want %v", typ, got, want)
		}
		if got := value(t, mfs, "netctl_watch_drift_events_total", "type", typ); got < want {
			t.Errorf("netctl_watch_drift_events_total{type=%q} = %v, want at least %v", typ, got, want)
		}
	}
	if got := value(t, mfs, "netctl_watch_in_sync"); got != 1 {
		t.Errorf("netctl_watch_in_sync = %v after the repairs", got)
	}
	if code := w.stop(); code != 0 {
		t.Errorf("watch exited %d after SIGTERM, want 0", code)
	}
}

// TestWatchSuppressesAFight: `nft flush ruleset` every 50 ms for 10 s.
// watch repairs the firewall MaxRepairs+1 times, then suppresses it (logs,
// counts), keeps reporting and stays alive; a reload (SIGHUP) repairs it.
func TestWatchSuppressesAFight(t *testing.T) {
	e := setup(t)
	p := e.file(driftConfig)
	e.applyFile(p)
	web, db := e.C["web"], e.C["db"]
	db22, db5432 := db.Listen(t, "tcp", 22), db.Listen(t, "tcp", 5432)
	w := e.startWatch(p, "--repair", "--max-repairs", "5")
	before := w.scrape()

	tick := time.NewTicker(50 * time.Millisecond)
	end := time.Now().Add(10 * time.Second)
	flushes := 0
	for time.Now().Before(end) {
		<-tick.C
		if err := exec.Command("ip", "netns", "exec", e.Host, "nft", "flush", "ruleset").Run(); err != nil {
			t.Fatalf("nft flush ruleset: %v", err)
		}
		flushes++
	}
	tick.Stop()
	e.Changed("flush loop")
	t.Logf("%d flushes", flushes)

	// Under a heavy load, repairs may have failed (a flush between a
	// repair's commit and its verification rolls it back): go on flushing,
	// one flush per repair, until the suppression.
	for !w.has(isMsg("repair suppressed")) {
		from := w.mark()
		if err := exec.Command("ip", "netns", "exec", e.Host, "nft", "flush", "ruleset").Run(); err != nil {
			t.Fatalf("nft flush ruleset: %v", err)
		}
		flushes++
		w.waitFrom(from, "a repair after a flush", func(l map[string]any) bool {
			return l["msg"] == "repaired" || l["msg"] == "repair suppressed" || l["msg"] == "repair failed" || l["suppressed"] == true
		})
	}
	sup := w.wait("the suppression", isMsg("repair suppressed"))
	if sup["object"] != "firewall" {
		t.Errorf("suppressed %v, want firewall", sup["object"])
	}
	after := w.scrape()
	if got := value(t, after, "netctl_watch_repairs_total", "type", "firewall"); got != 6 {
		t.Errorf("repairs of the firewall = %v, want 6 (5 allowed, the 6th suppresses)", got)
	}
	if value(t, after, "netctl_repair_suppressed", "type", "firewall") != 1 || value(t, after, "netctl_repair_suppressions_total", "type", "firewall") != 1 {
		t.Error("the suppression is not counted")
	}
	if value(t, after, "netctl_watch_in_sync") != 0 {
		t.Error("in sync while the firewall is flushed and suppressed")
	}
	// Memory: what grows with a burst is bounded by construction (the
	// notification queue's capacity, a Burst's fixed size, the suppressor's
	// max+1 times per object: watch's unit tests); the heap is logged here,
	// not judged on timing.
	t.Logf("heap in use before the loop %v, after %v", value(t, before, "go_memstats_heap_inuse_bytes"), value(t, after, "go_memstats_heap_inuse_bytes"))

	// Still reporting: the table flushed for good is drift, not repaired.
	if e.hasTable() {
		t.Fatal("the table is back although its repair is suppressed")
	}
	from := w.mark()
	_ = w.cmd.Process.Signal(syscall.SIGHUP)
	w.waitFrom(from, "the repair after the reload", func(l map[string]any) bool { return l["msg"] == "repaired" && l["object"] == "firewall" })
	e.Changed("watch repaired after reload")
	e.wantPlanClean(p)
	testnet.Expect(t, e.withControls(web.CannotReach(db22), web.Reaches(db5432))...)
	if code := w.stop(); code != 0 {
		t.Errorf("watch exited %d after SIGTERM, want 0", code)
	}
}

// TestWatchReloadSignalsAndLock: SIGHUP with a new file applies it; with an
// invalid file nothing changes and the error is logged with its position; a
// second watch --repair on the namespace refuses; SIGTERM exits 0.
func TestWatchReloadSignalsAndLock(t *testing.T) {
	e := setup(t)
	p := e.file(driftConfig)
	e.applyFile(p)
	web, db := e.C["web"], e.C["db"]
	db22, db5432 := db.Listen(t, "tcp", 22), db.Listen(t, "tcp", 5432)
	w := e.startWatch(p, "--repair")

	// A second watch --repair on the same namespace refuses, naming the first.
	out, code := e.netctl("watch", "-f", p, "--repair")
	if code != 1 || !strings.Contains(out, "another netctl watch --repair is already repairing namespace") || !strings.Contains(out, fmt.Sprintf("pid %d", w.cmd.Process.Pid)) {
		t.Errorf("second watch --repair: exit %d, want 1 naming the first's pid %d:\n%s", code, w.cmd.Process.Pid, out)
	}

	// A new file: link web → db 22/tcp as well.
	opened := strings.Replace(driftConfig, "ports: [5432/tcp]", "ports: [5432/tcp, 22/tcp]", 1)
	if err := os.WriteFile(p, []byte(opened), 0o644); err != nil {
		t.Fatal(err)
	}
	from := w.mark()
	_ = w.cmd.Process.Signal(syscall.SIGHUP)
	w.waitFrom(from, "the reload", isMsg("reloaded the file"))
	w.waitFrom(from, "the new link applied", func(l map[string]any) bool {
		return l["msg"] == "repaired" && l["address"] == "bridge.docker0.link.web->db"
	})
	e.Changed("watch applied the new file")
	e.wantPlanClean(p)
	testnet.Expect(t, web.Reaches(db22), web.Reaches(db5432))
	applied := liveTable(e)

	// An invalid file: logged with its position, nothing changes.
	invalid := strings.Replace(opened, "address: 172.17.0.3", "address: 172.17.0.300", 1)
	if err := os.WriteFile(p, []byte(invalid), 0o644); err != nil {
		t.Fatal(err)
	}
	from = w.mark()
	_ = w.cmd.Process.Signal(syscall.SIGHUP)
	l := w.waitFrom(from, "the reload error", isMsg("reload failed: the file is invalid, the running state is kept"))
	if msg, _ := l["error"].(string); !regexp.MustCompile(regexp.QuoteMeta(p) + `:\d+:\d+: `).MatchString(msg) {
		t.Errorf("the reload error does not give file:line:col: %q", msg)
	}
	if got := liveTable(e); got != applied {
		t.Errorf("an invalid file changed the kernel:\nbefore:\n%s\nafter:\n%s", applied, got)
	}
	// The running state is the last valid file's: a drift is still repaired to it.
	from = w.mark()
	e.nft("flush", "set", "inet", "netctl", "links")
	w.waitFrom(from, "the repair with the kept state", func(l map[string]any) bool { return l["msg"] == "repaired" && l["object"] == "firewall" })
	e.Changed("watch repaired")
	testnet.Expect(t, web.Reaches(db22), web.Reaches(db5432))

	mfs := w.scrape()
	if value(t, mfs, "netctl_watch_reloads_total", "result", "ok") != 1 || value(t, mfs, "netctl_watch_reloads_total", "result", "error") != 1 {
		t.Error("reloads not counted")
	}
	for _, name := range []string{"netctl_watch_plan_duration_seconds", "netctl_watch_last_repair_duration_seconds"} {
		if value(t, mfs, name) <= 0 {
			t.Errorf("%s is not set", name)
		}
	}
	if code := w.stop(); code != 0 {
		t.Errorf("watch exited %d after SIGTERM, want 0", code)
	}
	// Its lock went with it: a new watch --repair starts.
	if err := os.WriteFile(p, []byte(opened), 0o644); err != nil {
		t.Fatal(err)
	}
	w2 := e.startWatch(p, "--repair")
	if code := w2.stop(); code != 0 {
		t.Errorf("a watch --repair after the first ended: exit %d", code)
	}
}

// liveTable is netctl's table as nft lists it, without handles.
func liveTable(e *env) string {
	e.t.Helper()
	return e.nft("list", "table", "inet", "netctl")
}

// TestWatchReportsOnly: without --repair, drift is logged and counted, and
// the kernel is left as the other writer made it.
func TestWatchReportsOnly(t *testing.T) {
	e := setup(t)
	p := e.file(driftConfig)
	e.applyFile(p)
	web, db := e.C["web"], e.C["db"]
	db5432 := db.Listen(t, "tcp", 5432)
	w := e.startWatch(p)
	from := w.mark()
	e.nft("flush", "set", "inet", "netctl", "links")
	l := w.waitFrom(from, "the drift", func(l map[string]any) bool {
		return l["msg"] == "drift" && l["address"] == "bridge.docker0.link.web->db"
	})
	if by, _ := l["by"].(string); !strings.HasPrefix(by, "nft (pid ") {
		t.Errorf("the drift line does not name nft as the writer: %v", l)
	}
	e.wantDrift(p, "bridge.docker0.link.web->db")
	testnet.Expect(t, e.withControls(web.CannotReach(db5432))...)
	mfs := w.scrape()
	if value(t, mfs, "netctl_watch_in_sync") != 0 || value(t, mfs, "netctl_watch_drift_events_total", "type", "firewall") != 1 || value(t, mfs, "netctl_watch_repairs_total", "type", "firewall") != 0 {
		t.Error("metrics do not show one drift, not repaired")
	}
	if code := w.stop(); code != 0 {
		t.Errorf("watch exited %d after SIGTERM, want 0", code)
	}
}

// TestWatchNotifiesSystemd: under Type=notify, watch sends READY=1 on
// $NOTIFY_SOCKET once its first check is done, and STOPPING=1 at SIGTERM.
func TestWatchNotifiesSystemd(t *testing.T) {
	e := setup(t)
	p := e.file(driftConfig)
	e.applyFile(p)
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	next := func() string {
		t.Helper()
		buf := make([]byte, 256)
		_ = conn.SetReadDeadline(time.Now().Add(watchBackstop))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification on $NOTIFY_SOCKET: %v", err)
		}
		return string(buf[:n])
	}
	w := e.startWatchEnv([]string{"NOTIFY_SOCKET=" + sock}, p, "--repair")
	if got := next(); got != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", got)
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	if got := next(); got != "STOPPING=1" {
		t.Errorf("notification at SIGTERM %q, want STOPPING=1", got)
	}
	if code := w.exited(); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
}
