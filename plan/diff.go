package plan

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// Diff returns the changes that take live to desired, in a stable order:
// sysctls, bridges, the table, its chains, sets, rules, then set elements
// grouped by the file item they come from (links, allowed sources).
func Diff(desired, live State) *Plan {
	p := &Plan{Desired: desired, Live: live}
	p.Changes = concat(
		diffSysctls(desired.Sysctls, live.Sysctls),
		diffBridges(desired.Bridges, live.Bridges),
		diffFirewall(desired.Firewall, live.Firewall))
	return p
}

// concat is slices.Concat of slices the caller owns, without a copy when
// one holds everything: 100,000 link changes are 10 MB to copy.
func concat(parts ...[]Change) []Change {
	var only []Change
	nonEmpty := 0
	for _, p := range parts {
		if len(p) > 0 {
			only = p
			nonEmpty++
		}
	}
	if nonEmpty <= 1 {
		return only
	}
	return slices.Concat(parts...)
}

func diffSysctls(desired, live map[string]string) []Change {
	var cs []Change
	for _, name := range slices.Sorted(maps.Keys(desired)) {
		want, have := desired[name], live[name]
		if want != have {
			cs = append(cs, Change{Address: "sysctl." + name, Type: TypeSysctl, Name: name, Action: Update, Before: have, After: want})
		}
	}
	return cs
}

func diffBridges(desired, live map[string]Bridge) []Change {
	var cs []Change
	names := Names(desired, live)
	for _, name := range names {
		want, inFile := desired[name]
		have, exists := live[name]
		c := Change{Address: "bridge." + name, Type: TypeBridge, Name: name}
		switch {
		case inFile && !exists:
			c.Action, c.After = Create, want
		case !inFile && exists:
			c.Action, c.Before = Delete, have
		case want.Kind != have.Kind:
			c.Action, c.Before, c.After = Replace, have, want
		case !BridgeEqual(want, have):
			c.Action, c.Before, c.After = Update, have, want
		default:
			continue
		}
		cs = append(cs, c)
	}
	return cs
}

// BridgeEqual compares what netctl manages of a bridge; its ports are not
// netctl's and never drift.
func BridgeEqual(a, b Bridge) bool {
	return a.Name == b.Name && a.Kind == b.Kind && a.MTU == b.MTU && a.Up == b.Up &&
		a.Owner == b.Owner && slices.Equal(a.Addresses, b.Addresses) && hairpinSatisfied(a, b)
}

// Names returns the keys of both maps, sorted: the objects either state has.
func Names[V any](a, b map[string]V) []string {
	u := make(map[string]struct{}, len(a)+len(b))
	for k := range a {
		u[k] = struct{}{}
	}
	for k := range b {
		u[k] = struct{}{}
	}
	return slices.Sorted(maps.Keys(u))
}

// ownedFirewall is live's table if it is netctl's: a table of netctl's
// name made by someone else is not netctl's to change or delete (Conflicts
// refuses a plan that would need to write it).
func ownedFirewall(live *Firewall) *Firewall {
	if !live.Owned() {
		return nil
	}
	return live
}

func diffFirewall(desired, live *Firewall) []Change {
	live = ownedFirewall(live)
	var cs []Change
	table := Table{Family: TableFamily, Name: TableName}
	switch {
	case desired == nil && live == nil:
		return nil
	case desired != nil && live == nil:
		cs = append(cs, Change{Address: "firewall", Type: TypeTable, Name: TableName, Action: Create, After: table})
		live = &Firewall{}
	case desired == nil && live != nil:
		// The table goes with everything in it, the person's objects too.
		cs = append(cs, Change{Address: "firewall", Type: TypeTable, Name: TableName, Action: Delete, Before: table})
		desired = &Firewall{}
	default:
		live = live.stays(desired)
	}
	return concat(cs, diffChains(desired, live), diffSets(desired, live),
		diffRules(desired, live), diffElements(desired, live))
}

// FirewallsEqual reports whether Diff finds no change between the desired
// firewall a and the live b (nil: no table), without building the changes:
// with 100,000 links to create, Diff would build 100,000 of them to say no.
func FirewallsEqual(a, b *Firewall) bool {
	b = ownedFirewall(b) // the live one
	if a == nil || b == nil {
		return a == b
	}
	b = b.stays(a)
	if len(diffChains(a, b)) > 0 || len(diffSets(a, b)) > 0 || len(diffRules(a, b)) > 0 {
		return false
	}
	touched, ok := touchedElements(a, b)
	if ok && len(touched) == 0 {
		return true
	}
	return len(diffElements(a, b)) == 0
}

