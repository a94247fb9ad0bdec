package metrics

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// family is one metric family as the tests read it.
type family struct {
	Type string
	// Samples by their label set, rendered canonically: `action="create"`,
	// or "" for none.
	Samples map[string]float64
}

// parse reads the text exposition format with the parser node_exporter's
// textfile collector uses (expfmt.TextParser), and refuses what that parser
// accepts but the collector does not take or netctl never writes: a family
// without HELP or TYPE, a sample with a timestamp, a series twice.
func parse(data []byte) (map[string]family, error) {
	var p expfmt.TextParser
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	fams := map[string]family{}
	for name, mf := range mfs {
		if mf.GetHelp() == "" {
			return nil, fmt.Errorf("%s has no HELP", name)
		}
		// The parser makes a family without a TYPE line untyped.
		if mf.GetType() == dto.MetricType_UNTYPED {
			return nil, fmt.Errorf("%s has no TYPE", name)
		}
		f := family{Type: strings.ToLower(mf.GetType().String()), Samples: map[string]float64{}}
		for _, m := range mf.GetMetric() {
			if m.TimestampMs != nil {
				return nil, fmt.Errorf("%s has a timestamp (the textfile collector refuses it)", name)
			}
			labels := labelString(m.GetLabel())
			if _, dup := f.Samples[labels]; dup {
				return nil, fmt.Errorf("series %s{%s} appears twice", name, labels)
			}
			f.Samples[labels] = sampleValue(m)
		}
		fams[name] = f
	}
	return fams, nil
}

