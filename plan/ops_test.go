package plan

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestElementDelta(t *testing.T) {
	e := func(k, c string) Element { return Element{Key: k, Comment: c} }
	from := []Element{e("a", ""), e("b", "x"), e("c", "")}
	to := []Element{e("d", ""), e("b", "y"), e("a", "")} // not sorted
	dels, adds := ElementDelta(from, to)
	if len(dels) != 2 || dels[0].Key != "b" || dels[1].Key != "c" {
		t.Errorf("dels %v", dels)
	}
	if len(adds) != 2 || adds[0] != e("b", "y") || adds[1].Key != "d" {
		t.Errorf("adds %v", adds)
	}
}

// simulate applies ops to a copy of from as the kernel would, failing where
// the kernel would refuse the batch (a missing or existing object, a chain
// deleted with rules, a set deleted under a rule).
func simulate(from *Firewall, ops []Op) (*Firewall, error) {
	var fw *Firewall
	if from != nil {
		c := cloneState(State{Firewall: from}).Firewall
		fw = c
	}
	refs := func(name string) bool {
		for _, c := range fw.Chains {
			for _, r := range c.Rules {
				for _, m := range r.Match {
					if m.Value == "@"+name {
						return true
					}
				}
			}
		}
		return false
	}
	for _, op := range ops {
		if fw == nil && op.Kind != OpAddTable {
			return nil, fmt.Errorf("%s: no table", op)
		}
		switch op.Kind {
		case OpAddTable:
			if fw != nil {
				return nil, fmt.Errorf("%s: exists", op)
			}
			fw = &Firewall{Owner: Owner}
		case OpDeleteTable:
			fw = nil
		case OpFlushChain:
			c := fw.Chain(op.Chain.Name)
			if c == nil {
				return nil, fmt.Errorf("%s: no chain", op)
			}
			c.Rules = nil
		case OpDeleteChain:
			c := fw.Chain(op.Chain.Name)
			if c == nil || len(c.Rules) > 0 {
				return nil, fmt.Errorf("%s: missing or busy", op)
			}
			fw.Chains = slices.DeleteFunc(fw.Chains, func(c Chain) bool { return c.Name == op.Chain.Name })
		case OpDeleteSet:
			if fw.Set(op.Set.Name) == nil || refs(op.Set.Name) {
				return nil, fmt.Errorf("%s: missing or busy", op)
			}
			fw.Sets = slices.DeleteFunc(fw.Sets, func(s Set) bool { return s.Name == op.Set.Name })
		case OpAddSet:
			if fw.Set(op.Set.Name) != nil {
				return nil, fmt.Errorf("%s: exists", op)
			}
			fw.Sets = append(fw.Sets, setHeader(op.Set))
		case OpAddElements, OpDeleteElements:
			s := fw.Set(op.Set.Name)
			if s == nil {
				return nil, fmt.Errorf("%s: no set", op)
			}
			for _, e := range op.Elements {
				i := slices.IndexFunc(s.Elements, func(x Element) bool { return x.Key == e.Key })
				switch {
				case op.Kind == OpAddElements && i >= 0, op.Kind == OpDeleteElements && i < 0:
					return nil, fmt.Errorf("%s: element %s", op, e.Key)
				case op.Kind == OpAddElements:
					s.Elements = append(s.Elements, e)
				default:
					s.Elements = slices.Delete(s.Elements, i, i+1)
				}
			}
			SortElements(s.Elements)
		case OpAddChain:
			if fw.Chain(op.Chain.Name) != nil {
				return nil, fmt.Errorf("%s: exists", op)
			}
			fw.Chains = append(fw.Chains, chainHeader(op.Chain))
		case OpSetPolicy:
			c := fw.Chain(op.Chain.Name)
			if c == nil {
				return nil, fmt.Errorf("%s: no chain", op)
			}
			c.Policy = op.Chain.Policy
		case OpAddRule:
			c := fw.Chain(op.Chain.Name)
			if c == nil {
				return nil, fmt.Errorf("%s: no chain", op)
			}
			for _, m := range op.Rule.Match {
				if strings.HasPrefix(m.Value, "@") && fw.Set(m.Value[1:]) == nil {
					return nil, fmt.Errorf("%s: no set %s", op, m.Value)
				}
			}
			if j, ok := strings.CutPrefix(op.Rule.Verdict, "jump "); ok && fw.Chain(j) == nil {
				return nil, fmt.Errorf("%s: no chain %s", op, j)
			}
			c.Rules = append(c.Rules, op.Rule)
		}
	}
	if fw != nil {
		slices.SortFunc(fw.Chains, func(a, b Chain) int { return strings.Compare(a.Name, b.Name) })
		slices.SortFunc(fw.Sets, func(a, b Set) int { return strings.Compare(a.Name, b.Name) })
	}
	return fw, nil
}