func diffChains(desired, live *Firewall) []Change {
	var cs []Change
	for _, name := range chainNames(desired, live) {
		want, have := desired.Chain(name), live.Chain(name)
		c := Change{Address: "firewall.chain." + name, Type: TypeChain, Name: name}
		switch {
		case want != nil && have == nil:
			c.Action, c.After = Create, chainHeader(*want)
		case want == nil && have != nil:
			c.Action, c.Before = Delete, chainHeader(*have)
		case name == ChainUser:
			continue // the person's chain: created when missing, never changed
		case want.Type != have.Type || want.Hook != have.Hook || want.Priority != have.Priority:
			c.Action, c.Before, c.After = Replace, chainHeader(*have), chainHeader(*want)
		case want.Policy != have.Policy:
			c.Action, c.Before, c.After = Update, chainHeader(*have), chainHeader(*want)
		default:
			continue
		}
		cs = append(cs, c)
	}
	return cs
}

func chainNames(fws ...*Firewall) []string {
	seen := map[string]struct{}{}
	for _, f := range fws {
		for _, c := range f.Chains {
			seen[c.Name] = struct{}{}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

func chainHeader(c Chain) Chain {
	c.Rules = nil
	return c
}

func diffSets(desired, live *Firewall) []Change {
	seen := map[string]struct{}{}
	for _, f := range []*Firewall{desired, live} {
		for _, s := range f.Sets {
			seen[s.Name] = struct{}{}
		}
	}
	var cs []Change
	for _, name := range slices.Sorted(maps.Keys(seen)) {
		want, have := desired.Set(name), live.Set(name)
		c := Change{Address: "firewall.set." + name, Type: TypeSet, Name: name}
		switch {
		case want != nil && have == nil:
			c.Action, c.After = Create, setHeader(*want)
		case want == nil && have != nil:
			c.Action, c.Before = Delete, setHeader(*have)
		case want.Type != have.Type || want.Interval != have.Interval:
			c.Action, c.Before, c.After = Replace, setHeader(*have), setHeader(*want)
		default:
			continue
		}
		cs = append(cs, c)
	}
	return cs
}

func setHeader(s Set) Set {
	s.Elements = nil
	return s
}

// diffRules compares the rules of each chain by their comment. The rules of
// the user chain are a person's: never drift, listed only when the table
// goes (with everything in it).
func diffRules(desired, live *Firewall) []Change {
	var cs []Change
	// An address names one rule: a live rule whose comment is another
	// chain's (wanted there, or met there first) is named by its handle.
	claimed := map[string]string{}
	for _, c := range desired.Chains {
		for _, r := range c.Rules {
			claimed[ruleAddress(c.Name, r)] = c.Name
		}
	}
	for _, name := range chainNames(desired, live) {
		var want, have []Rule
		if c := desired.Chain(name); c != nil {
			want = c.Rules
		}
		if c := live.Chain(name); c != nil {
			have = c.Rules
		}
		if name == ChainUser {
			if desired.Chain(ChainUser) != nil {
				continue
			}
			want = nil
		}
		cs = append(cs, diffChainRules(name, want, have, claimed)...)
	}
	return cs
}

func diffChainRules(chain string, want, have []Rule, claimed map[string]string) []Change {
	var cs []Change
	haveByAddr := make(map[string]Rule, len(have))
	var haveOrder []string
	for _, r := range have {
		addr := ruleAddress(chain, r)
		if owner, ok := claimed[addr]; ok && owner != chain {
			addr = handleAddress(chain, r)
		} else {
			claimed[addr] = chain
		}
		if _, dup := haveByAddr[addr]; dup || r.Comment == "" {
			addr = handleAddress(chain, r)
		}
		haveByAddr[addr] = r
		haveOrder = append(haveOrder, addr)
	}
	wantAddrs := make(map[string]bool, len(want))
	var kept []string
	for _, r := range want {
		addr := ruleAddress(chain, r)
		wantAddrs[addr] = true
		h, ok := haveByAddr[addr]
		c := Change{Address: addr, Type: TypeRule, Name: lastPart(addr)}
		switch {
		case !ok:
			c.Action, c.After = Create, r
		case !RuleEqual(r, h):
			c.Action, c.Before, c.After = Update, h, r
			kept = append(kept, addr)
		default:
			kept = append(kept, addr)
			continue
		}
		cs = append(cs, c)
	}
	var haveKept []string
	for _, addr := range haveOrder {
		if wantAddrs[addr] {
			haveKept = append(haveKept, addr)
			continue
		}
		r := haveByAddr[addr]
		cs = append(cs, Change{Address: addr, Type: TypeRule, Name: lastPart(addr), Action: Delete, Before: r})
	}
	// The same rules in another order are not the same chain: order is
	// what gives the user chain and established connections precedence.
	if slices.Equal(sortedCopy(kept), sortedCopy(haveKept)) && !slices.Equal(kept, haveKept) {
		cs = append(cs, Change{Address: "firewall.chain." + chain + ".order", Type: TypeChain, Name: chain,
			Action: Update, Before: haveKept, After: kept})
	}
	return cs
}

func sortedCopy(s []string) []string { return slices.Sorted(slices.Values(s)) }

func ruleAddress(chain string, r Rule) string {
	// The user chain's rules are a person's: their comments are not
	// addresses, and may even repeat one of netctl's.
	if r.Comment == "" || chain == ChainUser {
		return handleAddress(chain, r)
	}
	return r.Comment
}

func handleAddress(chain string, r Rule) string {
	return fmt.Sprintf("firewall.chain.%s.rule.handle-%d", chain, r.Handle)
}

// RuleEqual compares two rules by what they do and where they come from.
func RuleEqual(a, b Rule) bool {
	return a.Comment == b.Comment && a.Unknown == b.Unknown && a.Verdict == b.Verdict && slices.Equal(a.Match, b.Match)
}

// lastPart names an object by the end of its address. Container and
// interface names may hold dots, and even the markers' words (a bridge named
// "link"), so the item kinds that end in one are cut at their marker, looked
// for after the "bridge." that starts them.
func lastPart(addr string) string {
	const element = ".element["
	if i := strings.Index(addr, element); i >= 0 && strings.HasPrefix(addr, "firewall.set.") {
		return strings.TrimSuffix(addr[i+len(element):], "]")
	}
	if p, ok := allowedSourcePart(addr); ok {
		return p
	}
	if p := publishPart(addr); p != "" {
		return p
	}
	for _, marker := range []string{".link.", ".isolation."} {
		if i := bridgeMarker(addr, marker); i >= 0 {
			return addr[i+len(marker):]
		}
	}
	return addr[strings.LastIndexByte(addr, '.')+1:]
}

// allowedSourcePart returns the prefix that ends an allowed source's
// address: no name can hold a '/', so the last marker followed by a prefix
// is the one.
func allowedSourcePart(addr string) (string, bool) {
	const marker = ".allowed_source."
	i := strings.LastIndex(addr, marker)
	if i < 0 || !strings.HasPrefix(addr, "bridge.") {
		return "", false
	}
	p := addr[i+len(marker):]
	_, err := netip.ParsePrefix(p)
	return p, err == nil
}

// bridgeMarker finds marker in an address "bridge.NAME<marker>...", past
// the first letter of NAME.
func bridgeMarker(addr, marker string) int {
	const start = len("bridge.") + 1
	if !strings.HasPrefix(addr, "bridge.") || len(addr) <= start {
		return -1
	}
	if i := strings.Index(addr[start:], marker); i >= 0 {
		return start + i
	}
	return -1
}

// elementGroup is the elements of one set that come from one file item.
type elementGroup struct {
	set, address, typ string
	keys              []string
}

// elementAddress is the address of an element: its comment, or, for an
// element netctl did not write, where it is.
func elementAddress(set string, e Element) string {
	if e.Comment == "" {
		return "firewall.set." + set + ".element[" + e.Key + "]"
	}
	return e.Comment
}

// groupElements groups the elements of f by address; when only is not nil,
// only the addresses in it.
func groupElements(f *Firewall, only map[string]bool) map[string]*elementGroup {
	n := len(only)
	if only == nil {
		for _, s := range f.Sets {
			n += len(s.Elements)
		}
	}
	groups := make(map[string]*elementGroup, n)
	block := make([]elementGroup, 0, n) // at most one group per element: never grown
	for _, s := range f.Sets {
		for _, e := range s.Elements {
			addr := elementAddress(s.Name, e)
			if only != nil && !only[addr] {
				continue
			}
			g := groups[addr]
			if g == nil {
				typ := TypeSetElement
				if e.Comment != "" {
					typ = ElementType(e.Comment)
				}
				block = append(block, elementGroup{set: s.Name, address: addr, typ: typ})
				g = &block[len(block)-1]
				groups[addr] = g
			}
			g.keys = append(g.keys, elementText(e))
		}
	}
	for _, g := range groups {
		slices.Sort(g.keys)
	}
	return groups
}

// ElementType is the change type of the elements a comment names.
func ElementType(comment string) string {
	if _, ok := allowedSourcePart(comment); ok {
		return TypeAllowedSource
	}
	if bridgeMarker(comment, ".link.") >= 0 {
		return TypeLink
	}
	if publishPart(comment) != "" {
		return TypePublish
	}
	return TypeSetElement
}

// diffElements compares the elements of the two firewalls grouped by the
// file item they come from. Only the groups of the elements that differ are
// built: with 100,000 links and one changed, one group on each side.
func diffElements(desired, live *Firewall) []Change {
	touched, ok := touchedElements(desired, live)
	if !ok {
		return diffGroups(groupElements(desired, nil), groupElements(live, nil))
	}
	if len(touched) == 0 {
		return nil
	}
	return diffGroups(groupElements(desired, touched), groupElements(live, touched))
}

func diffGroups(want, have map[string]*elementGroup) []Change {
	addrs := make([]string, 0, max(len(want), len(have)))
	for a := range want {
		addrs = append(addrs, a)
	}
	for a := range have {
		if want[a] == nil {
			addrs = append(addrs, a)
		}
	}
	slices.Sort(addrs)
	cs := make([]Change, 0, len(addrs))
	for _, addr := range addrs {
		w, h := want[addr], have[addr]
		var c Change
		switch {
		case w != nil && h == nil:
			c = Change{Action: Create, After: w.keys}
		case w == nil && h != nil:
			c = Change{Action: Delete, Before: h.keys}
		case w.set != h.set || !slices.Equal(w.keys, h.keys):
			c = Change{Action: Update, Before: h.keys, After: w.keys}
		default:
			continue
		}
		g := w
		if g == nil {
			g = h
		}
		c.Address, c.Type, c.Name = addr, g.typ, lastPart(addr)
		cs = append(cs, c)
	}
	if len(cs) == 0 {
		return nil
	}
	return cs
}

// touchedElements returns the addresses of the elements that are not in both
// firewalls alike (same set, key and comment). The group of any other
// address is the same on both sides: the same keys in the same sets. It may
// name more addresses than differ, never fewer. ok is false when grouping
// everything is as good: when the sets the two have in common are not in the
// same order (or a name repeats), the first set of a group might differ;
// when more than a quarter of the elements differ, filtering saves little.
func touchedElements(desired, live *Firewall) (touched map[string]bool, ok bool) {
	common := func(f, other *Firewall) ([]string, bool) {
		var names []string
		seen := make(map[string]bool, len(f.Sets))
		for _, s := range f.Sets {
			if seen[s.Name] {
				return nil, false
			}
			seen[s.Name] = true
			if other.Set(s.Name) != nil {
				names = append(names, s.Name)
			}
		}
		return names, true
	}
	dn, ok1 := common(desired, live)
	ln, ok2 := common(live, desired)
	if !ok1 || !ok2 || !slices.Equal(dn, ln) {
		return nil, false
	}
	limit := 16
	for _, f := range []*Firewall{desired, live} {
		for _, s := range f.Sets {
			limit += len(s.Elements) / 4
		}
	}
	touched = map[string]bool{}
	touch := func(set string, e Element) {
		touched[elementAddress(set, e)] = true
	}
	for _, sides := range [][2]*Firewall{{desired, live}, {live, desired}} {
		for _, s := range sides[0].Sets {
			if sides[1].Set(s.Name) == nil {
				if len(s.Elements) > limit {
					return nil, false
				}
				for _, e := range s.Elements {
					touch(s.Name, e)
				}
			}
		}
	}
	for _, name := range dn {
		a, b := byKey(desired.Set(name).Elements), byKey(live.Set(name).Elements)
		i, j := 0, 0
		for i < len(a) || j < len(b) {
			if len(touched) > limit {
				return nil, false
			}
			switch {
			case j == len(b) || i < len(a) && a[i].Key < b[j].Key:
				touch(name, a[i])
				i++
			case i == len(a) || b[j].Key < a[i].Key:
				touch(name, b[j])
				j++
			default:
				if a[i].Comment != b[j].Comment || a[i].Value != b[j].Value {
					touch(name, a[i])
					touch(name, b[j])
				}
				i++
				j++
			}
		}
	}
	return touched, true
}

// byKey returns the elements sorted by key: es itself when it is, as in
// every state Desired and Read make.
func byKey(es []Element) []Element {
	cmpKey := func(a, b Element) int { return strings.Compare(a.Key, b.Key) }
	if slices.IsSortedFunc(es, cmpKey) {
		return es
	}
	es = slices.Clone(es)
	slices.SortStableFunc(es, cmpKey)
	return es
}

// Scope is what a live read must look at for this desired state: the
// sysctls it manages and the bridges it names.
func (s State) Scope() Scope {
	return Scope{
		Sysctls: slices.Sorted(maps.Keys(s.Sysctls)),
		Bridges: slices.Sorted(maps.Keys(s.Bridges)),
	}
}
