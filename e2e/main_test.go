// Package e2e runs the netctl binary against throwaway network namespaces
// and proves what it promises with real TCP and UDP connections between
// veth "containers" (internal/testnet). It needs root; without it every test
// skips, saying so.
package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
	"go.yaml.in/yaml/v3"
)

var (
	// netctlBin is the product binary built once by TestMain.
	netctlBin string
	// buildErr is why it could not be built; every test then fails with it.
	buildErr error
	// repoRoot is the module root (examples/ lives there).
	repoRoot string
)

func TestMain(m *testing.M) {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	repoRoot = filepath.Dir(wd)
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "e2e: not root: every test skips, or fails under CI=true (they need CAP_NET_ADMIN to create network namespaces)")
		os.Exit(m.Run())
	}
	tmp, err := os.MkdirTemp("", "netctl-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	netctlBin = filepath.Join(tmp, "netctl")
	cmd := exec.Command("go", "build", "-o", netctlBin, "./cmd/netctl")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		buildErr = fmt.Errorf("go build ./cmd/netctl: %v\n%s", err, out)
		fmt.Fprintln(os.Stderr, "e2e: the product does not build; every test will fail:\n", buildErr)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// env is one test's world: a testnet.Net whose host namespace netctl
// manages, and the containers of the config applied last.
type env struct {
	t *testing.T
	*testnet.Net
	dir string
	// C holds the containers by name, attached after each apply.
	C map[string]*testnet.Container
	n int
	// hostL are the host's listeners for positive controls, by address.
	hostL map[netip.Addr]*testnet.Listener
}

// setup makes the namespaces. It fails (not skips) when the product binary
// did not build: the product not building is a failure of the suite.
func setup(t *testing.T) *env {
	t.Helper()
	nstest.RequireRoot(t)
	if buildErr != nil {
		t.Fatalf("cannot run: %v", buildErr)
	}
	return &env{t: t, Net: testnet.New(t), dir: t.TempDir(), C: map[string]*testnet.Container{}, hostL: map[netip.Addr]*testnet.Listener{}}
}

// file writes a config into the test's directory and returns its path.
func (e *env) file(config string) string {
	e.t.Helper()
	e.n++
	p := filepath.Join(e.dir, fmt.Sprintf("netctl-%d.yaml", e.n))
	if err := os.WriteFile(p, []byte(config), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// netctl runs the binary against the host namespace and returns its output
// (stdout and stderr) and exit code. It is bounded by a timeout.
func (e *env) netctl(args ...string) (string, int) {
	e.t.Helper()
	args = append(args, "--netns", e.Host)
	cmd := exec.Command(netctlBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("netctl %s: %v", strings.Join(args, " "), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if len(args) > 0 && !readOnly[args[0]] {
		// Whatever it did, even when it failed, may have changed the kernel.
		defer e.Changed("netctl " + strings.Join(args, " "))
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		e.t.Fatalf("netctl %s: still running after 60s; killed\n%s", strings.Join(args, " "), out.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	e.t.Fatalf("netctl %s: %v", strings.Join(args, " "), err)
	return "", -1
}

// readOnly are the netctl commands that never write: after any other, the
// probes made before no longer count as positive controls (testnet.Changed).
var readOnly = map[string]bool{"plan": true, "show": true, "validate": true, "schema": true, "version": true}

// apply writes the config, runs netctl apply on it and fails the test unless
// it succeeds; then it attaches every container of the config that is not
// attached yet, so that probes can follow.
func (e *env) apply(config string) {
	e.t.Helper()
	e.applyFile(e.file(config))
}

func (e *env) applyFile(path string) {
	e.t.Helper()
	out, code := e.netctl("apply", "-f", path, "--auto-approve")
	if code != 0 {
		e.t.Fatalf("netctl apply -f %s exited %d:\n%s", filepath.Base(path), code, out)
	}
	e.t.Logf("netctl apply -f %s: ok", filepath.Base(path))
	e.Ready(e.t) // the containers attached before: their ports forward again
	before := len(e.C)
	e.attach(path)
	if data, err := os.ReadFile(path); err == nil && len(e.C) > before && strings.Contains(string(data), "publish") {
		// netctl sets the hairpin flag on the ports of a bridge with
		// publications at apply: the ports attached just now get it from
		// a second apply (as a runtime's ports would from the next one).
		if out, code := e.netctl("apply", "-f", path, "--auto-approve"); code != 0 {
			e.t.Fatalf("netctl apply -f %s (hairpin flag for the new ports) exited %d:\n%s", filepath.Base(path), code, out)
		}
		e.Ready(e.t)
	}
}

// plan runs netctl plan --detailed-exitcode and returns output and code.
func (e *env) plan(path string, extra ...string) (string, int) {
	e.t.Helper()
	return e.netctl(append([]string{"plan", "-f", path, "--detailed-exitcode"}, extra...)...)
}

// wantPlanClean fails unless plan reports no changes.
func (e *env) wantPlanClean(path string) {
	e.t.Helper()
	out, code := e.plan(path)
	if code != 0 {
		e.t.Errorf("netctl plan --detailed-exitcode after apply exited %d, want 0 (no changes):\n%s", code, out)
	}
}

// fileConfig is the little of the file format the tests need to build the
// topology, read independently of the product's own loader.
type fileConfig struct {
	Bridges map[string]struct {
		Address    string `yaml:"address"`
		Containers map[string]struct {
			Address string `yaml:"address"`
		} `yaml:"containers"`
	} `yaml:"bridges"`
}

func (e *env) attach(path string) {
	e.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	var fc fileConfig
	if err := yaml.Unmarshal(data, &fc); err != nil {
		e.t.Fatalf("%s: %v", path, err)
	}
	names := make([]string, 0, len(fc.Bridges))
	for name := range fc.Bridges {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, br := range names {
		b := fc.Bridges[br]
		gw, err := netip.ParsePrefix(b.Address)
		if err != nil {
			e.t.Fatalf("%s: bridge %s address %q: %v", path, br, b.Address, err)
		}
		cnames := make([]string, 0, len(b.Containers))
		for name := range b.Containers {
			cnames = append(cnames, name)
		}
		sort.Strings(cnames)
		for _, name := range cnames {
			addr, err := netip.ParseAddr(b.Containers[name].Address)
			if err != nil {
				e.t.Fatalf("%s: container %s address %q: %v", path, name, b.Containers[name].Address, err)
			}
			if c, ok := e.C[name]; ok {
				if c.Bridge != br || c.Addr != addr {
					e.t.Fatalf("container %s moved from %s %s to %s %s: not supported by the tests", name, c.Bridge, c.Addr, br, addr)
				}
				continue
			}
			e.C[name] = e.AddContainer(e.t, name, br, netip.PrefixFrom(addr, gw.Bits()), gw.Addr())
		}
	}
}

// nft runs nft in the host namespace. Any command but a listing counts as a
// change of the firewall (testnet.Changed).
func (e *env) nft(args ...string) string {
	e.t.Helper()
	if len(args) > 0 && args[0] != "list" && !(args[0] == "-a" && len(args) > 1 && args[1] == "list") {
		defer e.Changed("nft " + strings.Join(args, " "))
	}
	return nstest.Exec(e.t, e.Host, "nft", args...)
}

// hasTable reports whether the host namespace has netctl's table.
func (e *env) hasTable() bool {
	e.t.Helper()
	return strings.Contains(e.nft("list", "tables"), "table inet netctl")
}

// sysctl reads a sysctl of the host namespace (never writes one).
func (e *env) sysctl(key string) string {
	e.t.Helper()
	return strings.TrimSpace(nstest.Exec(e.t, e.Host, "sysctl", "-n", key))
}

// controlPort is where the host listens for the positive controls.
const controlPort = 9099

// withControls returns the probes followed by positive controls for every
// blocked one (testnet refuses to judge "blocked" without them): the client
// completes a round trip to the host (a container to its gateway, the outside
// to the host's external address in its subnet), and the host completes one
// to the destination. Those paths go through the host's input and output
// hooks, not forward, where netctl's firewall is; a failing control fails the
// test like any probe.
func (e *env) withControls(probes ...testnet.Probe) []testnet.Probe {
	e.t.Helper()
	out := append([]testnet.Probe{}, probes...)
	seen := map[string]bool{}
	add := func(p testnet.Probe) {
		if k := p.String(); !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	for _, p := range probes {
		if p.Want {
			continue
		}
		switch {
		case p.From.NS == e.Outside:
			ext := hostExtA
			if testnet.HostExtB.Contains(p.From.Src) {
				ext = hostExtB
			}
			add(p.From.Reaches(e.hostListener(ext)))
		case p.From.NS != e.Host:
			for _, c := range e.C {
				if c.NS == p.From.NS {
					add(p.From.Reaches(e.hostListener(c.Gateway)))
				}
			}
		}
		if p.To.NS != e.Host {
			add(e.FromHost().Reaches(p.To))
		}
	}
	return out
}

// hostListener is the host's control listener on addr, made once.
func (e *env) hostListener(addr netip.Addr) *testnet.Listener {
	e.t.Helper()
	if l, ok := e.hostL[addr]; ok {
		return l
	}
	l := e.ListenHost(e.t, "tcp", addr, controlPort)
	e.hostL[addr] = l
	return l
}

// Fixed addresses.
var (
	gw0      = netip.MustParseAddr("172.17.0.1")
	outsideA = testnet.OutsideA.Addr() // 198.51.100.10
	outsideB = testnet.OutsideB.Addr() // 198.51.100.20
	outsideC = testnet.OutsideC.Addr() // 203.0.113.10
	hostExtA = testnet.HostExtA.Addr() // 198.51.100.1
	hostExtB = testnet.HostExtB.Addr() // 203.0.113.1
)
