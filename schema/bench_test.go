package schema

import (
	"fmt"
	"strings"
	"testing"
)

// linksFile is a file of n links, shaped as bench/genconfig writes them.
func linksFile(n int) []byte {
	var b strings.Builder
	b.WriteString("# generated\nip_forward: true\nbridges:\n  docker0:\n    address: 10.0.0.1/8\n    icc: false\n    containers:\n")
	const services = 100
	for j := range services {
		fmt.Fprintf(&b, "      svc%d: { address: 10.0.%d.%d, expose: [%d/tcp] }\n", j, (j+2)>>8, (j+2)&0xff, 5000+j)
	}
	for i := range n {
		fmt.Fprintf(&b, "      app%d: { address: 10.%d.%d.%d }\n", i, 1+(i+1)>>16, (i+1)>>8&0xff, (i+1)&0xff)
	}
	b.WriteString("    links:\n")
	for i := range n {
		fmt.Fprintf(&b, "      - { from: app%d, to: svc%d }\n", i, i%services)
	}
	return []byte(b.String())
}

// BenchmarkParse: Parse of a file of n links, as bench/genconfig writes it.
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{100, 1000, 10000, 100000} {
		data := linksFile(n)
		b.Run(fmt.Sprintf("links=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				cfg, err := Parse("links.yaml", data)
				if err != nil {
					b.Fatal(err)
				}
				if len(cfg.Bridges[0].Links) != n {
					b.Fatalf("%d links", len(cfg.Bridges[0].Links))
				}
			}
		})
	}
}
