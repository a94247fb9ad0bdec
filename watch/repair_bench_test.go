package watch_test

// The CPU of one repair by `netctl watch --repair`, in one process, for
// pprof (root, a throwaway namespace):
//
//	go test -run '^$' -bench RepairCheck -benchtime 30x -cpuprofile cpu.out ./watch/
//
// Each iteration flushes the ruleset (`nft flush ruleset`, untimed), then
// times one Check on a watch.Txn: the plan under the lock, the journal, the
// write of the whole table, the verifying re-read. The handle's
// notifications are subscribed and drained, as watch does: the repair's own
// batch is part of its cost.

import (
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/netctl/netctl/apply"
	"github.com/netctl/netctl/bench/benchcfg"
	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/kernel"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
	"github.com/netctl/netctl/watch"
)

func BenchmarkRepairCheck(b *testing.B) {
	nstest.RequireRoot(b)
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("links=%d", n), func(b *testing.B) {
			cfg, err := schema.Parse("links.yaml", benchcfg.YAML(n, 100))
			if err != nil {
				b.Fatal(err)
			}
			desired := plan.Desired(cfg)
			ns := nstest.New(b)
			k, err := kernel.Open(ns)
			if err != nil {
				b.Fatal(err)
			}
			defer k.Close()
			notes, err := k.Subscribe()
			if err != nil {
				b.Fatal(err)
			}
			defer notes.Close()
			go func() {
				for range notes.C {
				}
			}()
			opts := apply.Options{Netns: ns, NetnsID: k.NamespaceID(), StateDir: b.TempDir(), LockWait: time.Second}
			w := watch.New(watch.Options{Planner: watch.Txn{K: k, Opts: opts}, Desired: desired, Repair: true, MaxRepairs: 1 << 30})
			w.Check(watch.Trigger{Kind: "start"})
			if !w.InSync() {
				b.Fatal("not in sync after the first repair")
			}
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				b.StopTimer()
				if out, err := exec.Command("ip", "netns", "exec", ns, "nft", "flush", "ruleset").CombinedOutput(); err != nil {
					b.Fatalf("nft flush ruleset: %v\n%s", err, out)
				}
				b.StartTimer()
				w.Check(watch.Trigger{Kind: "nftables"})
				b.StopTimer()
				if !w.InSync() {
					b.Fatal("not in sync after a repair")
				}
				b.StartTimer()
			}
			// The process's CPU time (user + system, the notification
			// reader and the collector included, not nft's): what the
			// machine's load does not change.
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
