package apply_test

// Tests of the transaction through the real netctl process: what a killed
// apply leaves, concurrent applies, saved plans, destroy. The kernel is the
// oracle, read with the ip and nft tools.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netctl/netctl/apply"
	"github.com/netctl/netctl/internal/nsid"
	"github.com/netctl/netctl/internal/nstest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// netctlBinary builds cmd/netctl once per test process.
func netctlBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "netctl-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "netctl")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/netctl").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type result struct {
	code           int
	stdout, stderr string
}

func netctl(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(netctlBinary(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("netctl %v: %v", args, err)
	}
	return r
}

func mustNetctl(t *testing.T, want int, args ...string) result {
	t.Helper()
	r := netctl(t, args...)
	if r.code != want {
		t.Fatalf("netctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "netctl.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const smallConfig = `
ip_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    icc: false
    containers:
      web: { address: 172.17.0.2, expose: [80/tcp] }
      db:  { address: 172.17.0.3, expose: [5432/tcp] }
    links:
      - { from: web, to: db }
`

// largeConfig has n links: an apply long enough to be killed in the middle.
func largeConfig(n int) string {
	var b strings.Builder
	b.WriteString("ip_forward: true\nbridges:\n  docker0:\n    address: 10.88.0.1/16\n    icc: false\n    containers:\n")
	b.WriteString("      db: { address: 10.88.0.2, expose: [5432/tcp, 6379/tcp] }\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "      c%d: { address: 10.88.%d.%d }\n", i, 1+i/250, 1+i%250)
	}
	b.WriteString("    links:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "      - { from: c%d, to: db }\n", i)
	}
	return b.String()
}

func TestKilledApplyIsRolledBackByTheNext(t *testing.T) {
	nstest.RequireRoot(t)
	file := writeFile(t, largeConfig(20000))
	// Kill points: before the journal exists, then from the moment it is
	// written (the apply's first step is next) to deep into the steps.
	for _, kill := range []struct {
		name         string
		afterJournal bool
		delay        time.Duration
	}{
		{"at start", false, 0},
		{"journal written", true, 0},
		{"journal+2ms", true, 2 * time.Millisecond},
		{"journal+10ms", true, 10 * time.Millisecond},
		{"journal+30ms", true, 30 * time.Millisecond},
		{"journal+80ms", true, 80 * time.Millisecond},
	} {
		t.Run(kill.name, func(t *testing.T) {
			ns := nstest.New(t)
			journal := filepath.Join(apply.DefaultStateDir, nsid.ID(t, ns).String()+".journal")
			cmd := exec.Command(netctlBinary(t), "apply", "-f", file, "--netns", ns, "--auto-approve")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if kill.afterJournal {
				waitFor(t, journal)
			}
			time.Sleep(kill.delay)
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			_, statErr := os.Stat(journal)
			interrupted := statErr == nil
			if kill.afterJournal && kill.delay == 0 && !interrupted {
				t.Fatal("killed right after the journal was written, yet no journal is left")
			}

			r := mustNetctl(t, 0, "apply", "-f", file, "--netns", ns, "--auto-approve")
			if reported := strings.Contains(r.stderr, "did not finish"); reported != interrupted {
				t.Fatalf("journal left: %v, but the next apply reported an interrupted apply: %v\n%s", interrupted, reported, r.stderr)
			}
			if _, err := os.Stat(journal); err == nil {
				t.Fatal("the journal is still there after a successful apply")
			}
			mustNetctl(t, 0, "plan", "-f", file, "--netns", ns, "--detailed-exitcode")
		})
	}
}

// waitFor polls, bounded, until path exists.
func waitFor(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
	t.Fatalf("%s did not appear within 10s", path)
}

func TestConcurrentAppliesSerialize(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	file := writeFile(t, largeConfig(2000))
	var wg sync.WaitGroup
	results := make([]result, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = netctl(t, "apply", "-f", file, "--netns", ns, "--auto-approve")
		}()
	}
	wg.Wait()
	ok := 0
	for i, r := range results {
		switch {
		case r.code == 0:
			ok++
		case strings.Contains(r.stderr, "holds the lock"):
		default:
			t.Errorf("apply %d: exit %d without a lock error:\n%s%s", i, r.code, r.stdout, r.stderr)
		}
	}
	if ok == 0 {
		t.Fatal("no apply succeeded")
	}
	mustNetctl(t, 0, "plan", "-f", file, "--netns", ns, "--detailed-exitcode")
}

func TestSavedPlan(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	file := writeFile(t, smallConfig)
	planFile := filepath.Join(t.TempDir(), "docker0.plan")

	mustNetctl(t, 0, "plan", "-f", file, "--netns", ns, "--out", planFile)
	mustNetctl(t, 0, "apply", planFile) // netns and source come from the file
	mustNetctl(t, 0, "plan", "-f", file, "--netns", ns, "--detailed-exitcode")

	// A plan made, then the live state changed under it: refused, untouched.
	nstest.Run(t, "ip", "-n", ns, "link", "set", "docker0", "mtu", "1400")
	mustNetctl(t, 0, "plan", "-f", file, "--netns", ns, "--out", planFile)
	nstest.Run(t, "ip", "-n", ns, "link", "set", "docker0", "mtu", "1300")
	r := mustNetctl(t, 1, "apply", planFile)
	if !strings.Contains(r.stderr, "saved plan is stale") || !strings.Contains(r.stderr, "bridge.docker0") {
		t.Fatalf("stale plan error does not say what changed: %q", r.stderr)
	}
	if out := nstest.Run(t, "ip", "-n", ns, "link", "show", "docker0"); !strings.Contains(out, "mtu 1300") {
		t.Fatalf("a refused plan changed the bridge: %s", out)
	}
}

func TestUserChainSurvivesApplyAndDestroyListsIt(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	file := writeFile(t, smallConfig)
	mustNetctl(t, 0, "apply", "-f", file, "--netns", ns, "--auto-approve")
	nstest.Exec(t, ns, "nft", "add", "rule", "inet", "netctl", "user", "ip", "daddr", "172.17.0.3", "tcp", "dport", "5432", "drop")

	// A changed file: a new container and link; the person's rule stays.
	more := strings.Replace(smallConfig, "    links:\n", "      cache: { address: 172.17.0.4, expose: [6379/tcp] }\n    links:\n      - { from: web, to: cache }\n", 1)
	mustNetctl(t, 0, "apply", "-f", writeFile(t, more), "--netns", ns, "--auto-approve")
	if out := nstest.Exec(t, ns, "nft", "list", "chain", "inet", "netctl", "user"); !strings.Contains(out, "ip daddr 172.17.0.3 tcp dport 5432 drop") {
		t.Fatalf("apply changed the user chain:\n%s", out)
	}

	// Things netctl does not own, which destroy must leave alone.
	nstest.Exec(t, ns, "nft", "add", "table", "ip", "mine")
	nstest.Exec(t, ns, "nft", "add", "chain", "ip", "mine", "c")
	nstest.Run(t, "ip", "-n", ns, "link", "add", "other0", "type", "bridge")
	iptables := ""
	if _, err := exec.LookPath("iptables"); err == nil {
		nstest.Exec(t, ns, "iptables", "-A", "FORWARD", "-s", "192.0.2.1", "-j", "DROP")
		iptables = nstest.Exec(t, ns, "iptables", "-S", "FORWARD")
	}

	r := mustNetctl(t, 0, "destroy", "--netns", ns, "--auto-approve")
	// The person's rule, by its destination 172.17.0.3, in whatever form the kernel package renders it.
	if !strings.Contains(r.stdout, "firewall.chain.user.rule") || !strings.Contains(r.stdout, "0xac110003") {
		t.Fatalf("the destroy plan does not list the user chain's rule:\n%s", r.stdout)
	}
	tables := nstest.Exec(t, ns, "nft", "list", "tables")
	if strings.Contains(tables, "inet netctl") || !strings.Contains(tables, "ip mine") {
		t.Fatalf("after destroy, tables:\n%s", tables)
	}
	links := nstest.Run(t, "ip", "-n", ns, "-br", "link")
	if strings.Contains(links, "docker0") || !strings.Contains(links, "other0") {
		t.Fatalf("after destroy, links:\n%s", links)
	}
	if iptables != "" {
		if got := nstest.Exec(t, ns, "iptables", "-S", "FORWARD"); got != iptables {
			t.Fatalf("destroy changed iptables:\n%s\nwas:\n%s", got, iptables)
		}
	}
	mustNetctl(t, 2, "plan", "-f", file, "--netns", ns, "--detailed-exitcode")
}

func TestInvalidFileTouchesNothing(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	before := nstest.Exec(t, ns, "nft", "list", "ruleset") + nstest.Run(t, "ip", "-n", ns, "-br", "link")
	bad := writeFile(t, strings.Replace(smallConfig, "to: db", "to: dbb", 1))
	for _, cmd := range [][]string{
		{"plan", "-f", bad, "--netns", ns},
		{"apply", "-f", bad, "--netns", ns, "--auto-approve"},
	} {
		r := mustNetctl(t, 1, cmd...)
		if !strings.Contains(r.stderr, bad+":") || !strings.Contains(r.stderr, `did you mean "db"`) {
			t.Fatalf("%v: error does not name the place: %q", cmd, r.stderr)
		}
	}
	after := nstest.Exec(t, ns, "nft", "list", "ruleset") + nstest.Run(t, "ip", "-n", ns, "-br", "link")
	if after != before {
		t.Fatalf("an invalid file changed the namespace:\n%s\nwas:\n%s", after, before)
	}
}
