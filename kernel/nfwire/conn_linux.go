package nfwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ListMax bounds the element list of one message: a netlink attribute's
// length is 16 bits.
const ListMax = 0xffff - 64

// SockBuf is the socket buffer size: a batch must fit the send buffer whole
// (100,000 link elements are about 6 MiB).
const SockBuf = 64 << 20

func nftType(msg int) netlink.HeaderType {
	return netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | msg)
}

// nfgenmsg is the header of every nf_tables message.
func nfgenmsg(family byte, resID uint16) []byte {
	return []byte{family, unix.NFNETLINK_V0, byte(resID >> 8), byte(resID)}
}

type Conn struct {
	c   *netlink.Conn
	buf []byte // receive buffer of dumps, reused
}

// dumpBuf is the receive buffer of a dump. The kernel sizes the datagrams of
// a dump after the largest buffer the reader offered (up to 32 KiB); a
// page-sized one makes a set dump take eight times as many rounds, and every
// round of a pipapo set dump walks the set from its start.
const dumpBuf = 256 << 10

// Dial opens a NETLINK_NETFILTER socket in the namespace nsfd (0: the
// caller's) with buffers large enough for a whole batch.
func Dial(nsfd int) (*Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: nsfd})
	if err != nil {
		return nil, fmt.Errorf("nftables socket: %w", err)
	}
	if err := SetBuffers(c, SockBuf); err != nil {
		_ = c.Close()
		return nil, err
	}
	// Acks carry only the header of the message they answer, not the whole
	// (possibly 60 KiB) message.
	_ = c.SetOption(netlink.CapAcknowledge, true)
	return &Conn{c: c, buf: make([]byte, dumpBuf)}, nil
}

// SetBuffers raises both socket buffers, past net.core.[rw]mem_max with the
// FORCE options (CAP_NET_ADMIN), else as far as the limits allow.
func SetBuffers(c *netlink.Conn, n int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr, rerr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, n)
		rerr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
	}); err != nil {
		return err
	}
	if serr != nil {
		if err := c.SetWriteBuffer(n); err != nil {
			return fmt.Errorf("nftables socket send buffer: %w", err)
		}
	}
	if rerr != nil {
		if err := c.SetReadBuffer(n); err != nil {
			return fmt.Errorf("nftables socket receive buffer: %w", err)
		}
	}
	return nil
}

func (n *Conn) Close() error { return n.c.Close() }

var ErrDumpInterrupted = errors.New("nftables dump interrupted by a concurrent change")

// Get sends one (non-dump) request and returns its answers.
func (n *Conn) Get(msgType int, family byte, w *Writer) ([]netlink.Message, error) {
	data := nfgenmsg(family, 0)
	if w != nil {
		if w.Err != nil {
			return nil, w.Err
		}
		data = append(data, w.B...)
	}
	return n.c.Execute(netlink.Message{Header: netlink.Header{Type: nftType(msgType), Flags: netlink.Request}, Data: data})
}

// Dump sends a dump request and calls fn with the payload (nfgenmsg and
// attributes) of every answer. The payload is only valid during the call.
func (n *Conn) Dump(msgType int, family byte, w *Writer, fn func(payload []byte) error) error {
	data := nfgenmsg(family, 0)
	if w != nil {
		if w.Err != nil {
			return w.Err
		}
		data = append(data, w.B...)
	}
	req, err := n.c.Send(netlink.Message{
		Header: netlink.Header{Type: nftType(msgType), Flags: netlink.Request | netlink.Dump},
		Data:   data,
	})
	if err != nil {
		return err
	}
	rc, err := n.c.SyscallConn()
	if err != nil {
		return err
	}
	_ = n.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer func() { _ = n.c.SetReadDeadline(time.Time{}) }()
	var ferr error
	interrupted := false
	for done := false; !done; {
		var nr, rflags int
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			nr, _, rflags, _, rerr = unix.Recvmsg(int(fd), n.buf, nil, unix.MSG_DONTWAIT)
			return rerr != unix.EAGAIN
		}); err != nil {
			return fmt.Errorf("reading nftables dump: %w", err)
		}
		if rerr != nil {
			return fmt.Errorf("reading nftables dump: %w", rerr)
		}
		if rflags&unix.MSG_TRUNC != 0 {
			// Lost: keep reading to the end of the dump, then fail.
			ferr = errors.New("reading nftables dump: datagram larger than the receive buffer")
			nr = 0
		}
		b := n.buf[:nr]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(binary.NativeEndian.Uint32(b))
			typ := binary.NativeEndian.Uint16(b[4:])
			flags := binary.NativeEndian.Uint16(b[6:])
			seq := binary.NativeEndian.Uint32(b[8:])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				ferr = errors.New("reading nftables dump: malformed netlink message")
				break
			}
			payload := b[unix.NLMSG_HDRLEN:l]
			b = b[min(Align(l), len(b)):]
			if seq != req.Header.Sequence {
				continue // a straggler of an earlier request
			}
			if flags&unix.NLM_F_DUMP_INTR != 0 {
				interrupted = true
			}
			switch typ {
			case unix.NLMSG_DONE:
				done = true
				if len(payload) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(payload)); e < 0 {
						return syscall.Errno(-e)
					}
				}
			case unix.NLMSG_ERROR:
				if len(payload) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(payload)); e < 0 {
						return syscall.Errno(-e)
					}
				}
				done = true
			default:
				if ferr == nil {
					ferr = fn(payload)
				}
			}
		}
	}
	if ferr != nil {
		return ferr
	}
	if interrupted {
		return ErrDumpInterrupted
	}
	return nil
}

