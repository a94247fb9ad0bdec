package e2e

// What `netctl watch --repair` costs and how fast it repairs:
//
//	go test -run '^$' -bench 'Watch' -benchtime 1x -timeout 30m ./e2e/
//
// BenchmarkWatchRepair flushes the ruleset 100 times (nft flush ruleset, the
// command `systemctl restart nftables` runs) and measures, from the
// kernel's own notifications seen by a third subscriber, the time from the
// flush's commit to the commit of watch's repair: the window in which
// netctl's table was absent, so every path it blocks was open. p50 and p99
// over the 100 flushes. BenchmarkWatchIdle measures the CPU time of a
// watcher over 60 s with nothing changing, and its RSS.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/kernel"
)

// benchWatch starts watch on file in ns and returns it once its first check
// found the kernel in sync; lines delivers its log lines (msg field).
func benchWatch(b *testing.B, ns, file string, extra ...string) (*exec.Cmd, <-chan map[string]any, string) {
	b.Helper()
	cmd := exec.Command(netctlBin, append([]string{"watch", "-f", file, "--netns", ns, "--log-format", "json", "--metrics-listen", "127.0.0.1:0"}, extra...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan map[string]any, 1024)
	go func(r io.Reader) {
		defer close(lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
	}(stderr)
	addr := waitLine(b, lines, "serving metrics")["address"].(string)
	waitLine(b, lines, "in sync")
	return cmd, lines, addr
}

// checksBy is netctl_watch_checks_total{trigger} scraped from /metrics.
func checksBy(b *testing.B, addr, trigger string) float64 {
	b.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var p expfmt.TextParser
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range mfs["netctl_watch_checks_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "trigger" && l.GetValue() == trigger {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func waitLine(b *testing.B, lines <-chan map[string]any, msg string) map[string]any {
	b.Helper()
	timeout := time.After(5 * time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				b.Fatalf("watch ended before %q", msg)
			}
			if l["msg"] == "repair failed" || l["msg"] == "plan failed" {
				b.Fatalf("watch: %v", l)
			}
			if l["msg"] == msg {
				return l
			}
		case <-timeout:
			b.Fatalf("no %q from watch in 5 minutes", msg)
		}
	}
}

func BenchmarkWatchRepair(b *testing.B) {
	nstest.RequireRoot(b)
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("links=%d", n), func(b *testing.B) {
			ns := nstest.New(b)
			file := linksFile(b, b.TempDir(), n)
			runNetctl(b, 0, "apply", "-f", file, "--netns", ns, "--auto-approve")
			cmd, lines, addr := benchWatch(b, ns, file, "--repair", "--max-repairs", "1000000")
			h, err := kernel.Open(ns)
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			notes, err := h.Subscribe()
			if err != nil {
				b.Fatal(err)
			}
			defer notes.Close()
			const flushes = 100
			var open []time.Duration
			cpu0 := cpuSeconds(b, cmd.Process.Pid)
			plans0 := checksBy(b, addr, "nftables")
			b.ResetTimer()
			for range b.N {
				open = open[:0]
				for range flushes {
					if out, err := exec.Command("ip", "netns", "exec", ns, "nft", "flush", "ruleset").CombinedOutput(); err != nil {
						b.Fatalf("nft flush ruleset: %v\n%s", err, out)
					}
					var flushed time.Time
					for repaired := false; !repaired; {
						select {
						case ev := <-notes.C:
							switch {
							case ev.Kind == kernel.EventNftables && ev.Comm == "nft":
								flushed = time.Now()
							case ev.Kind == kernel.EventNftables && ev.Comm == "netctl" && !flushed.IsZero():
								open = append(open, time.Since(flushed))
								repaired = true
							}
						case <-time.After(5 * time.Minute):
							b.Fatal("no repair within 5 minutes")
						}
					}
					// The repair is verified (re-read) before the next flush.
					waitLine(b, lines, "in sync")
				}
			}
			b.StopTimer()
			// The watcher's CPU time per repair: what the machine's load
			// does not change.
			b.ReportMetric((cpuSeconds(b, cmd.Process.Pid)-cpu0)*1000/float64(b.N*flushes), "cpu-ms/repair")
			// Own writes do not wake the watcher: one plan per flush.
			b.ReportMetric((checksBy(b, addr, "nftables")-plans0)/float64(b.N*flushes), "plans/flush")
			slices.Sort(open)
			pct := func(p float64) float64 {
				return float64(open[int(p*float64(len(open)-1)+0.5)].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(float64(open[len(open)-1].Microseconds())/1000, "max-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func BenchmarkWatchIdle(b *testing.B) {
	nstest.RequireRoot(b)
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	idle := 60 * time.Second
	if s := os.Getenv("NETCTL_WATCH_IDLE"); s != "" { // shorter, to try the benchmark
		if d, err := time.ParseDuration(s); err == nil {
			idle = d
		}
	}
	const n = 10_000
	ns := nstest.New(b)
	file := linksFile(b, b.TempDir(), n)
	runNetctl(b, 0, "apply", "-f", file, "--netns", ns, "--auto-approve")
	cmd, _, _ := benchWatch(b, ns, file, "--repair")
	pid := cmd.Process.Pid
	for range b.N {
		before := cpuSeconds(b, pid)
		time.Sleep(idle)
		after := cpuSeconds(b, pid)
		b.ReportMetric((after-before)*float64(time.Minute)/float64(idle), "cpu-s/idle-min")
	}
	b.ReportMetric(float64(statusKB(b, pid, "VmRSS"))/1024, "rss-MiB")
	b.ReportMetric(float64(statusKB(b, pid, "VmHWM"))/1024, "peak-rss-MiB")
	b.ReportMetric(0, "ns/op")
}

// cpuSeconds is the process's user and system time (/proc/PID/stat).
func cpuSeconds(b *testing.B, pid int) float64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	ut, _ := strconv.ParseFloat(f[11], 64) // field 14
	st, _ := strconv.ParseFloat(f[12], 64) // field 15
	return (ut + st) / 100                 // USER_HZ
}

func statusKB(b *testing.B, pid int, key string) int64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	b.Fatalf("no %s in /proc/%d/status", key, pid)
	return 0
}
