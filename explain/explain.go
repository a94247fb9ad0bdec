// Package explain answers "can A reach B on this port, and why" from a live
// state: a new connection's first packet is walked through netctl's chains
// as the kernel would walk it (the rules as read back, set lookups, the user
// chain's rules), after the sysctls that decide whether the chains see it at
// all, and before the other tables' forward-hook drop policies. It is pure:
// the caller reads the kernel; no packet is sent.
package explain

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// Endpoint kinds.
const (
	KindContainer = "container" // a container of the file
	KindHost      = "host"      // the managed namespace itself
	KindAddress   = "address"   // any other address: on a bridge's subnet, or outside
)

// Verdicts.
const (
	Allowed = "allowed"
	Blocked = "blocked"
	// Unknown: a rule on the path could not be evaluated (an expression
	// netctl does not model); the path says which.
	Unknown = "unknown"
)

// DefaultExternalInterface is where an outside address is taken to come in
// when no bridge of the file names its external_interface.
const DefaultExternalInterface = "eth0"

// Endpoint is one end of a flow, resolved against the file.
type Endpoint struct {
	Name      string     `json:"name"`
	Kind      string     `json:"kind"`
	Addr      netip.Addr `json:"address,omitzero"`
	Bridge    string     `json:"bridge,omitempty"`
	Container string     `json:"container,omitempty"`
	// Iface is the interface the kernel sees the packet arrive on (as a
	// source) or leave by (as a destination).
	Iface string `json:"interface,omitempty"`
}

// Flow is one new connection.
type Flow struct {
	From, To Endpoint
	Proto    string
	Port     uint16
	// IPv6: the flow is IPv6 (ResolveFlow decides). A flow with an IPv6
	// address at either end is IPv6 whatever this says.
	IPv6 bool
	// reply: the packet walked is the reply of the connection (From and
	// To swapped, ct state established, the client's port unknown).
	reply bool
	// dnat: a publication translated the flow (ct status dnat).
	dnat bool
}

// replyOf is the flow of the connection's replies.
func (f Flow) replyOf() Flow {
	r := f
	r.From, r.To, r.reply = f.To, f.From, true
	return r
}

// Is6 reports whether the flow's packets are IPv6.
func (f Flow) Is6() bool { return f.IPv6 || f.From.Addr.Is6() || f.To.Addr.Is6() }

// Input is what the answer is computed from.
type Input struct {
	// Config is the file: names, exposed ports, links as written.
	Config *schema.Config
	// Live is the state read from the kernel: sysctls (ip_forward,
	// bridge-nf-call-iptables), bridges and netctl's table.
	Live plan.State
	// ForeignDrops are kernel.ForwardDropPolicies: "table ip filter chain
	// FORWARD has policy drop".
	ForeignDrops []string
	// Local are the host's own addresses (kernel.LocalAddresses): a flow
	// to one of them meets the DNAT of published ports.
	Local []netip.Addr
}

// Step is one decision on the path.
type Step struct {
	// Text says it in the file's terms: "bridge.docker0.icc drops".
	Text string `json:"text"`
	// Item is the file item (a rule's or element's comment), if any.
	Item string `json:"item,omitempty"`
	// Object is the kernel object: "table inet netctl chain filter-forward
	// rule handle 12".
	Object string `json:"object,omitempty"`
	// Verdict is what the step does to the packet: accept, drop, or ""
	// when it only tells (a lookup that matched, a note).
	Verdict string `json:"verdict,omitempty"`
}

// Answer is the verdict and how it was reached.
type Answer struct {
	From  Endpoint `json:"from"`
	To    Endpoint `json:"to"`
	Proto string   `json:"proto"`
	Port  uint16   `json:"port"`
	// IPv6: the flow is IPv6.
	IPv6    bool   `json:"ipv6,omitempty"`
	Verdict string `json:"verdict"`
	// Drift lists the addresses of what differs between the file and the
	// live state; the answer is for the live state.
	Drift []string `json:"drift"`
	Path  []Step   `json:"path"`
	// Trace is what the kernel reported for a real packet of the flow
	// (netctl explain --trace), TraceVerdict what it did with it.
	Trace        []Step `json:"trace,omitempty"`
	TraceVerdict string `json:"trace_verdict,omitempty"`
}

