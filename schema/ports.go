package schema

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// protocols are the protocols a port may name, in the order they sort.
var protocols = []string{"tcp", "udp", "sctp"}

const portFormat = "expected PORT, PORT/PROTO or START-END/PROTO, e.g. 80, 5432/tcp or 1000-2000/udp"

// ParsePort parses a port as the file writes it: 80, 5432/tcp, 53/udp,
// 1000-2000/udp. The protocol defaults to tcp.
func ParsePort(s string) (Port, error) {
	p, msg := parsePort(s)
	if msg != "" {
		return Port{}, fmt.Errorf("%s", msg)
	}
	return p, nil
}

// parsePort returns the port, or a message saying what is wrong with s.
func parsePort(s string) (Port, string) {
	nums, proto := s, "tcp"
	if i := strings.IndexByte(s, '/'); i >= 0 {
		nums, proto = s[:i], s[i+1:]
		if proto == "" || strings.IndexByte(proto, '/') >= 0 {
			return Port{}, fmt.Sprintf("malformed port %q: %s", s, portFormat)
		}
		known := false
		for _, p := range protocols {
			known = known || p == proto
		}
		if !known {
			return Port{}, fmt.Sprintf("unknown protocol %q in %q: expected tcp, udp or sctp", proto, s)
		}
	}
	first, last, ranged := nums, nums, false
	if i := strings.IndexByte(nums, '-'); i >= 0 {
		first, last, ranged = nums[:i], nums[i+1:], true
	}
	lo, msg := parsePortNumber(first, s)
	if msg != "" {
		return Port{}, msg
	}
	hi := lo
	if ranged {
		if hi, msg = parsePortNumber(last, s); msg != "" {
			return Port{}, msg
		}
		if hi < lo {
			return Port{}, fmt.Sprintf("range %q is reversed: %d comes after %d", s, lo, hi)
		}
	}
	return Port{Proto: proto, First: lo, Last: hi}, ""
}

func parsePortNumber(num, whole string) (uint16, string) {
	if num == "" || strings.Trim(num, "0123456789") != "" {
		return 0, fmt.Sprintf("malformed port %q: %s", whole, portFormat)
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Sprintf("port %s in %q is out of range 1-65535", shorten(num), whole)
	}
	return uint16(n), ""
}

func protoIndex(proto string) uint64 {
	for i, p := range protocols {
		if p == proto {
			return uint64(i)
		}
	}
	return uint64(len(protocols))
}

// interval is a closed range of a totally ordered key space, for overlap
// detection among many items in O(n log n).
type interval struct {
	lo, hi uint64
	i      int // the item's index in file order
}

func portInterval(p Port, i int) interval {
	base := protoIndex(p.Proto) << 16
	return interval{lo: base | uint64(p.First), hi: base | uint64(p.Last), i: i}
}

func prefixInterval(p netip.Prefix, i int) interval {
	lo := p.Masked().Addr().As4()
	a := uint64(lo[0])<<24 | uint64(lo[1])<<16 | uint64(lo[2])<<8 | uint64(lo[3])
	return interval{lo: a, hi: a | (1<<(32-p.Bits()) - 1), i: i}
}

// overlaps finds items that overlap an item before them in file order. It
// calls report(later, earlier) at most once for each later item.
func overlaps(ivs []interval, report func(later, earlier int)) {
	sorted := append([]interval(nil), ivs...)
	sort.Slice(sorted, func(a, b int) bool {
		if sorted[a].lo != sorted[b].lo {
			return sorted[a].lo < sorted[b].lo
		}
		if sorted[a].hi != sorted[b].hi {
			return sorted[a].hi > sorted[b].hi
		}
		return sorted[a].i < sorted[b].i
	})
	type pair struct{ later, earlier int }
	var pairs []pair
	reported := make(map[int]bool)
	cover := -1 // index into sorted of the item reaching furthest so far
	for k, iv := range sorted {
		if cover >= 0 && iv.lo <= sorted[cover].hi {
			a, b := iv.i, sorted[cover].i
			if a < b {
				a, b = b, a
			}
			if !reported[a] {
				reported[a] = true
				pairs = append(pairs, pair{a, b})
			}
		}
		if cover < 0 || iv.hi > sorted[cover].hi {
			cover = k
		}
	}
	sort.Slice(pairs, func(a, b int) bool { return pairs[a].later < pairs[b].later })
	for _, p := range pairs {
		report(p.later, p.earlier)
	}
}

// shorten cuts long user text for messages.
func shorten(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max]) + "…"
}
