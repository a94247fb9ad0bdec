package e2e

import (
	"testing"

	"github.com/netctl/netctl/bench/benchcfg"
	"github.com/netctl/netctl/explain"
	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/kernel"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// BenchmarkExplain10000Links is what `netctl explain` does after loading
// the file, in a namespace holding 10,000 links: Read, the other tables'
// forward chains, and the evaluation (which includes the drift check).
// The goal is under 50 ms. go test -run '^$' -bench Explain ./e2e/
func BenchmarkExplain10000Links(b *testing.B) {
	nstest.RequireRoot(b)
	const links, services = 10000, 100
	cfg, err := schema.Parse("bench.yaml", benchcfg.YAML(links, services))
	if err != nil {
		b.Fatal(err)
	}
	desired := plan.Desired(cfg)
	ns := nstest.New(b)
	h, err := kernel.Open(ns)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	for name, v := range desired.Sysctls {
		if err := h.SetSysctl(name, v); err != nil {
			b.Fatal(err)
		}
	}
	for _, br := range desired.Bridges {
		if err := h.SyncBridge(nil, &br); err != nil {
			b.Fatal(err)
		}
	}
	if err := h.SyncFirewall(nil, desired.Firewall); err != nil {
		b.Fatal(err)
	}
	scope := desired.Scope()
	// The last link's flow (allowed) and one no link opens (blocked: every
	// element is looked at).
	last := links - 1
	flows := map[string][2]string{
		"allowed": {benchcfg.ClientAddr(last).String(), benchcfg.ServiceName(last % services)},
		"blocked": {benchcfg.ServiceName(0), benchcfg.ServiceName(1)},
	}
	for what, ft := range flows {
		b.Run(what, func(b *testing.B) {
			from, err1 := explain.Resolve(cfg, ft[0])
			to, err2 := explain.Resolve(cfg, ft[1])
			if err1 != nil || err2 != nil {
				b.Fatal(err1, err2)
			}
			proto, port, err := explain.DefaultPort(cfg, to)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				live, err := h.Read(scope)
				if err != nil {
					b.Fatal(err)
				}
				drops, err := h.ForwardDropPolicies()
				if err != nil {
					b.Fatal(err)
				}
				a := explain.Explain(explain.Input{Config: cfg, Live: live, ForeignDrops: drops},
					explain.Flow{From: from, To: to, Proto: proto, Port: port})
				if a.Verdict != what || len(a.Drift) != 0 {
					b.Fatalf("verdict %s, drift %v: %v", a.Verdict, a.Drift, a.Path)
				}
			}
		})
	}

}