// ParsePort reads PORT[/PROTO]: 5432, 5432/tcp, 53/udp. The protocol
// defaults to tcp.
func ParsePort(s string) (string, uint16, error) {
	num, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return "", 0, fmt.Errorf("port %q: protocol must be tcp, udp or sctp", s)
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("port %q: want a number 1-65535, optionally /tcp, /udp or /sctp", s)
	}
	return proto, uint16(n), nil
}

// Resolve turns FROM or TO into an endpoint of an IPv4 flow (of an IPv6
// one when spec is an IPv6 address): a container ("web", or "docker0/web"
// when names repeat across bridges), "host", or an address.
func Resolve(cfg *schema.Config, spec string) (Endpoint, error) {
	ipv6 := false
	if a, err := netip.ParseAddr(spec); err == nil && !a.Unmap().Is4() {
		ipv6 = true
	}
	return ResolveFamily(cfg, spec, ipv6)
}

// ResolveFlow resolves both ends of a flow and its family: an IPv6 address
// at either end makes it IPv6, an IPv4 one IPv4 (mixing them is an error);
// between names ("host", containers) ipv6 decides (netctl explain -6).
func ResolveFlow(cfg *schema.Config, from, to string, ipv6 bool) (Endpoint, Endpoint, bool, error) {
	fam := map[bool]string{false: "IPv4", true: "IPv6"}
	var by string // the address that decided the family
	for _, spec := range []string{from, to} {
		a, err := netip.ParseAddr(spec)
		if err != nil {
			continue
		}
		is6 := !a.Unmap().Is4()
		switch {
		case by != "" && is6 != ipv6:
			return Endpoint{}, Endpoint{}, false, fmt.Errorf("%s is an %s address and %s an %s one: a flow is of one family", by, fam[ipv6], spec, fam[is6])
		case by == "" && ipv6 && !is6:
			return Endpoint{}, Endpoint{}, false, fmt.Errorf("-6 asks for an IPv6 flow, but %s is an IPv4 address", spec)
		}
		by, ipv6 = spec, is6
	}
	f, err := ResolveFamily(cfg, from, ipv6)
	if err != nil {
		return Endpoint{}, Endpoint{}, false, err
	}
	t, err := ResolveFamily(cfg, to, ipv6)
	if err != nil {
		return Endpoint{}, Endpoint{}, false, err
	}
	return f, t, ipv6, nil
}

// ResolveFamily resolves one end of a flow of the given family: a
// container of an IPv6 flow is its address6 (an error when it has none).
func ResolveFamily(cfg *schema.Config, spec string, ipv6 bool) (Endpoint, error) {
	if spec == "host" {
		return Endpoint{Name: spec, Kind: KindHost}, nil
	}
	if a, err := netip.ParseAddr(spec); err == nil {
		a = a.Unmap()
		if a.Is4() == ipv6 {
			return Endpoint{}, fmt.Errorf("%s: not an %s address", spec, map[bool]string{false: "IPv4", true: "IPv6"}[ipv6])
		}
		if zone := a.Zone(); zone != "" {
			return resolveZoned(cfg, spec, a.WithZone(""), zone), nil
		}
		return resolveAddr(cfg, spec, a)
	}
	br, name, scoped := strings.Cut(spec, "/")
	if !scoped {
		name, br = spec, ""
	}
	var found []Endpoint
	for _, b := range cfg.Bridges {
		if scoped && b.Name != br {
			continue
		}
		if c, ok := b.Container(name); ok {
			found = append(found, Endpoint{Name: spec, Kind: KindContainer, Addr: c.Address, Bridge: b.Name, Container: c.Name, Iface: b.Name})
			if ipv6 {
				found[len(found)-1].Addr = c.Address6
			}
		}
	}
	switch len(found) {
	case 1:
		if !found[0].Addr.IsValid() {
			why := "its bridge " + found[0].Bridge + " has no address6"
			if b := bridgeOf(cfg, found[0].Bridge); b != nil && b.Address6.IsValid() {
				why = "it has no address6"
			}
			return Endpoint{}, fmt.Errorf("%q has no IPv6 address (%s): an IPv6 flow cannot start or end there", spec, why)
		}
		return found[0], nil
	case 0:
		return Endpoint{}, fmt.Errorf("%q is not a container of %s, \"host\" or an address", spec, cfg.File)
	}
	var on []string
	for _, e := range found {
		on = append(on, e.Bridge+"/"+name)
	}
	return Endpoint{}, fmt.Errorf("%q is a container on %d bridges: write %s", spec, len(found), strings.Join(on, " or "))
}