func labelString(pairs []*dto.LabelPair) string {
	var s []string
	for _, l := range pairs {
		s = append(s, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

// sampleValue is a gauge's or a counter's value: what netctl writes.
func sampleValue(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

func TestText(t *testing.T) {
	at := time.Unix(1767225600, 250_000_000)
	p := Plan{Success: true, Changes: map[string]int{"create": 3, "delete": 1}, Duration: 1500 * time.Millisecond, Time: at,
		Netns: "ci-a", File: "/etc/netctl/netctl.yaml"}
	want := `# HELP netctl_plan_changes Changes pending in the last netctl plan, by action (not written when the plan failed).
# TYPE netctl_plan_changes gauge
netctl_plan_changes{netns="ci-a",file="/etc/netctl/netctl.yaml",action="create"} 3
netctl_plan_changes{netns="ci-a",file="/etc/netctl/netctl.yaml",action="update"} 0
netctl_plan_changes{netns="ci-a",file="/etc/netctl/netctl.yaml",action="delete"} 1
netctl_plan_changes{netns="ci-a",file="/etc/netctl/netctl.yaml",action="replace"} 0
# HELP netctl_plan_success Whether the last netctl plan succeeded (1) or failed (0).
# TYPE netctl_plan_success gauge
netctl_plan_success{netns="ci-a",file="/etc/netctl/netctl.yaml"} 1
# HELP netctl_plan_duration_seconds How long the last netctl plan took.
# TYPE netctl_plan_duration_seconds gauge
netctl_plan_duration_seconds{netns="ci-a",file="/etc/netctl/netctl.yaml"} 1.5
# HELP netctl_plan_timestamp_seconds When the last netctl plan finished, in seconds since the Unix epoch.
# TYPE netctl_plan_timestamp_seconds gauge
netctl_plan_timestamp_seconds{netns="ci-a",file="/etc/netctl/netctl.yaml"} 1767225600.25
`
	if got := string(p.Text()); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	fams, err := parse(p.Text())
	if err != nil {
		t.Fatal(err)
	}
	const labels = `file="/etc/netctl/netctl.yaml",netns="ci-a"`
	if got := fams["netctl_plan_changes"].Samples[`action="create",`+labels]; got != 3 {
		t.Errorf("create = %v", got)
	}
	if got := fams["netctl_plan_timestamp_seconds"].Samples[labels]; got != 1767225600.25 {
		t.Errorf("timestamp = %v", got)
	}
}

func TestFailedPlan(t *testing.T) {
	fams, err := parse(Plan{Success: false, Duration: time.Millisecond, Time: time.Now()}.Text())
	if err != nil {
		t.Fatal(err)
	}
	if len(fams["netctl_plan_changes"].Samples) != 0 {
		t.Errorf("a failed plan has no change counts, got %v", fams["netctl_plan_changes"].Samples)
	}
	if fams["netctl_plan_success"].Samples[`file="",netns=""`] != 0 {
		t.Error("success is not 0")
	}
	for _, name := range []string{"netctl_plan_success", "netctl_plan_duration_seconds", "netctl_plan_timestamp_seconds"} {
		if f, ok := fams[name]; !ok || len(f.Samples) != 1 || f.Type != "gauge" {
			t.Errorf("%s: %+v", name, fams[name])
		}
	}
}

// TestLabelsTellNamespacesApart: the files of two namespaces (and of the
// current one, netns "") are distinct series when read together, as
// node_exporter's textfile collector reads a directory; label values the
// format must escape come back as they were.
func TestLabelsTellNamespacesApart(t *testing.T) {
	at := time.Unix(1767225600, 0)
	var all []byte
	for _, p := range []Plan{
		{Success: true, Time: at, Netns: "ci-a", File: "netctl.yaml"},
		{Success: true, Time: at, Netns: "ci-b", File: "netctl.yaml"},
		{Success: false, Time: at, Netns: "", File: "/etc/netctl/odd \"name\"\\\n.yaml"},
	} {
		fams, err := parse(p.Text())
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		for name, f := range fams {
			for labels := range f.Samples {
				if !strings.Contains(labels, fmt.Sprintf("netns=%q", p.Netns)) || !strings.Contains(labels, fmt.Sprintf("file=%q", p.File)) {
					t.Errorf("%s{%s} lacks netns %q or file %q", name, labels, p.Netns, p.File)
				}
			}
		}
		// Each file's families, as one exposition: a series twice fails.
		all = append(all, p.Text()...)
	}
	// The parser refuses a family's HELP twice: merge as the collector
	// does, by family.
	merged := map[string]int{}
	for _, line := range strings.Split(string(all), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			merged[line[:strings.LastIndexByte(line, ' ')]]++
		}
	}
	for series, n := range merged {
		if n != 1 {
			t.Errorf("%s appears %d times", series, n)
		}
	}
	if want := 2*(4+3) + 3; len(merged) != want {
		t.Errorf("%d series, want %d: %v", len(merged), want, merged)
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

// TestParseIsStrict: the tests' reader refuses what the textfile collector
// refuses (after a positive control).
func TestParseIsStrict(t *testing.T) {
	ok := "# HELP a x\n# TYPE a gauge\na 1\n"
	if _, err := parse([]byte(ok)); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		"no newline at end":   "# HELP a x\n# TYPE a gauge\na 1",
		"sample before TYPE":  "# HELP a x\na 1\n# TYPE a gauge\n",
		"no HELP":             "# TYPE a gauge\na 1\n",
		"no TYPE":             "# HELP a x\na 1\n",
		"timestamp":           "# HELP a x\n# TYPE a gauge\na 1 1700000000000\n",
		"duplicate series":    "# HELP a x\n# TYPE a gauge\na{l=\"1\"} 1\na{l=\"1\"} 2\n",
		"bad value":           "# HELP a x\n# TYPE a gauge\na one\n",
		"bad name":            "# HELP 1a x\n# TYPE 1a gauge\n1a 1\n",
		"unterminated label":  "# HELP a x\n# TYPE a gauge\na{l=\"1} 1\n",
		"unknown type":        "# HELP a x\n# TYPE a meter\na 1\n",
		"reserved label name": "# HELP a x\n# TYPE a gauge\na{__name__=\"1\"} 1\n",
	}
	for name, text := range bad {
		if _, err := parse([]byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
