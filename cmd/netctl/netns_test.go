package main

// --netns is a name, and a namespace is its identity: a path is refused
// before anything is opened; names that used to share a lock and journal
// (the current namespace and "default", "a..b" and "a_b") no longer do;
// aliases of one namespace share one. Without privilege --netns says what
// netctl needs; a garbage journal is refused by apply, as plan warns.

import (
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

// stateFiles lists what /run/netctl holds for the namespace with key.
func stateFiles(t *testing.T, key string) []string {
	t.Helper()
	entries, err := os.ReadDir(apply.DefaultStateDir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if strings.Contains(e.Name(), key) {
			got = append(got, e.Name())
		}
	}
	return got
}

func TestNetnsIsANameNotAPath(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	file := writeFile(t, t.TempDir(), "base.yaml", confirmBase)
	hostKey := nsid.IDOfPath(t, "/proc/self/ns/net").String() // the namespace the tests run in
	nsKey := nsid.ID(t, ns).String()
	ruleset := func() string {
		return nstest.Exec(t, ns, "nft", "list", "ruleset") + nstest.Run(t, "ip", "-n", ns, "-br", "link")
	}
	before := ruleset()
	for _, bad := range []string{"../../proc/1/ns/net", "./" + ns, "../netns/" + ns, ".", ".."} {
		for _, args := range [][]string{
			{"plan", "-f", file},
			{"apply", "-f", file, "--auto-approve"},
			{"destroy", "--auto-approve"},
			{"show"},
			{"confirm"},
		} {
			r := mustExit(t, 1, append(args, "--netns", bad)...)
			if !strings.Contains(r.stderr, fmt.Sprintf("--netns %q", bad)) || !strings.Contains(r.stderr, "ip netns add NAME") {
				t.Errorf("netctl %s --netns %s: the error does not say why:\n%s", args[0], bad, r)
			}
		}
	}
	if got := ruleset(); got != before {
		t.Fatalf("a refused --netns changed the namespace:\n%s\nwas:\n%s", got, before)
	}
	if files := append(stateFiles(t, hostKey), stateFiles(t, nsKey)...); len(files) != 0 {
		t.Fatalf("a refused --netns left files in %s: %q", apply.DefaultStateDir, files)
	}
	// Positive control: the name itself works, on the same commands.
	mustExit(t, 0, "apply", "-f", file, "--netns", ns, "--auto-approve")
	mustExit(t, 0, "plan", "-f", file, "--netns", ns, "--detailed-exitcode")
	mustExit(t, 0, "show", "--netns", ns)
	if r := netctl(t, "confirm", "--netns", ns); r.code != 1 || !strings.Contains(r.stderr, "no apply is waiting") {
		t.Fatalf("confirm with a good name and nothing waiting: %s", r)
	}
	mustExit(t, 0, "destroy", "--netns", ns, "--auto-approve")
}

// where runs netctl on one namespace: by --netns NAME, or as the current
// namespace of a process started in it (ip netns exec, no --netns).
type where struct {
	name string // --netns NAME, or "" for the current namespace
	in   string // the namespace the process runs in, for name == ""
}

func (w where) cmd(t *testing.T, args ...string) *exec.Cmd {
	needBinary(t)
	if w.name == "" {
		return exec.Command("ip", append([]string{"netns", "exec", w.in, opsBin}, args...)...)
	}
	return exec.Command(opsBin, append(args, "--netns", w.name)...)
}

func (w where) run(t *testing.T, args ...string) result {
	t.Helper()
	cmd := w.cmd(t, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func (w where) must(t *testing.T, code int, args ...string) result {
	t.Helper()
	r := w.run(t, args...)
	if r.code != code {
		t.Fatalf("netctl %s (%+v): want exit %d, got %s", strings.Join(args, " "), w, code, r)
	}
	return r
}

// namedNS makes a namespace of an exact name, deleted with the files netctl
// keeps for it when the test ends.
func namedNS(t *testing.T, name string) {
	t.Helper()
	if _, err := os.Stat("/run/netns/" + name); err == nil {
		t.Fatalf("namespace %s exists already: this test needs that name for itself", name)
	}
	nstest.Run(t, "ip", "netns", "add", name)
	key := nsid.ID(t, name).String()
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", name).Run()
		for _, f := range stateFiles(t, key) {
			_ = os.Remove(filepath.Join(apply.DefaultStateDir, f))
		}
	})
	nstest.Run(t, "ip", "-n", name, "link", "set", "lo", "up")
}

// TestNamesThatSharedAJournalDoNot: an unconfirmed apply killed in one
// namespace leaves its journal; the next apply in the other namespace of
// the pair must neither find it nor roll it back there, and the first
// namespace's next apply must.
func TestNamesThatSharedAJournalDoNot(t *testing.T) {
	nstest.RequireRoot(t)
	dir := t.TempDir()
	base := writeFile(t, dir, "base.yaml", confirmBase)
	changed := writeFile(t, dir, "change.yaml", confirmChange)
	own := nstest.New(t)
	dots := nstest.Prefix() + "x..y" + fmt.Sprint(os.Getpid())
	under := nstest.Prefix() + "x_y" + fmt.Sprint(os.Getpid())
	for _, pair := range []struct {
		name string
		a, b where
		ns   [2]string // the namespaces, for ip
	}{
		{"current and default", where{in: own}, where{name: "default"}, [2]string{own, "default"}},
		{"a..b and a_b", where{name: dots}, where{name: under}, [2]string{dots, under}},
	} {
		t.Run(pair.name, func(t *testing.T) {
			for _, n := range pair.ns {
				if n != own {
					namedNS(t, n)
				}
			}
			pair.a.must(t, 0, "apply", "-f", base, "--auto-approve")
			pair.b.must(t, 0, "apply", "-f", base, "--auto-approve")
			beforeA := liveState(t, pair.ns[0], "docker0", "br-new")

			// Killed while waiting for confirmation: A keeps its journal.
			stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
			if err != nil {
				t.Fatal(err)
			}
			defer stderr.Close()
			cmd := pair.a.cmd(t, "apply", "-f", changed, "--auto-approve", "--confirm-timeout", "60s")
			cmd.Stderr = stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			awaitText(t, stderr.Name(), "Confirm within")
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait() // ip netns exec executes netctl in its place: the kill was netctl's
			if liveState(t, pair.ns[0], "docker0", "br-new") == beforeA {
				t.Fatal("the unconfirmed change is not in place")
			}

			// B: no warning, no rollback of A's journal, its own apply.
			if r := pair.b.must(t, 0, "plan", "-f", base, "--detailed-exitcode"); strings.Contains(r.stdout+r.stderr, "did not finish") {
				t.Fatalf("B's plan warns of A's journal:\n%s", r)
			}
			if r := pair.b.must(t, 0, "apply", "-f", changed, "--auto-approve"); strings.Contains(r.stderr, "did not finish") {
				t.Fatalf("B's apply found A's journal:\n%s", r)
			}
			pair.b.must(t, 0, "plan", "-f", changed, "--detailed-exitcode")

			// A: its journal is there, and rolled back by its next apply.
			if r := pair.a.must(t, 0, "plan", "-f", changed, "--detailed-exitcode"); !strings.Contains(r.stdout+r.stderr, "rolls it back") {
				t.Fatalf("A's plan does not warn of its journal:\n%s", r)
			}
			if r := pair.a.must(t, 0, "apply", "-f", changed, "--auto-approve"); !strings.Contains(r.stderr, "did not finish") {
				t.Fatalf("A's apply did not roll back its journal:\n%s", r)
			}
			pair.a.must(t, 0, "plan", "-f", changed, "--detailed-exitcode")
			pair.b.must(t, 0, "plan", "-f", changed, "--detailed-exitcode")
		})
	}
}

// awaitText waits, bounded, until the file at path contains text.
func awaitText(t *testing.T, path, text string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if data, err := os.ReadFile(path); err == nil && strings.Contains(string(data), text) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	data, _ := os.ReadFile(path)
	t.Fatalf("no %q within 30s:\n%s", text, data)
}

// aliasFile is the i-th of the files the parallel applies race with: each
// a different MTU, bridge and set of links.
func aliasFile(t *testing.T, dir string, i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ip_forward: true\nbridges:\n  docker0:\n    address: 172.17.0.1/16\n    mtu: %d\n    icc: false\n    containers:\n", 1400+i)
	b.WriteString("      db: { address: 172.17.0.2, expose: [5432/tcp] }\n")
	for c := range 40 {
		fmt.Fprintf(&b, "      c%d: { address: 172.17.%d.%d }\n", c, 1+i, 10+c)
	}
	b.WriteString("    links:\n")
	for c := range 40 {
		fmt.Fprintf(&b, "      - { from: c%d, to: db }\n", c)
	}
	fmt.Fprintf(&b, "  br-f%d: { address: 172.%d.0.1/16 }\n", i, 20+i)
	return writeFile(t, dir, fmt.Sprintf("f%d.yaml", i), b.String())
}

// TestAliasesShareOneLock: 8 parallel applies of 8 different files through
// several names of one namespace (and its current namespace) always end
// with the namespace matching exactly one of the files.
func TestAliasesShareOneLock(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	names := []where{{name: ns}, {in: ns}}
	for i := range 3 {
		alias := fmt.Sprintf("%s-alias%d", ns, i)
		path := "/run/netns/" + alias
		nstest.Run(t, "touch", path)
		t.Cleanup(func() { _ = os.Remove(path) })
		nstest.Run(t, "mount", "--bind", "/run/netns/"+ns, path)
		t.Cleanup(func() { _ = exec.Command("umount", path).Run() })
		if nsid.ID(t, alias) != nsid.ID(t, ns) {
			t.Fatalf("alias %s is not namespace %s", alias, ns)
		}
		names = append(names, where{name: alias})
	}
	dir := t.TempDir()
	files := make([]string, 8)
	for i := range files {
		files[i] = aliasFile(t, dir, i)
	}
	for round := range 5 {
		var wg sync.WaitGroup
		results := make([]result, len(files))
		for i := range files {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = names[(i+round)%len(names)].run(t, "apply", "-f", files[i], "--auto-approve")
			}()
		}
		wg.Wait()
		ok := 0
		for i, r := range results {
			switch {
			case r.code == 0:
				ok++
			case strings.Contains(r.stderr, "holds the lock"): // waited its bound on a loaded machine
			default:
				t.Errorf("round %d: apply of %s: %s", round, files[i], r)
			}
		}
		if ok == 0 {
			t.Fatalf("round %d: no apply succeeded", round)
		}
		var matching []string
		for _, f := range files {
			switch r := netctl(t, "plan", "-f", f, "--netns", ns, "--detailed-exitcode"); r.code {
			case 0:
				matching = append(matching, filepath.Base(f))
			case 2:
			default:
				t.Fatalf("round %d: plan of %s: %s", round, f, r)
			}
		}
		if len(matching) != 1 {
			t.Fatalf("round %d: the namespace matches %d of the files (%q), want exactly one", round, len(matching), matching)
		}
		t.Logf("round %d: the namespace matches %s", round, matching[0])
	}
}

