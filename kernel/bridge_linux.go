package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"

	"github.com/vishvananda/netlink"

	"github.com/netctl/netctl/plan"
)

const dumpAttempts = 5

// retryDump runs a netlink dump again while the kernel reports it
// interrupted by a concurrent change (vishvananda/netlink returns
// ErrDumpInterrupted along with partial data).
func retryDump[T any](what string, dump func() (T, error)) (T, error) {
	var v T
	var err error
	for range dumpAttempts {
		v, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			if err != nil {
				return v, fmt.Errorf("%s: %w", what, err)
			}
			return v, nil
		}
	}
	return v, fmt.Errorf("%s: %w (%d attempts)", what, err, dumpAttempts)
}

func (h *Handle) readBridges(names []string) (map[string]plan.Bridge, error) {
	links, err := retryDump("listing links", h.nl.LinkList)
	if err != nil {
		return nil, err
	}
	var picked []netlink.Link
	for _, l := range links {
		a := l.Attrs()
		// A mark on anything but a bridge is not netctl's: it only ever
		// makes bridges. Names in scope are read whatever they are, so
		// that plan can refuse a name held by another kind of link.
		if (plan.IsOwned(a.Alias) && l.Type() == "bridge") || slices.Contains(names, a.Name) {
			picked = append(picked, l)
		}
	}
	if len(picked) == 0 {
		return nil, nil
	}
	addrs, err := retryDump("listing addresses", func() ([]netlink.Addr, error) {
		return h.nl.AddrList(nil, netlink.FAMILY_ALL)
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]plan.Bridge, len(picked))
	for _, l := range picked {
		a := l.Attrs()
		b := plan.Bridge{
			Name:  a.Name,
			Kind:  l.Type(),
			MTU:   a.MTU,
			Up:    a.Flags&net.FlagUp != 0,
			Owner: a.Alias,
		}
		for _, ad := range addrs {
			if ad.LinkIndex == a.Index {
				if p, ok := bridgeAddr(ad); ok {
					b.Addresses = append(b.Addresses, p)
				}
			}
		}
		slices.SortFunc(b.Addresses, netip.Prefix.Compare)
		for _, port := range links {
			if port.Attrs().MasterIndex == a.Index {
				b.Ports = append(b.Ports, port.Attrs().Name)
			}
		}
		slices.Sort(b.Ports)
		if err := h.readHairpin(&b, links); err != nil {
			return nil, err
		}
		out[a.Name] = b
	}
	return out, nil
}

// prefixOf is the address with its prefix length, not masked
// (172.17.0.1/16).
func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a, ones), a.Is4()
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// SyncBridge makes the bridge go from `from` to `to` (nil: absent).
// SyncBridge(to, from) undoes SyncBridge(from, to): a deleted bridge comes
// back with its addresses, and its ports re-attached if they still exist.
// It only ever creates, changes or deletes bridges: an interface of another
// kind is refused, whatever the caller says, also in a rollback.
func (h *Handle) SyncBridge(from, to *plan.Bridge) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.open(); err != nil {
		return err
	}
	for _, b := range []*plan.Bridge{from, to} {
		if b != nil && b.Kind != "bridge" {
			return notBridge(b.Name, b.Kind)
		}
	}
	switch {
	case from == nil && to == nil:
		return nil
	case to == nil:
		return h.deleteLink(from.Name)
	case from == nil:
		if err := h.createLink(to); err != nil {
			return err
		}
		return h.syncHairpin(to)
	case from.Name != to.Name:
		return fmt.Errorf("bridge %s: cannot sync to a bridge named %s", from.Name, to.Name)
	}
	if err := h.updateLink(from, to); err != nil {
		return err
	}
	return h.syncHairpin(to)
}

func notBridge(name, kind string) error {
	return fmt.Errorf("%s exists and is a %s, not a bridge; netctl will not replace it", name, kind)
}

// linkBridge returns the named link, refusing one that is not a bridge: the
// name may have changed hands since it was read.
func (h *Handle) linkBridge(name string) (netlink.Link, error) {
	l, err := h.nl.LinkByName(name)
	if err != nil {
		return nil, err
	}
	if l.Type() != "bridge" {
		return nil, notBridge(name, l.Type())
	}
	return l, nil
}

// deleteLink deletes the named bridge if it is netctl's own: its alias is
// netctl's mark, or empty (a creation cut short before the alias was
// written, which a recovery removes). An adopted bridge is released, never
// deleted; anyone else's is refused, whatever the caller read before.
func (h *Handle) deleteLink(name string) error {
	return h.removeLink(name, true)
}

