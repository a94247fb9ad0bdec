package kernel

import (
	"bytes"
	"fmt"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/kernel/nfwire"
	"github.com/netctl/netctl/plan"
)

// Writing: plan.FirewallOps, encoded as nf_tables messages of one batch.

// encodeOps encodes the operations in order. Sets created in the batch get
// an ID, by which the batch's elements and rules refer to them.
func (h *Handle) encodeOps(ops []plan.Op) (*nfwire.Batch, error) {
	b := &nfwire.Batch{}
	setIDs := map[string]uint32{}
	setID := func(name string) uint32 { return setIDs[name] }
	for _, op := range ops {
		what := op.String()
		switch op.Kind {
		case plan.OpAddTable:
			// Marked as netctl's with a comment; Excl: a table of that name
			// made since the read is someone else's, and fails the batch.
			w := tableAttr(unix.NFTA_TABLE_NAME)
			w.U32(unix.NFTA_TABLE_FLAGS, 0)
			w.Binary(nftaTableUserdata, commentUserdata(plan.Owner))
			b.Add(unix.NFT_MSG_NEWTABLE, netlink.Create|netlink.Excl, familyInet, w, what)
		case plan.OpDeleteTable:
			b.Add(unix.NFT_MSG_DELTABLE, 0, familyInet, tableAttr(unix.NFTA_TABLE_NAME), what)
		case plan.OpFlushChain:
			w := tableAttr(unix.NFTA_RULE_TABLE)
			w.Str(unix.NFTA_RULE_CHAIN, op.Chain.Name)
			b.Add(unix.NFT_MSG_DELRULE, 0, familyInet, w, what)
		case plan.OpDeleteChain:
			w := tableAttr(unix.NFTA_CHAIN_TABLE)
			w.Str(unix.NFTA_CHAIN_NAME, op.Chain.Name)
			b.Add(unix.NFT_MSG_DELCHAIN, 0, familyInet, w, what)
		case plan.OpDeleteSet:
			w := tableAttr(unix.NFTA_SET_TABLE)
			w.Str(unix.NFTA_SET_NAME, op.Set.Name)
			b.Add(unix.NFT_MSG_DELSET, 0, familyInet, w, what)
		case plan.OpAddSet:
			kt, dt, err := parseSetType(op.Set.Type)
			if err != nil {
				return nil, err
			}
			h.setID++
			setIDs[op.Set.Name] = h.setID
			addSet(b, &op.Set, kt, dt, h.setID)
		case plan.OpAddElements, plan.OpDeleteElements:
			kt, dt, err := parseSetType(op.Set.Type)
			if err != nil {
				return nil, err
			}
			msg := unix.NFT_MSG_NEWSETELEM
			if op.Kind == plan.OpDeleteElements {
				msg, dt = unix.NFT_MSG_DELSETELEM, nil // a delete names the key only
			}
			if err := addElements(b, msg, &op.Set, kt, dt, setIDs[op.Set.Name], op.Elements); err != nil {
				return nil, err
			}
		case plan.OpAddChain:
			if err := addChain(b, &op.Chain); err != nil {
				return nil, err
			}
		case plan.OpSetPolicy:
			w := tableAttr(unix.NFTA_CHAIN_TABLE)
			w.Str(unix.NFTA_CHAIN_NAME, op.Chain.Name)
			p, err := policyNum(op.Chain.Policy)
			if err != nil {
				return nil, fmt.Errorf("chain %s: %w", op.Chain.Name, err)
			}
			w.U32(unix.NFTA_CHAIN_POLICY, p)
			b.Add(unix.NFT_MSG_NEWCHAIN, 0, familyInet, w, what)
		case plan.OpAddRule:
			if err := addRule(b, op.Chain.Name, op.Rule, setID); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown firewall operation %d", op.Kind)
		}
	}
	return b, nil
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

func addChain(b *nfwire.Batch, c *plan.Chain) error {
	w := tableAttr(unix.NFTA_CHAIN_TABLE)
	w.Str(unix.NFTA_CHAIN_NAME, c.Name)
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
		n := w.Begin(unix.NFTA_CHAIN_HOOK)
		w.U32(unix.NFTA_HOOK_HOOKNUM, hook)
		w.U32(unix.NFTA_HOOK_PRIORITY, uint32(int32(c.Priority)))
		w.End(n)
		w.U32(unix.NFTA_CHAIN_POLICY, p)
		w.Str(unix.NFTA_CHAIN_TYPE, c.Type)
	}
	b.Add(unix.NFT_MSG_NEWCHAIN, netlink.Create, familyInet, w, "add chain "+c.Name)
	return nil
}

func addRule(b *nfwire.Batch, chain string, r plan.Rule, setID func(string) uint32) error {
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
	w.Str(unix.NFTA_RULE_CHAIN, chain)
	n := w.Begin(unix.NFTA_RULE_EXPRESSIONS)
	for _, e := range es {
		data, err := expr.Marshal(familyInet, e)
		if err != nil {
			return fmt.Errorf("chain %s: rule %q: %w", chain, r.Comment, err)
		}
		m := w.Begin(unix.NFTA_LIST_ELEM)
		w.B = append(w.B, data...)
		w.End(m)
	}
	w.End(n)
	if u := commentUserdata(r.Comment); u != nil {
		w.Binary(unix.NFTA_RULE_USERDATA, u)
	}
	what := "add rule to chain " + chain
	if r.Comment != "" {
		what += " (" + r.Comment + ")"
	}
	b.Add(unix.NFT_MSG_NEWRULE, netlink.Create|netlink.Append, familyInet, w, what)
	return nil
}

