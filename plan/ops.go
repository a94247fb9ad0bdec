package plan

import (
	"slices"
	"strconv"
	"strings"
)

// OpKind is what one firewall operation does.
type OpKind uint8

// The operations on netctl's table, each one nf_tables message (elements:
// as many as their size needs), in the order FirewallOps puts them.
const (
	OpAddTable OpKind = iota + 1
	OpDeleteTable
	OpFlushChain // delete every rule of a chain
	OpDeleteChain
	OpDeleteSet
	OpDeleteElements
	OpAddSet
	OpAddElements
	OpAddChain
	OpSetPolicy // of an existing base chain
	OpAddRule   // appended to its chain
)

// Op is one operation of the batch that takes netctl's table from one
// state to another. Chain is the chain's header (without rules) for the
// chain operations and AddRule's chain; Set is the set's header (without
// elements) for the set and element operations.
type Op struct {
	Kind     OpKind
	Chain    Chain
	Set      Set
	Rule     Rule
	Elements []Element
}

// String says what the operation does, for errors and tests.
func (o Op) String() string {
	switch o.Kind {
	case OpAddTable:
		return "add table " + TableFamily + " " + TableName
	case OpDeleteTable:
		return "delete table"
	case OpFlushChain:
		return "flush chain " + o.Chain.Name
	case OpDeleteChain:
		return "delete chain " + o.Chain.Name
	case OpDeleteSet:
		return "delete set " + o.Set.Name
	case OpDeleteElements:
		return "delete " + strconv.Itoa(len(o.Elements)) + " elements of set " + o.Set.Name
	case OpAddSet:
		return "add set " + o.Set.Name
	case OpAddElements:
		return "add " + strconv.Itoa(len(o.Elements)) + " elements of set " + o.Set.Name
	case OpAddChain:
		return "add chain " + o.Chain.Name
	case OpSetPolicy:
		return "set policy of chain " + o.Chain.Name
	case OpAddRule:
		s := "add rule to chain " + o.Chain.Name
		if o.Rule.Comment != "" {
			s += " (" + o.Rule.Comment + ")"
		}
		return s
	}
	return "operation " + strconv.Itoa(int(o.Kind))
}

