package apply_test

// Benchmarks of the transaction at scale (issue 6). Root, each in a
// throwaway namespace:
//
//	go test -run '^$' -bench . -benchmem -benchtime 5x ./apply/
//
// Every benchmark resets the namespace with the timer stopped, checks that
// the plan it times has the work it claims (a plan that changes nothing
// would measure a no-op), and checks after the timed part that the live
// state is the desired one.

import (
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/netctl/netctl/apply"
	"github.com/netctl/netctl/bench/benchcfg"
	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/kernel"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

var benchSizes = []int{100, 1000, 10000, 100000}

// benchServices is how many service containers the generated files have.
const benchServices = 100

// benchNS is one namespace and a handle on it, for a benchmark.
type benchNS struct {
	ns    string
	k     *kernel.Handle
	state string // StateDir: locks and journals
}

func newBenchNS(b *testing.B) *benchNS {
	b.Helper()
	ns := nstest.New(b)
	k, err := kernel.Open(ns)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { k.Close() })
	return &benchNS{ns: ns, k: k, state: b.TempDir()}
}

func (e *benchNS) opts() apply.Options {
	return apply.Options{Netns: e.ns, NetnsID: e.k.NamespaceID(), StateDir: e.state, LockWait: time.Second}
}

// apply runs one whole transaction: Begin, Plan, Apply, Close. It returns
// the plan it applied.
func (e *benchNS) apply(b *testing.B, desired plan.State) *plan.Plan {
	b.Helper()
	txn, err := apply.Begin(e.k, e.opts())
	if err != nil {
		b.Fatal(err)
	}
	defer txn.Close()
	p, err := txn.Plan(desired)
	if err != nil {
		b.Fatal(err)
	}
	if err := txn.Apply(p, apply.ApplyOptions{}); err != nil {
		b.Fatal(err)
	}
	return p
}

// reset makes the namespace empty of what netctl owns (as destroy does),
// with the timer stopped, and lets the kernel finish freeing it: nf_tables
// frees a deleted set's elements in a work queue after the commit.
func (e *benchNS) reset(b *testing.B) {
	b.Helper()
	p := e.apply(b, plan.State{})
	for _, name := range []string{plan.SysctlIPForward, plan.SysctlBridgeNFIptables} {
		if err := e.k.SetSysctl(name, "0"); err != nil {
			b.Fatal(err)
		}
	}
	if s := p.Summary(); s.Destroy > 1000 {
		time.Sleep(time.Duration(s.Destroy/1000) * 5 * time.Millisecond)
	}
	runtime.GC()
}

// mustConverge fails unless the live state is desired.
func (e *benchNS) mustConverge(b *testing.B, desired plan.State) {
	b.Helper()
	live, err := e.k.Read(desired.Scope())
	if err != nil {
		b.Fatal(err)
	}
	if p := plan.Diff(desired, live); !p.Empty() {
		b.Fatalf("the live state is not the desired one: %d changes left, first %s", len(p.Changes), p.Changes[0].Address)
	}
	if n := len(live.Firewall.Set(plan.SetLinks).Elements); n != len(desired.Firewall.Set(plan.SetLinks).Elements) {
		b.Fatalf("%d link elements in the kernel, want %d", n, len(desired.Firewall.Set(plan.SetLinks).Elements))
	}
}

// config parses the generated file of n links.
func config(b *testing.B, n int) (*schema.Config, []byte) {
	b.Helper()
	data := benchcfg.YAML(n, benchServices)
	cfg, err := schema.Parse("links.yaml", data)
	if err != nil {
		b.Fatal(err)
	}
	return cfg, data
}

// wantAdds fails unless the plan creates the bridge, the table and every
// link: it is not a no-op.
func wantAdds(b *testing.B, p *plan.Plan, links int) {
	b.Helper()
	if s := p.Summary(); s.Add < links+3 {
		b.Fatalf("the plan adds %d objects, want at least %d links, the bridge and the table", s.Add, links)
	}
}