// TestStateFilesGoWithTheNamespace: after an apply, nothing of the
// namespace is left in /run/netctl, so deleted namespaces leave nothing.
func TestStateFilesGoWithTheNamespace(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	key := nsid.ID(t, ns).String()
	file := writeFile(t, t.TempDir(), "base.yaml", confirmBase)
	mustExit(t, 0, "apply", "-f", file, "--netns", ns, "--auto-approve")
	mustExit(t, 0, "destroy", "--netns", ns, "--auto-approve")
	nstest.Run(t, "ip", "netns", "del", ns)
	if left := append(stateFiles(t, key), stateFiles(t, ns)...); len(left) != 0 {
		t.Fatalf("files of the deleted namespace are left in %s: %q", apply.DefaultStateDir, left)
	}
}

// noPrivilege runs the netctl binary as nobody, without capabilities, in
// namespace ns.
func noPrivilege(t *testing.T, ns string, args ...string) result {
	t.Helper()
	needBinary(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatal("needs setpriv (util-linux) to run netctl without privilege")
	}
	// opsBin is in a directory only root may enter.
	dir, err := os.MkdirTemp("", "netctl-nopriv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "netctl")
	data, err := os.ReadFile(opsBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	chmod := func(p string, m os.FileMode) {
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}
	chmod(dir, 0o755)
	for i, a := range args {
		if strings.HasSuffix(a, ".yaml") {
			copyTo := filepath.Join(dir, filepath.Base(a))
			text, err := os.ReadFile(a)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(copyTo, text, 0o644); err != nil {
				t.Fatal(err)
			}
			chmod(copyTo, 0o644)
			args[i] = copyTo
		}
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", bin}, args...)...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWithoutPrivilegeNetnsSaysWhatIsNeeded(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	file := writeFile(t, t.TempDir(), "base.yaml", confirmBase)
	const want = "netctl needs CAP_NET_ADMIN (run as root): "
	for _, args := range [][]string{
		{"plan", "-f", file},
		{"plan", "-f", file, "--netns", ns},
		{"apply", "-f", file, "--auto-approve"},
		{"apply", "-f", file, "--auto-approve", "--netns", ns},
		{"show", "--netns", ns},
	} {
		r := noPrivilege(t, ns, args...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "Error: "+want) {
			t.Errorf("netctl %s without privilege: want exit 1 and %q, got %s", strings.Join(args, " "), want, r)
		}
	}
	// Positive control: as root, the same plans read the namespace.
	mustExit(t, 2, "plan", "-f", file, "--netns", ns, "--detailed-exitcode")
	where{in: ns}.must(t, 2, "plan", "-f", file, "--detailed-exitcode")
}

// TestGarbageJournal: plan and apply say the same of a journal netctl
// cannot read, and what to do; apply refuses and touches nothing.
func TestGarbageJournal(t *testing.T) {
	nstest.RequireRoot(t)
	ns, before, changed := confirmSetup(t)
	journal := filepath.Join(apply.DefaultStateDir, nsid.ID(t, ns).String()+".journal")
	if err := os.WriteFile(journal, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("journal %s is unreadable", journal)
	todo := fmt.Sprintf("check the live state and remove %s by hand; apply refuses to run until then", journal)
	r := mustExit(t, 2, "plan", "-f", changed, "--netns", ns, "--detailed-exitcode")
	if out := r.stdout + r.stderr; !strings.Contains(out, want) || !strings.Contains(out, todo) || strings.Contains(out, "rolls it back") {
		t.Errorf("plan's warning of a garbage journal:\n%s", r)
	}
	r = mustExit(t, 1, "apply", "-f", changed, "--netns", ns, "--auto-approve")
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, todo) {
		t.Errorf("apply with a garbage journal:\n%s", r)
	}
	if got := liveState(t, ns, "docker0", "br-new"); got != before {
		t.Fatalf("apply with a garbage journal changed the namespace:\n%s", got)
	}
	if data, err := os.ReadFile(journal); err != nil || string(data) != "{not json" {
		t.Fatalf("the garbage journal was not left for a person: %q, %v", data, err)
	}
	// Positive control: removed by hand, as told, the apply runs.
	if err := os.Remove(journal); err != nil {
		t.Fatal(err)
	}
	mustExit(t, 0, "apply", "-f", changed, "--netns", ns, "--auto-approve")
	mustExit(t, 0, "plan", "-f", changed, "--netns", ns, "--detailed-exitcode")
}
