package e2e

// The dataplane benchmark of IPv6 publications (issue 14): what a new TCP
// connection over IPv6 through a published port costs with 10 and 10,000
// publications (one lookup in the map publish_any6 whatever their number).
//
//	go test -run '^$' -bench PublishedConnections6 -benchtime 2s ./e2e/
//
// The file is benchcfg's publications file made dual-stack (address6 on
// docker0 and on every service, ip6_forward: true): each publication, on
// every host address, has an IPv4 and an IPv6 side. The outside namespace
// connects to the host's [2001:db8:100::1]:20000, which netctl translates
// to svc0's [address6]:80.

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/bench/benchcfg"
	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
)

func BenchmarkPublishedConnections6(b *testing.B) {
	nstest.RequireRoot(b)
	if buildErr != nil {
		b.Fatalf("cannot run: %v", buildErr)
	}
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprintf("published=%d", n), func(b *testing.B) {
			outside, svcNS, svc, dst := publishedDataplane6(b, n)
			connectionsVia(b, outside, svcNS, svc, dst)
		})
	}
}

// dualStackPublish is benchcfg's publications file with address6 on the
// bridge and on every service, and ip6_forward: true.
func dualStackPublish(n int) ([]byte, error) {
	var v4 bytes.Buffer
	if err := benchcfg.WritePublish(&v4, n, benchServices); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteString("ip6_forward: true\n")
	sc := bufio.NewScanner(&v4)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	svc := -1
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "    address: "):
			line += "\n    address6: " + bench6Gateway
		case strings.HasPrefix(line, "      svc"):
			if _, err := fmt.Sscanf(strings.TrimSpace(line), "svc%d:", &svc); err != nil {
				return nil, fmt.Errorf("benchcfg line %q: %w", line, err)
			}
		case strings.HasPrefix(line, "        address: ") && svc >= 0:
			line += fmt.Sprintf("\n        address6: %q", service6(svc))
		}
		out.WriteString(line + "\n")
	}
	return out.Bytes(), sc.Err()
}

// publishedDataplane6 applies n dual-stack publications, attaches svc0 with
// its IPv6 address, and proves the publication works over IPv6 and the
// container's address6 does not (gateway mode nat), the listener alive.
func publishedDataplane6(b *testing.B, n int) (outsideNS, svcNS string, svc, dst netip.AddrPort) {
	b.Helper()
	nt := testnet.New(b)
	nt.AddOutside6(b)
	yaml, err := dualStackPublish(n)
	if err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(b.TempDir(), "publish6.yaml")
	if err := os.WriteFile(file, yaml, 0o644); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command(netctlBin, "apply", "-f", file, "--netns", nt.Host, "--auto-approve").CombinedOutput(); err != nil {
		b.Fatalf("netctl apply: %v\n%s", err, out)
	}
	if got := strings.Count(nstest.Exec(b, nt.Host, "nft", "list", "map", "inet", "netctl", "publish_any6"), "comment"); got != n {
		b.Fatalf("publish_any6 has %d elements, want %d", got, n)
	}
	gw := netip.MustParsePrefix(benchcfg.Gateway)
	gw6 := netip.MustParsePrefix(bench6Gateway)
	c := nt.AddContainer(b, "svc0", benchcfg.Bridge, netip.PrefixFrom(benchcfg.ServiceAddr(0), gw.Bits()), gw.Addr())
	c.AddAddr6(b, netip.PrefixFrom(service6(0), 64), gw6.Addr())
	svc = netip.AddrPortFrom(service6(0), benchcfg.PublishedPort)
	dst = netip.AddrPortFrom(testnet.HostExt6A.Addr(), benchcfg.PublishFirst)
	// Neighbour discovery on the bridge waits for both link-local
	// addresses to leave their tentative state.
	testnet.WaitLinkLocal(b, c.NS, "eth0")
	testnet.WaitLinkLocal(b, nt.Host, benchcfg.Bridge)
	l := c.Listen6(b, "tcp", int(svc.Port()))
	if err := testnet.Dial(nt.Outside, netip.Addr{}, "tcp", dst.Addr(), int(dst.Port()), testnet.DefaultTimeout); err != nil {
		b.Fatalf("outside cannot reach [%s]:%d (published to %s): %v", dst.Addr(), dst.Port(), svc, err)
	}
	if err := testnet.Dial(nt.Outside, netip.Addr{}, "tcp", svc.Addr(), int(svc.Port()), 300*time.Millisecond); err == nil {
		b.Fatalf("outside reaches %s directly: gateway mode nat does not drop it", svc)
	}
	l.Close()
	return nt.Outside, c.NS, svc, dst
}
