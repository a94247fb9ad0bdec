package e2e

// The dataplane benchmark for IPv6 links (issue 14): what a new TCP
// connection over IPv6 between two containers of a dual-stack bridge costs
// with 10 and 10,000 links, each link one element of links6 (and one of
// links): the SYN meets one lookup in links6, whatever their number.
//
//	go test -run '^$' -bench NewConnections6 -benchtime 2s ./e2e/
//
// The file is benchcfg's (docker0, icc: false, services and clients linked
// round robin) with address6 on the bridge and on every container.

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/bench/benchcfg"
	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
)

func BenchmarkNewConnections6(b *testing.B) {
	nstest.RequireRoot(b)
	if buildErr != nil {
		b.Fatalf("cannot run: %v", buildErr)
	}
	for _, links := range []int{10, 10000} {
		b.Run(fmt.Sprintf("links=%d/set6", links), func(b *testing.B) {
			_, client, serverNS, server := dataplane6(b, links)
			connections(b, client, serverNS, server)
		})
	}
}

const bench6Gateway = "fd00:10::1/64"

// service6 and client6 are the IPv6 addresses of benchcfg's containers.
func service6(j int) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfd, 0, 0, 0x10, 10: 2, 14: byte(j >> 8), 15: byte(j)})
}

func client6(i int) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfd, 0, 0, 0x10, 10: 1, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
}

// dualStackBench is benchcfg's file made dual-stack.
func dualStackBench(links int) ([]byte, error) {
	var v4 bytes.Buffer
	if err := benchcfg.Write(&v4, links, benchServices, false); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(&v4)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "    address: "):
			line += "\n    address6: " + bench6Gateway
		case strings.HasPrefix(line, "      svc"), strings.HasPrefix(line, "      app"):
			var name string
			fmt.Sscanf(strings.TrimSpace(line), "%s", &name)
			name = strings.TrimSuffix(name, ":")
			var a netip.Addr
			var n int
			if _, err := fmt.Sscanf(name, "svc%d", &n); err == nil {
				a = service6(n)
			} else if _, err := fmt.Sscanf(name, "app%d", &n); err == nil {
				a = client6(n)
			}
			line = strings.Replace(line, "{ address: ", fmt.Sprintf("{ address6: %q, address: ", a), 1)
		}
		out.WriteString(line + "\n")
	}
	return out.Bytes(), sc.Err()
}

// dataplane6 applies the file, attaches app0 and svc0 with their IPv6
// addresses and proves the firewall in force over IPv6: app0 reaches
// svc0's linked port, svc0 cannot open a connection to app0.
func dataplane6(b *testing.B, links int) (host, clientNS, serverNS string, server netip.AddrPort) {
	b.Helper()
	n := testnet.New(b)
	yaml, err := dualStackBench(links)
	if err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(b.TempDir(), "links6.yaml")
	if err := os.WriteFile(file, yaml, 0o644); err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command(netctlBin, "apply", "-f", file, "--netns", n.Host, "--auto-approve").CombinedOutput()
	if err != nil {
		b.Fatalf("netctl apply: %v\n%s", err, out)
	}
	if got := strings.Count(nstest.Exec(b, n.Host, "nft", "list", "set", "inet", "netctl", "links6"), "comment"); got != links {
		b.Fatalf("links6 has %d elements, want %d", got, links)
	}
	gw := netip.MustParsePrefix(benchcfg.Gateway)
	gw6 := netip.MustParsePrefix(bench6Gateway)
	app := n.AddContainer(b, "app0", benchcfg.Bridge, netip.PrefixFrom(benchcfg.ClientAddr(0), gw.Bits()), gw.Addr())
	svc := n.AddContainer(b, "svc0", benchcfg.Bridge, netip.PrefixFrom(benchcfg.ServiceAddr(0), gw.Bits()), gw.Addr())
	app.AddAddr6(b, netip.PrefixFrom(client6(0), 64), gw6.Addr())
	svc.AddAddr6(b, netip.PrefixFrom(service6(0), 64), gw6.Addr())
	port := benchcfg.ServicePort(0)

	lsvc, lapp := svc.Listen6(b, "tcp", port), app.Listen6(b, "tcp", port)
	if err := testnet.Dial(app.NS, netip.Addr{}, "tcp", svc.Addr6, port, testnet.DefaultTimeout); err != nil {
		b.Fatalf("app0 cannot reach svc0 [%s]:%d through its link: %v", svc.Addr6, port, err)
	}
	if err := testnet.Dial(svc.NS, netip.Addr{}, "tcp", app.Addr6, port, 300*time.Millisecond); err == nil {
		b.Fatalf("svc0 reaches app0:%d over IPv6: the firewall does not drop what no link opens", port)
	}
	lsvc.Close()
	lapp.Close()
	return n.Host, app.NS, svc.NS, netip.AddrPortFrom(svc.Addr6, uint16(port))
}

