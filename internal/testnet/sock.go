package testnet

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// DefaultTimeout bounds every probe: namespaces on one machine answer in
// microseconds, so a probe that has heard nothing after this is blocked.
const DefaultTimeout = 1 * time.Second

// InNS runs fn on an OS thread that has entered the named network namespace.
// The thread stays locked and is discarded when fn returns, so the namespace
// switch never leaks to other goroutines. Sockets created by fn stay in that
// namespace whatever thread uses them afterwards.
func InNS(ns string, fn func() error) error {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("netns %s: %w", ns, err)
	}
	defer h.Close()
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the Go runtime terminates a thread whose goroutine
		// exits while locked, and with it the foreign namespace.
		runtime.LockOSThread()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Record is one message a listener received.
type Record struct {
	Peer  netip.AddrPort
	Token string
}

// Listener is an echo server for one protocol on one address and port. It
// records the peer and the first line of every connection (TCP) or datagram
// (UDP) it receives, before echoing it, so a client that got its echo back
// is always already recorded.
type Listener struct {
	Name  string // "db", "host", "outside 203.0.113.10": for messages
	NS    string
	Proto string
	Addr  netip.Addr
	Port  int

	tcp *net.TCPListener
	udp *net.UDPConn

	mu      sync.Mutex
	records []Record
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// Listen starts an echo listener in namespace ns on addr:port and closes it
// when the test ends. name is used in messages.
func Listen(t testing.TB, ns, name, proto string, addr netip.Addr, port int) *Listener {
	t.Helper()
	l := &Listener{Name: name, NS: ns, Proto: proto, Addr: addr, Port: port, conns: map[net.Conn]struct{}{}}
	ap := netip.AddrPortFrom(addr, uint16(port))
	listen := func() error {
		switch proto {
		case "tcp":
			s, err := net.ListenTCP(network("tcp", addr), net.TCPAddrFromAddrPort(ap))
			l.tcp = s
			return err
		case "udp":
			s, err := net.ListenUDP(network("udp", addr), net.UDPAddrFromAddrPort(ap))
			l.udp = s
			return err
		}
		return fmt.Errorf("unknown protocol %q", proto)
	}
	err := InNS(ns, listen)
	// A link-local address is unusable while duplicate address detection
	// runs, which a bridge's carrier coming back starts again: wait it out.
	for deadline := time.Now().Add(ReadyLimit); errors.Is(err, syscall.EADDRNOTAVAIL) && addr.IsLinkLocalUnicast() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		err = InNS(ns, listen)
	}
	if err != nil {
		t.Fatalf("testnet: listen %s %s:%d/%s: %v", name, addr, port, proto, err)
	}
	t.Cleanup(l.Close)
	l.wg.Add(1)
	if l.tcp != nil {
		go l.serveTCP()
	} else {
		go l.serveUDP()
	}
	return l
}

func (l *Listener) String() string {
	return fmt.Sprintf("%s %s:%d/%s", l.Name, l.Addr, l.Port, l.Proto)
}

func (l *Listener) record(peer netip.AddrPort, token string) {
	if strings.HasPrefix(token, aliveToken) {
		return // the listener's own liveness check is not traffic
	}
	l.mu.Lock()
	l.records = append(l.records, Record{Peer: netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port()), Token: token})
	l.mu.Unlock()
}

func (l *Listener) serveTCP() {
	defer l.wg.Done()
	for {
		c, err := l.tcp.AcceptTCP()
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return
		}
		l.conns[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go l.echoTCP(c)
	}
}

// echoTCP echoes lines until the peer closes; the first line is recorded.
// Connections are closed by Close, so none outlives the test.
func (l *Listener) echoTCP(c *net.TCPConn) {
	defer l.wg.Done()
	defer func() {
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
		c.Close()
	}()
	peer := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	r := bufio.NewReaderSize(c, 256)
	first := true
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if first {
			l.record(peer, strings.TrimSuffix(line, "\n"))
			first = false
		}
		if _, err := c.Write([]byte(line)); err != nil {
			return
		}
	}
}

func (l *Listener) serveUDP() {
	defer l.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, peer, err := l.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		l.record(peer, strings.TrimSuffix(string(buf[:n]), "\n"))
		_, _ = l.udp.WriteToUDPAddrPort(buf[:n], peer)
	}
}

// Close stops the listener and every connection it accepted.
func (l *Listener) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	if l.tcp != nil {
		l.tcp.Close()
	}
	if l.udp != nil {
		l.udp.Close()
	}
	l.wg.Wait()
}

// Records returns what the listener has received so far.
func (l *Listener) Records() []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Record(nil), l.records...)
}

// Peers returns the source address of everything received so far, in order.
func (l *Listener) Peers() []netip.Addr {
	var out []netip.Addr
	for _, r := range l.Records() {
		out = append(out, r.Peer.Addr())
	}
	return out
}

// PeerOf returns the source the listener saw for the probe that sent token.
func (l *Listener) PeerOf(token string) (netip.AddrPort, bool) {
	for _, r := range l.Records() {
		if r.Token == token {
			return r.Peer, true
		}
	}
	return netip.AddrPort{}, false
}

