package main

// The metrics files of several namespaces, read by the real clients:
// promtool's linter and node_exporter's textfile collector serving one
// directory that holds them all.

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/netctl/netctl/internal/nstest"
)

// nodeExporter finds node_exporter: Debian names it prometheus-node-exporter.
func nodeExporter(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("prometheus-node-exporter"); err == nil {
		return p
	}
	return nstest.RequireTool(t, "node_exporter", "the textfile test needs it (apt-get install prometheus-node-exporter)")
}

// serveTextfiles runs node_exporter with only its textfile collector on dir,
// listening on a free port of 127.0.0.1, and returns a scrape function and
// the process's log so far. The process is killed when the test ends.
func serveTextfiles(t *testing.T, bin, dir string) (scrape func() map[string]float64, log func() string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--collector.disable-defaults",
		"--collector.textfile", "--collector.textfile.directory="+dir)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	url := "http://" + addr + "/metrics"
	scrape = func() map[string]float64 {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("scraping %s: %v\nnode_exporter:\n%s", url, err, out.String())
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("scraping %s: %s, %v\n%s", url, resp.Status, err, body)
		}
		return parseExposition(t, body)
	}
	// Wait until it listens (or has exited).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("node_exporter exited:\n%s", out.String())
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node_exporter does not listen on %s:\n%s", addr, out.String())
		}
	}
	return scrape, out.String
}

// parseExposition reads a scrape into series ("name{a="x",b="y"}", labels
// sorted) and values.
func parseExposition(t *testing.T, body []byte) map[string]float64 {
	t.Helper()
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v\n%s", err, body)
	}
	series := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			slices.Sort(labels)
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Gauge != nil:
				series[key] = m.GetGauge().GetValue()
			case m.Counter != nil:
				series[key] = m.GetCounter().GetValue()
			case m.Untyped != nil:
				series[key] = m.GetUntyped().GetValue()
			default:
				series[key] = 0 // summaries and histograms: present
			}
		}
	}
	return series
}

// syncBuffer is a bytes.Buffer a process writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gatherErrors is what node_exporter says of a scrape whose series clash:
// it serves the rest (status 200), logs the error and counts it.
func gatherErrors(t *testing.T, scrape func() map[string]float64, log func() string) (count float64, logged bool) {
	t.Helper()
	scrape()
	// The handler counts an error after writing its response: the next
	// scrape shows the count of the ones before.
	count = scrape()[`promhttp_metric_handler_errors_total{cause="gathering"}`]
	return count, strings.Contains(log(), "error gathering metrics")
}

// TestTextfileCollectorNamespaces: two namespaces' metrics files in one
// textfile directory are scraped by node_exporter without error, both
// namespaces' series present with their values; promtool's linter accepts
// each file. Positive control: two files with the same labels (what two
// namespaces wrote before the labels) make node_exporter report the clash.
func TestTextfileCollectorNamespaces(t *testing.T) {
	exporter := nodeExporter(t)
	promtool := nstest.RequireTool(t, "promtool", "the textfile test lints with it (apt-get install prometheus)")
	needBinary(t)
	nsA, nsB := nstest.New(t), nstest.New(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "netctl.yaml", driftConfig)
	textfiles := filepath.Join(dir, "textfile")
	if err := os.Mkdir(textfiles, 0o755); err != nil {
		t.Fatal(err)
	}
	// A applied (no changes), B fresh (changes pending): distinct values.
	mustExit(t, 0, "apply", "-f", cfg, "--netns", nsA, "--auto-approve")
	promA, promB := filepath.Join(textfiles, "netctl-a.prom"), filepath.Join(textfiles, "netctl-b.prom")
	mustExit(t, 0, "plan", "-f", cfg, "--netns", nsA, "--detailed-exitcode", "--metrics-file", promA)
	mustExit(t, 2, "plan", "-f", cfg, "--netns", nsB, "--detailed-exitcode", "--metrics-file", promB)

	for _, f := range []string{promA, promB} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(data)
		if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) != 0 {
			t.Errorf("promtool check metrics %s: %v\n%s\nthe file:\n%s", f, err, out, data)
		}
	}
	// Positive control for promtool: it does lint (exit 3 for a problem).
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader("# HELP netctl_plan_count x\n# TYPE netctl_plan_count counter\nnetctl_plan_count 1\n")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("promtool check metrics accepted a counter without _total:\n%s", out)
	}

	scrape, log := serveTextfiles(t, exporter, textfiles)
	got := scrape()
	if n, logged := gatherErrors(t, scrape, log); n != 0 || logged {
		t.Errorf("node_exporter reports %v gathering errors (logged: %v):\n%s", n, logged, log())
	}
	if got["node_textfile_scrape_error"] != 0 {
		t.Errorf("node_textfile_scrape_error = %v:\n%s", got["node_textfile_scrape_error"], log())
	}
	for _, want := range []struct {
		netns   string
		success float64
		create  float64
	}{{nsA, 1, 0}, {nsB, 1, 1}} {
		labels := fmt.Sprintf("file=%q,netns=%q", cfg, want.netns)
		if v, ok := got["netctl_plan_success{"+labels+"}"]; !ok || v != want.success {
			t.Errorf("netctl_plan_success{%s} = %v (present %v), want %v", labels, v, ok, want.success)
		}
		v, ok := got[`netctl_plan_changes{action="create",`+labels+"}"]
		if !ok || (want.create == 0) != (v == 0) {
			t.Errorf("netctl_plan_changes{action=\"create\",%s} = %v (present %v), want %s", labels, v, ok,
				map[bool]string{true: "0", false: "more than 0"}[want.create == 0])
		}
		for _, name := range []string{"netctl_plan_duration_seconds", "netctl_plan_timestamp_seconds"} {
			if _, ok := got[name+"{"+labels+"}"]; !ok {
				t.Errorf("%s{%s} is not served", name, labels)
			}
		}
	}

	// Positive control: the same namespace's file twice clashes, and
	// node_exporter says so.
	clash := filepath.Join(dir, "clash")
	if err := os.Mkdir(clash, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(promA)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.prom", "a-again.prom"} {
		if err := os.WriteFile(filepath.Join(clash, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	scrape, log = serveTextfiles(t, exporter, clash)
	if n, logged := gatherErrors(t, scrape, log); n == 0 || !logged {
		t.Errorf("two files with the same series: node_exporter reports %v gathering errors (logged: %v), want an error:\n%s", n, logged, log())
	}
}
