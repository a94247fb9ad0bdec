package metrics

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestText(t *testing.T) {
	at := time.Unix(1767225600, 250_000_000)
	p := Plan{Success: true, Changes: map[string]int{"create": 3, "delete": 1}, Duration: 1500 * time.Millisecond, Time: at}
	want := `# HELP netctl_plan_changes Changes pending in the last netctl plan, by action (not written when the plan failed).
# TYPE netctl_plan_changes gauge
netctl_plan_changes{action="create"} 3
netctl_plan_changes{action="update"} 0
netctl_plan_changes{action="delete"} 1
netctl_plan_changes{action="replace"} 0
# HELP netctl_plan_success Whether the last netctl plan succeeded (1) or failed (0).
# TYPE netctl_plan_success gauge
netctl_plan_success 1
# HELP netctl_plan_duration_seconds How long the last netctl plan took.
# TYPE netctl_plan_duration_seconds gauge
netctl_plan_duration_seconds 1.5
# HELP netctl_plan_timestamp_seconds When the last netctl plan finished, in seconds since the Unix epoch.
# TYPE netctl_plan_timestamp_seconds gauge
netctl_plan_timestamp_seconds 1767225600.25
`
	if got := string(p.Text()); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	fams, err := Parse(p.Text())
	if err != nil {
		t.Fatal(err)
	}
	if got := fams["netctl_plan_changes"].Samples[`action="create"`]; got != 3 {
		t.Errorf("create = %v", got)
	}
	if got := fams["netctl_plan_timestamp_seconds"].Samples[""]; got != 1767225600.25 {
		t.Errorf("timestamp = %v", got)
	}
}

func TestFailedPlan(t *testing.T) {
	fams, err := Parse(Plan{Success: false, Duration: time.Millisecond, Time: time.Now()}.Text())
	if err != nil {
		t.Fatal(err)
	}
	if len(fams["netctl_plan_changes"].Samples) != 0 {
		t.Errorf("a failed plan has no change counts, got %v", fams["netctl_plan_changes"].Samples)
	}
	if fams["netctl_plan_success"].Samples[""] != 0 {
		t.Error("success is not 0")
	}
	for _, name := range []string{"netctl_plan_success", "netctl_plan_duration_seconds", "netctl_plan_timestamp_seconds"} {
		if fams[name] == nil || len(fams[name].Samples) != 1 || fams[name].Type != "gauge" {
			t.Errorf("%s: %+v", name, fams[name])
		}
	}
}

func TestWriteIsAtomicAndReadable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "netctl.prom")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := Plan{Success: true, Time: time.Now()}
	if err := p.Write(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || string(data) != string(p.Text()) {
		t.Fatalf("file holds %q, %v", data, err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 for node_exporter", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	// A directory that does not exist: an error naming the file, nothing written.
	err = p.Write(filepath.Join(dir, "missing", "netctl.prom"))
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("got %v", err)
	}
	// A path that is a directory: the rename fails, the temporary file goes.
	sub := filepath.Join(dir, "sub.prom")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Write(sub); err == nil {
		t.Error("writing over a directory succeeded")
	}
	entries, _ = os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestParseIsStrict(t *testing.T) {
	ok := "# HELP a x\n# TYPE a gauge\na 1\n"
	if _, err := Parse([]byte(ok)); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		"no newline at end":   "# HELP a x\n# TYPE a gauge\na 1",
		"sample before TYPE":  "# HELP a x\na 1\n# TYPE a gauge\n",
		"no HELP":             "# TYPE a gauge\na 1\n",
		"timestamp":           "# HELP a x\n# TYPE a gauge\na 1 1700000000000\n",
		"duplicate series":    "# HELP a x\n# TYPE a gauge\na{l=\"1\"} 1\na{l=\"1\"} 2\n",
		"bad value":           "# HELP a x\n# TYPE a gauge\na one\n",
		"bad name":            "# HELP 1a x\n# TYPE 1a gauge\n1a 1\n",
		"unterminated label":  "# HELP a x\n# TYPE a gauge\na{l=\"1} 1\n",
		"family split":        "# HELP a x\n# TYPE a gauge\na{l=\"1\"} 1\n# HELP b x\n# TYPE b gauge\nb 1\na{l=\"2\"} 1\n",
		"unknown type":        "# HELP a x\n# TYPE a meter\na 1\n",
		"two spaces":          "# HELP a x\n# TYPE a gauge\na  1\n",
		"reserved label name": "# HELP a x\n# TYPE a gauge\na{__name__=\"1\"} 1\n",
	}
	for name, text := range bad {
		if _, err := Parse([]byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