// checkOps checks that FirewallOps(live, desired) is exactly the firewall
// changes of p = Diff(desired, live): every operation is one of the plan's
// changes, every change is carried out by operations, and the operations
// bring live to desired as the kernel would apply them.
func checkOps(t *testing.T, desired, live State, p *Plan) {
	t.Helper()
	from, to := ownedFirewall(live.Firewall), desired.Firewall
	ops := FirewallOps(from, to)

	got, err := simulate(from, ops)
	if err != nil {
		t.Fatalf("the operations would fail: %v\n%s", err, opList(ops))
	}
	if left := Diff(State{Firewall: to}, State{Firewall: got}); !left.Empty() {
		t.Fatalf("after the operations the table still differs: %q\n%s", changeList(left), opList(ops))
	}

	type names map[string]bool
	tableCreate, tableDelete := false, false
	chainCreate, chainDelete, chainPolicy, chainOrder := names{}, names{}, names{}, names{}
	setCreate, setDelete := names{}, names{}
	added, deleted := names{}, names{}
	var ruleChanges []Change
	for _, c := range p.Changes {
		switch c.Type {
		case TypeTable:
			tableCreate, tableDelete = c.Action == Create, c.Action == Delete
		case TypeChain:
			switch {
			case strings.HasSuffix(c.Address, ".order"):
				chainOrder[c.Name] = true
			case c.Action == Update:
				chainPolicy[c.Name] = true
			default:
				chainCreate[c.Name] = c.Action != Delete
				chainDelete[c.Name] = c.Action != Create
			}
		case TypeSet:
			setCreate[c.Name] = c.Action != Delete
			setDelete[c.Name] = c.Action != Create
		case TypeRule:
			ruleChanges = append(ruleChanges, c)
		case TypeLink, TypeAllowedSource, TypeSetElement:
			before, _ := c.Before.([]string)
			after, _ := c.After.([]string)
			for _, k := range after {
				if !slices.Contains(before, k) {
					added[k] = true
				}
			}
			for _, k := range before {
				if !slices.Contains(after, k) {
					deleted[k] = true
				}
			}
		}
	}
	if tableDelete {
		if len(ops) != 1 || ops[0].Kind != OpDeleteTable {
			t.Errorf("the table goes: want one delete, got\n%s", opList(ops))
		}
		return
	}
	inSetOf := func(fw *Firewall, key string, sets names) bool {
		for _, s := range fw.Sets {
			if sets[s.Name] && slices.ContainsFunc(s.Elements, func(e Element) bool { return e.Key == key }) {
				return true
			}
		}
		return false
	}
	chainOf := func(fw *Firewall, r Rule) string {
		for _, c := range fw.Chains {
			if slices.ContainsFunc(c.Rules, func(x Rule) bool { return RuleEqual(x, r) && x.Handle == r.Handle }) {
				return c.Name
			}
		}
		return ""
	}
	flushed, ruleAdded, opsAdded, opsDeleted := names{}, map[string][]Rule{}, names{}, names{}
	fromFw := from
	if fromFw == nil {
		fromFw = &Firewall{}
	}
	for _, op := range ops {
		ok := true
		switch op.Kind {
		case OpAddTable:
			ok = tableCreate
		case OpDeleteTable:
			ok = false
		case OpDeleteChain:
			ok = chainDelete[op.Chain.Name]
		case OpAddChain:
			ok = chainCreate[op.Chain.Name]
		case OpSetPolicy:
			ok = chainPolicy[op.Chain.Name]
		case OpDeleteSet:
			ok = setDelete[op.Set.Name]
		case OpAddSet:
			ok = setCreate[op.Set.Name]
		case OpFlushChain:
			flushed[op.Chain.Name] = true
			ok = chainDelete[op.Chain.Name] || chainOrder[op.Chain.Name] ||
				referencesSet(fromFw.Chain(op.Chain.Name).Rules, setDelete) ||
				slices.ContainsFunc(ruleChanges, func(c Change) bool {
					b, _ := c.Before.(Rule)
					a, _ := c.After.(Rule)
					return (c.Before != nil && chainOf(fromFw, b) == op.Chain.Name) || (c.After != nil && chainOf(to, a) == op.Chain.Name)
				})
		case OpAddRule:
			ruleAdded[op.Chain.Name] = append(ruleAdded[op.Chain.Name], op.Rule)
			ok = chainCreate[op.Chain.Name] || flushed[op.Chain.Name]
		case OpAddElements:
			for _, e := range op.Elements {
				opsAdded[e.Key] = true
				ok = ok && (added[e.Key] || setCreate[op.Set.Name])
			}
		case OpDeleteElements:
			for _, e := range op.Elements {
				opsDeleted[e.Key] = true
				ok = ok && deleted[e.Key]
			}
		}
		if !ok {
			t.Errorf("operation %q is not one of the plan's changes %q", op, changeList(p))
		}
	}
	for _, c := range ruleChanges {
		if a, isRule := c.After.(Rule); isRule {
			ch := chainOf(to, a)
			if !slices.ContainsFunc(ruleAdded[ch], func(r Rule) bool { return RuleEqual(r, a) }) {
				t.Errorf("change %s %s: the rule is not written", c.Action, c.Address)
			}
		} else if b, isRule := c.Before.(Rule); isRule {
			if ch := chainOf(fromFw, b); !flushed[ch] && !chainDelete[ch] {
				t.Errorf("change %s %s: its chain %q is not flushed", c.Action, c.Address, ch)
			}
		}
	}
	for name := range chainOrder {
		if !flushed[name] {
			t.Errorf("chain %s's order changes but it is not refilled", name)
		}
	}
	for k := range added {
		if !opsAdded[k] {
			t.Errorf("element %s is planned but not added", k)
		}
	}
	for k := range deleted {
		if !opsDeleted[k] && !inSetOf(fromFw, k, setDelete) {
			t.Errorf("element %s is planned to go but not deleted", k)
		}
	}
	if tableCreate != slices.ContainsFunc(ops, func(o Op) bool { return o.Kind == OpAddTable }) {
		t.Errorf("table create planned %v, written %v", tableCreate, !tableCreate)
	}
	for _, n := range []names{chainCreate, chainDelete, chainPolicy, setCreate, setDelete} {
		for name, want := range n {
			if want && !slices.ContainsFunc(ops, func(o Op) bool { return o.Chain.Name == name || o.Set.Name == name }) {
				t.Errorf("%s is planned to change but no operation touches it", name)
			}
		}
	}
}

func opList(ops []Op) string {
	var b strings.Builder
	for _, o := range ops {
		b.WriteString("  " + o.String() + "\n")
	}
	return b.String()
}
