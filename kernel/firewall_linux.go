package kernel

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

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

	// elemListMax bounds the element list of one message: a netlink
	// attribute's length is 16 bits.
	elemListMax = 0xffff - 64
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
		g1, err := h.nft.genID()
		if err != nil {
			return nil, err
		}
		fw, err := h.readTable()
		if errors.Is(err, errDumpInterrupted) {
			lastErr = err
			continue
		}
		if err != nil {
			return nil, err
		}
		g2, err := h.nft.genID()
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

func tableAttr(typ uint16) *attrWriter {
	w := &attrWriter{}
	w.str(typ, plan.TableName)
	return w
}

func isNotFound(err error) bool { return errors.Is(err, unix.ENOENT) }

func (h *Handle) readTable() (*plan.Firewall, error) {
	msgs, err := h.nft.get(unix.NFT_MSG_GETTABLE, familyInet, tableAttr(unix.NFTA_TABLE_NAME))
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
		a := attrs{b: m.Data[4:]}
		for {
			typ, d, ok := a.next()
			if !ok {
				break
			}
			if typ == nftaTableUserdata {
				fw.Owner = udataString(d, udataTableComment)
			}
		}
	}

	err = h.nft.dump(unix.NFT_MSG_GETCHAIN, familyInet, tableAttr(unix.NFTA_CHAIN_TABLE), func(p []byte) error {
		c, table, err := parseChain(p)
		if err == nil && table == plan.TableName {
			fw.Chains = append(fw.Chains, c.Chain)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading chains: %w", err)
	}
	slices.SortFunc(fw.Chains, func(a, b plan.Chain) int { return strings.Compare(a.Name, b.Name) })

	err = h.nft.dump(unix.NFT_MSG_GETRULE, familyInet, tableAttr(unix.NFTA_RULE_TABLE), func(p []byte) error {
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
	err = h.nft.dump(unix.NFT_MSG_GETSET, familyInet, tableAttr(unix.NFTA_SET_TABLE), func(p []byte) error {
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

type chainInfo struct {
	plan.Chain
	family byte
	base   bool
	hook   uint32
	policy uint32
}

func parseChain(p []byte) (chainInfo, string, error) {
	var c chainInfo
	var table string
	if len(p) < 4 {
		return c, "", errors.New("short chain message")
	}
	c.family = p[0]
	a := attrs{b: p[4:]}
	for {
		typ, d, ok := a.next()
		if !ok {
			break
		}
		switch typ {
		case unix.NFTA_CHAIN_TABLE:
			table = cstr(d)
		case unix.NFTA_CHAIN_NAME:
			c.Name = cstr(d)
		case unix.NFTA_CHAIN_TYPE:
			c.Type = cstr(d)
		case unix.NFTA_CHAIN_POLICY:
			c.policy = beU32(d)
			c.Policy = policyName(c.policy)
		case unix.NFTA_CHAIN_HOOK:
			c.base = true
			ha := attrs{b: d}
			for {
				t, hd, ok := ha.next()
				if !ok {
					break
				}
				switch t {
				case unix.NFTA_HOOK_HOOKNUM:
					c.hook = beU32(hd)
					c.Hook = hookName(c.hook)
				case unix.NFTA_HOOK_PRIORITY:
					c.Priority = int(int32(beU32(hd)))
				}
			}
		}
	}
	return c, table, a.err
}

func parseRule(p []byte) (string, plan.Rule, error) {
	var r plan.Rule
	var chain string
	if len(p) < 4 {
		return "", r, errors.New("short rule message")
	}
	fam := p[0]
	var items []exprItem
	a := attrs{b: p[4:]}
	for {
		typ, d, ok := a.next()
		if !ok {
			break
		}
		switch typ {
		case unix.NFTA_RULE_CHAIN:
			chain = cstr(d)
		case unix.NFTA_RULE_HANDLE:
			r.Handle = beU64(d)
		case unix.NFTA_RULE_USERDATA:
			r.Comment = udataString(d, udataRuleComment)
		case unix.NFTA_RULE_EXPRESSIONS:
			var err error
			if items, err = parseExprs(fam, d); err != nil {
				return "", r, fmt.Errorf("rule %d in chain %s: %w", r.Handle, chain, err)
			}
		}
	}
	if a.err != nil {
		return "", r, a.err
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
	a := attrs{b: p[4:]}
	for {
		typ, d, ok := a.next()
		if !ok {
			break
		}
		switch typ {
		case unix.NFTA_SET_TABLE:
			s.table = cstr(d)
		case unix.NFTA_SET_NAME:
			s.name = cstr(d)
		case unix.NFTA_SET_FLAGS:
			s.flags = beU32(d)
		case unix.NFTA_SET_KEY_TYPE:
			magic = beU32(d)
		case unix.NFTA_SET_KEY_LEN:
			keyLen = beU32(d)
		case unix.NFTA_SET_DATA_TYPE:
			s.dataType = beU32(d)
		case unix.NFTA_SET_DATA_LEN:
			s.dataLen = beU32(d)
		}
	}
	s.kt = keyTypeFromKernel(magic, int(keyLen))
	return s, a.err
}

// setFlagsShown are the set flags plan.Set models; any other makes the type
// text differ from every desired type, so the set is replaced.
const setFlagsShown = unix.NFT_SET_INTERVAL | nftSetConcat | unix.NFT_SET_ANONYMOUS

func (s *setInfo) typeName() string {
	t := s.kt.name
	if s.flags&unix.NFT_SET_MAP != 0 {
		if s.dataType == unix.NFT_DATA_VERDICT {
			t += " : verdict"
		} else if d, ok := datatypeByMagic(s.dataType); ok {
			t += " : " + d.name
		} else {
			t += fmt.Sprintf(" : type 0x%x", s.dataType)
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

// elemSpan locates an element's key and comment in a text.
type elemSpan struct{ k0, k1, c0, c1 int }

// rawElem is one element as dumped: slices into the dump's buffers.
type rawElem struct {
	key, keyEnd []byte
	end         bool // NFT_SET_ELEM_INTERVAL_END
	comment     []byte
}

func (h *Handle) readElements(si *setInfo) ([]plan.Element, error) {
	w := &attrWriter{}
	w.str(unix.NFTA_SET_ELEM_LIST_TABLE, plan.TableName)
	w.str(unix.NFTA_SET_ELEM_LIST_SET, si.name)
	kt := si.kt
	concat := len(kt.fields) > 1 || si.flags&nftSetConcat != 0
	rbtree := si.flags&unix.NFT_SET_INTERVAL != 0 && !concat
	var raws []rawElem // of an rbtree set, paired once all are read
	// The keys and comments of all elements are written into one text
	// (the handle's buffer, reused by the next read), made one string at
	// the end: two allocations per set, not two per element.
	text, spans := h.elemText[:0], h.elemSpans[:0]
	defer func() { h.elemText, h.elemSpans = text[:0], spans[:0] }()
	add := func(key, keyEnd, comment []byte) {
		if cap(text)-len(text) < 512 {
			text = slices.Grow(text, max(cap(text), 64<<10)) // doubling: append grows large slices by a quarter
		}
		k0 := len(text)
		text = kt.renderKey(text, key, keyEnd)
		c0 := len(text)
		text = append(text, comment...)
		spans = append(spans, elemSpan{k0, c0, c0, len(text)})
	}
	err := h.nft.dump(unix.NFT_MSG_GETSETELEM, familyInet, w, func(p []byte) error {
		if len(p) < 4 {
			return nil
		}
		return forEachElement(p[4:], func(r rawElem) error {
			if len(r.key) != kt.len {
				return fmt.Errorf("element key of %d bytes in a set of %d-byte keys", len(r.key), kt.len)
			}
			if rbtree {
				raws = append(raws, rawElem{key: bytes.Clone(r.key), end: r.end, comment: bytes.Clone(r.comment)})
				return nil
			}
			end := r.keyEnd
			if len(end) != kt.len {
				end = r.key
			}
			add(r.key, end, r.comment)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	for _, r := range pairIntervals(raws, kt.len) {
		add(r.key, r.keyEnd, r.comment)
	}
	all := string(text)
	elems := make([]plan.Element, len(spans))
	for i, sp := range spans {
		elems[i] = plan.Element{Key: all[sp.k0:sp.k1], Comment: all[sp.c0:sp.c1]}
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
	a := attrs{b: b}
	for {
		typ, d, ok := a.next()
		if !ok {
			break
		}
		if typ != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			continue
		}
		list := attrs{b: d}
		for {
			t, ed, ok := list.next()
			if !ok {
				break
			}
			if t != unix.NFTA_LIST_ELEM {
				continue
			}
			var e rawElem
			ea := attrs{b: ed}
			for {
				t, v, ok := ea.next()
				if !ok {
					break
				}
				switch t {
				case unix.NFTA_SET_ELEM_KEY:
					e.key = dataValue(v)
				case nftaSetElemEnd:
					e.keyEnd = dataValue(v)
				case unix.NFTA_SET_ELEM_FLAGS:
					e.end = beU32(v)&unix.NFT_SET_ELEM_INTERVAL_END != 0
				case unix.NFTA_SET_ELEM_USERDATA:
					e.comment = udataBytes(v, udataElemComment)
				}
			}
			if ea.err != nil {
				return ea.err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if list.err != nil {
			return list.err
		}
	}
	return a.err
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
		out = append(out, rawElem{key: r.key, keyEnd: last, comment: r.comment})
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

// ---- writing ----

// SyncFirewall makes netctl's table go from `from` (a state just read) to
// `to`, in one nftables batch that the kernel applies atomically. nil means
// no table. The rules of the user chain are never touched; chains whose rules
// differ are flushed and refilled; set elements are diffed by key.
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
	return mapPermission(h.nft.send(b))
}

// firewallBatch builds the batch that takes the table from `from` to `to`;
// it sends nothing (the byte goldens test it without root).
func (h *Handle) firewallBatch(from, to *plan.Firewall) (*batch, error) {
	b := &batch{}
	if to == nil {
		if from != nil {
			b.add(unix.NFT_MSG_DELTABLE, 0, familyInet, tableAttr(unix.NFTA_TABLE_NAME), "delete table")
		}
		return b, nil
	}
	if from != nil && !from.Owned() {
		return nil, plan.ForeignTableError{}
	}
	if from != nil {
		// The person's user* chains and sets are never written while the
		// table stays; a table created anew gets all of to (a rollback
		// of a destroy brings them back).
		from, to = from.WithoutUserObjects(), to.WithoutUserObjects()
	}
	if from == nil {
		// Marked as netctl's with a comment; Excl: a table of that name
		// made since the read is someone else's, and fails the batch.
		w := tableAttr(unix.NFTA_TABLE_NAME)
		w.u32(unix.NFTA_TABLE_FLAGS, 0)
		w.bytes(nftaTableUserdata, commentUserdata(plan.Owner))
		b.add(unix.NFT_MSG_NEWTABLE, netlink.Create|netlink.Excl, familyInet, w, "add table "+plan.TableFamily+" "+plan.TableName)
		from = &plan.Firewall{}
	}
	if err := h.syncTable(b, from, to); err != nil {
		return nil, err
	}
	return b, nil
}

func ruleKeys(rs []plan.Rule) []string {
	keys := make([]string, len(rs))
	for i, r := range rs {
		keys[i] = r.Comment + "\x00" + r.String()
	}
	return keys
}

func baseDiffers(a, b *plan.Chain) bool {
	return a.Type != b.Type || a.Hook != b.Hook || a.Priority != b.Priority || (a.Policy == "") != (b.Policy == "")
}

func referencesSet(rs []plan.Rule, sets map[string]bool) bool {
	for _, r := range rs {
		if r.Unknown != "" && len(sets) > 0 {
			return true // it may look a set up; refill it to be safe
		}
		for _, m := range r.Match {
			if strings.HasPrefix(m.Value, "@") && sets[m.Value[1:]] {
				return true
			}
		}
	}
	return false
}

func (h *Handle) syncTable(b *batch, from, to *plan.Firewall) error {
	// Sets: which go (deleted, or replaced because their type changed).
	gone := map[string]bool{}
	for _, fs := range from.Sets {
		ts := to.Set(fs.Name)
		if ts == nil || ts.Type != fs.Type || ts.Interval != fs.Interval {
			gone[fs.Name] = true
		}
	}
	// Chains: which are flushed, deleted, created; which get their rules.
	var flush, del, create, fill, policy []*plan.Chain
	for i := range from.Chains {
		fc := &from.Chains[i]
		tc := to.Chain(fc.Name)
		switch {
		case fc.Name == plan.ChainUser:
			if tc == nil && len(fc.Rules) == 0 {
				del = append(del, fc)
			}
		case tc == nil:
			flush, del = append(flush, fc), append(del, fc)
		case baseDiffers(fc, tc):
			flush, del = append(flush, fc), append(del, fc)
			create, fill = append(create, tc), append(fill, tc)
		default:
			if fc.Policy != tc.Policy {
				policy = append(policy, tc)
			}
			if !slices.Equal(ruleKeys(fc.Rules), ruleKeys(tc.Rules)) || referencesSet(fc.Rules, gone) {
				flush, fill = append(flush, fc), append(fill, tc)
			}
		}
	}
	for i := range to.Chains {
		tc := &to.Chains[i]
		if from.Chain(tc.Name) == nil {
			create, fill = append(create, tc), append(fill, tc)
		}
	}

	for _, c := range flush {
		w := tableAttr(unix.NFTA_RULE_TABLE)
		w.str(unix.NFTA_RULE_CHAIN, c.Name)
		b.add(unix.NFT_MSG_DELRULE, 0, familyInet, w, "flush chain "+c.Name)
	}
	for _, c := range del {
		w := tableAttr(unix.NFTA_CHAIN_TABLE)
		w.str(unix.NFTA_CHAIN_NAME, c.Name)
		b.add(unix.NFT_MSG_DELCHAIN, 0, familyInet, w, "delete chain "+c.Name)
	}
	for _, fs := range from.Sets {
		if gone[fs.Name] {
			w := tableAttr(unix.NFTA_SET_TABLE)
			w.str(unix.NFTA_SET_NAME, fs.Name)
			b.add(unix.NFT_MSG_DELSET, 0, familyInet, w, "delete set "+fs.Name)
		}
	}

	// Elements of the sets that stay: delete first (a changed comment is a
	// delete and an add of the same key), then add.
	type pending struct {
		set  *plan.Set
		kt   *keyType
		id   uint32
		add  []plan.Element
		make bool
	}
	var adds []pending
	setIDs := map[string]uint32{}
	for i := range to.Sets {
		ts := &to.Sets[i]
		kt, err := parseKeyType(ts.Type)
		if err != nil {
			return err
		}
		fs := from.Set(ts.Name)
		if fs == nil || gone[ts.Name] {
			h.setID++
			setIDs[ts.Name] = h.setID
			adds = append(adds, pending{set: ts, kt: kt, id: h.setID, add: ts.Elements, make: true})
			continue
		}
		delE, addE := diffElements(fs.Elements, ts.Elements)
		if len(delE) > 0 {
			if err := addElements(b, unix.NFT_MSG_DELSETELEM, ts, kt, 0, delE); err != nil {
				return err
			}
		}
		if len(addE) > 0 {
			adds = append(adds, pending{set: ts, kt: kt, add: addE})
		}
	}
	for _, p := range adds {
		if p.make {
			addSet(b, p.set, p.kt, p.id)
		}
		if len(p.add) > 0 {
			if err := addElements(b, unix.NFT_MSG_NEWSETELEM, p.set, p.kt, p.id, p.add); err != nil {
				return err
			}
		}
	}

	for _, c := range create {
		if err := addChain(b, c); err != nil {
			return err
		}
	}
	for _, c := range policy {
		w := tableAttr(unix.NFTA_CHAIN_TABLE)
		w.str(unix.NFTA_CHAIN_NAME, c.Name)
		p, err := policyNum(c.Policy)
		if err != nil {
			return fmt.Errorf("chain %s: %w", c.Name, err)
		}
		w.u32(unix.NFTA_CHAIN_POLICY, p)
		b.add(unix.NFT_MSG_NEWCHAIN, 0, familyInet, w, "set policy of chain "+c.Name)
	}
	setID := func(name string) uint32 { return setIDs[name] }
	// Rules, in the order of to's chains, so that a jump's target exists.
	for i := range to.Chains {
		tc := &to.Chains[i]
		if !slices.Contains(fill, tc) {
			continue
		}
		for _, r := range tc.Rules {
			if err := addRule(b, tc.Name, r, setID); err != nil {
				return err
			}
		}
	}
	return nil
}

func policyNum(p string) (uint32, error) {
	switch p {
	case "accept":
		return nfAccept, nil
	case "drop":
		return nfDrop, nil
	}
	return 0, fmt.Errorf("unsupported policy %q", p)
}

func addChain(b *batch, c *plan.Chain) error {
	w := tableAttr(unix.NFTA_CHAIN_TABLE)
	w.str(unix.NFTA_CHAIN_NAME, c.Name)
	if c.Hook != "" || c.Type != "" || c.Policy != "" {
		hook, ok := hookNum(c.Hook)
		if !ok {
			return fmt.Errorf("chain %s: unsupported hook %q", c.Name, c.Hook)
		}
		p, err := policyNum(c.Policy)
		if err != nil {
			return fmt.Errorf("chain %s: %w", c.Name, err)
		}
		if c.Type == "" {
			return fmt.Errorf("chain %s: base chain without a type", c.Name)
		}
		n := w.begin(unix.NFTA_CHAIN_HOOK)
		w.u32(unix.NFTA_HOOK_HOOKNUM, hook)
		w.u32(unix.NFTA_HOOK_PRIORITY, uint32(int32(c.Priority)))
		w.end(n)
		w.u32(unix.NFTA_CHAIN_POLICY, p)
		w.str(unix.NFTA_CHAIN_TYPE, c.Type)
	}
	b.add(unix.NFT_MSG_NEWCHAIN, netlink.Create, familyInet, w, "add chain "+c.Name)
	return nil
}

func addRule(b *batch, chain string, r plan.Rule, setID func(string) uint32) error {
	es, err := encodeRule(r, setID)
	if err != nil {
		return fmt.Errorf("chain %s: %w", chain, err)
	}
	// What is written must read back as the same rule: this refuses a
	// desired rule that is not in canonical form (10.0.0.1/8, a /32 prefix,
	// "related,established") instead of leaving a difference that never goes.
	if err := checkRoundTrip(r, es); err != nil {
		return fmt.Errorf("chain %s: %w", chain, err)
	}
	w := tableAttr(unix.NFTA_RULE_TABLE)
	w.str(unix.NFTA_RULE_CHAIN, chain)
	n := w.begin(unix.NFTA_RULE_EXPRESSIONS)
	for _, e := range es {
		data, err := expr.Marshal(familyInet, e)
		if err != nil {
			return fmt.Errorf("chain %s: rule %q: %w", chain, r.Comment, err)
		}
		m := w.begin(unix.NFTA_LIST_ELEM)
		w.b = append(w.b, data...)
		w.end(m)
	}
	w.end(n)
	if u := commentUserdata(r.Comment); u != nil {
		w.bytes(unix.NFTA_RULE_USERDATA, u)
	}
	what := "add rule to chain " + chain
	if r.Comment != "" {
		what += " (" + r.Comment + ")"
	}
	b.add(unix.NFT_MSG_NEWRULE, netlink.Create|netlink.Append, familyInet, w, what)
	return nil
}

// checkRoundTrip decodes encoded expressions as Read would.
func checkRoundTrip(r plan.Rule, es []expr.Any) error {
	w := &attrWriter{}
	for _, e := range es {
		data, err := expr.Marshal(familyInet, e)
		if err != nil {
			return err
		}
		m := w.begin(unix.NFTA_LIST_ELEM)
		w.b = append(w.b, data...)
		w.end(m)
	}
	items, err := parseExprs(familyInet, w.b)
	if err != nil {
		return err
	}
	ms, verdict, ok := decodeRule(items)
	got := plan.Rule{Comment: r.Comment, Match: ms, Verdict: verdict}
	if !ok || got.String() != r.String() {
		return fmt.Errorf("rule %q: %q is not in canonical form (it would read back as %q)", r.Comment, r.String(), got.String())
	}
	return nil
}

// byteorder of a set's key, in nft's userdata (BYTEORDER_INVALID for a
// concatenation, as nft writes it).
func keyByteorder(kt *keyType) uint32 {
	if len(kt.fields) > 1 {
		return 0
	}
	switch kt.fields[0].kind {
	case kindIPv4, kindIPv6, kindProto, kindService:
		return 2 // BYTEORDER_BIG_ENDIAN
	}
	return 1 // BYTEORDER_HOST_ENDIAN
}

func addSet(b *batch, s *plan.Set, kt *keyType, id uint32) {
	flags := uint32(0)
	if s.Interval {
		flags |= unix.NFT_SET_INTERVAL
	}
	if len(kt.fields) > 1 {
		flags |= nftSetConcat
	}
	w := tableAttr(unix.NFTA_SET_TABLE)
	w.str(unix.NFTA_SET_NAME, s.Name)
	w.u32(unix.NFTA_SET_FLAGS, flags)
	w.u32(unix.NFTA_SET_KEY_TYPE, kt.magic)
	w.u32(unix.NFTA_SET_KEY_LEN, uint32(kt.len))
	w.u32(unix.NFTA_SET_ID, id)
	if len(kt.fields) > 1 {
		d := w.begin(unix.NFTA_SET_DESC)
		c := w.begin(nftaSetDescConc)
		for _, f := range kt.fields {
			e := w.begin(unix.NFTA_LIST_ELEM)
			w.u32(nftaSetFieldLen, uint32(f.size))
			w.end(e)
		}
		w.end(c)
		w.end(d)
	}
	var ud []byte
	ud = append(ud, udataSetKeyByteorder, 4)
	ud = append(ud, byte(keyByteorder(kt)), 0, 0, 0) // u32, host order (x86/arm little-endian)
	w.bytes(unix.NFTA_SET_USERDATA, ud)
	b.add(unix.NFT_MSG_NEWSET, netlink.Create, familyInet, w, "add set "+s.Name)
}

// diffElements compares two element lists by key: dels are in from and not
// in to (or with another comment), adds the reverse.
func diffElements(from, to []plan.Element) (dels, adds []plan.Element) {
	byKey := func(a, b plan.Element) int { return strings.Compare(a.Key, b.Key) }
	if !slices.IsSortedFunc(from, byKey) {
		from = slices.Clone(from)
		slices.SortFunc(from, byKey)
	}
	if !slices.IsSortedFunc(to, byKey) {
		to = slices.Clone(to)
		slices.SortFunc(to, byKey)
	}
	i, j := 0, 0
	for i < len(from) || j < len(to) {
		switch {
		case j == len(to) || (i < len(from) && from[i].Key < to[j].Key):
			dels = append(dels, from[i])
			i++
		case i == len(from) || to[j].Key < from[i].Key:
			adds = append(adds, to[j])
			j++
		default:
			if from[i].Comment != to[j].Comment {
				dels, adds = append(dels, from[i]), append(adds, to[j])
			}
			i++
			j++
		}
	}
	return dels, adds
}

// addElements writes NEWSETELEM or DELSETELEM messages for elems, as many as
// the 64 KiB limit of one element list needs, all in the same batch.
func addElements(b *batch, msgType int, s *plan.Set, kt *keyType, id uint32, elems []plan.Element) error {
	verb := "add"
	flags := netlink.Create
	if msgType == unix.NFT_MSG_DELSETELEM {
		verb, flags = "delete", 0
	}
	concat := len(kt.fields) > 1
	rbtree := s.Interval && !concat
	key := make([]byte, kt.len)
	keyEnd := make([]byte, kt.len)
	var scratch []byte

	var w *attrWriter
	var list, count int
	flushMsg := func() {
		if w == nil {
			return
		}
		w.end(list)
		b.add(msgType, flags, familyInet, w, fmt.Sprintf("%s %d elements of set %s", verb, count, s.Name))
		w = nil
	}
	startMsg := func() {
		// Sized for one full message: no regrowth while filling it.
		w = &attrWriter{b: make([]byte, 0, elemListMax+256)}
		w.str(unix.NFTA_SET_ELEM_LIST_TABLE, plan.TableName)
		w.str(unix.NFTA_SET_ELEM_LIST_SET, s.Name)
		if id != 0 {
			w.u32(unix.NFTA_SET_ELEM_LIST_SET_ID, id)
		}
		list = w.begin(unix.NFTA_SET_ELEM_LIST_ELEMENTS)
		count = 0
	}
	var putElem func(k, kEnd []byte, end bool, comment string)
	putElem = func(k, kEnd []byte, end bool, comment string) {
		mark := len(w.b)
		e := w.begin(unix.NFTA_LIST_ELEM)
		if end {
			w.u32(unix.NFTA_SET_ELEM_FLAGS, unix.NFT_SET_ELEM_INTERVAL_END)
		}
		w.data(unix.NFTA_SET_ELEM_KEY, k)
		if kEnd != nil {
			w.data(nftaSetElemEnd, kEnd)
		}
		if comment != "" {
			w.header(unix.NFTA_SET_ELEM_USERDATA, 2+len(comment)+1)
			w.b = append(w.b, udataElemComment, byte(len(comment)+1))
			w.b = append(w.b, comment...)
			w.b = append(w.b, 0)
			w.pad()
		}
		w.end(e)
		if len(w.b)-list > elemListMax && count > 0 {
			w.b = w.b[:mark]
			flushMsg()
			startMsg()
			putElem(k, kEnd, end, comment)
			return
		}
		count++
	}

	startMsg()
	for _, el := range elems {
		clear(key)
		clear(keyEnd)
		var err error
		if scratch, err = kt.parseKey(el.Key, key, keyEnd, scratch); err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
		if len(el.Comment) > maxCommentLen {
			return fmt.Errorf("set %s: element %q: comment longer than %d bytes", s.Name, el.Key, maxCommentLen)
		}
		switch {
		case concat && s.Interval:
			putElem(key, keyEnd, false, el.Comment)
		case rbtree:
			putElem(key, nil, false, el.Comment)
			if next, ok := increment(keyEnd); ok {
				putElem(next, nil, true, "")
			}
		default:
			if !bytes.Equal(key, keyEnd) {
				return fmt.Errorf("set %s: element %q: a range needs an interval set", s.Name, el.Key)
			}
			putElem(key, nil, false, el.Comment)
		}
	}
	flushMsg()
	return nil
}

// ForwardDropPolicies describes the base chains of other tables on the
// forward hook whose policy is drop: they drop what netctl's table accepts.
func (h *Handle) ForwardDropPolicies() ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.open(); err != nil {
		return nil, err
	}
	var out []string
	err := h.nft.dump(unix.NFT_MSG_GETCHAIN, unix.NFPROTO_UNSPEC, nil, func(p []byte) error {
		c, table, err := parseChain(p)
		if err != nil {
			return err
		}
		fam, ok := familyNames[c.family]
		if !ok || !c.base || c.hook != unix.NF_INET_FORWARD || c.policy != nfDrop {
			return nil
		}
		if c.family == familyInet && table == plan.TableName {
			return nil
		}
		out = append(out, fmt.Sprintf("table %s %s chain %s has policy drop", fam, table, c.Name))
		return nil
	})
	if err != nil {
		return nil, mapPermission(fmt.Errorf("listing chains: %w", err))
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
