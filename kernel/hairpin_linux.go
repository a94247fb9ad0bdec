package kernel

import (
	"fmt"
	"slices"

	"github.com/vishvananda/netlink"

	"github.com/netctl/netctl/plan"
)

// The hairpin flag (IFLA_BRPORT_MODE) of a bridge's ports: a container
// reaching its own publication through the host's address gets its packet
// back out of the port it came in on only with it (this kernel has no
// bridge conntrack). netctl turns it on for the ports of a bridge with
// publications, and only for ports of a bridge.

// readHairpin records which ports of b have the hairpin flag on.
func (h *Handle) readHairpin(b *plan.Bridge, links []netlink.Link) error {
	for _, l := range links {
		if !slices.Contains(b.Ports, l.Attrs().Name) {
			continue
		}
		pi, err := h.nl.LinkGetProtinfo(l)
		if err != nil {
			return fmt.Errorf("bridge %s: reading port %s: %w", b.Name, l.Attrs().Name, err)
		}
		if pi.Hairpin {
			b.HairpinPorts = append(b.HairpinPorts, l.Attrs().Name)
		}
	}
	slices.Sort(b.HairpinPorts)
	return nil
}

// syncHairpin sets the flag on the bridge's ports as to says: on every
// port when to.Hairpin (a desired bridge with publications); as in
// to.HairpinPorts for the ports to names (a state read before, which a
// rollback restores); otherwise the ports are left alone.
func (h *Handle) syncHairpin(to *plan.Bridge) error {
	if !to.Hairpin && len(to.Ports) == 0 {
		return nil
	}
	br, err := h.linkBridge(to.Name)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", to.Name, err)
	}
	links, err := retryDump("listing links", h.nl.LinkList)
	if err != nil {
		return err
	}
	for _, l := range links {
		name := l.Attrs().Name
		if l.Attrs().MasterIndex != br.Attrs().Index || (!to.Hairpin && !slices.Contains(to.Ports, name)) {
			continue
		}
		want := to.Hairpin || slices.Contains(to.HairpinPorts, name)
		pi, err := h.nl.LinkGetProtinfo(l)
		if err != nil {
			return fmt.Errorf("bridge %s: reading port %s: %w", to.Name, name, err)
		}
		if pi.Hairpin == want {
			continue
		}
		if err := h.nl.LinkSetHairpin(l, want); err != nil {
			return mapPermission(fmt.Errorf("bridge %s: setting hairpin %v on port %s: %w", to.Name, want, name, err))
		}
	}
	return nil
}