// FirewallOps returns the operations that take netctl's table from `from`
// (a state just read; nil: no table) to `to` (nil: no table), for the
// kernel to send as one atomic batch. It is what Diff shows, as writes:
// a changed rule flushes and refills its chain (rules are few), set
// elements are written one by one (they are many). The person's objects
// are never written while the table stays (see stays).
//
// Order matters to the kernel: rules are flushed before their chains and
// sets go, sets exist before rules look them up, every chain exists before
// a rule jumps to it.
func FirewallOps(from, to *Firewall) []Op {
	var ops []Op
	if to == nil {
		if from != nil {
			ops = append(ops, Op{Kind: OpDeleteTable})
		}
		return ops
	}
	if from != nil {
		from, to = from.stays(to), to.WithoutUserObjects()
	} else {
		ops = append(ops, Op{Kind: OpAddTable})
		from = &Firewall{}
	}

	// Sets: which go (deleted, or replaced because their type changed).
	gone := map[string]bool{}
	for _, fs := range from.Sets {
		ts := to.Set(fs.Name)
		if ts == nil || ts.Type != fs.Type || ts.Interval != fs.Interval {
			gone[fs.Name] = true
		}
	}
	// Chains: which are flushed, deleted, created; which get their rules.
	var flush, del, create, fill, policy []*Chain
	for i := range from.Chains {
		fc := &from.Chains[i]
		tc := to.Chain(fc.Name)
		switch {
		case tc == nil:
			if fc.Name != ChainUser { // empty: stays keeps one with rules
				flush = append(flush, fc)
			}
			del = append(del, fc)
		case fc.Name == ChainUser:
			// Its rules are the person's.
		case chainBaseDiffers(fc, tc):
			flush, del = append(flush, fc), append(del, fc)
			create, fill = append(create, tc), append(fill, tc)
		default:
			if fc.Policy != tc.Policy {
				policy = append(policy, tc)
			}
			if !sameRules(fc.Rules, tc.Rules) || referencesSet(fc.Rules, gone) {
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
		ops = append(ops, Op{Kind: OpFlushChain, Chain: chainHeader(*c)})
	}
	for _, c := range del {
		ops = append(ops, Op{Kind: OpDeleteChain, Chain: chainHeader(*c)})
	}
	for _, fs := range from.Sets {
		if gone[fs.Name] {
			ops = append(ops, Op{Kind: OpDeleteSet, Set: setHeader(fs)})
		}
	}
	// Elements of the sets that stay: deletes first (a changed comment is a
	// delete and an add of the same key), then the new sets and the adds.
	var adds []Op
	for i := range to.Sets {
		ts := &to.Sets[i]
		fs := from.Set(ts.Name)
		if fs == nil || gone[ts.Name] {
			adds = append(adds, Op{Kind: OpAddSet, Set: setHeader(*ts)})
			if len(ts.Elements) > 0 {
				adds = append(adds, Op{Kind: OpAddElements, Set: setHeader(*ts), Elements: ts.Elements})
			}
			continue
		}
		dels, add := ElementDelta(fs.Elements, ts.Elements)
		if len(dels) > 0 {
			ops = append(ops, Op{Kind: OpDeleteElements, Set: setHeader(*ts), Elements: dels})
		}
		if len(add) > 0 {
			adds = append(adds, Op{Kind: OpAddElements, Set: setHeader(*ts), Elements: add})
		}
	}
	ops = append(ops, adds...)

	for _, c := range create {
		ops = append(ops, Op{Kind: OpAddChain, Chain: chainHeader(*c)})
	}
	for _, c := range policy {
		ops = append(ops, Op{Kind: OpSetPolicy, Chain: chainHeader(*c)})
	}
	// Rules, in the order of to's chains.
	for i := range to.Chains {
		tc := &to.Chains[i]
		if !slices.Contains(fill, tc) {
			continue
		}
		for _, r := range tc.Rules {
			ops = append(ops, Op{Kind: OpAddRule, Chain: chainHeader(*tc), Rule: r})
		}
	}
	return ops
}

// stays is the live table f as an apply that keeps the table sees it
// (going to `to`): without the person's user* chains and sets, and without
// the user chain when `to` has none but the person put rules in it.
func (f *Firewall) stays(to *Firewall) *Firewall {
	f = f.WithoutUserObjects()
	if c := f.Chain(ChainUser); c != nil && len(c.Rules) > 0 && to.Chain(ChainUser) == nil {
		out := *f
		out.Chains = slices.DeleteFunc(slices.Clone(f.Chains), func(c Chain) bool { return c.Name == ChainUser })
		return &out
	}
	return f
}

func chainBaseDiffers(a, b *Chain) bool {
	return a.Type != b.Type || a.Hook != b.Hook || a.Priority != b.Priority || (a.Policy == "") != (b.Policy == "")
}

// sameRules compares two chains' rules as Diff does: comment and text, in
// order.
func sameRules(a, b []Rule) bool {
	return slices.EqualFunc(a, b, func(x, y Rule) bool { return x.Comment == y.Comment && x.String() == y.String() })
}

// dnatMaps are the maps the DNAT verdicts of published ports look up.
var dnatMaps = map[string]string{
	VerdictDNATPublish:     SetPublish,
	VerdictDNATPublishAny:  SetPublishAny,
	VerdictDNATPublish6:    SetPublish6,
	VerdictDNATPublishAny6: SetPublishAny6,
}

// referencesSet reports whether a rule may look up one of sets: a chain
// whose set is replaced is refilled around it.
func referencesSet(rs []Rule, sets map[string]bool) bool {
	for _, r := range rs {
		if r.Unknown != "" && len(sets) > 0 {
			return true // it may look a set up; refill it to be safe
		}
		for _, m := range r.Match {
			if strings.HasPrefix(m.Value, "@") && sets[m.Value[1:]] {
				return true
			}
		}
		if sets[dnatMaps[r.Verdict]] {
			return true
		}
	}
	return false
}

// ElementDelta compares two element lists by key: dels are in from and not
// in to (or with another comment), adds the reverse.
func ElementDelta(from, to []Element) (dels, adds []Element) {
	from, to = byKey(from), byKey(to)
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
			if from[i].Comment != to[j].Comment || from[i].Value != to[j].Value {
				dels, adds = append(dels, from[i]), append(adds, to[j])
			}
			i++
			j++
		}
	}
	return dels, adds
}