// BenchmarkNewConnections6Paired measures the two cases side by side, for a
// machine whose load changes from one second to the next (a shared one):
// both topologies are made first, then blocks of 5 connections alternate
// between them, and each case's rate is its connections over its own time.
// A change of load then falls on both cases alike; "slower-%" is how much
// slower a new connection is with 10,000 links than with 10.
//
//	go test -run '^$' -bench NewConnections6Paired -benchtime 20000x ./e2e/
func BenchmarkNewConnections6Paired(b *testing.B) {
	nstest.RequireRoot(b)
	if buildErr != nil {
		b.Fatalf("cannot run: %v", buildErr)
	}
	type side struct {
		run   chan int
		done  chan error
		spent time.Duration
		conns int
	}
	var sides [2]*side
	for i, links := range []int{10, 10000} {
		_, clientNS, serverNS, server := dataplane6(b, links)
		serve(b, serverNS, server)
		s := &side{run: make(chan int), done: make(chan error)}
		sides[i] = s
		go func() {
			// A thread of its own in the client's namespace, for good.
			_ = testnet.InNS(clientNS, func() error {
				d := net.Dialer{Timeout: time.Second}
				for n := range s.run {
					var err error
					for k := 0; k < n && err == nil; k++ {
						var c net.Conn
						if c, err = d.Dial("tcp6", server.String()); err == nil {
							_ = c.(*net.TCPConn).SetLinger(0)
							err = c.Close()
						}
					}
					s.done <- err
				}
				return nil
			})
		}()
		b.Cleanup(func() { close(s.run) })
	}
	for _, s := range sides { // warm up, untimed
		s.run <- 1000
		if err := <-s.done; err != nil {
			b.Fatal(err)
		}
	}
	const block = 5
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s := sides[(i/block)%2]
		if i%block != 0 {
			continue // one b.Loop iteration per connection; blocks run at their first
		}
		start := time.Now()
		s.run <- block
		if err := <-s.done; err != nil {
			b.Fatal(err)
		}
		s.spent += time.Since(start)
		s.conns += block
	}
	rate := func(s *side) float64 { return float64(s.conns) / s.spent.Seconds() }
	b.ReportMetric(rate(sides[0]), "conns/s-10")
	b.ReportMetric(rate(sides[1]), "conns/s-10000")
	b.ReportMetric((rate(sides[0])/rate(sides[1])-1)*100, "slower-%")
}

// serve accepts and closes connections on server (IPv4 or IPv6) in its
// namespace until the benchmark ends.
func serve(b *testing.B, serverNS string, server netip.AddrPort) {
	b.Helper()
	var ln *net.TCPListener
	if err := testnet.InNS(serverNS, func() (err error) {
		network := "tcp4"
		if server.Addr().Is6() {
			network = "tcp6"
		}
		ln, err = net.ListenTCP(network, net.TCPAddrFromAddrPort(server))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// BenchmarkIPv6LinkLookupToggle isolates the set lookup: one topology, one
// client thread, one server, and a rule at the top of the user chain that
// accepts app0 → svc0 by a lookup in a set of the links6 type holding 10
// or 10,000 link elements (both hold app0 → svc0's). Between blocks of
// connections the rule is replaced to look up the other set, so the two
// cases differ in the set's size only, and a change of the machine's load
// falls on both alike. "slower-%" is how much slower a new connection is
// with the 10,000-element set.
//
//	go test -run '^$' -bench IPv6LinkLookupToggle -benchtime 20000x ./e2e/
func BenchmarkIPv6LinkLookupToggle(b *testing.B) {
	nstest.RequireRoot(b)
	if buildErr != nil {
		b.Fatalf("cannot run: %v", buildErr)
	}
	host, clientNS, serverNS, server := dataplane6(b, 10)
	var script strings.Builder
	elem := func(i int) string {
		return fmt.Sprintf("%s . %s . tcp . %d", client6(i), service6(i%benchServices), benchcfg.ServicePort(i%benchServices))
	}
	for _, set := range []struct {
		name string
		n    int
	}{{"user_links6_small", 10}, {"user_links6_big", 10000}} {
		fmt.Fprintf(&script, "add set inet netctl %s { type %s; flags interval; }\nadd element inet netctl %s { ", set.name, "ipv6_addr . ipv6_addr . inet_proto . inet_service", set.name)
		for i := range set.n {
			if i > 0 {
				script.WriteString(", ")
			}
			script.WriteString(elem(i))
		}
		script.WriteString(" }\n")
	}
	rule := func(set string) string {
		return `iifname "docker0" oifname "docker0" ip6 saddr . ip6 daddr . meta l4proto . th dport @` + set + ` accept`
	}
	fmt.Fprintf(&script, "insert rule inet netctl user %s\n", rule("user_links6_small"))
	cmd := exec.Command("ip", "netns", "exec", host, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("nft -f: %v\n%s", err, out)
	}
	handle := regexp.MustCompile(`@user_links6_small accept # handle (\d+)`).FindStringSubmatch(nstest.Exec(b, host, "nft", "-a", "list", "chain", "inet", "netctl", "user"))
	if handle == nil {
		b.Fatal("no toggle rule")
	}
	use := func(set string) {
		nstest.Exec(b, host, "nft", "replace", "rule", "inet", "netctl", "user", "handle", handle[1], rule(set))
	}
	serve(b, serverNS, server)
	run, done := make(chan int), make(chan error)
	go func() {
		_ = testnet.InNS(clientNS, func() error {
			d := net.Dialer{Timeout: time.Second}
			for n := range run {
				var err error
				for k := 0; k < n && err == nil; k++ {
					var c net.Conn
					if c, err = d.Dial("tcp6", server.String()); err == nil {
						_ = c.(*net.TCPConn).SetLinger(0)
						err = c.Close()
					}
				}
				done <- err
			}
			return nil
		})
	}()
	defer close(run)
	sets := []string{"user_links6_small", "user_links6_big"}
	for _, s := range sets { // warm up both, untimed
		use(s)
		run <- 500
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	const block = 200
	var spent [2]time.Duration
	var conns [2]int
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%block != 0 {
			continue
		}
		k := (i / block) % 2
		b.StopTimer()
		use(sets[k])
		b.StartTimer()
		start := time.Now()
		run <- block
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		spent[k] += time.Since(start)
		conns[k] += block
	}
	rate := func(k int) float64 { return float64(conns[k]) / spent[k].Seconds() }
	b.ReportMetric(rate(0), "conns/s-10")
	b.ReportMetric(rate(1), "conns/s-10000")
	b.ReportMetric((rate(0)/rate(1)-1)*100, "slower-%")
}