func checkRoundTrip(r plan.Rule, es []expr.Any) error {
	w := &nfwire.Writer{}
	for _, e := range es {
		data, err := expr.Marshal(familyInet, e)
		if err != nil {
			return err
		}
		m := w.Begin(unix.NFTA_LIST_ELEM)
		w.B = append(w.B, data...)
		w.End(m)
	}
	items, err := parseExprs(familyInet, w.B)
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

func keyByteorder(kt *keyType) uint32 {
	if len(kt.fields) > 1 {
		return 0
	}
	switch kt.fields[0].kind {
	case kindIPv4, kindProto, kindService:
		return 2 // BYTEORDER_BIG_ENDIAN
	}
	return 1 // BYTEORDER_HOST_ENDIAN
}

func addSet(b *nfwire.Batch, s *plan.Set, kt, dt *keyType, id uint32) {
	flags := uint32(0)
	if s.Interval {
		flags |= unix.NFT_SET_INTERVAL
	}
	if len(kt.fields) > 1 {
		flags |= nftSetConcat
	}
	if dt != nil {
		flags |= nftSetMap
	}
	w := tableAttr(unix.NFTA_SET_TABLE)
	w.Str(unix.NFTA_SET_NAME, s.Name)
	w.U32(unix.NFTA_SET_FLAGS, flags)
	w.U32(unix.NFTA_SET_KEY_TYPE, kt.magic)
	w.U32(unix.NFTA_SET_KEY_LEN, uint32(kt.len))
	if dt != nil {
		w.U32(unix.NFTA_SET_DATA_TYPE, dt.magic)
		w.U32(unix.NFTA_SET_DATA_LEN, uint32(dt.len))
	}
	w.U32(unix.NFTA_SET_ID, id)
	if len(kt.fields) > 1 {
		d := w.Begin(unix.NFTA_SET_DESC)
		c := w.Begin(nftaSetDescConc)
		for _, f := range kt.fields {
			e := w.Begin(unix.NFTA_LIST_ELEM)
			w.U32(nftaSetFieldLen, uint32(f.size))
			w.End(e)
		}
		w.End(c)
		w.End(d)
	}
	var ud []byte
	ud = append(ud, udataSetKeyByteorder, 4)
	ud = append(ud, byte(keyByteorder(kt)), 0, 0, 0) // u32, host order (x86/arm little-endian)
	if dt != nil {
		ud = append(ud, udataSetDataByteorder, 4, byte(keyByteorder(dt)), 0, 0, 0)
	}
	w.Binary(unix.NFTA_SET_USERDATA, ud)
	b.Add(unix.NFT_MSG_NEWSET, netlink.Create, familyInet, w, "add set "+s.Name)
}

func addElements(b *nfwire.Batch, msgType int, s *plan.Set, kt, dt *keyType, id uint32, elems []plan.Element) error {
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
	var data []byte // of the element being put, for a map
	if dt != nil {
		data = make([]byte, dt.len)
	}

	var w *nfwire.Writer
	var list, count int
	flushMsg := func() {
		if w == nil {
			return
		}
		w.End(list)
		b.Add(msgType, flags, familyInet, w, fmt.Sprintf("%s %d elements of set %s", verb, count, s.Name))
		w = nil
	}
	startMsg := func() {
		// Sized for one full message: no regrowth while filling it.
		w = &nfwire.Writer{B: make([]byte, 0, nfwire.ListMax+256)}
		w.Str(unix.NFTA_SET_ELEM_LIST_TABLE, plan.TableName)
		w.Str(unix.NFTA_SET_ELEM_LIST_SET, s.Name)
		if id != 0 {
			w.U32(unix.NFTA_SET_ELEM_LIST_SET_ID, id)
		}
		list = w.Begin(unix.NFTA_SET_ELEM_LIST_ELEMENTS)
		count = 0
	}
	var putElem func(k, kEnd []byte, end bool, comment string)
	putElem = func(k, kEnd []byte, end bool, comment string) {
		mark := len(w.B)
		e := w.Begin(unix.NFTA_LIST_ELEM)
		if end {
			w.U32(unix.NFTA_SET_ELEM_FLAGS, unix.NFT_SET_ELEM_INTERVAL_END)
		}
		w.Value(unix.NFTA_SET_ELEM_KEY, k)
		if kEnd != nil {
			w.Value(nftaSetElemEnd, kEnd)
		}
		if data != nil && !end {
			w.Value(unix.NFTA_SET_ELEM_DATA, data)
		}
		if comment != "" {
			w.Header(unix.NFTA_SET_ELEM_USERDATA, 2+len(comment)+1)
			w.B = append(w.B, udataElemComment, byte(len(comment)+1))
			w.B = append(w.B, comment...)
			w.B = append(w.B, 0)
			w.Pad()
		}
		w.End(e)
		if len(w.B)-list > nfwire.ListMax && count > 0 {
			w.B = w.B[:mark]
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
		if data != nil {
			clear(data)
			if scratch, err = dt.parseValue(el.Value, data, scratch); err != nil {
				return fmt.Errorf("map %s: element %q: %w", s.Name, el.Key, err)
			}
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
