package kernel

import (
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// bridgeAddr is a live address of a bridge as netctl manages it: every
// IPv4 address, and the IPv6 addresses a person or netctl configured. The
// kernel's own IPv6 addresses are not netctl's: the link-local one every
// interface gets, and those autoconfigured from router advertisements
// (not permanent).
func bridgeAddr(ad netlink.Addr) (netip.Prefix, bool) {
	p, ok := prefixOf(ad.IPNet)
	if ok {
		return p, true
	}
	a := p.Addr()
	if !a.Is6() || a.Is4In6() || a.IsLinkLocalUnicast() || ad.Flags&unix.IFA_F_PERMANENT == 0 {
		return netip.Prefix{}, false
	}
	return p, true
}

// newAddr is the address to add: an IPv6 one without duplicate address
// detection (IFA_F_NODAD), usable at once rather than tentative until DAD
// ends, which on a bridge without ports never happens.
func newAddr(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: ipNet(p)}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}
