package main

// The Ansible module examples/ansible/collections/.../netctl.py, run by the
// real ansible-playbook through examples/ansible/netctl-module.yml against
// a throwaway namespace.

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
)

// moduleResult is what the json callback says of the module's task.
type moduleResult struct {
	Changed         bool     `json:"changed"`
	Failed          bool     `json:"failed"`
	Msg             string   `json:"msg"`
	FileChanged     bool     `json:"file_changed"`
	ResourceChanges []string `json:"resource_changes"`
	Diff            []struct {
		BeforeHeader string `json:"before_header"`
		AfterHeader  string `json:"after_header"`
		Before       string `json:"before"`
		After        string `json:"after"`
	} `json:"diff"`
}

// runModule runs the module's playbook and returns its task's result.
func runModule(t *testing.T, vars map[string]any, extra ...string) moduleResult {
	t.Helper()
	ev, _ := json.Marshal(vars)
	home := t.TempDir()
	cmd := exec.Command("ansible-playbook", append([]string{"-i", "localhost,", "-c", "local", "-e", string(ev),
		"../../examples/ansible/netctl-module.yml"}, extra...)...)
	cmd.Env = append(os.Environ(), "ANSIBLE_STDOUT_CALLBACK=json", "ANSIBLE_NOCOLOR=1", "ANSIBLE_HOME="+home,
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(home, "tmp"), "ANSIBLE_REMOTE_TEMP="+filepath.Join(home, "tmp"),
		"ANSIBLE_PYTHON_INTERPRETER=auto_silent", "ANSIBLE_RETRY_FILES_ENABLED=0", "ANSIBLE_DEPRECATION_WARNINGS=0")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	var doc struct {
		Plays []struct {
			Tasks []struct {
				Task  struct{ Name string }      `json:"task"`
				Hosts map[string]json.RawMessage `json:"hosts"`
			} `json:"tasks"`
		} `json:"plays"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || len(doc.Plays) != 1 || len(doc.Plays[0].Tasks) != 1 {
		t.Fatalf("ansible-playbook output (%v, %v):\n%s\n%s", err, err, out.String(), errb.String())
	}
	var r moduleResult
	if err := json.Unmarshal(doc.Plays[0].Tasks[0].Hosts["localhost"], &r); err != nil {
		t.Fatal(err)
	}
	if r.Failed != (err != nil) {
		t.Errorf("task failed %v, but ansible-playbook: %v", r.Failed, err)
	}
	return r
}

// diffText is the module's diff as one text, for searching.
func (r moduleResult) diffText() string {
	var b strings.Builder
	for _, d := range r.Diff {
		b.WriteString("--- " + d.BeforeHeader + "\n" + d.Before + "+++ " + d.AfterHeader + "\n" + d.After)
	}
	return b.String()
}

// TestAnsibleModule: check mode changes nothing and says changed, with a
// diff of each object's value before and after; a run applies (changed),
// the next is ok; drift shows as a diff of the drifted field; an invalid
// file fails naming the real file, is not installed and leaves the kernel.
func TestAnsibleModule(t *testing.T) {
	nstest.RequireTool(t, "ansible-playbook", "the module test needs it (apt-get install ansible-core)")
	needBinary(t)
	ns := nstest.New(t)
	dir := t.TempDir()
	src := writeFile(t, dir, "netctl.yaml", driftConfig)
	installed := filepath.Join(dir, "installed", "netctl.yaml")
	vars := map[string]any{
		"netctl_bin": opsBin, "netctl_config_src": src, "netctl_config": installed,
		"netctl_netns": ns, "ansible_become": false,
	}
	const link = "bridge.docker0.link.web->db"

	// Check mode on a fresh namespace: changed, nothing applied or written.
	before := liveState(t, ns, "docker0", "br-app")
	r := runModule(t, vars, "--check", "--diff")
	if !r.Changed || r.Failed || !r.FileChanged {
		t.Errorf("check mode before apply: %+v", r)
	}
	if d := r.diffText(); !strings.Contains(d, link+`[0]: "172.17.0.2 . 172.17.0.3 . tcp . 5432"`) ||
		!strings.Contains(d, "+++ "+installed+"\nip_forward: true\n") {
		t.Errorf("check mode diff lacks the link's elements or the file's text:\n%s", d)
	}
	if liveState(t, ns, "docker0", "br-app") != before {
		t.Fatal("check mode changed the kernel")
	}
	if _, err := os.Stat(installed); !os.IsNotExist(err) {
		t.Fatalf("check mode installed the file: %v", err)
	}

	// Apply: changed; again: ok.
	r = runModule(t, vars, "--diff")
	if !r.Changed || r.Failed || !strings.Contains(strings.Join(r.ResourceChanges, " "), link) {
		t.Errorf("first apply: %+v", r)
	}
	mustExit(t, 0, "plan", "-f", installed, "--netns", ns, "--detailed-exitcode")
	if data, err := os.ReadFile(installed); err != nil || string(data) != driftConfig {
		t.Errorf("installed file: %q, %v", data, err)
	}
	r = runModule(t, vars)
	if r.Changed || r.Failed || len(r.ResourceChanges) != 0 {
		t.Errorf("second apply: %+v", r)
	}
	if r = runModule(t, vars, "--check", "--diff"); r.Changed || r.Failed || len(r.Diff) != 0 {
		t.Errorf("check mode without drift: %+v", r)
	}

	// Drift: the diff shows the MTU's line, before and after.
	nstest.Run(t, "ip", "-n", ns, "link", "set", "br-app", "mtu", "1400")
	r = runModule(t, vars, "--check", "--diff")
	if d := r.diffText(); !r.Changed || r.FileChanged || !strings.Contains(d, "\nbridge.br-app.mtu: 1400\n") ||
		!strings.Contains(d, "\nbridge.br-app.mtu: 1500\n") {
		t.Errorf("check mode with drift: %+v\n%s", r, d)
	}
	if r = runModule(t, vars); !r.Changed || r.Failed {
		t.Errorf("apply with drift: %+v", r)
	}
	mustExit(t, 0, "plan", "-f", installed, "--netns", ns, "--detailed-exitcode")

	// An invalid file: failed, naming the file where it goes (line and
	// column), never a temporary one; not installed; the kernel as it was.
	if err := os.WriteFile(src, []byte("bridges:\n  docker0:\n    address: 300.1.1.1/16\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before = liveState(t, ns, "docker0", "br-app")
	for _, mode := range [][]string{{"--check"}, nil} {
		r = runModule(t, vars, mode...)
		if !r.Failed || !strings.HasPrefix(r.Msg, installed+":3:14: bridges.docker0.address:") || strings.Contains(r.Msg, ".tmp") {
			t.Errorf("invalid file %v: %+v; want the error at %s:3:14", mode, r, installed)
		}
	}
	if data, err := os.ReadFile(installed); err != nil || string(data) != driftConfig {
		t.Errorf("the invalid file was installed: %q, %v", data, err)
	}
	if liveState(t, ns, "docker0", "br-app") != before {
		t.Error("an invalid file changed the kernel")
	}
	if entries, _ := os.ReadDir(filepath.Dir(installed)); len(entries) != 1 {
		t.Errorf("left beside the file: %v", entries)
	}
}
