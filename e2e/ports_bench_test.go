package e2e

// The dataplane benchmark of issue 13: what a new TCP connection through a
// published port costs with 10 and 10,000 publications (one lookup in the
// map publish whatever their number).
//
//	go test -run '^$' -bench PublishedConnections -benchtime 2s ./e2e/
//
// bench/dataplane.sh runs it several times and prints the medians. The
// outside namespace connects to the host's 198.51.100.1:20000, which netctl
// translates to svc0:80 (files from bench/benchcfg, gateway mode nat); each
// connection is closed with a reset, as in BenchmarkNewConnections.

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/netctl/netctl/bench/benchcfg"
	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
)

func BenchmarkPublishedConnections(b *testing.B) {
	nstest.RequireRoot(b)
	if buildErr != nil {
		b.Fatalf("cannot run: %v", buildErr)
	}
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprintf("published=%d", n), func(b *testing.B) {
			outside, svcNS, svc, dst := publishedDataplane(b, n)
			connectionsVia(b, outside, svcNS, svc, dst)
		})
	}
}

// publishedDataplane applies n publications, attaches svc0, and proves
// the publication works and the container's address does not.
func publishedDataplane(b *testing.B, n int) (outsideNS, svcNS string, svc, dst netip.AddrPort) {
	b.Helper()
	nt := testnet.New(b)
	file := filepath.Join(b.TempDir(), "publish.yaml")
	if err := os.WriteFile(file, benchcfg.PublishYAML(n, benchServices), 0o644); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command(netctlBin, "apply", "-f", file, "--netns", nt.Host, "--auto-approve").CombinedOutput(); err != nil {
		b.Fatalf("netctl apply: %v\n%s", err, out)
	}
	gw := netip.MustParsePrefix(benchcfg.Gateway)
	c := nt.AddContainer(b, "svc0", benchcfg.Bridge, netip.PrefixFrom(benchcfg.ServiceAddr(0), gw.Bits()), gw.Addr())
	svc = benchcfg.PublishTarget(0, benchServices)
	dst = netip.AddrPortFrom(testnet.HostExtA.Addr(), benchcfg.PublishFirst)
	l := c.Listen(b, "tcp", int(svc.Port()))
	if err := testnet.Dial(nt.Outside, netip.Addr{}, "tcp", dst.Addr(), int(dst.Port()), testnet.DefaultTimeout); err != nil {
		b.Fatalf("outside cannot reach %s (published to %s): %v", dst, svc, err)
	}
	l.Close()
	return nt.Outside, c.NS, svc, dst
}
