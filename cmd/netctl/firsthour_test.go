package main

// The first hour with netctl (issue 17): a file from standard input,
// validate --json and --json documents for every failure, plan --destroy,
// apply and destroy without a terminal, plurals, colour, the --netns help,
// lock files of deleted namespaces, and netctl hosts.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/apply"
	"github.com/netctl/netctl/internal/nsid"
	"github.com/netctl/netctl/internal/nstest"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

// netctlIn runs the binary with stdin as its standard input (a pipe).
func netctlIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	needBinary(t)
	cmd := exec.Command(opsBin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.Stdin = strings.NewReader(stdin)
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

var versionField = regexp.MustCompile(`("netctl_version": ?)"[^"]*"`)

// golden compares got with testdata/name, after replacing what changes from
// build to build (the version) and from run to run (replace's keys).
func golden(t *testing.T, name, got string, replace ...string) {
	t.Helper()
	got = versionField.ReplaceAllString(got, `${1}"VERSION"`)
	got = strings.NewReplacer(replace...).Replace(got)
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// invalidFile has two problems: an address outside the subnet and a
// misspelt protocol.
const invalidFile = `bridges:
  docker0:
    address: 172.17.0.1/16
    containers:
      web: { address: 10.0.0.2 }
      db: { address: 172.17.0.3, expose: [5432/tpc] }
`

func readExample(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestFileFromStdin: -f - reads the file from standard input, and every
// message names it <stdin>; needs no root (nothing reaches the kernel).
func TestFileFromStdin(t *testing.T) {
	icc := readExample(t, "icc-links.yaml")
	r := netctlIn(t, icc, "validate", "-f", "-")
	if r.code != 0 {
		t.Fatalf("validate -f - of a valid file: %s", r)
	}
	golden(t, "validate-stdin.txt", r.stdout)

	r = netctlIn(t, invalidFile, "validate", "-f", "-")
	if r.code != 1 || r.stdout != "" {
		t.Fatalf("validate -f - of an invalid file: %s", r)
	}
	golden(t, "validate-stdin-invalid.txt", r.stderr)

	// plan and apply read it too, and refuse it before the kernel.
	for _, cmd := range [][]string{{"plan", "-f", "-"}, {"apply", "-f", "-", "--auto-approve"}, {"destroy", "-f", "-", "--auto-approve"}} {
		r := netctlIn(t, invalidFile, cmd...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "<stdin>:5:23: bridges.docker0.containers.web.address: ") {
			t.Errorf("netctl %s of an invalid file: %s", strings.Join(cmd, " "), r)
		}
	}
	r = netctlIn(t, icc, "hosts", "web", "-f", "-")
	if r.code != 0 {
		t.Fatalf("hosts web -f -: %s", r)
	}
	golden(t, "hosts-web.txt", r.stdout)
}

// TestValidateJSON: the problems as data, one document, the same exit
// codes as the text.
func TestValidateJSON(t *testing.T) {
	r := netctlIn(t, invalidFile, "validate", "-f", "-", "--json")
	if r.code != 1 || r.stderr != "" {
		t.Fatalf("validate --json of an invalid file: %s", r)
	}
	var doc struct {
		Valid    bool    `json:"valid"`
		Error    *string `json:"error"`
		Problems []struct {
			File, Field, Message string
			Line, Column         int
		} `json:"problems"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, r.stdout)
	}
	if doc.Valid || doc.Error == nil || len(doc.Problems) != 2 {
		t.Fatalf("document of an invalid file: %+v", doc)
	}
	if p := doc.Problems[0]; p.File != "<stdin>" || p.Line != 5 || p.Column != 23 || p.Field != "bridges.docker0.containers.web.address" || !strings.Contains(p.Message, "outside the subnet") {
		t.Errorf("first problem: %+v", p)
	}
	if p := doc.Problems[1]; p.Field != "bridges.docker0.containers.db.expose[0]" || !strings.Contains(p.Message, `unknown protocol "tpc"`) {
		t.Errorf("second problem: %+v", p)
	}
	golden(t, "validate-invalid.json", r.stdout)

	file := filepath.Join("..", "..", "examples", "icc-links.yaml")
	r = mustExit(t, 0, "validate", "-f", file, "--json")
	golden(t, "validate-valid.json", r.stdout)

	// A file that cannot be read has no problems to list, only the error.
	r = mustExit(t, 1, "validate", "-f", filepath.Join(t.TempDir(), "missing.yaml"), "--json")
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Valid || doc.Error == nil || len(doc.Problems) != 0 || !strings.Contains(*doc.Error, "missing.yaml") {
		t.Errorf("validate --json of a missing file: %v %+v\n%s", err, doc, r)
	}
}

// TestJSONErrorDocuments: plan, apply and destroy with --json print a
// document on every error, the file's problems as data, and exit 1.
func TestJSONErrorDocuments(t *testing.T) {
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"plan-invalid.json", []string{"plan", "-f", "-", "--json"}},
		{"apply-invalid.json", []string{"apply", "-f", "-", "--json", "--auto-approve"}},
		{"destroy-invalid.json", []string{"destroy", "-f", "-", "--json", "--auto-approve"}},
		// Without --auto-approve too: the file is refused first.
		{"apply-invalid.json", []string{"apply", "-f", "-", "--json"}},
	} {
		r := netctlIn(t, invalidFile, tc.args...)
		if r.code != 1 || r.stderr != "" {
			t.Errorf("netctl %s: want exit 1, a document and nothing on stderr: %s", strings.Join(tc.args, " "), r)
			continue
		}
		golden(t, tc.golden, r.stdout)
	}
	// A saved plan that is not one.
	bad := writeFile(t, t.TempDir(), "bad.plan", "{}")
	r := mustExit(t, 1, "apply", bad, "--json")
	var doc struct {
		Changed bool    `json:"changed"`
		Error   *string `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Changed || doc.Error == nil || r.stderr != "" {
		t.Errorf("apply --json of a bad plan file: %v %+v\n%s", err, doc, r)
	}
}

// TestJSONErrorOfResolve: what netctl may not touch (plan.Resolve) is an
// error document too, with plan, apply and destroy --json; the namespace is
// untouched.
func TestJSONErrorOfResolve(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	nstest.Run(t, "ip", "-n", ns, "link", "add", "docker0", "type", "veth", "peer", "name", "docker0-peer")
	nstest.Exec(t, ns, "nft", "add", "table", "inet", "netctl") // someone else's: no mark
	file := writeFile(t, t.TempDir(), "base.yaml", confirmBase)
	before := liveState(t, ns, "docker0") + nstest.Exec(t, ns, "nft", "list", "ruleset")
	const (
		want      = "bridge.docker0: docker0 exists and is a veth, not a bridge; netctl will not replace it"
		wantTable = "table inet netctl exists and was not created by netctl"
	)
	for _, args := range [][]string{
		{"plan", "-f", file, "--netns", ns, "--json"},
		{"apply", "-f", file, "--netns", ns, "--json", "--auto-approve"},
	} {
		r := mustExit(t, 1, args...)
		var doc struct {
			Error    *string           `json:"error"`
			Problems []json.RawMessage `json:"problems"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Error == nil || !strings.Contains(*doc.Error, want) ||
			!strings.Contains(*doc.Error, wantTable) || len(doc.Problems) != 0 || r.stderr != "" {
			t.Errorf("netctl %s: want a document with %q and %q: %v\n%s", strings.Join(args, " "), want, wantTable, err, r)
		}
	}
	if got := liveState(t, ns, "docker0") + nstest.Exec(t, ns, "nft", "list", "ruleset"); got != before {
		t.Fatalf("the namespace changed:\n%s\nwas:\n%s", got, before)
	}
	// Positive control: the text says the same on stderr.
	if r := mustExit(t, 1, "plan", "-f", file, "--netns", ns); !strings.Contains(r.stderr, want) {
		t.Fatalf("plan's text: %s", r)
	}
}

// resourceChanges is the part of plan's and apply's documents that says
// what is (to be) done.
type changesDoc struct {
	ResourceChanges json.RawMessage `json:"resource_changes"`
	Summary         struct{ Add, Change, Destroy int }
	Changed         bool    `json:"changed"`
	Error           *string `json:"error"`
}

func parseChanges(t *testing.T, r result) changesDoc {
	t.Helper()
	var d changesDoc
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("not a JSON document: %v\n%s", err, r)
	}
	// One spelling (plan's document is one line, apply's indented).
	var buf bytes.Buffer
	if err := json.Compact(&buf, d.ResourceChanges); err != nil {
		t.Fatal(err)
	}
	d.ResourceChanges = buf.Bytes()
	return d
}

// TestPlanDestroy: plan --destroy shows what destroy then does, in text and
// JSON; its saved plan applies as a destroy.
func TestPlanDestroy(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	file := writeFile(t, t.TempDir(), "icc.yaml", readExample(t, "icc-links.yaml"))
	mustExit(t, 0, "apply", "-f", file, "--netns", ns, "--auto-approve")

	// Not a golden file: what destroy removes grows with the firewall;
	// plan/testdata/destroy.txt is the renderer's golden file.
	text := mustExit(t, 0, "plan", "--destroy", "--netns", ns).stdout
	planned := parseChanges(t, mustExit(t, 0, "plan", "--destroy", "--netns", ns, "--json"))
	if planned.Summary.Destroy == 0 || planned.Summary.Add != 0 || planned.Summary.Change != 0 {
		t.Fatalf("plan --destroy of an applied file: %+v", planned.Summary)
	}
	if want := fmt.Sprintf("Plan: 0 to add, 0 to change, %d to destroy.\n", planned.Summary.Destroy); !strings.HasSuffix(text, want) ||
		!strings.Contains(text, "# bridge.docker0 will be destroyed") || !strings.Contains(text, "# firewall will be destroyed") {
		t.Errorf("plan --destroy's text, want it to end with %q:\n%s", want, text)
	}
	// destroy shows the same text before it refuses (no terminal here).
	r := mustExit(t, 1, "destroy", "--netns", ns)
	if !strings.HasPrefix(r.stdout, text) {
		t.Errorf("destroy's plan is not plan --destroy's:\n%s\nwant:\n%s", r.stdout, text)
	}
	// plan --destroy -f FILE checks the file, as destroy does, and plans the same.
	if got := parseChanges(t, mustExit(t, 0, "plan", "--destroy", "-f", file, "--netns", ns, "--json")); string(got.ResourceChanges) != string(planned.ResourceChanges) {
		t.Errorf("plan --destroy -f differs:\n%s\nwant:\n%s", got.ResourceChanges, planned.ResourceChanges)
	}
	if r := netctlIn(t, invalidFile, "plan", "--destroy", "-f", "-", "--netns", ns); r.code != 1 || !strings.HasPrefix(r.stderr, "<stdin>:5:23:") {
		t.Errorf("plan --destroy with an invalid file: %s", r)
	}

	destroyed := parseChanges(t, mustExit(t, 0, "destroy", "--netns", ns, "--auto-approve", "--json"))
	if string(destroyed.ResourceChanges) != string(planned.ResourceChanges) || !destroyed.Changed {
		t.Fatalf("destroy did not do what plan --destroy showed:\n%s\nwant:\n%s", destroyed.ResourceChanges, planned.ResourceChanges)
	}
	if out := nstest.Exec(t, ns, "nft", "list", "tables"); strings.Contains(out, "netctl") {
		t.Fatalf("the table is still there:\n%s", out)
	}
	for _, args := range [][]string{{"plan", "--destroy"}, {"destroy", "--auto-approve"}} {
		if r := mustExit(t, 0, append(args, "--netns", ns)...); r.stdout != "No changes. No objects need to be destroyed.\n" {
			t.Errorf("%s after destroy: %s", strings.Join(args, " "), r)
		}
	}

	// Text: Terraform's words for a destroy, with the count plan gave.
	mustExit(t, 0, "apply", "-f", file, "--netns", ns, "--auto-approve")
	// Counted again: destroy left ip_forward at 1 and took netctl's memory
	// that it switched it on, so this apply wrote no forward_others rule
	// (plan/forward.go).
	again := parseChanges(t, mustExit(t, 0, "plan", "--destroy", "--netns", ns, "--json"))
	r = mustExit(t, 0, "destroy", "--netns", ns, "--auto-approve")
	if want := fmt.Sprintf("Destroy complete! Resources: %d destroyed.\n", again.Summary.Destroy); !strings.HasSuffix(r.stdout, want) || strings.Contains(r.stdout, "Apply complete") {
		t.Errorf("destroy's last line: want %q:\n%s", want, r)
	}

	// A saved destroy plan, applied, destroys.
	mustExit(t, 0, "apply", "-f", file, "--netns", ns, "--auto-approve")
	saved := filepath.Join(t.TempDir(), "destroy.plan")
	mustExit(t, 0, "plan", "--destroy", "--netns", ns, "--out", saved)
	if r := mustExit(t, 0, "apply", saved); !strings.Contains(r.stdout, "Destroy complete! Resources: ") || strings.Contains(r.stdout, "Apply complete") {
		t.Errorf("the saved destroy plan's last line is not destroy's:\n%s", r)
	}
	if out := nstest.Exec(t, ns, "nft", "list", "tables"); strings.Contains(out, "netctl") {
		t.Fatalf("the saved destroy plan left the table:\n%s", out)
	}
}

// TestNoTerminal: apply and destroy without a terminal and without
// --auto-approve show the plan, refuse in their own words, say how to go
// on, and change nothing; following the advice works.
func TestNoTerminal(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	file := writeFile(t, t.TempDir(), "base.yaml", confirmBase)
	before := liveState(t, ns, "docker0")

	r := mustExit(t, 1, "apply", "-f", file, "--netns", ns)
	planText := mustExit(t, 2, "plan", "-f", file, "--netns", ns, "--detailed-exitcode").stdout
	if !strings.HasPrefix(r.stdout, planText) {
		t.Errorf("apply without a terminal does not show the plan first:\n%s\nwant:\n%s", r.stdout, planText)
	}
	wantErr := fmt.Sprintf("Error: refusing to apply without approval: no terminal to ask on (standard input is not a terminal); nothing was changed.\n"+
		"To apply, run again with --auto-approve, or save the plan and apply it: netctl plan -f %s --netns %s --out FILE; netctl apply FILE\n", file, ns)
	if r.stderr != wantErr {
		t.Errorf("apply without a terminal:\n%s\nwant stderr:\n%s", r, wantErr)
	}
	// --json: the plan as data, and the refusal as its error.
	d := parseChanges(t, mustExit(t, 1, "apply", "-f", file, "--netns", ns, "--json"))
	if d.Changed || d.Error == nil || !strings.HasPrefix(*d.Error, "refusing to apply without approval") || d.Summary.Add == 0 {
		t.Errorf("apply --json without approval: %+v", d)
	}
	if got := liveState(t, ns, "docker0"); got != before {
		t.Fatalf("apply without approval changed the namespace:\n%s", got)
	}
	// Positive control: the advice, followed.
	saved := filepath.Join(t.TempDir(), "base.plan")
	mustExit(t, 0, "plan", "-f", file, "--netns", ns, "--out", saved)
	if r := mustExit(t, 0, "apply", saved); !strings.Contains(r.stdout, "Apply complete! Resources: ") {
		t.Errorf("apply of the saved plan: %s", r)
	}
	applied := liveState(t, ns, "docker0")
	if applied == before {
		t.Fatal("the saved plan changed nothing")
	}

	r = mustExit(t, 1, "destroy", "--netns", ns)
	wantErr = fmt.Sprintf("Error: refusing to destroy without approval: no terminal to ask on (standard input is not a terminal); nothing was destroyed.\n"+
		"To destroy, run again with --auto-approve, or save the plan and apply it: netctl plan --destroy --netns %s --out FILE; netctl apply FILE\n", ns)
	if r.stderr != wantErr || !strings.Contains(r.stdout, "to destroy.") {
		t.Errorf("destroy without a terminal:\n%s\nwant stderr:\n%s", r, wantErr)
	}
	if got := liveState(t, ns, "docker0"); got != applied {
		t.Fatalf("destroy without approval changed the namespace:\n%s", got)
	}
	mustExit(t, 0, "destroy", "--netns", ns, "--auto-approve")
	if got := liveState(t, ns, "docker0"); got == applied {
		t.Fatal("destroy --auto-approve changed nothing")
	}
}

func TestColorWanted(t *testing.T) {
	for _, tc := range []struct {
		noColor, terminal bool
		env               map[string]string
		want              bool
	}{
		{false, true, map[string]string{"TERM": "xterm-256color"}, true},
		{true, true, map[string]string{"TERM": "xterm-256color"}, false},
		{false, false, map[string]string{"TERM": "xterm-256color"}, false},
		{false, true, map[string]string{"TERM": "dumb"}, false},
		{false, true, map[string]string{}, false},
		{false, true, map[string]string{"TERM": "xterm", "NO_COLOR": "1"}, false},
		{false, true, map[string]string{"TERM": "xterm", "NO_COLOR": ""}, true}, // no-color.org: set and not empty
	} {
		if got := colorWanted(tc.noColor, func(k string) string { return tc.env[k] }, tc.terminal); got != tc.want {
			t.Errorf("colorWanted(--no-color=%v, %v, terminal=%v) = %v, want %v", tc.noColor, tc.env, tc.terminal, got, tc.want)
		}
	}
}

// TestColorOnTerminals: on a real terminal (tmux), plan colours its output
// for TERM=xterm-256color, and not for TERM=dumb, NO_COLOR=1, --no-color or
// a pipe.
func TestColorOnTerminals(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	file := writeFile(t, t.TempDir(), "base.yaml", confirmBase)
	plan := fmt.Sprintf("%s plan -f %s --netns %s", opsBin, file, ns)
	cases := []struct {
		name, command string
		color         bool
	}{
		{"xterm", "env -u NO_COLOR TERM=xterm-256color " + plan, true},
		{"dumb", "env -u NO_COLOR TERM=dumb " + plan, false},
		{"NO_COLOR", "env NO_COLOR=1 TERM=xterm-256color " + plan, false},
		{"--no-color", "env -u NO_COLOR TERM=xterm-256color " + plan + " --no-color", false},
		{"pipe", "env -u NO_COLOR TERM=xterm-256color " + plan + " | cat", false},
	}
	var script strings.Builder
	for _, c := range cases {
		fmt.Fprintf(&script, "echo BEGIN-%s; %s; echo END-%s; ", c.name, c.command, c.name)
	}
	script.WriteString("echo ALL-DONE; sleep 600")
	x := newTmux(t, script.String())
	x.waitFor("ALL-DONE", exitBound)
	screen := x.run("capture-pane", "-p", "-e", "-J", "-S", "-", "-t", "t")
	for _, c := range cases {
		_, rest, ok1 := strings.Cut(screen, "BEGIN-"+c.name+"\n")
		out, _, ok2 := strings.Cut(rest, "END-"+c.name)
		if !ok1 || !ok2 || !strings.Contains(out, "Plan:") {
			t.Fatalf("%s: no plan on the terminal:\n%q", c.name, screen)
		}
		if got := strings.Contains(out, "\x1b["); got != c.color {
			t.Errorf("%s: colour %v, want %v:\n%q", c.name, got, c.color, out)
		}
	}
}

// TestNetnsHelp: every command with --netns says what it defaults to.
func TestNetnsHelp(t *testing.T) {
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		if f := c.Flags().Lookup("netns"); f != nil {
			n++
			if !strings.HasSuffix(f.Usage, "; default: the current network namespace") {
				t.Errorf("netctl %s --netns: %q", c.Name(), f.Usage)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	if n < 6 { // plan, apply, destroy, confirm, show, explain
		t.Fatalf("only %d commands have --netns", n)
	}
}

// TestLocksOfDeletedNamespacesGo: namespaces come and go, netctl runs in
// each, some of its runs are killed while holding the lock (their lock
// files stay: the kernel lets go of a dead holder's flock, not its file);
// once the namespaces are deleted and netctl runs anywhere, none of their
// files is left in /run/netctl.
func TestLocksOfDeletedNamespacesGo(t *testing.T) {
	nstest.RequireRoot(t)
	dir := t.TempDir()
	file := writeFile(t, dir, "base.yaml", confirmBase)
	changed := writeFile(t, dir, "change.yaml", confirmChange)
	var keys []string
	for i := 0; i < 4; i++ {
		ns := nstest.New(t)
		key := nsid.ID(t, ns).String()
		keys = append(keys, key)
		mustExit(t, 0, "apply", "-f", file, "--netns", ns, "--auto-approve")
		if i%2 == 1 {
			// A netctl killed while holding the lock: a real holder, then SIGKILL.
			p := start(t, "apply", "-f", changed, "--netns", ns, "--auto-approve", "--confirm-timeout", "600s")
			p.waitLine(t, "Confirm within", exitBound)
			if err := p.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			p.wait(t, exitBound)
			// Positive control: its lock file stays (until a later run's
			// sweep: the applies below run in other namespaces).
			if _, err := os.Lstat(filepath.Join(apply.DefaultStateDir, key+".lock")); err != nil {
				t.Fatalf("the killed apply left no lock file: %v", err)
			}
			// Its journal is the next apply's to roll back, or a person's
			// to remove (the namespace goes): this test is about locks.
			if err := os.Remove(filepath.Join(apply.DefaultStateDir, key+".journal")); err != nil {
				t.Fatal(err)
			}
		}
		nstest.Run(t, "ip", "netns", "del", ns)
	}
	other := nstest.New(t)
	key := nsid.ID(t, other).String()
	mustExit(t, 0, "apply", "-f", file, "--netns", other, "--auto-approve")
	var left []string
	for _, k := range keys {
		// The kernel may give a deleted namespace's identity to the new
		// one: then the files under it are the new one's (checked below).
		if k != key {
			left = append(left, stateFiles(t, k)...)
		}
	}
	if len(left) != 0 {
		t.Fatalf("files of deleted namespaces left in %s: %q", apply.DefaultStateDir, left)
	}
	// The last apply switched ip_forward on: its forward memory stays while
	// the namespace lives (apply/memory.go), and nothing else.
	if left := stateFiles(t, key); len(left) != 1 || left[0] != key+".forward" {
		t.Fatalf("the last apply left %q, want only its forward memory", left)
	}
}

// TestHostsCommand: netctl hosts prints the lines, refuses an unknown
// container (exit 1), and has no --netns (it reads no kernel).
func TestHostsCommand(t *testing.T) {
	file := filepath.Join("..", "..", "examples", "icc-links.yaml")
	r := mustExit(t, 0, "hosts", "web", "-f", file)
	golden(t, "hosts-web-file.txt", r.stdout)
	if r := mustExit(t, 1, "hosts", "nobody", "-f", file); !strings.Contains(r.stderr, `"nobody" is not a container of `) {
		t.Errorf("hosts of an unknown container: %s", r)
	}
	if r := mustExit(t, 1, "hosts", "web", "-f", file, "--netns", "x"); !strings.Contains(r.stderr, "unknown flag: --netns") {
		t.Errorf("hosts --netns: %s", r)
	}
	// CONTAINER completes with the file's containers.
	r = mustExit(t, 0, "__complete", "hosts", "-f", file, "")
	if lines := strings.Split(r.stdout, "\n"); !slices.Contains(lines, "web") || !slices.Contains(lines, "docker0/cache") {
		t.Errorf("completion of hosts CONTAINER: %s", r)
	}
}

// TestDestroyOnTerminal: destroy asks in its own words on a terminal, and
// says so when not given yes; given yes, it says Terraform's "Destroy
// complete!".
func TestDestroyOnTerminal(t *testing.T) {
	ns, before, _ := confirmSetup(t)
	command := fmt.Sprintf("%s destroy --netns %s; echo EXIT=$?; sleep 600", opsBin, ns)
	x := newTmux(t, command)
	x.waitFor("Do you really want to destroy all resources netctl owns? Only 'yes' will be accepted", exitBound)
	x.run("send-keys", "-t", "t", "no", "Enter")
	sc := x.waitFor("EXIT=", exitBound)
	if !strings.Contains(sc, "Destroy cancelled: nothing was destroyed.") || !strings.Contains(sc, "EXIT=1") || strings.Contains(sc, "Apply cancelled") {
		t.Fatalf("terminal:\n%s", sc)
	}
	if got := liveState(t, ns, "docker0", "br-new"); got != before {
		t.Fatalf("a cancelled destroy changed the namespace:\n%s", got)
	}
	// Positive control: yes destroys.
	x = newTmux(t, command)
	x.waitFor("Only 'yes' will be accepted", exitBound)
	x.run("send-keys", "-t", "t", "yes", "Enter")
	sc = x.waitFor("EXIT=", exitBound)
	if !regexp.MustCompile(`Destroy complete! Resources: \d+ destroyed\.`).MatchString(sc) || !strings.Contains(sc, "EXIT=0") {
		t.Fatalf("terminal:\n%s", sc)
	}
	if got := liveState(t, ns, "docker0", "br-new"); got == before {
		t.Fatal("destroy changed nothing")
	}
}