func bridgeOf(cfg *schema.Config, name string) *schema.Bridge {
	for i := range cfg.Bridges {
		if cfg.Bridges[i].Name == name {
			return &cfg.Bridges[i]
		}
	}
	return nil
}

// resolveAddr places an address of either family: a bridge's own address
// is the host, one inside a bridge's subnet of its family is on that
// bridge, any other comes in by the external interface.
func resolveAddr(cfg *schema.Config, spec string, a netip.Addr) (Endpoint, error) {
	bridgeAddr := func(b schema.Bridge) netip.Prefix { return b.Address }
	containerAddr := func(c schema.Container) netip.Addr { return c.Address }
	if a.Is6() {
		bridgeAddr = func(b schema.Bridge) netip.Prefix { return b.Address6 }
		containerAddr = func(c schema.Container) netip.Addr { return c.Address6 }
	}
	for _, b := range cfg.Bridges {
		if p := bridgeAddr(b); p.IsValid() && p.Addr() == a {
			return Endpoint{Name: spec, Kind: KindHost, Addr: a}, nil
		}
	}
	for _, b := range cfg.Bridges {
		if p := bridgeAddr(b); !p.IsValid() || !p.Masked().Contains(a) {
			continue
		}
		for _, c := range b.Containers {
			if containerAddr(c) == a {
				return Endpoint{Name: spec, Kind: KindContainer, Addr: a, Bridge: b.Name, Container: c.Name, Iface: b.Name}, nil
			}
		}
		return Endpoint{Name: spec, Kind: KindAddress, Addr: a, Bridge: b.Name, Iface: b.Name}, nil
	}
	return Endpoint{Name: spec, Kind: KindAddress, Addr: a, Iface: externalInterface(cfg)}, nil
}

// resolveZoned places an address written with its interface (fe80::3%br0,
// or an address a runtime added by hand on an IPv4-only bridge): on that
// bridge when the file has it, else coming in by that interface.
func resolveZoned(cfg *schema.Config, spec string, a netip.Addr, zone string) Endpoint {
	b := bridgeOf(cfg, zone)
	if b == nil {
		return Endpoint{Name: spec, Kind: KindAddress, Addr: a, Iface: zone}
	}
	for _, c := range b.Containers {
		if c.Address == a || c.Address6 == a {
			return Endpoint{Name: spec, Kind: KindContainer, Addr: a, Bridge: b.Name, Container: c.Name, Iface: b.Name}
		}
	}
	return Endpoint{Name: spec, Kind: KindAddress, Addr: a, Bridge: b.Name, Iface: b.Name}
}

// externalInterface is the interface outside traffic is taken to use.
func externalInterface(cfg *schema.Config) string {
	for _, b := range cfg.Bridges {
		if b.ExternalInterface != "" {
			return b.ExternalInterface
		}
	}
	return DefaultExternalInterface
}

// DefaultPort is the port asked about when none is given: the first the
// destination container exposes.
func DefaultPort(cfg *schema.Config, to Endpoint) (string, uint16, error) {
	if to.Kind == KindContainer {
		for _, b := range cfg.Bridges {
			if c, ok := b.Container(to.Container); ok && b.Name == to.Bridge && len(c.Expose) > 0 {
				return c.Expose[0].Proto, c.Expose[0].First, nil
			}
		}
	}
	return "", 0, fmt.Errorf("give a PORT: %s exposes none", to.Name)
}
