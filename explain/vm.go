package explain

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
)

// vm runs a rule netctl did not decode (a person's rule in the user chain,
// read as plan.Rule.Unknown in `nft --debug=netlink` style) on the packet,
// register by register as nf_tables does. It knows the loads a forwarding
// decision uses (meta nfproto, l4proto, protocol, iifname, oifname; the
// IPv4 or IPv6 header; the transport header's destination port and TCP flags; ct
// state) and cmp, bitwise, counter and verdicts; anything else makes the
// answer uncertain, said in why.
func (w *walker) vm(desc string) (match bool, verdict, why string) {
	desc = strings.TrimSpace(desc)
	if !strings.HasPrefix(desc, "[ ") || !strings.HasSuffix(desc, " ]") {
		return false, "", "not an expression list"
	}
	var regs [80]byte
	pkt := w.packet()
	for _, item := range strings.Split(desc[2:len(desc)-2], " ] [ ") {
		if strings.Contains(item, "(with attributes netctl does not know)") || strings.Contains(item, "(not decoded)") {
			return false, "", "expression " + strconv.Quote(item)
		}
		f := strings.Fields(item)
		switch {
		case len(f) == 6 && f[0] == "meta" && f[1] == "load" && f[3] == "=>":
			// meta load KEY => reg N
			v, ok := pkt.meta[f[2]]
			if !ok {
				return false, "", "meta " + f[2]
			}
			if !setReg(&regs, f[5], v) {
				return false, "", "register in " + strconv.Quote(item)
			}
		case len(f) == 11 && f[0] == "payload" && f[1] == "load":
			// payload load 4b @ network header + 16 => reg 1
			n, err1 := strconv.Atoi(strings.TrimSuffix(f[2], "b"))
			off, err2 := strconv.Atoi(f[7])
			if err1 != nil || err2 != nil {
				return false, "", strconv.Quote(item)
			}
			var hdr []byte
			switch f[4] {
			case "network":
				hdr = pkt.network
			case "transport":
				hdr = pkt.transport
				// The client's port is chosen when the connection is made:
				// the first packet's source port, the reply's destination.
				switch {
				case w.f.reply && off < 4 && off+n > 2:
					return false, "", "the reply's destination port (the client's, not known before the connection is made)"
				case !w.f.reply && off < 2:
					return false, "", "the source port (not known before the connection is made)"
				}
			default:
				return false, "", f[4] + " header"
			}
			if off+n > len(hdr) {
				return false, "", strconv.Quote(item)
			}
			if !setReg(&regs, f[10], hdr[off:off+n]) {
				return false, "", "register in " + strconv.Quote(item)
			}
		case len(f) == 6 && f[0] == "ct" && f[1] == "load":
			// ct load KEY => reg N; key 0 is the state: a new connection.
			if f[2] != "0" {
				return false, "", "ct key " + f[2]
			}
			state := []byte{8, 0, 0, 0} // NF_CT_STATE_BIT(IP_CT_NEW), host order
			if w.f.reply {
				state = []byte{2, 0, 0, 0} // NF_CT_STATE_BIT(IP_CT_ESTABLISHED_REPLY)
			}
			if !setReg(&regs, f[5], state) {
				return false, "", "register in " + strconv.Quote(item)
			}
		case len(f) == 5 && f[0] == "cmp":
			// cmp OP reg N 0xDATA
			data, err := hex.DecodeString(strings.TrimPrefix(f[4], "0x"))
			r, ok := reg(&regs, f[3], len(data))
			if err != nil || !ok {
				return false, "", strconv.Quote(item)
			}
			c := bytes.Compare(r, data)
			var hit bool
			switch f[1] {
			case "eq":
				hit = c == 0
			case "neq":
				hit = c != 0
			case "lt":
				hit = c < 0
			case "lte":
				hit = c <= 0
			case "gt":
				hit = c > 0
			case "gte":
				hit = c >= 0
			default:
				return false, "", strconv.Quote(item)
			}
			if !hit {
				return false, "", ""
			}
		case len(f) == 12 && f[0] == "bitwise":
			// bitwise reg D = ( reg S & 0xMASK ) ^ 0xXOR
			mask, err1 := hex.DecodeString(strings.TrimPrefix(f[8], "0x"))
			xor, err2 := hex.DecodeString(strings.TrimPrefix(f[11], "0x"))
			src, ok := reg(&regs, f[6], len(mask))
			if err1 != nil || err2 != nil || !ok || len(xor) != len(mask) {
				return false, "", strconv.Quote(item)
			}
			out := make([]byte, len(mask))
			for i := range out {
				out[i] = src[i]&mask[i] ^ xor[i]
			}
			if !setReg(&regs, f[2], out) {
				return false, "", strconv.Quote(item)
			}
		case item == "counter":
		case item == "accept" || item == "drop" || item == "return" || item == "continue":
			return true, item, ""
		case len(f) == 2 && (f[0] == "jump" || f[0] == "goto"):
			return true, item, ""
		default:
			return false, "", "expression " + strconv.Quote(item)
		}
	}
	return true, "continue", ""
}

