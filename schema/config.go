// Package schema owns netctl's file format: the Go types a netctl.yaml
// compiles to, loading with line:column positions, validation and defaults.
// It never talks to the kernel.
package schema

import (
	"fmt"
	"net/netip"
	"slices"
)

// DefaultFile is the file netctl reads when -f is not given.
const DefaultFile = "netctl.yaml"

// Config is a validated netctl.yaml with every default filled in.
type Config struct {
	// File is the path the config was loaded from, for messages.
	File string
	// IPForward is net.ipv4.ip_forward: nil leaves the sysctl alone.
	IPForward *bool
	// Firewall is Docker's --iptables: false means netctl writes no firewall.
	Firewall bool
	// ForwardOthers is forward_others: "" (the default, decided at plan
	// time from the live ip_forward), "accept" or "drop".
	ForwardOthers string
	// Bridges in file order.
	Bridges []Bridge
}

// Bridge is one bridge network, Docker's default bridge or a user-defined one.
type Bridge struct {
	Name string
	// Address is the gateway address with the subnet's prefix length
	// (172.17.0.1/16); Address.Masked() is the containers' subnet.
	Address netip.Prefix
	MTU     int
	// ICC is Docker's --icc: containers on this bridge may talk to each other.
	ICC bool
	// Masquerade is Docker's --ip-masq.
	Masquerade bool
	// GatewayMode is GatewayNAT, GatewayRouted or GatewayNATUnprotected
	// (always the last without the firewall).
	GatewayMode string
	// ExternalInterface is where outside traffic enters; empty means any
	// interface other than the bridge.
	ExternalInterface string
	// AllowedSources, when not empty, are the only sources that may reach the
	// containers from outside. Each is masked; a host address is a /32.
	AllowedSources []netip.Prefix
	Containers     []Container
	Links          []Link
	// Adopt lets netctl take over a bridge of this name that someone else
	// created; without it such a bridge is a plan error. An adopted bridge
	// is released, never deleted, when it leaves the file.
	Adopt bool
}

// Container is a container attached to a bridge.
type Container struct {
	Name    string
	Address netip.Addr
	// Expose is what the container's Dockerfile EXPOSEs.
	Expose []Port
	// Publish are its published ports (Docker's -p).
	Publish []Publish
}

// Link is Docker's --link: From may open connections to To on Ports.
type Link struct {
	From, To string
	Alias    string
	// Ports is never empty after loading: an omitted list means every port
	// To exposes.
	Ports []Port
}

// Port is a port or an inclusive range of ports of one protocol.
type Port struct {
	Proto       string // "tcp", "udp" or "sctp"
	First, Last uint16
}

// String renders a port the way the file writes it: 5432/tcp, 1000-2000/udp.
func (p Port) String() string {
	if p.First == p.Last {
		return fmt.Sprintf("%d/%s", p.First, p.Proto)
	}
	return fmt.Sprintf("%d-%d/%s", p.First, p.Last, p.Proto)
}

// Container returns the named container of the bridge.
func (b *Bridge) Container(name string) (Container, bool) {
	for _, c := range b.Containers {
		if c.Name == name {
			return c, true
		}
	}
	return Container{}, false
}

// MergePorts sorts ports by protocol (tcp, udp, sctp) and number and merges
// overlapping or adjacent ranges of one protocol: an interval set refuses
// overlapping elements, and the loader refuses overlapping expose entries.
// The result may be ports itself: it is only read.
func MergePorts(ports []Port) []Port {
	if len(ports) <= 1 {
		return ports
	}
	rank := func(proto string) int { return slices.Index([]string{"tcp", "udp", "sctp"}, proto) }
	ps := slices.Clone(ports)
	slices.SortFunc(ps, func(a, b Port) int {
		if a.Proto != b.Proto {
			return rank(a.Proto) - rank(b.Proto)
		}
		return int(a.First) - int(b.First)
	})
	out := ps[:1]
	for _, p := range ps[1:] {
		if last := &out[len(out)-1]; last.Proto == p.Proto && int(p.First) <= int(last.Last)+1 {
			last.Last = max(last.Last, p.Last)
			continue
		}
		out = append(out, p)
	}
	return out
}
