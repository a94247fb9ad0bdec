package main

// Operations tests: drift metrics, show round trips, confirm-timeout (also
// through a real terminal in tmux), the Ansible and systemd examples, help
// and completion. They run the netctl binary, built once by TestMain, so that
// exit codes are those the process really returns. Tests that need root make
// their own namespaces (internal/nstest) and skip, saying so, without root.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/spf13/cobra"

	"github.com/netctl/netctl/internal/metrics"
	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/kernel"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

var (
	// opsBin is the netctl binary; opsBuildErr why it could not be built.
	opsBin      string
	opsBuildErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "netctl-ops-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	opsBin = filepath.Join(dir, "netctl")
	if out, err := exec.Command("go", "build", "-o", opsBin, ".").CombinedOutput(); err != nil {
		opsBuildErr = fmt.Errorf("go build ./cmd/netctl: %v\n%s", err, out)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one finished netctl process.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

func needBinary(t *testing.T) {
	t.Helper()
	if opsBuildErr != nil {
		t.Fatal(opsBuildErr)
	}
}

// netctl runs the binary to its end.
func netctl(t *testing.T, args ...string) result {
	t.Helper()
	needBinary(t)
	cmd := exec.Command(opsBin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("netctl %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// mustExit runs netctl and fails unless it exits with code.
func mustExit(t *testing.T, code int, args ...string) result {
	t.Helper()
	r := netctl(t, args...)
	if r.code != code {
		t.Fatalf("netctl %s: want exit %d, got %s", strings.Join(args, " "), code, r)
	}
	return r
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// liveState reads the namespace in-process, as JSON (rule handles are not
// part of it), for before/after comparisons.
func liveState(t *testing.T, ns string, bridges ...string) string {
	t.Helper()
	k, err := kernel.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	s, err := k.Read(plan.Scope{Sysctls: []string{plan.SysctlIPForward, plan.SysctlBridgeNFIptables}, Bridges: bridges})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// readMetrics parses a metrics file with the parser node_exporter's textfile
// collector uses, refuses what the collector refuses beyond it (a family
// without HELP or TYPE, a timestamp, a series twice), and returns the value
// of each series, by "name" or `name{action="create"}`.
func readMetrics(t *testing.T, path string) map[string]float64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var parser expfmt.TextParser
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v\n%s", path, err, data)
	}
	out := map[string]float64{}
	for name, f := range fams {
		if f.GetHelp() == "" || f.GetType() != dto.MetricType_GAUGE {
			t.Errorf("%s: HELP %q, type %s, want a HELP and gauge", name, f.GetHelp(), f.GetType())
		}
		for _, m := range f.GetMetric() {
			if m.TimestampMs != nil {
				t.Errorf("%s: a timestamp, which the textfile collector refuses", name)
			}
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			slices.Sort(labels)
			series := name
			if len(labels) > 0 {
				series += "{" + strings.Join(labels, ",") + "}"
			}
			if _, dup := out[series]; dup {
				t.Errorf("%s appears twice", series)
			}
			out[series] = m.GetGauge().GetValue()
		}
	}
	return out
}

// checkPlanMetrics checks a metrics file written by a plan of the file in
// the namespace netns that finished between before and after: every series
// carries the labels netns and file.
func checkPlanMetrics(t *testing.T, path, netns, file string, success bool, changes map[string]int, before, after time.Time) {
	t.Helper()
	m := readMetrics(t, path)
	labels := fmt.Sprintf("file=%q,netns=%q", file, netns)
	wantSuccess := 0.0
	if success {
		wantSuccess = 1
	}
	if got, ok := m["netctl_plan_success{"+labels+"}"]; !ok || got != wantSuccess {
		t.Errorf("netctl_plan_success{%s} = %v (present %v), want %v", labels, got, ok, wantSuccess)
	}
	for _, a := range metrics.Actions {
		key := `netctl_plan_changes{action="` + a + `",` + labels + `}`
		got, ok := m[key]
		switch {
		case !success && ok:
			t.Errorf("%s = %v written for a failed plan", key, got)
		case success && (!ok || got != float64(changes[a])):
			t.Errorf("%s = %v (present %v), want %d", key, got, ok, changes[a])
		}
	}
	if d := m["netctl_plan_duration_seconds{"+labels+"}"]; d <= 0 || d > after.Sub(before).Seconds() {
		t.Errorf("netctl_plan_duration_seconds = %v, want in (0, %v]", d, after.Sub(before).Seconds())
	}
	ts := m["netctl_plan_timestamp_seconds{"+labels+"}"]
	lo, hi := float64(before.UnixMilli())/1e3, float64(after.UnixMilli())/1e3
	if ts < math.Floor(lo) || ts > hi+0.001 {
		t.Errorf("netctl_plan_timestamp_seconds = %v, want within [%v, %v]", ts, lo, hi)
	}
	if want := 4 + 3; success && len(m) != want || !success && len(m) != 3 {
		t.Errorf("unexpected series: %v", m)
	}
}

// planWithMetrics runs plan --detailed-exitcode --metrics-file and checks the
// exit code and the metrics.
func planWithMetrics(t *testing.T, code int, prom string, changes map[string]int, args ...string) result {
	t.Helper()
	before := time.Now()
	r := mustExit(t, code, append([]string{"plan", "--detailed-exitcode", "--metrics-file", prom}, args...)...)
	after := time.Now()
	file, netns := schema.DefaultFile, ""
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "-f":
			file = args[i+1]
		case "--netns":
			netns = args[i+1]
		}
	}
	checkPlanMetrics(t, prom, netns, file, code != 1, changes, before, after)
	return r
}

const driftConfig = `ip_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    icc: false
    containers:
      web: { address: 172.17.0.2 }
      db: { address: 172.17.0.3, expose: [5432/tcp] }
    links:
      - { from: web, to: db }
  br-app:
    address: 172.18.0.1/16
`

func TestDriftMetrics(t *testing.T) {
	ns := nstest.New(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "netctl.yaml", driftConfig)
	prom := filepath.Join(dir, "netctl.prom")
	zero := map[string]int{}

	mustExit(t, 0, "apply", "-f", cfg, "--netns", ns, "--auto-approve")
	planWithMetrics(t, 0, prom, zero, "-f", cfg, "--netns", ns)

	// Drift of every action.
	nstest.Run(t, "ip", "-n", ns, "link", "set", "br-app", "mtu", "1400")     // update bridge.br-app
	nstest.Exec(t, ns, "sysctl", "-qw", "net.ipv4.ip_forward=0")              // update sysctl
	nstest.Exec(t, ns, "nft", "delete", "element", "inet", "netctl", "links", // create the link
		"{ 172.17.0.2 . 172.17.0.3 . tcp . 5432 }")
	nstest.Run(t, "ip", "-n", ns, "link", "add", "br-old", "type", "bridge") // delete: ours, not in the file
	nstest.Run(t, "ip", "-n", ns, "link", "set", "br-old", "alias", plan.Owner)
	// Replace: a chain of another priority (its two masquerade rules go
	// with it, and come back as creates). A bridge is never replaced.
	nstest.Exec(t, ns, "nft", "flush", "chain", "inet", "netctl", plan.ChainPostrouting)
	nstest.Exec(t, ns, "nft", "delete", "chain", "inet", "netctl", plan.ChainPostrouting)
	nstest.Exec(t, ns, "nft", "add", "chain", "inet", "netctl", plan.ChainPostrouting, "{ type nat hook postrouting priority 50; policy accept; }")

	r := planWithMetrics(t, 2, prom, map[string]int{"create": 3, "update": 2, "delete": 1, "replace": 1}, "-f", cfg, "--netns", ns)
	for _, addr := range []string{"bridge.br-app", "sysctl.net.ipv4.ip_forward", "bridge.docker0.link.web->db", "bridge.br-old", "firewall.chain." + plan.ChainPostrouting} {
		if !strings.Contains(r.stdout, addr) {
			t.Errorf("the plan does not name %s:\n%s", addr, r.stdout)
		}
	}
	// The same with --json: the metrics do not depend on the rendering.
	planWithMetrics(t, 2, prom, map[string]int{"create": 3, "update": 2, "delete": 1, "replace": 1}, "-f", cfg, "--netns", ns, "--json")

	mustExit(t, 0, "apply", "-f", cfg, "--netns", ns, "--auto-approve")
	planWithMetrics(t, 0, prom, zero, "-f", cfg, "--netns", ns)

	// A plan that fails still writes the file: success 0, no counts.
	bad := writeFile(t, dir, "bad.yaml", "bridges:\n  docker0:\n    address: 172.17.0.1/33\n")
	planWithMetrics(t, 1, prom, nil, "-f", bad, "--netns", ns)
	planWithMetrics(t, 1, prom, nil, "-f", cfg, "--netns", "nctest-does-not-exist")

	// A metrics file that cannot be written is an error, even with no drift.
	r = mustExit(t, 1, "plan", "-f", cfg, "--netns", ns, "--detailed-exitcode", "--metrics-file", filepath.Join(dir, "missing", "netctl.prom"))
	if !strings.Contains(r.stderr, "writing metrics") {
		t.Errorf("no error names the metrics file:\n%s", r)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("temporary files left in %s: %v", dir, entries)
	}
}

func TestShowRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples/*.yaml")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ns := nstest.New(t)
			dir := t.TempDir()
			mustExit(t, 0, "apply", "-f", f, "--netns", ns, "--auto-approve")
			r := mustExit(t, 0, "show", "--netns", ns)
			if r.stderr != "" {
				t.Errorf("show warns:\n%s", r)
			}
			shown := writeFile(t, dir, "f.yaml", r.stdout)
			if p := netctl(t, "plan", "-f", shown, "--netns", ns, "--detailed-exitcode"); p.code != 0 {
				t.Fatalf("plan with the shown file: %s\nshown file:\n%s", p, r.stdout)
			}
			mustExit(t, 0, "validate", "-f", shown)

			// --json is the live state as netctl reads it.
			j := mustExit(t, 0, "show", "--netns", ns, "--json")
			var s plan.State
			if err := json.Unmarshal([]byte(j.stdout), &s); err != nil {
				t.Fatalf("show --json: %v\n%s", err, j.stdout)
			}
			if len(s.Bridges) == 0 || s.Firewall == nil || s.Sysctls[plan.SysctlIPForward] != "1" {
				t.Errorf("show --json lacks the state: %s", j.stdout)
			}
		})
	}
}

// TestShowNotes: what netctl does not own is shown as comments and is not
// drift.
func TestShowNotes(t *testing.T) {
	ns := nstest.New(t)
	dir := t.TempDir()
	mustExit(t, 0, "apply", "-f", "../../examples/icc-links.yaml", "--netns", ns, "--auto-approve")
	nstest.Run(t, "ip", "-n", ns, "link", "add", "vethA", "type", "veth", "peer", "name", "vethB")
	nstest.Run(t, "ip", "-n", ns, "link", "set", "vethA", "master", "docker0")
	nstest.Exec(t, ns, "nft", "add", "rule", "inet", "netctl", "user", "ip", "saddr", "192.0.2.1", "drop")
	r := mustExit(t, 0, "show", "--netns", ns)
	for _, want := range []string{
		"  # attached ports, not netctl's: vethA\n  docker0:\n",
		"# note: chain user holds 1 rule of your own",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show lacks %q:\n%s", want, r.stdout)
		}
	}
	shown := writeFile(t, dir, "f.yaml", r.stdout)
	mustExit(t, 0, "plan", "-f", shown, "--netns", ns, "--detailed-exitcode")

	// A rule netctl did not write cannot be expressed: the file says so,
	// and so does a warning on stderr.
	nstest.Exec(t, ns, "nft", "add", "rule", "inet", "netctl", "filter-forward", "ip", "saddr", "192.0.2.2", "accept", "comment", "mine")
	r = mustExit(t, 0, "show", "--netns", ns)
	if !strings.Contains(r.stdout, `# note: rule in chain filter-forward not from a netctl file`) ||
		!strings.Contains(r.stdout, "# note: not reproduced: plan with this file would delete mine") ||
		!strings.Contains(r.stderr, "does not reproduce the live state exactly") {
		t.Errorf("a foreign rule is not reported:\n%s", r)
	}
}

// confirmConfigs are a base state and a change of it: an MTU, a new bridge.
const (
	confirmBase = `ip_forward: true
bridges:
  docker0: { address: 172.17.0.1/16 }
`
	confirmChange = `ip_forward: true
bridges:
  docker0: { address: 172.17.0.1/16, mtu: 1400 }
  br-new: { address: 172.18.0.1/16 }
`
)

// confirmSetup applies the base config and returns the state before the
// change and the path of the changed config.
func confirmSetup(t *testing.T) (ns, before, changed string) {
	ns = nstest.New(t)
	dir := t.TempDir()
	base := writeFile(t, dir, "base.yaml", confirmBase)
	changed = writeFile(t, dir, "change.yaml", confirmChange)
	mustExit(t, 0, "apply", "-f", base, "--netns", ns, "--auto-approve")
	return ns, liveState(t, ns, "docker0", "br-new"), changed
}

// proc is a netctl process running in the background whose stderr is
// watched for a line.
type proc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	mu     sync.Mutex
	stderr bytes.Buffer
	lines  chan string
	done   chan struct{}
	code   int
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	needBinary(t)
	p := &proc{cmd: exec.Command(opsBin, args...), lines: make(chan string, 100), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "NO_COLOR=1")
	p.cmd.Stdout = &p.stdout
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitLine waits for a stderr line containing s.
func (p *proc) waitLine(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l := <-p.lines:
			if strings.Contains(l, s) {
				return
			}
		case <-p.done:
			t.Fatalf("netctl ended (exit %d) before printing %q:\nstdout:\n%s\nstderr:\n%s", p.code, s, p.stdout.String(), p.errText())
		case <-deadline:
			t.Fatalf("no %q within %s:\nstderr:\n%s", s, timeout, p.errText())
		}
	}
}

func (p *proc) errText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		t.Fatalf("netctl still running after %s", timeout)
	}
	return 0
}

// exitBound bounds the wait for a netctl process to end. It is a backstop
// against a hung process on a loaded machine, not a measure: the confirm
// tests assert on events (the exit, what it said, the kernel read after),
// never on how long they took.
const exitBound = 2 * time.Minute

func TestConfirmTimeout(t *testing.T) {
	const timeout = 2 * time.Second
	t.Run("not confirmed: rolled back in time", func(t *testing.T) {
		ns, before, changed := confirmSetup(t)
		p := start(t, "apply", "-f", changed, "--netns", ns, "--auto-approve", "--confirm-timeout", timeout.String())
		p.waitLine(t, "Confirm within", 30*time.Second)
		if now := liveState(t, ns, "docker0", "br-new"); now == before {
			t.Fatal("the change is not in place while waiting for confirmation")
		}
		if !strings.Contains(nstest.Run(t, "ip", "-n", ns, "link", "show", "docker0"), "mtu 1400") {
			t.Fatal("docker0 does not have the new MTU while waiting")
		}
		// The events: netctl ends, says it rolled back, and the kernel
		// reads as before.
		if code := p.wait(t, exitBound); code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		if !strings.Contains(p.errText(), "Not confirmed in time: the change was rolled back.") {
			t.Errorf("stderr does not say so:\n%s", p.errText())
		}
		if got := liveState(t, ns, "docker0", "br-new"); got != before {
			t.Errorf("not rolled back:\n%s\nwant:\n%s", got, before)
		}
		if strings.Contains(nstest.Run(t, "ip", "-n", ns, "link", "show"), "br-new") {
			t.Error("br-new is still there")
		}
		// Nothing is left to recover: the journal is gone.
		r := mustExit(t, 0, "plan", "-f", "../../examples/default-bridge.yaml", "--netns", ns)
		if strings.Contains(r.stdout+r.stderr, "interrupted") {
			t.Errorf("a journal is left:\n%s", r)
		}
	})

	t.Run("confirmed from another process: kept", func(t *testing.T) {
		ns, before, changed := confirmSetup(t)
		p := start(t, "apply", "-f", changed, "--netns", ns, "--auto-approve", "--confirm-timeout", "20s")
		p.waitLine(t, "netctl confirm --netns "+ns, 30*time.Second)
		r := mustExit(t, 0, "confirm", "--netns", ns)
		if !strings.Contains(r.stdout, "Confirmation sent.") {
			t.Errorf("confirm says:\n%s", r)
		}
		// The confirmation ends the wait (the timeout is 20s, the bound a
		// backstop): netctl exits 0 saying it kept the change.
		if code := p.wait(t, exitBound); code != 0 {
			t.Fatalf("exit %d, want 0:\n%s\n%s", code, p.stdout.String(), p.errText())
		}
		if !strings.Contains(p.errText(), "Confirmed: the change is kept.") || !strings.Contains(p.stdout.String(), "Apply complete!") {
			t.Errorf("apply does not say it kept the change:\n%s\n%s", p.stdout.String(), p.errText())
		}
		after := liveState(t, ns, "docker0", "br-new")
		if after == before {
			t.Fatal("the change was not kept")
		}
		// Kept for good: the next run finds no journal to roll back, and
		// the state is the changed file's.
		mustExit(t, 0, "plan", "-f", changed, "--netns", ns, "--detailed-exitcode")
		if got := liveState(t, ns, "docker0", "br-new"); got != after {
			t.Errorf("the state changed after the confirmed apply ended:\n%s", got)
		}
		// A second confirm finds nothing waiting.
		if r := netctl(t, "confirm", "--netns", ns); r.code != 1 || !strings.Contains(r.stderr, "no apply is waiting") {
			t.Errorf("confirm with nothing waiting: %s", r)
		}
	})

	t.Run("JSON document says rolled back", func(t *testing.T) {
		ns, before, changed := confirmSetup(t)
		r := netctl(t, "apply", "-f", changed, "--netns", ns, "--auto-approve", "--json", "--confirm-timeout", "1s")
		if r.code != 1 {
			t.Errorf("exit %d, want 1: a change that did not stay is a failed apply", r.code)
		}
		var doc struct {
			Changed      bool   `json:"changed"`
			Confirmation string `json:"confirmation"`
			RolledBack   bool   `json:"rolled_back"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("apply --json: %v\n%s", err, r)
		}
		if doc.Changed || doc.Confirmation != "rolled back" || !doc.RolledBack {
			t.Errorf("document says changed=%v confirmation=%q, want false, \"rolled back\"", doc.Changed, doc.Confirmation)
		}
		if got := liveState(t, ns, "docker0", "br-new"); got != before {
			t.Errorf("not rolled back:\n%s", got)
		}
	})

	t.Run("killed while waiting: the next run rolls back", func(t *testing.T) {
		ns, before, changed := confirmSetup(t)
		p := start(t, "apply", "-f", changed, "--netns", ns, "--auto-approve", "--confirm-timeout", "60s")
		p.waitLine(t, "Confirm within", 30*time.Second)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		p.wait(t, exitBound)
		if liveState(t, ns, "docker0", "br-new") == before {
			t.Fatal("the change is not in place after the kill")
		}
		// The live state is the changed file's, so plan finds no changes,
		// but warns that the next apply rolls the unconfirmed one back.
		r := mustExit(t, 0, "plan", "-f", changed, "--netns", ns, "--detailed-exitcode")
		if !strings.Contains(r.stdout+r.stderr, "rolls it back") {
			t.Errorf("plan does not warn of the interrupted apply:\n%s", r)
		}
		dir := t.TempDir()
		base := writeFile(t, dir, "base.yaml", confirmBase)
		mustExit(t, 0, "apply", "-f", base, "--netns", ns, "--auto-approve")
		if got := liveState(t, ns, "docker0", "br-new"); got != before {
			t.Errorf("not rolled back:\n%s", got)
		}
	})
}

// tmux drives netctl through a real terminal, on a tmux server of its own.
type tmux struct {
	t      *testing.T
	socket string
}

func newTmux(t *testing.T, command string) *tmux {
	t.Helper()
	nstest.RequireTool(t, "tmux", "the terminal test needs it (apt-get install tmux)")
	x := &tmux{t: t, socket: fmt.Sprintf("netctl-ops-%d-%d", os.Getpid(), time.Now().UnixNano())}
	x.run("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "200", "-y", "50", command)
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", x.socket, "kill-server").Run() })
	return x
}

func (x *tmux) run(args ...string) string {
	x.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", x.socket}, args...)...).CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// screen is the pane with its history, wrapped lines joined.
func (x *tmux) screen() string { return x.run("capture-pane", "-p", "-J", "-S", "-", "-t", "t") }

func (x *tmux) waitFor(s string, timeout time.Duration) string {
	x.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		sc := x.screen()
		if strings.Contains(sc, s) {
			return sc
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("no %q on the terminal within %s:\n%s", s, timeout, sc)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestConfirmTimeoutTerminal(t *testing.T) {
	const timeout = 3 * time.Second
	command := func(ns, changed string) string {
		return fmt.Sprintf("%s apply -f %s --netns %s --confirm-timeout %s; echo EXIT=$?; sleep 600", opsBin, changed, ns, timeout)
	}
	t.Run("Enter confirms", func(t *testing.T) {
		ns, before, changed := confirmSetup(t)
		x := newTmux(t, command(ns, changed))
		x.waitFor("Only 'yes' will be accepted", 30*time.Second)
		x.run("send-keys", "-t", "t", "yes", "Enter")
		x.waitFor("Confirm within 3s", 30*time.Second)
		x.run("send-keys", "-t", "t", "Enter")
		sc := x.waitFor("EXIT=", exitBound)
		if !strings.Contains(sc, "Confirmed: the change is kept.") || !strings.Contains(sc, "EXIT=0") {
			t.Fatalf("terminal:\n%s", sc)
		}
		// netctl has exited, so no timer of its can roll back any more:
		// the change is in the kernel and no journal is left for the next
		// run to roll back.
		if liveState(t, ns, "docker0", "br-new") == before {
			t.Fatal("the change was not kept")
		}
		r := mustExit(t, 0, "plan", "-f", changed, "--netns", ns, "--detailed-exitcode")
		if strings.Contains(r.stdout+r.stderr, "rolls it back") {
			t.Errorf("a journal is left after the confirmation:\n%s", r)
		}
	})
	t.Run("no Enter: rolled back", func(t *testing.T) {
		ns, before, changed := confirmSetup(t)
		x := newTmux(t, command(ns, changed))
		x.waitFor("Only 'yes' will be accepted", 30*time.Second)
		x.run("send-keys", "-t", "t", "yes", "Enter")
		x.waitFor("Confirm within 3s", 30*time.Second)
		sc := x.waitFor("EXIT=", exitBound)
		if !strings.Contains(sc, "Not confirmed in time: the change was rolled back.") || !strings.Contains(sc, "EXIT=1") {
			t.Fatalf("terminal:\n%s", sc)
		}
		if got := liveState(t, ns, "docker0", "br-new"); got != before {
			t.Errorf("not rolled back:\n%s\nwant:\n%s", got, before)
		}
	})
	t.Run("no yes: nothing applied", func(t *testing.T) {
		ns, before, changed := confirmSetup(t)
		x := newTmux(t, command(ns, changed))
		x.waitFor("Only 'yes' will be accepted", 30*time.Second)
		x.run("send-keys", "-t", "t", "no", "Enter")
		sc := x.waitFor("EXIT=", exitBound)
		if !strings.Contains(sc, "Apply cancelled") || !strings.Contains(sc, "EXIT=1") {
			t.Fatalf("terminal:\n%s", sc)
		}
		if liveState(t, ns, "docker0", "br-new") != before {
			t.Fatal("the state changed without approval")
		}
	})
}

// ansibleResult is what the json callback says of one task on localhost.
type ansibleTask struct {
	name                     string
	changed, failed, skipped bool
}

func ansible(t *testing.T, vars map[string]any, extra ...string) ([]ansibleTask, int) {
	t.Helper()
	ev, _ := json.Marshal(vars)
	home := t.TempDir()
	cmd := exec.Command("ansible-playbook", append([]string{"-i", "localhost,", "-c", "local", "-e", string(ev),
		"../../examples/ansible/netctl.yml"}, extra...)...)
	cmd.Env = append(os.Environ(), "ANSIBLE_STDOUT_CALLBACK=json", "ANSIBLE_NOCOLOR=1", "ANSIBLE_HOME="+home,
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(home, "tmp"), "ANSIBLE_REMOTE_TEMP="+filepath.Join(home, "tmp"),
		"ANSIBLE_PYTHON_INTERPRETER=auto_silent", "ANSIBLE_RETRY_FILES_ENABLED=0", "ANSIBLE_DEPRECATION_WARNINGS=0")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Plays []struct {
			Tasks []struct {
				Task  struct{ Name string } `json:"task"`
				Hosts map[string]struct {
					Changed bool `json:"changed"`
					Failed  bool `json:"failed"`
					Skipped bool `json:"skipped"`
				} `json:"hosts"`
			} `json:"tasks"`
		} `json:"plays"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || len(doc.Plays) != 1 {
		t.Fatalf("ansible-playbook output (exit %d, %v):\n%s\n%s", code, err, out.String(), errb.String())
	}
	var tasks []ansibleTask
	for _, tk := range doc.Plays[0].Tasks {
		h := tk.Hosts["localhost"]
		tasks = append(tasks, ansibleTask{tk.Task.Name, h.Changed, h.Failed, h.Skipped})
	}
	return tasks, code
}

// task finds a task's outcome by name.
func task(t *testing.T, tasks []ansibleTask, name string) ansibleTask {
	t.Helper()
	for _, tk := range tasks {
		if tk.name == name {
			return tk
		}
	}
	t.Fatalf("no task %q in %+v", name, tasks)
	return ansibleTask{}
}

func TestAnsiblePlaybook(t *testing.T) {
	nstest.RequireTool(t, "ansible-playbook", "the playbook test needs it (apt-get install ansible-core)")
	needBinary(t)
	ns := nstest.New(t)
	dir := t.TempDir()
	src := writeFile(t, dir, "netctl.yaml", driftConfig)
	vars := map[string]any{
		"netctl_bin": opsBin, "netctl_config_src": src, "netctl_config": filepath.Join(dir, "installed", "netctl.yaml"),
		"netctl_netns": ns, "ansible_become": false,
	}

	// Check mode on a fresh namespace: changes pending, nothing applied.
	before := liveState(t, ns, "docker0", "br-app")
	tasks, code := ansible(t, vars, "--check")
	if tk := task(t, tasks, "Plan (check mode)"); code != 0 || !tk.changed || tk.failed {
		t.Errorf("check mode before apply: exit %d, %+v", code, tk)
	}
	if task(t, tasks, "Apply").changed {
		t.Error("apply ran in check mode")
	}
	if liveState(t, ns, "docker0", "br-app") != before {
		t.Fatal("check mode changed the kernel")
	}

	// Apply: changed; again: not changed.
	tasks, code = ansible(t, vars)
	if tk := task(t, tasks, "Apply"); code != 0 || !tk.changed || tk.failed {
		t.Errorf("first apply: exit %d, %+v", code, tk)
	}
	mustExit(t, 0, "plan", "-f", src, "--netns", ns, "--detailed-exitcode")
	tasks, code = ansible(t, vars)
	if tk := task(t, tasks, "Apply"); code != 0 || tk.changed || tk.failed {
		t.Errorf("second apply: exit %d, %+v", code, tk)
	}
	tasks, code = ansible(t, vars, "--check")
	if tk := task(t, tasks, "Plan (check mode)"); code != 0 || tk.changed || tk.failed {
		t.Errorf("check mode without drift: exit %d, %+v", code, tk)
	}

	// Drift: check mode says changed, apply fixes it.
	nstest.Run(t, "ip", "-n", ns, "link", "set", "br-app", "mtu", "1400")
	tasks, code = ansible(t, vars, "--check")
	if tk := task(t, tasks, "Plan (check mode)"); code != 0 || !tk.changed {
		t.Errorf("check mode with drift: exit %d, %+v", code, tk)
	}
	tasks, code = ansible(t, vars)
	if tk := task(t, tasks, "Apply"); code != 0 || !tk.changed {
		t.Errorf("apply with drift: exit %d, %+v", code, tk)
	}

	// An invalid file: check mode fails (plan exits 1), and a real run
	// refuses to install it.
	if err := os.WriteFile(src, []byte("bridges:\n  docker0:\n    address: 300.1.1.1/16\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tasks, code = ansible(t, vars, "--check")
	if tk := task(t, tasks, "Plan (check mode)"); code == 0 || !tk.failed {
		t.Errorf("check mode with an invalid file: exit %d, %+v", code, tk)
	}
	tasks, code = ansible(t, vars)
	if tk := task(t, tasks, "Install the netctl file"); code == 0 || !tk.failed {
		t.Errorf("installing an invalid file: exit %d, %+v", code, tk)
	}
	mustExit(t, 0, "plan", "-f", vars["netctl_config"].(string), "--netns", ns, "--detailed-exitcode")
}

func TestSystemdUnits(t *testing.T) {
	svc, err := os.ReadFile("../../examples/systemd/netctl-drift.service")
	if err != nil {
		t.Fatal(err)
	}
	timer, err := os.ReadFile("../../examples/systemd/netctl-drift.timer")
	if err != nil {
		t.Fatal(err)
	}
	exec0 := regexp.MustCompile(`(?m)^ExecStart=(\S+) (.*)$`).FindSubmatch(svc)
	if exec0 == nil {
		t.Fatal("no ExecStart")
	}
	args := strings.Fields(string(exec0[2]))
	for _, want := range []string{"plan", "--detailed-exitcode", "--metrics-file"} {
		if !strings.Contains(" "+strings.Join(args, " ")+" ", " "+want+" ") {
			t.Errorf("ExecStart lacks %s: %s", want, exec0[0])
		}
	}
	if !regexp.MustCompile(`(?m)^SuccessExitStatus=2$`).Match(svc) {
		t.Error("exit 2 (drift) would mark the unit failed: no SuccessExitStatus=2")
	}
	if !regexp.MustCompile(`(?m)^OnUnitActiveSec=5min$`).Match(timer) || !regexp.MustCompile(`(?m)^WantedBy=timers.target$`).Match(timer) {
		t.Errorf("the timer does not run every 5 minutes:\n%s", timer)
	}
	// The command line is one netctl accepts: its flags parse.
	root := newRootCmd()
	c, rest, err := root.Find(args)
	if err != nil || c.Name() != "plan" {
		t.Fatalf("ExecStart is not a plan command: %v", err)
	}
	if err := c.ParseFlags(rest); err != nil {
		t.Errorf("ExecStart flags: %v", err)
	}

	nstest.RequireTool(t, "systemd-analyze", "the units are not verified (apt-get install systemd)")
	needBinary(t)
	dir := t.TempDir()
	writeFile(t, dir, "netctl-drift.service", strings.Replace(string(svc), string(exec0[1]), opsBin, 1))
	writeFile(t, dir, "netctl-drift.timer", string(timer))
	out, err := exec.Command("systemd-analyze", "verify", filepath.Join(dir, "netctl-drift.service"), filepath.Join(dir, "netctl-drift.timer")).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestHelpHasExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		if !c.Hidden && c.Name() != cobra.ShellCompRequestCmd && c.Name() != cobra.ShellCompNoDescRequestCmd {
			n++
			if strings.TrimSpace(c.Example) == "" {
				t.Errorf("%q has no example", c.CommandPath())
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	if n < 13 {
		t.Errorf("only %d commands seen", n)
	}
	for _, cmd := range []string{"show", "schema", "plan", "completion"} {
		r := mustExit(t, 0, cmd, "--help")
		if !regexp.MustCompile(`Examples:\n  .*netctl `).MatchString(r.stdout) {
			t.Errorf("netctl %s --help has no examples:\n%s", cmd, r.stdout)
		}
	}
	if r := mustExit(t, 0, "plan", "--help"); !strings.Contains(r.stdout, "--metrics-file") {
		t.Errorf("plan --help lacks --metrics-file:\n%s", r.stdout)
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		r := mustExit(t, 0, "completion", shell)
		if !strings.Contains(r.stdout, "netctl") || len(r.stdout) < 1000 {
			t.Errorf("completion %s: %s", shell, r)
		}
	}
	r := mustExit(t, 0, cobra.ShellCompNoDescRequestCmd, "")
	for _, c := range []string{"apply", "completion", "confirm", "destroy", "plan", "schema", "show", "validate"} {
		if !regexp.MustCompile(`(?m)^` + c + `$`).MatchString(r.stdout) {
			t.Errorf("%s is not completed:\n%s", c, r.stdout)
		}
	}
	r = mustExit(t, 0, cobra.ShellCompNoDescRequestCmd, "plan", "--met")
	if !strings.Contains(r.stdout, "--metrics-file") {
		t.Errorf("plan --met does not complete:\n%s", r.stdout)
	}

	// The bash script itself, as bash runs it on Tab.
	const lib = "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(lib); err != nil {
		nstest.Skip(t, "bash-completion is not installed (apt-get install bash-completion): the bash script is not run")
	}
	script := fmt.Sprintf(`source %s
source <(netctl completion bash)
COMP_WORDS=(netctl sh); COMP_CWORD=1; COMP_LINE="netctl sh"; COMP_POINT=${#COMP_LINE}
__start_netctl netctl sh netctl 2>/dev/null
printf '%%s\n' "${COMPREPLY[@]}"`, lib)
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(opsBin)+":"+os.Getenv("PATH"))
	out, err := cmd.Output()
	if err != nil || string(out) != "show\n" {
		t.Errorf("bash completes 'netctl sh' to %q (%v), want show", out, err)
	}
}

func TestSchemaCommand(t *testing.T) {
	r := mustExit(t, 0, "schema")
	if r.stdout != string(schema.JSONSchemaText()) {
		t.Error("netctl schema does not print schema.JSONSchemaText")
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" || doc["additionalProperties"] != false {
		t.Errorf("not a closed draft 2020-12 schema: %v %v", doc["$schema"], doc["additionalProperties"])
	}
}
