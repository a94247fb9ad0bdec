// Package kernel is the only package that talks to the kernel: it reads a
// plan.State from one network namespace and makes the primitive writes —
// links and addresses (vishvananda/netlink), sysctls (/proc/sys of that
// namespace) and netctl's nftables table (nf_tables netlink, one batch per
// change).
package kernel

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/kernel/nfwire"
	"github.com/netctl/netctl/plan"
)

// ErrPermission is returned (wrapped) by Open and Read when netctl lacks
// CAP_NET_ADMIN.
var ErrPermission = errors.New("netctl needs CAP_NET_ADMIN (run as root)")

// Handle is bound to one network namespace. Its methods may be called from
// any goroutine; they are serialized.
type Handle struct {
	mu    sync.Mutex
	netns string
	nsfd  int // -1 for the process's own namespace
	id    plan.NamespaceID
	// cookie is the namespace's SO_NETNS_COOKIE (NamespaceCookie).
	cookie uint64
	nl     *netlink.Handle
	nft    *nfwire.Conn
	lib    *nftables.Conn // for the reads the nftables library does whole
	setID  uint32         // last set ID used in a batch

	// Buffers of readElements, reused from one read to the next.
	elemText  []byte
	elemSpans []elemSpan
}

// Open binds to the named network namespace (/run/netns/NAME, as `ip netns
// add` makes it); "" means the calling process's namespace.
func Open(name string) (*Handle, error) {
	if err := CheckNetnsName(name); err != nil {
		return nil, err
	}
	h := &Handle{netns: name, nsfd: -1}
	nsfd := 0
	if name != "" {
		ns, err := netns.GetFromPath(netnsPath(name))
		if err != nil {
			return nil, netnsOpenError(name, err)
		}
		h.nsfd, nsfd = int(ns), int(ns)
	}
	var err error
	if h.nsfd >= 0 {
		h.id, err = namespaceIDOf(h.nsfd)
	} else {
		h.id, err = currentNamespaceID()
	}
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("identity of %s: %w", h.where(), err)
	}
	// nftables first: its socket library keeps the errno of a refused
	// setns(2) (EPERM without privilege), which netlink.NewHandleAt only
	// formats into its text.
	if h.nft, err = nfwire.Dial(nsfd); err != nil {
		h.Close()
		return nil, mapPermission(fmt.Errorf("%s: %w", h.where(), err))
	}
	libOpts := []nftables.ConnOption{nftables.AsLasting()}
	if nsfd != 0 {
		libOpts = append(libOpts, nftables.WithNetNSFd(nsfd))
	}
	if h.lib, err = nftables.New(libOpts...); err != nil {
		h.Close()
		return nil, mapPermission(fmt.Errorf("nftables socket in %s: %w", h.where(), err))
	}
	h.cookie = netnsCookie(nsfd)
	if name == "" {
		h.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	} else {
		h.nl, err = netlink.NewHandleAt(netns.NsHandle(h.nsfd), unix.NETLINK_ROUTE)
	}
	if err != nil {
		h.Close()
		return nil, mapPermission(fmt.Errorf("netlink socket in %s: %w", h.where(), err))
	}
	// nf_tables answers nothing, not even a read, without CAP_NET_ADMIN:
	// find out now rather than halfway through a plan.
	if _, err := h.nft.GenID(); err != nil {
		h.Close()
		return nil, mapPermission(fmt.Errorf("nftables in %s: %w", h.where(), err))
	}
	return h, nil
}

func (h *Handle) where() string {
	if h.netns == "" {
		return "the current network namespace"
	}
	return "network namespace " + h.netns
}

// Close releases the handle's sockets and namespace.
func (h *Handle) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var err error
	if h.nft != nil {
		err = h.nft.Close()
		h.nft = nil
	}
	if h.lib != nil {
		if cerr := h.lib.CloseLasting(); err == nil {
			err = cerr
		}
		h.lib = nil
	}
	if h.nl != nil {
		h.nl.Close()
		h.nl = nil
	}
	if h.nsfd >= 0 {
		if cerr := unix.Close(h.nsfd); err == nil {
			err = cerr
		}
		h.nsfd = -1
	}
	return err
}

var errClosed = errors.New("kernel handle is closed")

// open reports whether the handle can be used; it is called with h.mu held.
func (h *Handle) open() error {
	if h.nft == nil || h.nl == nil || h.lib == nil {
		return errClosed
	}
	return nil
}

// mapPermission wraps err with ErrPermission when it is a refusal for lack
// of privilege.
func mapPermission(err error) error {
	if err == nil || errors.Is(err, ErrPermission) {
		return err
	}
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w: %w", ErrPermission, err)
	}
	return err
}

// Read returns the live state: the sysctls named in scope; every interface
// whose alias is plan.Owner and those named in scope.Bridges that exist (of
// any kind); and netctl's table (nil if absent).
func (h *Handle) Read(scope plan.Scope) (plan.State, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var s plan.State
	if err := h.open(); err != nil {
		return s, err
	}
	var err error
	if s.Sysctls, err = h.readSysctls(scope.Sysctls); err != nil {
		return s, mapPermission(err)
	}
	if s.Bridges, err = h.readBridges(scope.Bridges); err != nil {
		return s, mapPermission(err)
	}
	if s.Firewall, err = h.readFirewall(); err != nil {
		return s, mapPermission(err)
	}
	return s, nil
}
