package e2e

// The dataplane benchmark of issue 6: what a new TCP connection between two
// containers costs with 10 and 10,000 links, netctl's way (one lookup in a
// set) and Docker's way (one rule per link, walked in order).
//
//	go test -run '^$' -bench NewConnections -benchtime 2s ./e2e/
//
// (bench/dataplane.sh runs it several times and prints the medians: on a
// small machine shared with anything else, single runs vary by 10%.)
//
// Two real containers, app0 and svc0, on netctl's bridge docker0 (icc:
// false, files from bench/benchcfg); app0 is linked to svc0's 5000/tcp.
// Each iteration opens one connection from app0 to svc0 and closes it (with
// a reset, so that no TIME_WAIT socket holds a port): the SYN is the packet
// that meets the firewall's lookup, every later packet is matched by
// "ct state established". The loop is the benchmark's: b.Loop over
// -benchtime, so bounded in time and in count.
//
// set:    netctl's table with N link elements (10, 10,000, 100,000).
// linear: netctl's table with icc: true (it accepts), and a table of the
//         benchmark's own (inline linear, written with nft -f) whose forward
//         chain holds the same N links as N rules, app0's last (Docker
//         appends the rules of each new link), then the drop.

import (
	"bytes"
	"fmt"
	"net"
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
	"github.com/netctl/netctl/schema"
)

func BenchmarkNewConnections(b *testing.B) {
	nstest.RequireRoot(b)
	if buildErr != nil {
		b.Fatalf("cannot run: %v", buildErr)
	}
	for _, c := range []struct {
		links  int
		linear bool
	}{{10, false}, {10000, false}, {100000, false}, {10, true}, {1000, true}, {10000, true}} {
		kind := "set"
		if c.linear {
			kind = "linear"
		}
		b.Run(fmt.Sprintf("links=%d/%s", c.links, kind), func(b *testing.B) {
			client, serverNS, server := dataplane(b, c.links, c.linear)
			connections(b, client, serverNS, server)
		})
	}
}

const benchServices = 100

// dataplane makes the namespaces, applies the file with netctl, attaches
// app0 and svc0, and proves the firewall in force: app0 reaches svc0's
// linked port, svc0 cannot open a connection to app0. It returns app0's
// namespace, svc0's, and svc0's address and linked port.
func dataplane(b *testing.B, links int, linear bool) (clientNS, serverNS string, server netip.AddrPort) {
	b.Helper()
	n := testnet.New(b)
	dir := b.TempDir()
	var yaml bytes.Buffer
	if err := benchcfg.Write(&yaml, links, benchServices, linear); err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(dir, "links.yaml")
	if err := os.WriteFile(file, yaml.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command(netctlBin, "apply", "-f", file, "--netns", n.Host, "--auto-approve").CombinedOutput()
	if err != nil {
		b.Fatalf("netctl apply: %v\n%s", err, out)
	}
	if linear {
		// Docker's way, by the benchmark, not netctl: the same links, one
		// rule each, app0's last. Same-bridge traffic reaches the inet
		// forward hook only through br_netfilter, which netctl turns on
		// only for icc: false.
		cfg, err := schema.Parse(file, yaml.Bytes())
		if err != nil {
			b.Fatal(err)
		}
		rules, err := benchcfg.LinkRules(cfg)
		if err != nil {
			b.Fatal(err)
		}
		app0 := benchcfg.ClientAddr(0).String()
		for i, r := range rules {
			if r.From == app0 {
				rules = append(append(rules[:i:i], rules[i+1:]...), r)
				break
			}
		}
		if len(rules) != links || rules[len(rules)-1].From != app0 {
			b.Fatalf("%d rules, app0's not last", len(rules))
		}
		nstest.Exec(b, n.Host, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1")
		cmd := exec.Command("ip", "netns", "exec", n.Host, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(benchcfg.LinearNFT(rules, []string{benchcfg.Bridge}))
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("nft -f (linear rules): %v\n%s", err, out)
		}
		if got := strings.Count(nstest.Exec(b, n.Host, "nft", "list", "chain", "inet", "linear", "forward"), " dport "); got != links {
			b.Fatalf("the linear chain has %d link rules, want %d", got, links)
		}
	}
	gw := netip.MustParsePrefix(benchcfg.Gateway)
	app := n.AddContainer(b, "app0", benchcfg.Bridge, netip.PrefixFrom(benchcfg.ClientAddr(0), gw.Bits()), gw.Addr())
	svc := n.AddContainer(b, "svc0", benchcfg.Bridge, netip.PrefixFrom(benchcfg.ServiceAddr(0), gw.Bits()), gw.Addr())
	port := benchcfg.ServicePort(0)

	// The firewall is in force: the link opens the port, nothing else.
	lsvc := svc.Listen(b, "tcp", port)
	lapp := app.Listen(b, "tcp", port)
	if err := testnet.Dial(app.NS, netip.Addr{}, "tcp", svc.Addr, port, testnet.DefaultTimeout); err != nil {
		b.Fatalf("app0 cannot reach svc0:%d through its link: %v", port, err)
	}
	if err := testnet.Dial(svc.NS, netip.Addr{}, "tcp", app.Addr, port, 300*time.Millisecond); err == nil {
		b.Fatalf("svc0 reaches app0:%d: the firewall does not drop what no link opens", port)
	}
	lsvc.Close()
	lapp.Close()
	return app.NS, svc.NS, netip.AddrPortFrom(svc.Addr, uint16(port))
}

// connections times new connections from the client namespace to server: a
// server that accepts and closes, a client that connects and resets (the
// server's socket then leaves no TIME_WAIT either).
func connections(b *testing.B, clientNS, serverNS string, server netip.AddrPort) {
	b.Helper()
	connectionsVia(b, clientNS, serverNS, server, server)
}

// connectionsVia is connections to dst, which leads to server (a published
// port: dst is the host's, translated to server); IPv4 or IPv6 as they are.
func connectionsVia(b *testing.B, clientNS, serverNS string, server, dst netip.AddrPort) {
	b.Helper()
	serve(b, serverNS, server)
	network := "tcp4"
	if dst.Addr().Is6() {
		network = "tcp6"
	}
	err := testnet.InNS(clientNS, func() error {
		d := net.Dialer{Timeout: time.Second}
		connect := func(n int) error {
			c, err := d.Dial(network, dst.String())
			if err != nil {
				return fmt.Errorf("connection %d: %w", n, err)
			}
			_ = c.(*net.TCPConn).SetLinger(0)
			return c.Close()
		}
		// Warm up (caches, conntrack, the CPU's clock), untimed.
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
