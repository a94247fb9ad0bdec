package nfwire

import "golang.org/x/sys/unix"

// PortID is the socket's netlink port ID (getsockname): the kernel's
// notification of a committed batch (NFT_MSG_NEWGEN) carries the port ID of
// the socket that sent it, which is how a process tells its own batches
// from others'. 0 when it cannot be read.
func (n *Conn) PortID() uint32 {
	rc, err := n.c.SyscallConn()
	if err != nil {
		return 0
	}
	var id uint32
	_ = rc.Control(func(fd uintptr) {
		if sa, err := unix.Getsockname(int(fd)); err == nil {
			if nl, ok := sa.(*unix.SockaddrNetlink); ok {
				id = nl.Pid
			}
		}
	})
	return id
}