func (h *Handle) removeLink(name string, checkOwner bool) error {
	l, err := h.linkBridge(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	if a := l.Attrs().Alias; checkOwner && a != "" && a != plan.Owner {
		return fmt.Errorf("bridge %s carries the alias %q, not the mark of a bridge netctl created: netctl will not delete it", name, a)
	}
	if err := h.nl.LinkDel(l); err != nil {
		return mapPermission(fmt.Errorf("deleting %s %s: %w", l.Type(), name, err))
	}
	return nil
}

func (h *Handle) createLink(to *plan.Bridge) (err error) {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = to.Name
	attrs.MTU = to.MTU
	var l netlink.Link = &netlink.Bridge{LinkAttrs: attrs}
	if err := h.nl.LinkAdd(l); err != nil {
		return mapPermission(fmt.Errorf("creating %s %s: %w", l.Type(), to.Name, err))
	}
	defer func() {
		if err != nil { // no half-made bridge is left behind
			_ = h.removeLink(to.Name, false)
		}
	}()
	if l, err = h.nl.LinkByName(to.Name); err != nil {
		return fmt.Errorf("bridge %s: %w", to.Name, err)
	}
	if to.MTU > 0 {
		if err := h.pinMTU(l, to.MTU); err != nil {
			return err
		}
	}
	if to.Owner != "" {
		if err := h.nl.LinkSetAlias(l, to.Owner); err != nil {
			return fmt.Errorf("bridge %s: setting alias: %w", to.Name, err)
		}
	}
	for _, p := range to.Addresses {
		if err := h.nl.AddrAdd(l, newAddr(p)); err != nil {
			return fmt.Errorf("bridge %s: adding address %s: %w", to.Name, p, err)
		}
	}
	for _, name := range to.Ports {
		port, err := h.nl.LinkByName(name)
		if err != nil {
			continue // gone since: nothing to re-attach
		}
		if err := h.nl.LinkSetMasterByIndex(port, l.Attrs().Index); err != nil {
			return fmt.Errorf("bridge %s: attaching port %s: %w", to.Name, name, err)
		}
	}
	if to.Up {
		if err := h.nl.LinkSetUp(l); err != nil {
			return fmt.Errorf("bridge %s: setting up: %w", to.Name, err)
		}
	}
	return nil
}

// pinMTU makes a bridge's MTU explicit. The MTU given at creation is not:
// the kernel re-derives it from the ports (the smallest of theirs) as soon as
// one is attached, unless the MTU was changed through the device, which
// marks it as set by the user. Changing it to the same value is a no-op that
// marks nothing, hence the detour through a neighbouring value, done before
// the bridge has ports or is up.
func (h *Handle) pinMTU(l netlink.Link, mtu int) error {
	detour := mtu - 1
	if detour < 68 {
		detour = mtu + 1
	}
	for _, v := range []int{detour, mtu} {
		if err := h.nl.LinkSetMTU(l, v); err != nil {
			return fmt.Errorf("bridge %s: setting MTU %d: %w", l.Attrs().Name, mtu, err)
		}
	}
	return nil
}

func (h *Handle) updateLink(from, to *plan.Bridge) error {
	l, err := h.linkBridge(to.Name)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", to.Name, err)
	}
	if from.MTU != to.MTU && to.MTU > 0 {
		if err := h.nl.LinkSetMTU(l, to.MTU); err != nil {
			return fmt.Errorf("bridge %s: setting MTU %d: %w", to.Name, to.MTU, err)
		}
	}
	if from.Owner != to.Owner {
		if err := h.nl.LinkSetAlias(l, to.Owner); err != nil {
			return fmt.Errorf("bridge %s: setting alias %q: %w", to.Name, to.Owner, err)
		}
	}
	for _, p := range from.Addresses {
		if !slices.Contains(to.Addresses, p) {
			if err := h.nl.AddrDel(l, &netlink.Addr{IPNet: ipNet(p)}); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) {
				return fmt.Errorf("bridge %s: deleting address %s: %w", to.Name, p, err)
			}
		}
	}
	// Deleting a primary address takes its secondaries with it: add what
	// the bridge lacks now, not what `from` lacked.
	cur, err := retryDump("listing addresses", func() ([]netlink.Addr, error) {
		return h.nl.AddrList(l, netlink.FAMILY_ALL)
	})
	if err != nil {
		return fmt.Errorf("bridge %s: %w", to.Name, err)
	}
	for _, p := range to.Addresses {
		if !slices.ContainsFunc(cur, func(a netlink.Addr) bool { q, _ := prefixOf(a.IPNet); return q == p }) {
			if err := h.nl.AddrAdd(l, newAddr(p)); err != nil {
				return fmt.Errorf("bridge %s: adding address %s: %w", to.Name, p, err)
			}
		}
	}
	if from.Up != to.Up {
		set, verb := h.nl.LinkSetUp, "up"
		if !to.Up {
			set, verb = h.nl.LinkSetDown, "down"
		}
		if err := set(l); err != nil {
			return fmt.Errorf("bridge %s: setting %s: %w", to.Name, verb, err)
		}
	}
	return nil
}

// LocalAddresses are the namespace's own addresses, on every interface:
// what `fib daddr type local` matches, for explain's published ports.
func (h *Handle) LocalAddresses() ([]netip.Addr, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.open(); err != nil {
		return nil, err
	}
	addrs, err := retryDump("listing addresses", func() ([]netlink.Addr, error) {
		return h.nl.AddrList(nil, netlink.FAMILY_ALL)
	})
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}
