package explain

import (
	"testing"

	"github.com/netctl/netctl/bench/benchcfg"
	"github.com/netctl/netctl/schema"
)

// BenchmarkExplainEvaluate10000Links is the evaluation alone (with its
// drift check), on the state an apply of 10,000 links leaves; e2e's
// BenchmarkExplain10000Links adds the kernel read.
func BenchmarkExplainEvaluate10000Links(b *testing.B) {
	cfg, err := schema.Parse("bench.yaml", benchcfg.YAML(10000, 100))
	if err != nil {
		b.Fatal(err)
	}
	in := Input{Config: cfg, Live: liveOf(cfg)}
	from, _ := Resolve(cfg, benchcfg.ServiceName(0))
	to, _ := Resolve(cfg, benchcfg.ServiceName(1))
	for b.Loop() {
		if a := Explain(in, Flow{From: from, To: to, Proto: "tcp", Port: 5001}); a.Verdict != Blocked {
			b.Fatal(a.Verdict)
		}
	}
}
