package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/kernel/nfwire"
	"github.com/netctl/netctl/plan"
)

// Change notifications (netctl watch): the kernel multicasts every
// committed nf_tables batch on NFNLGRP_NFTABLES, and link and address
// changes on RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR, to
// sockets of the namespace that joined the group. Sysctls have none: they
// are polled (ReadSysctls).

// EventKind says where a change notification came from.
type EventKind string

const (
	// EventNftables: a batch changed netctl's table (committed by another
	// process: batches of this process are left out).
	EventNftables EventKind = "nftables"
	// EventLink: a link was added, changed or deleted.
	EventLink EventKind = "link"
	// EventAddr: an address was added or deleted.
	EventAddr EventKind = "address"
	// EventLost: the kernel dropped notifications (a full socket buffer);
	// anything may have changed.
	EventLost EventKind = "lost"
)

// Event is one change notification, or (nftables) one batch.
type Event struct {
	Kind EventKind
	// Name is the link's name (link events, and IPv4 addresses' label);
	// "" when the notification does not say.
	Name string
	// Port: a new or changed link that has a master, a bridge port (a
	// container's veth attached): on a bridge with publications its
	// hairpin flag is netctl's to set.
	Port bool
	// PID and Comm name the process that committed an nftables batch.
	PID  uint32
	Comm string
}

// Notifications is a subscription to one namespace's change notifications.
type Notifications struct {
	// C delivers the events. It has a fixed capacity: when the reader is
	// slower than the kernel, events are dropped and one EventLost follows,
	// so a burst costs bounded memory.
	C      <-chan Event
	c      chan Event
	nf, rt *netlink.Conn
	wg     sync.WaitGroup
	once   sync.Once
	mu     sync.Mutex
	lost   bool
}

// notifyQueue is the capacity of Notifications.C: a consumer that coalesces
// needs one event to wake; more only spares it EventLost.
const notifyQueue = 64

// notifyBuf is the sockets' receive buffer: a flush of a table with 10,000
// set elements is one notification per element.
const notifyBuf = 8 << 20

// Subscribe joins the namespace's nf_tables and rtnetlink notification
// groups. Close ends the subscription.
func (h *Handle) Subscribe() (*Notifications, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.open(); err != nil {
		return nil, err
	}
	nsfd := 0
	if h.nsfd >= 0 {
		nsfd = h.nsfd
	}
	n := &Notifications{c: make(chan Event, notifyQueue)}
	n.C = n.c
	var err error
	if n.nf, err = netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: nsfd}); err != nil {
		return nil, mapPermission(fmt.Errorf("nftables notification socket: %w", err))
	}
	if n.rt, err = netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: nsfd}); err != nil {
		n.nf.Close()
		return nil, mapPermission(fmt.Errorf("rtnetlink notification socket: %w", err))
	}
	join := func(c *netlink.Conn, groups ...uint32) error {
		for _, g := range groups {
			if err := c.JoinGroup(g); err != nil {
				return mapPermission(fmt.Errorf("joining notification group %d: %w", g, err))
			}
		}
		return nfwire.SetBuffers(c, notifyBuf)
	}
	if err := errors.Join(join(n.nf, unix.NFNLGRP_NFTABLES),
		join(n.rt, unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR)); err != nil {
		n.nf.Close()
		n.rt.Close()
		return nil, err
	}
	n.wg.Add(2)
	go n.read(n.nf, newNftFilter(h.nft.PortID()).message)
	go n.read(n.rt, routeEvent)
	return n, nil
}

// Close ends the subscription and closes C once both readers have stopped.
// Closing twice is harmless.
func (n *Notifications) Close() error {
	var err error
	n.once.Do(func() {
		err = errors.Join(n.nf.Close(), n.rt.Close())
		n.wg.Wait()
		close(n.c)
	})
	return err
}

// notifyRead is the receive buffer of a notification socket. The kernel
// queues notifications in datagrams of at most a page or two; one larger
// than this is truncated, and reported as EventLost.
const notifyRead = 64 << 10

// read decodes the socket's datagrams in place, in one reused buffer: a
// flush, and every repair, of a table with 10,000 set elements is 10,000
// notifications, which netlink.Conn.Receive would read twice (a peek for
// the size, then the read) into new buffers and parse into new messages.
// decode must not keep m.Data.
func (n *Notifications) read(c *netlink.Conn, decode func(netlink.Message) (Event, bool)) {
	defer n.wg.Done()
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, notifyRead)
	for {
		var nr, rflags int
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			nr, _, rflags, _, rerr = unix.Recvmsg(int(fd), buf, nil, unix.MSG_DONTWAIT)
			return rerr != unix.EAGAIN
		}); err != nil {
			return // closed
		}
		switch {
		case rerr == unix.ENOBUFS:
			// The kernel dropped notifications: say so, go on.
			n.send(Event{Kind: EventLost})
			continue
		case rerr == unix.EINTR:
			continue
		case rerr != nil:
			return
		case rflags&unix.MSG_TRUNC != 0:
			n.send(Event{Kind: EventLost})
			continue
		}
		for b := buf[:nr]; len(b) >= unix.NLMSG_HDRLEN; {
			l := int(binary.NativeEndian.Uint32(b))
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				n.send(Event{Kind: EventLost}) // malformed: the rest is unknown
				break
			}
			m := netlink.Message{
				Header: netlink.Header{
					Length:   uint32(l),
					Type:     netlink.HeaderType(binary.NativeEndian.Uint16(b[4:])),
					Flags:    netlink.HeaderFlags(binary.NativeEndian.Uint16(b[6:])),
					Sequence: binary.NativeEndian.Uint32(b[8:]),
					PID:      binary.NativeEndian.Uint32(b[12:]),
				},
				Data: b[unix.NLMSG_HDRLEN:l],
			}
			b = b[min(nfwire.Align(l), len(b)):]
			if ev, ok := decode(m); ok {
				n.send(ev)
			}
		}
	}
}

