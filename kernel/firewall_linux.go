package kernel

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/kernel/nfwire"
	"github.com/netctl/netctl/plan"
)

const (
	familyInet = unix.NFPROTO_INET

	nftSetConcat    = 0x80 // NFT_SET_CONCAT
	nftaSetDescConc = 2    // NFTA_SET_DESC_CONCAT
	nftaSetFieldLen = 1    // NFTA_SET_FIELD_LEN
	nftaSetElemEnd  = 10   // NFTA_SET_ELEM_KEY_END

	udataSetKeyByteorder = 0 // NFTNL_UDATA_SET_KEYBYTEORDER
	udataElemComment     = 0 // NFTNL_UDATA_SET_ELEM_COMMENT
	udataRuleComment     = 0 // NFTNL_UDATA_RULE_COMMENT
	udataTableComment    = 0 // NFTNL_UDATA_TABLE_COMMENT

	nftaTableUserdata = 6 // NFTA_TABLE_USERDATA

	nfDrop   = 0 // NF_DROP
	nfAccept = 1 // NF_ACCEPT

)

var hookNames = []string{"prerouting", "input", "forward", "output", "postrouting", "ingress"}

func hookName(n uint32) string {
	if int(n) < len(hookNames) {
		return hookNames[n]
	}
	return fmt.Sprintf("hook %d", n)
}

func hookNum(name string) (uint32, bool) {
	i := slices.Index(hookNames, name)
	return uint32(i), i >= 0
}

func policyName(p uint32) string {
	switch p {
	case nfDrop:
		return "drop"
	case nfAccept:
		return "accept"
	}
	return fmt.Sprintf("policy %d", p)
}

// ---- reading ----

// readFirewall reads netctl's table; it retries until the ruleset generation
// is the same before and after, so chains, rules and sets are one snapshot.
func (h *Handle) readFirewall() (*plan.Firewall, error) {
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		g1, err := h.nft.GenID()
		if err != nil {
			return nil, err
		}
		fw, err := h.readTable()
		if errors.Is(err, nfwire.ErrDumpInterrupted) {
			lastErr = err
			continue
		}
		if err != nil {
			return nil, err
		}
		g2, err := h.nft.GenID()
		if err != nil {
			return nil, err
		}
		if g1 == g2 {
			return fw, nil
		}
		lastErr = errors.New("nftables ruleset kept changing while being read")
	}
	return nil, lastErr
}

func tableAttr(typ uint16) *nfwire.Writer {
	w := &nfwire.Writer{}
	w.Str(typ, plan.TableName)
	return w
}

func isNotFound(err error) bool { return errors.Is(err, unix.ENOENT) }

