package testnet

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// ReadyLimit bounds the wait for a new link to carry traffic. The kernel
// usually takes microseconds; carrier changes go through the linkwatch work
// queue, which on a loaded machine can lag by seconds, and a bridge with STP
// on holds a new port in listening and learning for twice its forward delay.
const ReadyLimit = 60 * time.Second

// readyPoll is how often the link state is read while waiting: the wait is on
// the state the kernel reports, the interval only paces the reads.
const readyPoll = 10 * time.Millisecond

// Bridge port states (IFLA_BRPORT_STATE, linux/if_bridge.h BR_STATE_*).
const (
	brStateDisabled   = 0
	brStateListening  = 1
	brStateLearning   = 2
	brStateForwarding = 3
	brStateBlocking   = 4
)

// PortStateName spells a bridge port state as the bridge tool does.
func PortStateName(s int) string {
	switch s {
	case brStateDisabled:
		return "disabled"
	case brStateListening:
		return "listening"
	case brStateLearning:
		return "learning"
	case brStateForwarding:
		return "forwarding"
	case brStateBlocking:
		return "blocking"
	case -1:
		return "not a bridge port"
	}
	return fmt.Sprintf("state %d", s)
}

// End is one end of a link: an interface in a namespace.
type End struct {
	NS, Link string
}

func (e End) String() string { return e.NS + "/" + e.Link }

// LinkState is what readiness looks at.
type LinkState struct {
	// Carrier: the link is up and has its lower layer (IFF_LOWER_UP; for a
	// veth, both ends are up).
	Carrier bool
	// PortState is the bridge port state (BR_STATE_*), -1 when the link is
	// not a bridge port.
	PortState int
}

// ReadLinkState reads one end's state from the kernel (netlink).
func ReadLinkState(e End) (LinkState, error) {
	st := LinkState{PortState: -1}
	err := InNS(e.NS, func() error {
		l, err := netlink.LinkByName(e.Link)
		if err != nil {
			return err
		}
		st.Carrier = l.Attrs().Flags&net.FlagUp != 0 && l.Attrs().RawFlags&unix.IFF_LOWER_UP != 0
		if l.Attrs().MasterIndex == 0 {
			return nil
		}
		st.PortState, err = bridgePortState(l.Attrs().Index)
		return err
	})
	if err != nil {
		return st, fmt.Errorf("%s: %w", e, err)
	}
	return st, nil
}

// bridgePortState reads IFLA_BRPORT_STATE of the interface with index idx in
// the calling thread's namespace: an AF_BRIDGE link dump carries it in
// IFLA_PROTINFO (netlink.Protinfo does not expose it).
func bridgePortState(idx int) (int, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(unix.AF_BRIDGE))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return -1, err
	}
	for _, m := range msgs {
		ans := nl.DeserializeIfInfomsg(m)
		if int(ans.Index) != idx {
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[ans.Len():])
		if err != nil {
			return -1, err
		}
		for _, a := range attrs {
			if a.Attr.Type&^unix.NLA_F_NESTED != unix.IFLA_PROTINFO {
				continue
			}
			infos, err := nl.ParseRouteAttr(a.Value)
			if err != nil {
				return -1, err
			}
			for _, info := range infos {
				if info.Attr.Type == nl.IFLA_BRPORT_STATE && len(info.Value) > 0 {
					return int(info.Value[0]), nil
				}
			}
		}
	}
	return -1, nil
}

// WaitReady returns when every end has carrier and every end that is a bridge
// port is forwarding, as read from the kernel; or an error naming what is not
// ready after limit. An end that is not a bridge port needs carrier only.
func WaitReady(limit time.Duration, ends ...End) error {
	return waitReady(limit, nil, ends...)
}

// waitReady is WaitReady; seen, when not nil, gets every state read (tests
// use it to act on the state the wait saw).
func waitReady(limit time.Duration, seen func(End, LinkState), ends ...End) error {
	deadline := time.Now().Add(limit)
	for {
		var notReady []string
		for _, e := range ends {
			st, err := ReadLinkState(e)
			if err != nil {
				return err
			}
			if seen != nil {
				seen(e, st)
			}
			switch {
			case !st.Carrier:
				notReady = append(notReady, e.String()+": no carrier")
			case st.PortState != -1 && st.PortState != brStateForwarding:
				notReady = append(notReady, e.String()+": bridge port "+PortStateName(st.PortState))
			}
		}
		if len(notReady) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testnet: links not ready after %s: %v", limit, notReady)
		}
		time.Sleep(readyPoll)
	}
}