// send queues ev without blocking; when the queue is full the event is
// dropped and the next one that fits is EventLost.
func (n *Notifications) send(ev Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.lost {
		select {
		case n.c <- Event{Kind: EventLost}:
			n.lost = false
		default:
			return
		}
	}
	select {
	case n.c <- ev:
	default:
		n.lost = true
	}
}

// nftFilter turns a batch's notifications into one event: the objects'
// messages come first, then NFT_MSG_NEWGEN with the committer's pid and
// name, sent with the port ID of the committing socket. A batch is reported
// when one of its messages is about netctl's table, and not when it came
// from the handle's own socket (its repairs). The port ID, not the pid:
// NFTA_GEN_PROC_PID is the sending thread's ID, which for a Go program is
// rarely getpid().
type nftFilter struct {
	self     uint32 // port ID of the handle's nf_tables socket
	relevant bool
}

func newNftFilter(self uint32) *nftFilter { return &nftFilter{self: self} }

func (f *nftFilter) message(m netlink.Message) (Event, bool) {
	if m.Header.Type>>8 != unix.NFNL_SUBSYS_NFTABLES || len(m.Data) < 4 {
		return Event{}, false
	}
	msg := int(m.Header.Type & 0xff)
	if msg != unix.NFT_MSG_NEWGEN {
		// Every object message names its table in attribute 1
		// (NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, NFTA_RULE_TABLE,
		// NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE, …).
		if m.Data[0] == familyInet && string(tableOf(m.Data[4:])) == plan.TableName {
			f.relevant = true
		}
		return Event{}, false
	}
	ev := Event{Kind: EventNftables}
	a := nfwire.Attrs{B: m.Data[4:]}
	for {
		typ, d, ok := a.Next()
		if !ok {
			break
		}
		switch typ {
		case unix.NFTA_GEN_PROC_PID:
			ev.PID = nfwire.BeU32(d)
		case unix.NFTA_GEN_PROC_NAME:
			ev.Comm = nfwire.CStr(d)
		}
	}
	relevant := f.relevant
	f.relevant = false
	return ev, relevant && (f.self == 0 || m.Header.PID != f.self)
}

// tableOf is the message's table name, not copied: it is compared once per
// set element of a batch, and not kept.
func tableOf(attrs []byte) []byte {
	a := nfwire.Attrs{B: attrs}
	for {
		typ, d, ok := a.Next()
		if !ok {
			return nil
		}
		if typ == 1 {
			if i := bytes.IndexByte(d, 0); i >= 0 {
				d = d[:i]
			}
			return d
		}
	}
}

// routeEvent decodes a link or address notification.
func routeEvent(m netlink.Message) (Event, bool) {
	var kind EventKind
	var hdr int
	switch m.Header.Type {
	case unix.RTM_NEWLINK, unix.RTM_DELLINK:
		kind, hdr = EventLink, unix.SizeofIfInfomsg
	case unix.RTM_NEWADDR, unix.RTM_DELADDR:
		kind, hdr = EventAddr, unix.SizeofIfAddrmsg
	default:
		return Event{}, false
	}
	if len(m.Data) < hdr {
		return Event{}, false
	}
	ev := Event{Kind: kind}
	// IFLA_IFNAME and IFA_LABEL are both attribute 3.
	a := nfwire.Attrs{B: m.Data[hdr:]}
	for {
		typ, d, ok := a.Next()
		if !ok {
			break
		}
		switch {
		case typ == unix.IFLA_IFNAME:
			ev.Name = nfwire.CStr(d)
		case kind == EventLink && m.Header.Type == unix.RTM_NEWLINK && typ == unix.IFLA_MASTER:
			ev.Port = len(d) >= 4 && binary.NativeEndian.Uint32(d) != 0
		}
	}
	return ev, true
}

// ReadSysctls reads only the named sysctls: the cheap poll of what has no
// notifications.
func (h *Handle) ReadSysctls(names []string) (map[string]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.open(); err != nil {
		return nil, err
	}
	s, err := h.readSysctls(names)
	return s, mapPermission(err)
}
