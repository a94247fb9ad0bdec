package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/testnet"
)

// tracing is a `netctl explain --trace` running in the background.
type tracing struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
}

// startTrace starts netctl explain --trace and returns once its trace chain
// is in the kernel.
func (e *env) startTrace(args ...string) *tracing {
	e.t.Helper()
	args = append(append([]string{"explain"}, args...), "--trace", "--netns", e.Host)
	tr := &tracing{cmd: exec.Command(netctlBin, args...), out: &bytes.Buffer{}, done: make(chan error, 1)}
	tr.cmd.Stdout, tr.cmd.Stderr = tr.out, tr.out
	if err := tr.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { tr.done <- tr.cmd.Wait() }()
	e.t.Cleanup(func() { _ = tr.cmd.Process.Kill() })
	for i := 0; !e.hasTraceChain(); i++ {
		if i == 200 {
			e.t.Fatalf("netctl %s: no trace chain after 10s:\n%s", strings.Join(args, " "), tr.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return tr
}

// wait returns the output and exit code.
func (tr *tracing) wait(t *testing.T) (string, int) {
	t.Helper()
	select {
	case err := <-tr.done:
		var ee *exec.ExitError
		switch {
		case err == nil:
			return tr.out.String(), 0
		case errors.As(err, &ee):
			return tr.out.String(), ee.ExitCode()
		}
		t.Fatal(err)
	case <-time.After(60 * time.Second):
		t.Fatalf("netctl explain --trace still running after 60s:\n%s", tr.out)
	}
	return "", -1
}

// forwardHandles returns the handle of netctl's forward rule with a
// comment, as nft lists it now.
func (e *env) forwardHandles() func(comment string) string {
	e.t.Helper()
	handles := e.nft("-a", "list", "chain", "inet", "netctl", "filter-forward")
	return func(comment string) string {
		e.t.Helper()
		m := regexp.MustCompile(`comment "` + regexp.QuoteMeta(comment) + `" # handle (\d+)`).FindStringSubmatch(handles)
		if m == nil {
			e.t.Fatalf("no rule %s:\n%s", comment, handles)
		}
		return m[1]
	}
}

func (e *env) hasTraceChain() bool {
	e.t.Helper()
	return strings.Contains(e.nft("list", "table", "inet", "netctl"), "chain trace")
}

// TestExplainTrace: --trace shows the kernel's rule path of a real
// connection that is allowed (the link's rule accepts) and of one that is
// dropped (icc's rule drops), agreeing with explain; the trace chain is gone
// afterwards.
func TestExplainTrace(t *testing.T) {
	e := setup(t)
	p := e.file(linksConfig(false))
	e.applyFile(p)
	web, db := e.C["web"], e.C["db"]
	db5432, db22 := db.Listen(t, "tcp", 5432), db.Listen(t, "tcp", 22)
	handleOf := e.forwardHandles()

	tr := e.startTrace("-f", p, "web", "db", "5432", "--timeout", "30s")
	testnet.Expect(t, web.Reaches(db5432))
	out, code := tr.wait(t)
	t.Logf("netctl explain web db 5432 --trace:\n%s", out)
	want := "table inet netctl chain filter-forward rule handle " + handleOf("bridge.docker0.links") + ": accept (bridge.docker0.links)"
	if code != 0 || !strings.Contains(out, "kernel trace of a real packet: allowed") || !strings.Contains(out, want) {
		t.Errorf("trace of an allowed connection: exit %d, want 0 and %q:\n%s", code, want, out)
	}
	if e.hasTraceChain() {
		t.Errorf("the trace chain remains after success:\n%s", e.nft("list", "table", "inet", "netctl"))
	}

	tr = e.startTrace("-f", p, "web", "db", "22", "--timeout", "30s")
	testnet.Expect(t, e.withControls(web.CannotReach(db22))...)
	out, code = tr.wait(t)
	t.Logf("netctl explain web db 22 --trace:\n%s", out)
	want = "table inet netctl chain filter-forward rule handle " + handleOf("bridge.docker0.icc") + ": drop (bridge.docker0.icc)"
	if code != 2 || !strings.Contains(out, "kernel trace of a real packet: blocked") || !strings.Contains(out, want) {
		t.Errorf("trace of a dropped connection: exit %d, want 2 and %q:\n%s", code, want, out)
	}
	if e.hasTraceChain() {
		t.Errorf("the trace chain remains after a drop:\n%s", e.nft("list", "table", "inet", "netctl"))
	}
	// Positive control of the dropped path: the table gone, it connects.
	e.nft("delete", "table", "inet", "netctl")
	testnet.Expect(t, web.Reaches(db22))
}

// TestExplainTraceCleanup: no trace chain remains after a timeout or
// SIGINT; after SIGKILL it remains, is not drift (plan shows no changes)
// and that next netctl run removes it.
func TestExplainTraceCleanup(t *testing.T) {
	e := setup(t)
	p := e.file(linksConfig(false))
	e.applyFile(p)

	tr := e.startTrace("-f", p, "web", "db", "5432", "--timeout", "1s")
	out, code := tr.wait(t)
	if code != 1 || !strings.Contains(out, "no packet of the flow in 1s") {
		t.Errorf("timeout: exit %d, want 1 and the reason:\n%s", code, out)
	}
	if e.hasTraceChain() {
		t.Error("the trace chain remains after a timeout")
	}

	tr = e.startTrace("-f", p, "web", "db", "5432", "--timeout", "30s")
	if err := tr.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	out, code = tr.wait(t)
	if code != 130 || !strings.Contains(out, "interrupted; the trace rule is removed") {
		t.Errorf("SIGINT: exit %d, want 130:\n%s", code, out)
	}
	if e.hasTraceChain() {
		t.Error("the trace chain remains after SIGINT")
	}

	tr = e.startTrace("-f", p, "web", "db", "5432", "--timeout", "30s")
	if err := tr.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	tr.wait(t)
	if !e.hasTraceChain() {
		t.Fatal("test bug: SIGKILL left no trace chain to recover")
	}
	out, code = e.plan(p)
	if code != 0 {
		t.Errorf("plan with a leftover trace chain: exit %d, want 0 (not drift):\n%s", code, out)
	}
	if !strings.Contains(out, "removed the trace chain a killed 'netctl explain --trace' left") {
		t.Errorf("plan did not say it removed the leftover:\n%s", out)
	}
	if e.hasTraceChain() {
		t.Error("the trace chain remains after the next netctl run")
	}
	e.wantPlanClean(p)
}

// TestExplainTraceIPv6: --trace follows an IPv6 flow: the kernel's rule
// path of a real IPv6 connection that the link's IPv6 rule accepts, and of
// one that icc's rule drops, agreeing with explain.
func TestExplainTraceIPv6(t *testing.T) {
	e := setup(t)
	p := e.file(dualStack(false, linksWebDBCache))
	e.applyFile(p)
	e.addr6(gw6, dualAddrs)
	web, db := e.C["web"], e.C["db"]
	db5432, db22 := db.Listen6(t, "tcp", 5432), db.Listen6(t, "tcp", 22)
	handleOf := e.forwardHandles()

	tr := e.startTrace("-f", p, "-6", "web", "db", "5432", "--timeout", "30s")
	testnet.Expect(t, web.Reaches(db5432))
	out, code := tr.wait(t)
	t.Logf("netctl explain -6 web db 5432 --trace:\n%s", out)
	want := "table inet netctl chain filter-forward rule handle " + handleOf("bridge.docker0.links6") + ": accept (bridge.docker0.links6)"
	if code != 0 || !strings.Contains(out, "kernel trace of a real packet: allowed") || !strings.Contains(out, want) {
		t.Errorf("trace of an allowed IPv6 connection: exit %d, want 0 and %q:\n%s", code, want, out)
	}

	tr = e.startTrace("-f", p, "fd00:17::2", "fd00:17::3", "22", "--timeout", "30s")
	testnet.Expect(t, e.withControls6(web.CannotReach(db22))...)
	out, code = tr.wait(t)
	t.Logf("netctl explain fd00:17::2 fd00:17::3 22 --trace:\n%s", out)
	want = "table inet netctl chain filter-forward rule handle " + handleOf("bridge.docker0.icc") + ": drop (bridge.docker0.icc)"
	if code != 2 || !strings.Contains(out, "kernel trace of a real packet: blocked") || !strings.Contains(out, want) {
		t.Errorf("trace of a dropped IPv6 connection: exit %d, want 2 and %q:\n%s", code, want, out)
	}
	if e.hasTraceChain() {
		t.Errorf("the trace chain remains:\n%s", e.nft("list", "table", "inet", "netctl"))
	}
}