// Reset forgets what was received so far.
func (l *Listener) Reset() {
	l.mu.Lock()
	l.records = nil
	l.mu.Unlock()
}

// Alive proves the listener is up and answering on its address by an echo
// round trip from inside its own namespace (over loopback, which no firewall
// of netctl's sees). A "blocked" assertion is only meaningful if this holds.
// The check is not recorded.
func (l *Listener) Alive(timeout time.Duration) error {
	c, err := open(l.NS, netip.Addr{}, l.Proto, l.Addr, l.Port, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.roundTrip(aliveToken+NewToken(), timeout)
}

const aliveToken = "alive-"

// NewToken returns a fresh random probe token.
func NewToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "probe-" + hex.EncodeToString(b)
}

// Dial makes one connection from namespace ns (bound to src unless it is the
// zero Addr) to dst:port and does an echo round trip: TCP connect, send a
// line, read it back; UDP send a datagram and wait for its echo. Everything,
// connect included, is bounded by timeout. A nil error means the round trip
// completed.
func Dial(ns string, src netip.Addr, proto string, dst netip.Addr, port int, timeout time.Duration) error {
	_, err := DialToken(ns, src, proto, dst, port, timeout)
	return err
}

// DialToken is Dial, returning the token it sent so that the listener's
// record of it can be found (Listener.PeerOf).
func DialToken(ns string, src netip.Addr, proto string, dst netip.Addr, port int, timeout time.Duration) (string, error) {
	token := NewToken()
	c, err := open(ns, src, proto, dst, port, timeout)
	if err != nil {
		return token, err
	}
	defer c.Close()
	return token, c.roundTrip(token, timeout)
}

// Conn is an open connection, for proving that established connections are
// not disturbed by a change: open it, change things, Ping it again.
type Conn struct {
	Proto string
	c     net.Conn
	r     *bufio.Reader
	mu    sync.Mutex
}

// Open opens a connection and proves it with one echo round trip. It is
// closed when the test ends.
func Open(t testing.TB, ns string, src netip.Addr, proto string, dst netip.Addr, port int, timeout time.Duration) (*Conn, error) {
	t.Helper()
	c, err := open(ns, src, proto, dst, port, timeout)
	if err != nil {
		return nil, err
	}
	t.Cleanup(c.Close)
	if err := c.Ping(timeout); err != nil {
		return nil, err
	}
	return c, nil
}

func open(ns string, src netip.Addr, proto string, dst netip.Addr, port int, timeout time.Duration) (*Conn, error) {
	var c net.Conn
	err := InNS(ns, func() error {
		d := net.Dialer{Timeout: timeout}
		switch proto {
		case "tcp":
			if src.IsValid() {
				d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
			}
		case "udp":
			if src.IsValid() {
				d.LocalAddr = &net.UDPAddr{IP: src.AsSlice()}
			}
		default:
			return fmt.Errorf("unknown protocol %q", proto)
		}
		var err error
		c, err = d.Dial(network(proto, dst), netip.AddrPortFrom(dst, uint16(port)).String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Conn{Proto: proto, c: c, r: bufio.NewReaderSize(c, 256)}, nil
}

// Ping does one echo round trip on the open connection.
func (c *Conn) Ping(timeout time.Duration) error {
	return c.roundTrip(NewToken(), timeout)
}

// LocalAddr is the connection's own address and port.
func (c *Conn) LocalAddr() netip.AddrPort {
	switch a := c.c.LocalAddr().(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case *net.UDPAddr:
		return a.AddrPort()
	}
	return netip.AddrPort{}
}

// Close closes the connection.
func (c *Conn) Close() { c.c.Close() }

// errMismatch is a reply that is not the echo of what was sent.
var errMismatch = errors.New("echo mismatch")

func (c *Conn) roundTrip(token string, timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	deadline := time.Now().Add(timeout)
	if err := c.c.SetDeadline(deadline); err != nil {
		return err
	}
	msg := token + "\n"
	if c.Proto == "tcp" {
		if _, err := c.c.Write([]byte(msg)); err != nil {
			return err
		}
		line, err := c.r.ReadString('\n')
		if err != nil {
			return err
		}
		if line != msg {
			return fmt.Errorf("%w: sent %q, got %q", errMismatch, msg, line)
		}
		return nil
	}
	// UDP: a datagram may be lost to a neighbour lookup; send up to three
	// times within the timeout, and take only our own echo.
	buf := make([]byte, 2048)
	const tries = 3
	for i := 0; i < tries; i++ {
		if _, err := c.c.Write([]byte(msg)); err != nil {
			return err
		}
		step := time.Now().Add(time.Until(deadline) / time.Duration(tries-i))
		if err := c.c.SetReadDeadline(step); err != nil {
			return err
		}
		for {
			n, err := c.c.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() && i < tries-1 {
					break // resend
				}
				return err
			}
			if string(buf[:n]) == msg {
				return nil
			}
			// A late echo of an earlier try or ping: keep reading.
		}
	}
	return errors.New("unreachable")
}
