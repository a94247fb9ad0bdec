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
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

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
			publishedConnections(b, outside, svcNS, svc, dst)
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

// publishedConnections times new connections from outsideNS to dst,
// translated to svc (IPv4 or IPv6, as dst is).
func publishedConnections(b *testing.B, outsideNS, svcNS string, svc, dst netip.AddrPort) {
	b.Helper()
	network := "tcp4"
	if dst.Addr().Is6() {
		network = "tcp6"
	}
	var ln *net.TCPListener
	if err := testnet.InNS(svcNS, func() (err error) {
		ln, err = net.ListenTCP(network, net.TCPAddrFromAddrPort(svc))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	err := testnet.InNS(outsideNS, func() error {
		d := net.Dialer{Timeout: time.Second}
		connect := func(n int) error {
			c, err := d.Dial(network, dst.String())
			if err != nil {
				return fmt.Errorf("connection %d: %w", n, err)
			}
			_ = c.(*net.TCPConn).SetLinger(0)
			return c.Close()
		}
		for n := range 1000 {
			if err := connect(n); err != nil {
				return err
			}
		}
		for n := 0; b.Loop(); n++ {
			if err := connect(n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
}
