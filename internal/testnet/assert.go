package testnet

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Probe is one expected outcome: a connection from a client to a listener
// either completes an echo round trip or does not.
type Probe struct {
	From Client
	To   *Listener
	// Dst overrides the address dialled (default To.Addr).
	Dst netip.Addr
	// Port overrides the port dialled (default To.Port): a published
	// port that the host translates to the listener's.
	Port int
	// Want is true for "connects", false for "is blocked".
	Want    bool
	Timeout time.Duration // default DefaultTimeout
}

// Reaches expects a connection from c to l to complete.
func (c Client) Reaches(l *Listener) Probe { return Probe{From: c, To: l, Want: true} }

// CannotReach expects a connection from c to l to fail.
func (c Client) CannotReach(l *Listener) Probe { return Probe{From: c, To: l, Want: false} }

// Reaches expects a connection from the container to l to complete.
func (c *Container) Reaches(l *Listener) Probe { return c.Client().Reaches(l) }

// CannotReach expects a connection from the container to l to fail.
func (c *Container) CannotReach(l *Listener) Probe { return c.Client().CannotReach(l) }

func (p Probe) String() string {
	from := p.From.Name
	if p.From.Src.IsValid() && p.From.Name != "outside "+p.From.Src.String() {
		from += " (" + p.From.Src.String() + ")"
	}
	dst := p.To.Addr
	if p.Dst.IsValid() {
		dst = p.Dst
	}
	return fmt.Sprintf("%s → %s %s:%d/%s", from, p.To.Name, dst, p.port(), p.To.Proto)
}

// Result is what happened to one probe.
type Result struct {
	Probe Probe
	Token string
	Err   error // nil: the echo round trip completed
	// Received: the listener got the probe's message (even if the echo never
	// made it back), and from which source address.
	Received bool
	Peer     netip.AddrPort
	// AliveErr is the listener's own liveness check, done for blocked probes.
	AliveErr error
	// Unproven says why a probe that looks blocked proves nothing: it lacks
	// a positive control, or it failed before leaving the client.
	Unproven string
}

// Run runs the probe once and judges it as Check does: a blocked probe
// needs a positive control (control.go).
func (p Probe) Run() Result { return Check(p)[0] }

// run runs the probe once, without judging.
func (p Probe) run() Result {
	timeout := p.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	dst := p.To.Addr
	if p.Dst.IsValid() {
		dst = p.Dst
	}
	tok, err := DialToken(p.From.NS, p.From.Src, p.To.Proto, dst, p.port(), timeout)
	r := Result{Probe: p, Token: tok, Err: err}
	r.Peer, r.Received = p.To.PeerOf(tok)
	if err != nil {
		r.AliveErr = p.To.Alive(timeout)
	}
	return r
}

// Problem says why the result does not match what the probe expected, or ""
// when it does. A blocked probe passes only if (1) the client got no echo,
// (2) the listener never received the message, not even one way, (3) the
// listener itself is demonstrably up (Listener.Alive): a connection to a dead
// listener proves nothing about the firewall, and (4) the probe failed on the
// wire, next to positive controls on the same topology (control.go).
func (r Result) Problem() string {
	p := r.Probe
	if p.Want {
		if r.Err != nil {
			return fmt.Sprintf("%s: want connected, got %s", p, describe(r.Err))
		}
		return ""
	}
	switch {
	case r.Err == nil:
		return fmt.Sprintf("%s: want blocked, but the echo round trip completed (listener saw %s)", p, r.Peer)
	case r.Received:
		return fmt.Sprintf("%s: want blocked: the client got no echo (%s) but the listener received the message from %s — blocked one way only", p, describe(r.Err), r.Peer)
	case r.AliveErr != nil:
		return fmt.Sprintf("%s: cannot prove blocked: the listener does not answer even inside its own namespace: %v", p, r.AliveErr)
	case r.Unproven != "":
		return r.Unproven
	}
	return ""
}

// onTheWire reports whether err is how a connection fails when the network
// (a firewall, a missing route on the way) stops it: a timeout, a refusal or
// an ICMP unreachable. Anything else (a source address that does not exist,
// a namespace that cannot be entered) happened before the probe left the
// client and proves nothing about the path.
func onTheWire(err error) bool {
	return isTimeout(err) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

// Outcome is a short word for the result: "ok", "timeout", "refused", ...
func (r Result) Outcome() string {
	if r.Err == nil {
		return "ok"
	}
	return describe(r.Err)
}

func describe(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused (" + err.Error() + ")"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable (" + err.Error() + ")"
	case isTimeout(err):
		return "timeout (" + err.Error() + ")"
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// Check runs the probes concurrently and returns their results in order,
// judged: a blocked probe without a positive control (control.go) has a
// Problem.
func Check(probes ...Probe) []Result {
	out := make([]Result, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = p.run()
		}()
	}
	wg.Wait()
	// Every round trip of the batch counts as a positive control, for the
	// batch itself and for what follows until the next change.
	note(out)
	for i, r := range out {
		switch {
		case r.Probe.Want || r.Err == nil:
		case !onTheWire(r.Err):
			out[i].Unproven = fmt.Sprintf("%s: cannot judge blocked: the probe failed before reaching the network: %v", r.Probe, r.Err)
		default:
			out[i].Unproven = uncontrolled(r.Probe)
		}
	}
	return out
}

// Expect runs the probes concurrently and reports every one that does not
// behave as expected (t.Errorf, so all of them are reported). It logs each
// outcome. It returns true when all matched.
func Expect(t testing.TB, probes ...Probe) bool {
	t.Helper()
	ok := true
	for _, r := range Check(probes...) {
		want := "connects"
		if !r.Probe.Want {
			want = "blocked"
		}
		if msg := r.Problem(); msg != "" {
			t.Errorf("%s", msg)
			ok = false
			continue
		}
		t.Logf("ok   %-8s %s: %s", want, r.Probe, short(r))
	}
	return ok
}

func short(r Result) string {
	if r.Err == nil {
		return "round trip from " + r.Peer.String()
	}
	switch {
	case errors.Is(r.Err, syscall.ECONNREFUSED):
		return "refused"
	case isTimeout(r.Err):
		return "timeout"
	}
	return r.Err.Error()
}

// port is the port the probe dials.
func (p Probe) port() int {
	if p.Port != 0 {
		return p.Port
	}
	return p.To.Port
}
