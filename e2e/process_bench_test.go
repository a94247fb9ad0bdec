package e2e

// The netctl process at scale, as a user runs it: the time of a whole
// `netctl apply --auto-approve` (or `netctl plan`), and its peak RSS.
//
//	go test -run '^$' -bench NetctlProcess -benchtime 5x ./e2e/
//
// bench/compare.sh measures the same with hyperfine and /usr/bin/time, next
// to nft -f and iptables.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/bench/benchcfg"
	"github.com/netctl/netctl/internal/nstest"
)

// linksFile writes bench/genconfig's file of n links into dir.
func linksFile(b *testing.B, dir string, n int) string {
	b.Helper()
	var buf bytes.Buffer
	if err := benchcfg.Write(&buf, n, benchServices, false); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("links-%d.yaml", n))
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// runNetctl runs the product; it fails the benchmark unless netctl exits
// with want. It returns the output.
func runNetctl(b *testing.B, want int, args ...string) []byte {
	b.Helper()
	cmd := exec.Command(netctlBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		b.Fatal(err)
	}
	if code != want {
		b.Fatalf("netctl %v: exit %d, want %d\n%s", args, code, want, out.Bytes())
	}
	return out.Bytes()
}

// peakRSS runs the product under /usr/bin/time and returns its peak RSS in
// bytes. (The rusage os/exec gives counts the memory of this test process
// too: Go starts children with vfork, and the kernel keeps the high-water
// mark of the memory a process had before exec.)
func peakRSS(b *testing.B, args ...string) int64 {
	b.Helper()
	report := filepath.Join(b.TempDir(), "rss")
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", report, netctlBin}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("netctl %v: %v\n%s", args, err, out)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		b.Fatal(err)
	}
	kb, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		b.Fatalf("/usr/bin/time wrote %q", data)
	}
	return kb * 1024
}

// emptyNS deletes and re-creates the namespace, with the timer stopped, and
// lets the kernel free what the old one held.
func emptyNS(b *testing.B, ns string, links int) {
	b.Helper()
	_ = exec.Command("ip", "netns", "del", ns).Run()
	nstest.Run(b, "ip", "netns", "add", ns)
	time.Sleep(50*time.Millisecond + time.Duration(links/1000)*3*time.Millisecond)
}

// BenchmarkNetctlProcess:
//   - apply/links=N: netctl apply of N links into an empty namespace;
//   - plan/links=N: netctl plan --detailed-exitcode when the namespace
//     matches (exit 0: no changes);
//   - apply-one/add, apply-one/remove: one link added to 10,000, one
//     removed from 10,001.
//
// Each reports peak-RSS-MB, of one more run under /usr/bin/time.
func BenchmarkNetctlProcess(b *testing.B) {
	nstest.RequireRoot(b)
	if buildErr != nil {
		b.Fatalf("cannot run: %v", buildErr)
	}
	dir := b.TempDir()
	sizes := []int{100, 1000, 10000, 100000}
	files := map[int]string{}
	for _, n := range append(sizes, 10001) {
		files[n] = linksFile(b, dir, n)
	}
	ns := "nctest-bench-" + fmt.Sprint(os.Getpid())
	b.Cleanup(func() {
		// netctl removes its lock file itself (it is named by the
		// namespace's identity, not by ns).
		_ = exec.Command("ip", "netns", "del", ns).Run()
	})
	apply := func(n int) []string {
		return []string{"apply", "-f", files[n], "--netns", ns, "--auto-approve"}
	}
	report := func(b *testing.B, rss int64) { b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MB") }

	for _, n := range sizes {
		b.Run(fmt.Sprintf("apply/links=%d", n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				emptyNS(b, ns, n)
				b.StartTimer()
				runNetctl(b, 0, apply(n)...)
			}
			b.StopTimer()
			runNetctl(b, 0, "plan", "-f", files[n], "--netns", ns, "--detailed-exitcode")
			emptyNS(b, ns, n)
			report(b, peakRSS(b, apply(n)...))
		})
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("plan/links=%d", n), func(b *testing.B) {
			emptyNS(b, ns, n)
			runNetctl(b, 0, apply(n)...)
			for b.Loop() {
				runNetctl(b, 0, "plan", "-f", files[n], "--netns", ns, "--detailed-exitcode")
			}
			b.StopTimer()
			report(b, peakRSS(b, "plan", "-f", files[n], "--netns", ns, "--detailed-exitcode"))
		})
	}
	for _, c := range []struct {
		name     string
		from, to int
	}{{"apply-one/add/links=10000", 10000, 10001}, {"apply-one/remove/links=10000", 10001, 10000}} {
		b.Run(c.name, func(b *testing.B) {
			emptyNS(b, ns, 10000)
			runNetctl(b, 0, apply(c.from)...)
			want := `"summary":{"add":1,"change":0,"destroy":0}`
			if c.to < c.from {
				want = `"summary":{"add":0,"change":0,"destroy":1}`
			}
			for b.Loop() {
				b.StopTimer()
				if out := runNetctl(b, 2, "plan", "-f", files[c.to], "--netns", ns, "--detailed-exitcode", "--json"); !bytes.Contains(out, []byte(want)) {
					b.Fatalf("the plan is not one link (%s):\n%.2000s", want, out)
				}
				b.StartTimer()
				runNetctl(b, 0, apply(c.to)...)
				b.StopTimer()
				runNetctl(b, 0, "plan", "-f", files[c.to], "--netns", ns, "--detailed-exitcode")
				runNetctl(b, 0, apply(c.from)...)
				b.StartTimer()
			}
			b.StopTimer()
			report(b, peakRSS(b, apply(c.to)...))
		})
	}
}