// BenchmarkApplyIntoEmpty: the apply of N links into an empty namespace.
//
//   - txn: the transaction alone (lock, read, diff, journal, the steps,
//     verification by re-reading), from a desired state compiled before;
//   - whole: what `netctl apply --auto-approve` does: parse the file,
//     compile, the transaction, and the text of the plan (to io.Discard).
func BenchmarkApplyIntoEmpty(b *testing.B) {
	nstest.RequireRoot(b)
	for _, n := range benchSizes {
		cfg, data := config(b, n)
		desired := plan.Desired(cfg)
		b.Run(fmt.Sprintf("links=%d/txn", n), func(b *testing.B) {
			e := newBenchNS(b)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				e.reset(b)
				b.StartTimer()
				p := e.apply(b, desired)
				b.StopTimer()
				wantAdds(b, p, n)
				e.mustConverge(b, desired)
				b.StartTimer()
			}
		})
		b.Run(fmt.Sprintf("links=%d/whole", n), func(b *testing.B) {
			e := newBenchNS(b)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				e.reset(b)
				b.StartTimer()
				cfg, err := schema.Parse("links.yaml", data)
				if err != nil {
					b.Fatal(err)
				}
				d := plan.Desired(cfg)
				txn, err := apply.Begin(e.k, e.opts())
				if err != nil {
					b.Fatal(err)
				}
				p, err := txn.Plan(d)
				if err != nil {
					b.Fatal(err)
				}
				if err := p.WriteText(io.Discard, plan.TextOptions{}); err != nil {
					b.Fatal(err)
				}
				if err := txn.Apply(p, apply.ApplyOptions{}); err != nil {
					b.Fatal(err)
				}
				txn.Close()
				b.StopTimer()
				wantAdds(b, p, n)
				e.mustConverge(b, desired)
				b.StartTimer()
			}
		})
	}
}

// BenchmarkPlanNoChange: a plan against a namespace that already matches.
//
//   - read+diff: Read and Diff, what every drift check does;
//   - whole: what `netctl plan` does: parse the file, compile, read, diff,
//     print "No changes".
func BenchmarkPlanNoChange(b *testing.B) {
	nstest.RequireRoot(b)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("links=%d", n), func(b *testing.B) {
			cfg, data := config(b, n)
			desired := plan.Desired(cfg)
			e := newBenchNS(b)
			e.apply(b, desired)
			e.mustConverge(b, desired)
			b.Run("read+diff", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					live, err := e.k.Read(desired.Scope())
					if err != nil {
						b.Fatal(err)
					}
					if p := plan.Diff(desired, live); !p.Empty() {
						b.Fatalf("%d changes, want none", len(p.Changes))
					}
				}
			})
			b.Run("whole", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					cfg, err := schema.Parse("links.yaml", data)
					if err != nil {
						b.Fatal(err)
					}
					d := plan.Desired(cfg)
					live, err := e.k.Read(d.Scope())
					if err != nil {
						b.Fatal(err)
					}
					p := plan.Diff(d, live)
					if !p.Empty() {
						b.Fatalf("%d changes, want none", len(p.Changes))
					}
					if err := p.WriteText(io.Discard, plan.TextOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkApplyOneLink: one link added to, or removed from, a namespace
// holding 10,000: the whole transaction (lock, read, diff, journal, one
// element in one batch, verification by re-reading).
func BenchmarkApplyOneLink(b *testing.B) {
	nstest.RequireRoot(b)
	const n = 10000
	cfg, _ := config(b, n+1)
	more := plan.Desired(cfg)
	cfg.Bridges[0].Links = cfg.Bridges[0].Links[:n]
	base := plan.Desired(cfg)
	if len(more.Firewall.Set(plan.SetLinks).Elements) != n+1 || len(base.Firewall.Set(plan.SetLinks).Elements) != n {
		b.Fatal("the two desired states are not 10,000 and 10,001 links")
	}
	for _, c := range []struct {
		name     string
		from, to plan.State
		want     plan.Action
	}{
		{"add/links=10000", base, more, plan.Create},
		{"remove/links=10000", more, base, plan.Delete},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := newBenchNS(b)
			e.apply(b, c.from)
			b.ReportAllocs()
			for b.Loop() {
				p := e.apply(b, c.to)
				b.StopTimer()
				if len(p.Changes) != 1 || p.Changes[0].Type != plan.TypeLink || p.Changes[0].Action != c.want {
					b.Fatalf("the plan has %d changes, want one link %s", len(p.Changes), c.want)
				}
				e.mustConverge(b, c.to)
				e.apply(b, c.from) // back, untimed
				b.StartTimer()
			}
		})
	}
}
