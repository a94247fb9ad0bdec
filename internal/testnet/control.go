package testnet

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
)

// A probe that hears nothing proves a firewall blocks it only if the path
// would otherwise work. So a blocked probe is judged only next to positive
// controls on the same topology, since the last change to it:
//
//   - the client (same namespace, same source address) completed a round
//     trip to a listener in another namespace: its link and route work;
//   - the destination (same namespace, same address dialled) answered a
//     round trip from another namespace: its link and route work, and its
//     address is reachable.
//
// (The listener itself is proven alive over loopback by Listener.Alive.)
//
// "Since the last change" is the ledger's epoch: Net.Changed starts a new
// one, and the harness calls it itself for every change it makes
// (AddContainer, RouteOutside, DelOutsideDefaultRoute). A test calls it after
// every change it makes to the host's firewall, sysctls or links (the e2e
// harness does, after every netctl run that writes and every nft command
// that is not a list). The probes of one Check or Expect call count as
// controls for each other: Expect(t, a.Reaches(x), a.CannotReach(y)) is
// self-contained.

// ledger is what the successful probes of one topology proved since its last
// change.
type ledger struct {
	mu      sync.Mutex
	epoch   int
	change  string
	clients map[endpoint]bool // clients that reached another namespace
	dests   map[endpoint]bool // destinations reached from another namespace
}

// endpoint is a namespace and an address in it (zero: the kernel's choice of
// source).
type endpoint struct {
	ns   string
	addr netip.Addr
	// v6: a client with the kernel's choice of source, dialling IPv6 (a
	// round trip over one family is no control for the other).
	v6 bool
}

func (e endpoint) String() string {
	if !e.addr.IsValid() {
		if e.v6 {
			return e.ns + " (IPv6)"
		}
		return e.ns
	}
	return e.ns + " " + e.addr.String()
}

// nets maps every namespace of a live topology to its Net, so that a probe
// (which knows only namespaces) finds its ledger.
var (
	netsMu sync.Mutex
	nets   = map[string]*Net{}
)

func register(n *Net, ns string) {
	netsMu.Lock()
	nets[ns] = n
	netsMu.Unlock()
}

func unregister(ns string) {
	netsMu.Lock()
	delete(nets, ns)
	netsMu.Unlock()
}

func netOf(ns string) *Net {
	netsMu.Lock()
	defer netsMu.Unlock()
	return nets[ns]
}

// Changed tells the harness that the topology, the firewall or a sysctl of
// this Net changed (what says how, for messages): probes made before no
// longer count as positive controls.
func (n *Net) Changed(what string) {
	n.ledger.mu.Lock()
	defer n.ledger.mu.Unlock()
	n.ledger.epoch++
	n.ledger.change = what
	n.ledger.clients = map[endpoint]bool{}
	n.ledger.dests = map[endpoint]bool{}
}

func clientOf(p Probe) endpoint {
	e := endpoint{ns: p.From.NS, addr: p.From.Src}
	if !e.addr.IsValid() {
		e.v6 = is6(destOf(p).addr)
	}
	return e
}

func destOf(p Probe) endpoint {
	dst := p.To.Addr
	if p.Dst.IsValid() {
		dst = p.Dst
	}
	// A link-local address is one address whatever zone names the
	// dialler's interface to it (fe80::3%docker0 from the host is
	// fe80::3%eth0 from a neighbour).
	return endpoint{ns: p.To.NS, addr: dst.WithZone("")}
}

// note records the controls a batch of results proves: every completed round
// trip between two namespaces of one Net.
func note(results []Result) {
	for _, r := range results {
		p := r.Probe
		if r.Err != nil || !r.Received || p.From.NS == p.To.NS {
			continue
		}
		n := netOf(p.From.NS)
		if n == nil || netOf(p.To.NS) != n {
			continue
		}
		n.ledger.mu.Lock()
		n.ledger.clients[clientOf(p)] = true
		n.ledger.dests[destOf(p)] = true
		n.ledger.mu.Unlock()
	}
}

// uncontrolled says which positive control a blocked probe lacks, or "".
func uncontrolled(p Probe) string {
	n := netOf(p.From.NS)
	if n == nil || netOf(p.To.NS) != n {
		return fmt.Sprintf("%s: cannot judge blocked: the client and the listener are not namespaces of one testnet topology, so no positive control can exist", p)
	}
	n.ledger.mu.Lock()
	defer n.ledger.mu.Unlock()
	var missing []string
	if c := clientOf(p); !n.ledger.clients[c] {
		missing = append(missing, fmt.Sprintf("no probe from %s (%s) has completed a round trip to another namespace", p.From.Name, c))
	}
	if d := destOf(p); !n.ledger.dests[d] {
		missing = append(missing, fmt.Sprintf("no probe from another namespace has completed a round trip to %s (%s)", p.To.Name, d))
	}
	if len(missing) == 0 {
		return ""
	}
	since := "since the topology was made"
	if n.ledger.change != "" {
		since = "since the last change (" + n.ledger.change + ")"
	}
	return fmt.Sprintf("%s: cannot judge blocked without a positive control on the same topology %s: %s; add a probe that connects on the same path (in the same Expect, or after the change)",
		p, since, strings.Join(missing, "; "))
}