// GenID returns the ruleset generation: it changes with every committed
// batch, so two equal reads around a dump prove the dump consistent.
func (n *Conn) GenID() (uint32, error) {
	msgs, err := n.Get(unix.NFT_MSG_GETGEN, unix.AF_UNSPEC, nil)
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		a := Attrs{B: m.Data[4:]}
		for {
			typ, d, ok := a.Next()
			if !ok {
				break
			}
			if typ == unix.NFTA_GEN_ID {
				return BeU32(d), nil
			}
		}
	}
	return 0, errors.New("nftables: no generation in GETGEN answer")
}

// Batch is a list of nf_tables messages applied in one transaction.
type Batch struct {
	Msgs []netlink.Message
	What []string // what each message does, for errors
	Err  error
}

func (b *Batch) Add(msgType int, flags netlink.HeaderFlags, family byte, w *Writer, what string) {
	if w.Err != nil && b.Err == nil {
		b.Err = fmt.Errorf("%s: %w", what, w.Err)
	}
	data := make([]byte, 0, 4+len(w.B))
	data = append(data, nfgenmsg(family, 0)...)
	data = append(data, w.B...)
	b.Msgs = append(b.Msgs, netlink.Message{
		Header: netlink.Header{Type: nftType(msgType), Flags: netlink.Request | netlink.Acknowledge | flags},
		Data:   data,
	})
	b.What = append(b.What, what)
}

// Wire returns the messages as sent: the batch between BATCH_BEGIN and
// BATCH_END (the socket fills in sequence numbers and port IDs).
func (b *Batch) Wire() []netlink.Message {
	msgs := make([]netlink.Message, 0, len(b.Msgs)+2)
	msgs = append(msgs, netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_BEGIN), Flags: netlink.Request},
		Data:   nfgenmsg(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES),
	})
	msgs = append(msgs, b.Msgs...)
	return append(msgs, netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_END), Flags: netlink.Request},
		Data:   nfgenmsg(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES),
	})
}

// Send sends the batch in one sendmsg and collects one answer per message.
// The kernel processes a batch synchronously and answers in order, so the
// k-th answer is about the k-th message.
func (n *Conn) Send(b *Batch) error {
	if b.Err != nil {
		return b.Err
	}
	if len(b.Msgs) == 0 {
		return nil
	}
	sent, err := n.c.SendMessages(b.Wire())
	if err != nil {
		return fmt.Errorf("sending nftables batch (%d messages): %w", len(b.Msgs), err)
	}
	firstSeq, lastSeq := sent[1].Header.Sequence, sent[len(sent)-2].Header.Sequence
	// Every answer is queued by the time sendmsg returns; the deadline only
	// guards against a kernel that answers differently than counted.
	_ = n.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer func() { _ = n.c.SetReadDeadline(time.Time{}) }()

	var first error
	failed := 0
	for got := 0; got < len(b.Msgs); {
		answers, err := n.c.Receive()
		if err == nil {
			for _, a := range answers {
				if a.Header.Type == netlink.Error && a.Header.Sequence >= firstSeq && a.Header.Sequence <= lastSeq {
					got++
				}
			}
			continue
		}
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			return fmt.Errorf("reading nftables batch answers: %w", err)
		}
		switch errno {
		case unix.EPERM, unix.ENOMEM, unix.ENOBUFS:
			// The kernel refused the whole batch with a single answer.
			return fmt.Errorf("nftables batch: %w", err)
		}
		if first == nil {
			first = fmt.Errorf("%s: %w%s", b.What[got], err, hint(b.Msgs[got].Header.Type, errno))
		}
		failed++
		got++
	}
	if first != nil && failed > 1 {
		return fmt.Errorf("%w (and %d more errors; nothing was changed)", first, failed-1)
	}
	if first != nil {
		return fmt.Errorf("%w (nothing was changed)", first)
	}
	return nil
}

// hint explains the errors whose errno alone says little.
func hint(t netlink.HeaderType, errno syscall.Errno) string {
	switch {
	case t == nftType(unix.NFT_MSG_NEWSETELEM) && errno == unix.EEXIST:
		return " (an element exists already or overlaps another: interval sets refuse overlaps)"
	case t == nftType(unix.NFT_MSG_DELSETELEM) && errno == unix.ENOENT:
		return " (an element to delete is not in the set)"
	case errno == unix.EBUSY:
		return " (still in use, e.g. by a rule of the user chain)"
	}
	return ""
}