func (h *Handle) readTable() (*plan.Firewall, error) {
	msgs, err := h.nft.Get(unix.NFT_MSG_GETTABLE, familyInet, tableAttr(unix.NFTA_TABLE_NAME))
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading table %s %s: %w", plan.TableFamily, plan.TableName, err)
	}
	fw := &plan.Firewall{}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		a := nfwire.Attrs{B: m.Data[4:]}
		for {
			typ, d, ok := a.Next()
			if !ok {
				break
			}
			if typ == nftaTableUserdata {
				fw.Owner = udataString(d, udataTableComment)
			}
		}
	}

	// Chains are few and the library reads them whole.
	chains, err := h.lib.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("reading chains: %w", err)
	}
	for _, c := range chains {
		if c.Table == nil || c.Table.Name != plan.TableName {
			continue
		}
		pc := plan.Chain{Name: c.Name, Type: string(c.Type)}
		if c.Hooknum != nil {
			pc.Hook = hookName(uint32(*c.Hooknum))
		}
		if c.Priority != nil {
			pc.Priority = int(*c.Priority)
		}
		if c.Policy != nil {
			pc.Policy = policyName(uint32(*c.Policy))
		}
		fw.Chains = append(fw.Chains, pc)
	}
	slices.SortFunc(fw.Chains, func(a, b plan.Chain) int { return strings.Compare(a.Name, b.Name) })

	err = h.nft.Dump(unix.NFT_MSG_GETRULE, familyInet, tableAttr(unix.NFTA_RULE_TABLE), func(p []byte) error {
		chain, r, err := parseRule(p)
		if c := fw.Chain(chain); err == nil && c != nil {
			c.Rules = append(c.Rules, r)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}

	var sets []*setInfo
	err = h.nft.Dump(unix.NFT_MSG_GETSET, familyInet, tableAttr(unix.NFTA_SET_TABLE), func(p []byte) error {
		si, err := parseSet(p)
		if err == nil && si.table == plan.TableName && si.flags&unix.NFT_SET_ANONYMOUS == 0 {
			sets = append(sets, si)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading sets: %w", err)
	}
	for _, si := range sets {
		s := plan.Set{Name: si.name, Type: si.typeName(), Interval: si.flags&unix.NFT_SET_INTERVAL != 0}
		var err error
		if s.Elements, err = h.readElements(si); err != nil {
			return nil, fmt.Errorf("reading set %s: %w", si.name, err)
		}
		fw.Sets = append(fw.Sets, s)
	}
	slices.SortFunc(fw.Sets, func(a, b plan.Set) int { return strings.Compare(a.Name, b.Name) })
	return fw, nil
}

func parseRule(p []byte) (string, plan.Rule, error) {
	var r plan.Rule
	var chain string
	if len(p) < 4 {
		return "", r, errors.New("short rule message")
	}
	fam := p[0]
	var items []exprItem
	a := nfwire.Attrs{B: p[4:]}
	for {
		typ, d, ok := a.Next()
		if !ok {
			break
		}
		switch typ {
		case unix.NFTA_RULE_CHAIN:
			chain = nfwire.CStr(d)
		case unix.NFTA_RULE_HANDLE:
			r.Handle = nfwire.BeU64(d)
		case unix.NFTA_RULE_USERDATA:
			r.Comment = udataString(d, udataRuleComment)
		case unix.NFTA_RULE_EXPRESSIONS:
			var err error
			if items, err = parseExprs(fam, d); err != nil {
				return "", r, fmt.Errorf("rule %d in chain %s: %w", r.Handle, chain, err)
			}
		}
	}
	if a.Err != nil {
		return "", r, a.Err
	}
	ms, verdict, ok := decodeRule(items)
	if ok {
		r.Match, r.Verdict = ms, verdict
	} else {
		r.Unknown = describe(items)
	}
	return chain, r, nil
}

type setInfo struct {
	table    string
	name     string
	flags    uint32
	kt       *keyType
	dataType uint32
	dataLen  uint32
}

func parseSet(p []byte) (*setInfo, error) {
	if len(p) < 4 {
		return nil, errors.New("short set message")
	}
	s := &setInfo{}
	var magic, keyLen uint32
	a := nfwire.Attrs{B: p[4:]}
	for {
		typ, d, ok := a.Next()
		if !ok {
			break
		}
		switch typ {
		case unix.NFTA_SET_TABLE:
			s.table = nfwire.CStr(d)
		case unix.NFTA_SET_NAME:
			s.name = nfwire.CStr(d)
		case unix.NFTA_SET_FLAGS:
			s.flags = nfwire.BeU32(d)
		case unix.NFTA_SET_KEY_TYPE:
			magic = nfwire.BeU32(d)
		case unix.NFTA_SET_KEY_LEN:
			keyLen = nfwire.BeU32(d)
		case unix.NFTA_SET_DATA_TYPE:
			s.dataType = nfwire.BeU32(d)
		case unix.NFTA_SET_DATA_LEN:
			s.dataLen = nfwire.BeU32(d)
		}
	}
	s.kt = keyTypeFromKernel(magic, int(keyLen))
	return s, a.Err
}

// setFlagsShown are the set flags plan.Set models; any other makes the type
// text differ from every desired type, so the set is replaced.
const setFlagsShown = unix.NFT_SET_INTERVAL | nftSetConcat | unix.NFT_SET_ANONYMOUS

func (s *setInfo) typeName() string {
	t := s.kt.name
	if s.flags&unix.NFT_SET_MAP != 0 {
		if s.dataType == unix.NFT_DATA_VERDICT {
			t += " : verdict"
		} else {
			t += " : " + s.dataKeyType().name
		}
	}
	var extra []string
	for _, f := range []struct {
		bit  uint32
		name string
	}{{unix.NFT_SET_CONSTANT, "constant"}, {unix.NFT_SET_TIMEOUT, "timeout"}, {unix.NFT_SET_EVAL, "dynamic"}, {unix.NFT_SET_OBJECT, "object"}} {
		if s.flags&f.bit != 0 {
			extra = append(extra, f.name)
		}
	}
	if rest := s.flags &^ (setFlagsShown | unix.NFT_SET_MAP | unix.NFT_SET_CONSTANT | unix.NFT_SET_TIMEOUT | unix.NFT_SET_EVAL | unix.NFT_SET_OBJECT); rest != 0 {
		extra = append(extra, fmt.Sprintf("0x%x", rest))
	}
	if len(extra) > 0 {
		t += " (flags " + strings.Join(extra, ",") + ")"
	}
	return t
}

// elemSpan locates an element's key, value and comment in a text.
type elemSpan struct{ k0, k1, c0, c1, v0, v1 int }

// rawElem is one element as dumped: slices into the dump's buffers.
type rawElem struct {
	key, keyEnd []byte
	end         bool // NFT_SET_ELEM_INTERVAL_END
	comment     []byte
	data        []byte // a map element's value
}

func (h *Handle) readElements(si *setInfo) ([]plan.Element, error) {
	w := &nfwire.Writer{}
	w.Str(unix.NFTA_SET_ELEM_LIST_TABLE, plan.TableName)
	w.Str(unix.NFTA_SET_ELEM_LIST_SET, si.name)
	kt := si.kt
	concat := len(kt.fields) > 1 || si.flags&nftSetConcat != 0
	rbtree := si.flags&unix.NFT_SET_INTERVAL != 0 && !concat
	var raws []rawElem // of an rbtree set, paired once all are read
	// The keys and comments of all elements are written into one text
	// (the handle's buffer, reused by the next read), made one string at
	// the end: two allocations per set, not two per element.
	text, spans := h.elemText[:0], h.elemSpans[:0]
	defer func() { h.elemText, h.elemSpans = text[:0], spans[:0] }()
	dt := si.dataKeyType() // nil for a set
	add := func(key, keyEnd, comment, data []byte) {
		if cap(text)-len(text) < 512 {
			text = slices.Grow(text, max(cap(text), 64<<10)) // doubling: append grows large slices by a quarter
		}
		k0 := len(text)
		text = kt.renderKey(text, key, keyEnd)
		c0 := len(text)
		text = append(text, comment...)
		c1 := len(text)
		if dt != nil && data != nil {
			text = renderValue(text, dt, data)
		}
		spans = append(spans, elemSpan{k0, c0, c0, c1, c1, len(text)})
	}
	err := h.nft.Dump(unix.NFT_MSG_GETSETELEM, familyInet, w, func(p []byte) error {
		if len(p) < 4 {
			return nil
		}
		return forEachElement(p[4:], func(r rawElem) error {
			if len(r.key) != kt.len {
				return fmt.Errorf("element key of %d bytes in a set of %d-byte keys", len(r.key), kt.len)
			}
			if rbtree {
				raws = append(raws, rawElem{key: bytes.Clone(r.key), end: r.end, comment: bytes.Clone(r.comment), data: bytes.Clone(r.data)})
				return nil
			}
			end := r.keyEnd
			if len(end) != kt.len {
				end = r.key
			}
			add(r.key, end, r.comment, r.data)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	for _, r := range pairIntervals(raws, kt.len) {
		add(r.key, r.keyEnd, r.comment, r.data)
	}
	all := string(text)
	elems := make([]plan.Element, len(spans))
	for i, sp := range spans {
		elems[i] = plan.Element{Key: all[sp.k0:sp.k1], Value: all[sp.v0:sp.v1], Comment: all[sp.c0:sp.c1]}
	}
	byKey := func(a, b plan.Element) int { return strings.Compare(a.Key, b.Key) }
	if !slices.IsSortedFunc(elems, byKey) {
		slices.SortFunc(elems, byKey)
	}
	if len(elems) == 0 {
		return nil, nil
	}
	return elems, nil
}

// forEachElement calls fn with every element of a NEWSETELEM message; the
// element's bytes are only valid during the call.
func forEachElement(b []byte, fn func(rawElem) error) error {
	a := nfwire.Attrs{B: b}
	for {
		typ, d, ok := a.Next()
		if !ok {
			break
		}
		if typ != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			continue
		}
		list := nfwire.Attrs{B: d}
		for {
			t, ed, ok := list.Next()
			if !ok {
				break
			}
			if t != unix.NFTA_LIST_ELEM {
				continue
			}
			var e rawElem
			ea := nfwire.Attrs{B: ed}
			for {
				t, v, ok := ea.Next()
				if !ok {
					break
				}
				switch t {
				case unix.NFTA_SET_ELEM_KEY:
					e.key = nfwire.DataValue(v)
				case nftaSetElemEnd:
					e.keyEnd = nfwire.DataValue(v)
				case unix.NFTA_SET_ELEM_FLAGS:
					e.end = nfwire.BeU32(v)&unix.NFT_SET_ELEM_INTERVAL_END != 0
				case unix.NFTA_SET_ELEM_USERDATA:
					e.comment = udataBytes(v, udataElemComment)
				case unix.NFTA_SET_ELEM_DATA:
					e.data = nfwire.DataValue(v)
				}
			}
			if ea.Err != nil {
				return ea.Err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if list.Err != nil {
			return list.Err
		}
	}
	return a.Err
}

// pairIntervals turns the start and end elements of a one-field interval set
// (end keys are exclusive) into [first, last] elements.
func pairIntervals(raws []rawElem, keyLen int) []rawElem {
	slices.SortFunc(raws, func(a, b rawElem) int {
		if c := bytes.Compare(a.key, b.key); c != 0 {
			return c
		}
		if a.end != b.end {
			if a.end {
				return -1
			}
			return 1
		}
		return 0
	})
	out := raws[:0:0]
	for i := 0; i < len(raws); i++ {
		r := raws[i]
		if r.end {
			continue
		}
		last := bytes.Repeat([]byte{0xff}, keyLen)
		if i+1 < len(raws) && raws[i+1].end {
			last = decrement(raws[i+1].key)
			i++
		}
		out = append(out, rawElem{key: r.key, keyEnd: last, comment: r.comment, data: r.data})
	}
	return out
}

func decrement(b []byte) []byte {
	out := slices.Clone(b)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]--
		if out[i] != 0xff {
			break
		}
	}
	return out
}

func increment(b []byte) ([]byte, bool) {
	out := slices.Clone(b)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]++
		if out[i] != 0 {
			return out, true
		}
	}
	return out, false
}

// SyncFirewall makes netctl's table go from `from` (a state just read) to
// `to`, in one nftables batch that the kernel applies atomically. nil means
// no table. What is written is plan.FirewallOps(from, to): the plan's
// changes as operations.
func (h *Handle) SyncFirewall(from, to *plan.Firewall) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.open(); err != nil {
		return err
	}
	b, err := h.firewallBatch(from, to)
	if err != nil {
		return err
	}
	return mapPermission(h.nft.Send(b))
}

// firewallBatch builds the batch that takes the table from `from` to `to`;
// it sends nothing (the byte goldens test it without root).
func (h *Handle) firewallBatch(from, to *plan.Firewall) (*nfwire.Batch, error) {
	if from != nil && !from.Owned() {
		return nil, plan.ForeignTableError{}
	}
	return h.encodeOps(plan.FirewallOps(from, to))
}

// ForwardDropPolicies describes the base chains of other tables on the
// forward hook whose policy is drop: they drop what netctl's table accepts.
func (h *Handle) ForwardDropPolicies() ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.open(); err != nil {
		return nil, err
	}
	chains, err := h.lib.ListChains()
	if err != nil {
		return nil, mapPermission(fmt.Errorf("listing chains: %w", err))
	}
	var out []string
	for _, ch := range chains {
		if ch.Table == nil || ch.Hooknum == nil || ch.Policy == nil ||
			*ch.Hooknum != *nftables.ChainHookForward || *ch.Policy != nftables.ChainPolicyDrop {
			continue
		}
		fam, ok := familyNames[byte(ch.Table.Family)]
		if !ok || (byte(ch.Table.Family) == familyInet && ch.Table.Name == plan.TableName) {
			continue
		}
		out = append(out, fmt.Sprintf("table %s %s chain %s has policy drop", fam, ch.Table.Name, ch.Name))
	}
	slices.SortFunc(out, cmp.Compare)
	return out, nil
}

// familyNames are the families whose forward hook sees forwarded IPv4
// (an ip6 table's does not).
var familyNames = map[byte]string{
	unix.NFPROTO_IPV4:   "ip",
	unix.NFPROTO_INET:   "inet",
	unix.NFPROTO_BRIDGE: "bridge",
}