// packet is the first packet of the flow as the forward hook sees it.
type packet struct {
	meta      map[string][]byte
	network   []byte
	transport []byte
}

func (w *walker) packet() packet {
	proto := map[string]byte{"tcp": 6, "udp": 17, "sctp": 132}[w.f.Proto]
	ifname := func(s string) []byte { b := make([]byte, 16); copy(b, s); return b }
	v6 := w.f.Is6()
	// IPv4: version/IHL, TTL at 8, protocol at 9, addresses at 12 and 16.
	ip := make([]byte, 20)
	ip[0], ip[8], ip[9] = 0x45, 64, proto
	nfproto, ethertype, srcOff, dstOff := byte(2), []byte{0x08, 0x00}, 12, 16 // NFPROTO_IPV4, ETH_P_IP
	if v6 {
		// The fixed IPv6 header: version 6, next header, hop limit,
		// source and destination (a new connection's first packet has
		// no extension header).
		ip = make([]byte, 40)
		ip[0], ip[6], ip[7] = 0x60, proto, 64
		nfproto, ethertype, srcOff, dstOff = 10, []byte{0x86, 0xdd}, 8, 24 // NFPROTO_IPV6, ETH_P_IPV6
	}
	for _, end := range []struct {
		off  int
		addr netip.Addr
	}{{srcOff, w.f.From.Addr}, {dstOff, w.f.To.Addr}} {
		if end.addr.IsValid() && end.addr.Is6() == v6 {
			copy(ip[end.off:], end.addr.AsSlice())
		}
	}
	th := make([]byte, 20)
	th[2], th[3] = byte(w.f.Port>>8), byte(w.f.Port)
	if proto == 6 {
		th[12], th[13] = 0x50, 0x02 // a SYN
	}
	if w.f.reply {
		// The reply comes from the service's port; SYN-ACK.
		th[0], th[1], th[2], th[3] = byte(w.f.Port>>8), byte(w.f.Port), 0, 0
		if proto == 6 {
			th[13] = 0x12
		}
	}
	return packet{
		meta: map[string][]byte{
			"nfproto":  {nfproto},
			"l4proto":  {proto},
			"protocol": ethertype,
			"iifname":  ifname(w.f.From.Iface),
			"oifname":  ifname(w.f.To.Iface),
		},
		network:   ip,
		transport: th,
	}
}

// regOffset is where register N starts in nf_tables' register file: 1-4
// are 16 bytes each, 8-23 are 4-byte views of the same bytes.
func regOffset(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		return 0, false
	case n >= 1 && n <= 4:
		return n * 16, true
	case n >= 8 && n <= 23:
		return (n - 8 + 4) * 4, true
	}
	return 0, false
}

func reg(regs *[80]byte, s string, n int) ([]byte, bool) {
	off, ok := regOffset(s)
	if !ok || off+n > len(regs) {
		return nil, false
	}
	return regs[off : off+n], true
}

func setReg(regs *[80]byte, s string, v []byte) bool {
	r, ok := reg(regs, s, len(v))
	if ok {
		copy(r, v)
	}
	return ok
}
