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
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/netctl/netctl/bench/benchcfg"
	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
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

// BenchmarkWatchBlockedWindow measures, with traffic, how long a blocked
// path was open after each of 100 flushes: a client container that no link
// allows to a service (app0 → svc1:5001) dials it again and again (3 ms
// connect timeout) while the ruleset is flushed and watch repairs it; the
// window is from the first to the last connection that got through after a
// flush (0 when none did), next to the window the kernel's notifications
// give (flush commit to repair commit).
func BenchmarkWatchBlockedWindow(b *testing.B) {
	nstest.RequireRoot(b)
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("links=%d", n), func(b *testing.B) {
			nt := testnet.New(b)
			file := linksFile(b, b.TempDir(), n)
			runNetctl(b, 0, "apply", "-f", file, "--netns", nt.Host, "--auto-approve")
			gw := netip.MustParsePrefix(benchcfg.Gateway)
			app := nt.AddContainer(b, "app0", benchcfg.Bridge, netip.PrefixFrom(benchcfg.ClientAddr(0), gw.Bits()), gw.Addr())
			svc := nt.AddContainer(b, "svc1", benchcfg.Bridge, netip.PrefixFrom(benchcfg.ServiceAddr(1), gw.Bits()), gw.Addr())
			dst := netip.AddrPortFrom(svc.Addr, uint16(benchcfg.ServicePort(1)))
			var ln net.Listener
			if err := testnet.InNS(svc.NS, func() (err error) { ln, err = net.Listen("tcp4", dst.String()); return err }); err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			_, lines, _ := benchWatch(b, nt.Host, file, "--repair", "--max-repairs", "1000000")
			h, err := kernel.Open(nt.Host)
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			notes, err := h.Subscribe()
			if err != nil {
				b.Fatal(err)
			}
			defer notes.Close()

			// The prober: times of the connections that got through.
			var mu sync.Mutex
			var through []time.Time
			stop := make(chan struct{})
			probing := make(chan error, 1)
			go func() {
				probing <- testnet.InNS(app.NS, func() error {
					d := net.Dialer{Timeout: 3 * time.Millisecond}
					for {
						select {
						case <-stop:
							return nil
						default:
						}
						c, err := d.Dial("tcp4", dst.String())
						if err == nil {
							now := time.Now()
							c.Close()
							mu.Lock()
							through = append(through, now)
							mu.Unlock()
						}
					}
				})
			}()
			defer func() { close(stop); <-probing }()
			// Positive control of the measure: the path is blocked now, so
			// nothing gets through before the first flush.
			time.Sleep(200 * time.Millisecond)
			mu.Lock()
			before := len(through)
			mu.Unlock()
			if before != 0 {
				b.Fatalf("%d connections got through the blocked path before any flush", before)
			}

			const flushes = 100
			var kernelWin, trafficWin []time.Duration
			opened := 0
			for range flushes {
				mu.Lock()
				through = through[:0]
				mu.Unlock()
				if out, err := exec.Command("ip", "netns", "exec", nt.Host, "nft", "flush", "ruleset").CombinedOutput(); err != nil {
					b.Fatalf("nft flush ruleset: %v\n%s", err, out)
				}
				var flushed time.Time
				for done := false; !done; {
					select {
					case ev := <-notes.C:
						switch {
						case ev.Kind == kernel.EventNftables && ev.Comm == "nft":
							flushed = time.Now()
						case ev.Kind == kernel.EventNftables && ev.Comm == "netctl" && !flushed.IsZero():
							kernelWin = append(kernelWin, time.Since(flushed))
							done = true
						}
					case <-time.After(5 * time.Minute):
						b.Fatal("no repair within 5 minutes")
					}
				}
				waitLine(b, lines, "in sync")
				// A connection still in its 3 ms dial when the repair came
				// may have got through just after: wait out one timeout.
				time.Sleep(10 * time.Millisecond)
				mu.Lock()
				if len(through) > 0 {
					opened++
					trafficWin = append(trafficWin, through[len(through)-1].Sub(through[0]))
				} else {
					trafficWin = append(trafficWin, 0)
				}
				mu.Unlock()
			}
			ms := func(ds []time.Duration, p float64) float64 {
				s := slices.Clone(ds)
				slices.Sort(s)
				return float64(s[int(p*float64(len(s)-1)+0.5)].Microseconds()) / 1000
			}
			b.ReportMetric(float64(opened), "flushes-open/100")
			b.ReportMetric(ms(trafficWin, 0.5), "traffic-p50-ms")
			b.ReportMetric(ms(trafficWin, 0.99), "traffic-p99-ms")
			b.ReportMetric(ms(kernelWin, 0.5), "kernel-p50-ms")
			b.ReportMetric(ms(kernelWin, 0.99), "kernel-p99-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}
