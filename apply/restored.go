package apply

import (
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"github.com/netctl/netctl/plan"
)

// maxDifferences caps the differences a failed rollback lists.
const maxDifferences = 8

// proveRestored re-reads scope and compares it with before: a rollback
// claims success only when this re-read proves it. The error lists what
// still differs, object by object.
func proveRestored(k Kernel, before plan.State, scope plan.Scope) error {
	now, err := k.Read(scope)
	if err != nil {
		return fmt.Errorf("re-reading the live state after the rollback: %w", err)
	}
	diffs := differences(before, now)
	if len(diffs) == 0 {
		return nil
	}
	if len(diffs) > maxDifferences {
		diffs = append(diffs[:maxDifferences], fmt.Sprintf("and %d more", len(diffs)-maxDifferences))
	}
	return fmt.Errorf("a re-read shows the live state is not as before the apply: %s", strings.Join(diffs, "; "))
}

// differences lists, by address, what differs between the state before an
// apply and the live state now, in what netctl writes back on a rollback:
// rule handles, ports attached by others, the user chain's rules and rules
// netctl cannot decode (which a rollback cannot write) are left out.
func differences(before, now plan.State) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(before.Sysctls)) {
		if was, is := before.Sysctls[name], now.Sysctls[name]; was != is {
			out = append(out, fmt.Sprintf("sysctl.%s is %q, was %q", name, is, was))
		}
	}
	for _, name := range plan.Names(before.Bridges, now.Bridges) {
		was, existed := before.Bridges[name]
		is, exists := now.Bridges[name]
		addr := "bridge." + name
		switch {
		case existed && !exists:
			out = append(out, addr+" is gone")
		case !existed && exists:
			out = append(out, fmt.Sprintf("%s exists (a %s), was absent", addr, is.Kind))
		case !plan.BridgeEqual(was, is) || plan.HairpinDiff(was, is) != "":
			out = append(out, addr+" differs: "+bridgeDiff(was, is))
		}
	}
	if !slices.Equal(before.ForwardMemory, now.ForwardMemory) {
		out = append(out, fmt.Sprintf("forward memory is %q, was %q", now.ForwardMemory, before.ForwardMemory))
	}
	switch b, n := comparable(before.Firewall), comparable(now.Firewall); {
	case b == nil && n != nil:
		out = append(out, "firewall: table inet netctl exists, was absent")
	case b != nil && n == nil:
		out = append(out, "firewall: table inet netctl is gone")
	case b != nil:
		out = append(out, firewallDiff(b, n)...)
	}
	return out
}

func bridgeDiff(was, is plan.Bridge) string {
	var d []string
	if was.Kind != is.Kind {
		d = append(d, fmt.Sprintf("kind %s, was %s", is.Kind, was.Kind))
	}
	if !slices.Equal(was.Addresses, is.Addresses) {
		d = append(d, fmt.Sprintf("addresses %s, were %s", prefixes(is.Addresses), prefixes(was.Addresses)))
	}
	if was.MTU != is.MTU {
		d = append(d, fmt.Sprintf("mtu %d, was %d", is.MTU, was.MTU))
	}
	if was.Up != is.Up {
		d = append(d, fmt.Sprintf("up %t, was %t", is.Up, was.Up))
	}
	if was.Owner != is.Owner {
		d = append(d, fmt.Sprintf("alias %q, was %q", is.Owner, was.Owner))
	}
	if h := plan.HairpinDiff(was, is); h != "" {
		d = append(d, h)
	}
	return strings.Join(d, ", ")
}

func prefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// comparable is a firewall as a rollback restores it: no handles, no rules
// it cannot write back, none of the person's objects (the user chain's
// rules, chains and sets named user…); a table that is not netctl's is none
// of its business.
func comparable(f *plan.Firewall) *plan.Firewall {
	if !f.Owned() {
		return nil
	}
	f = restorable(f.WithoutUserObjects())
	for i := range f.Chains {
		rules := slices.Clone(f.Chains[i].Rules)
		if f.Chains[i].Name == plan.ChainUser {
			rules = nil
		}
		for j := range rules {
			rules[j].Handle = 0
		}
		f.Chains[i].Rules = rules
	}
	return f
}

func firewallDiff(was, is *plan.Firewall) []string {
	var out []string
	names := map[string]bool{}
	for _, f := range []*plan.Firewall{was, is} {
		for _, c := range f.Chains {
			names[c.Name] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		a, b := was.Chain(name), is.Chain(name)
		if a == nil || b == nil || !reflect.DeepEqual(normalRules(*a), normalRules(*b)) {
			out = append(out, "firewall.chain."+name+" differs")
		}
	}
	names = map[string]bool{}
	for _, f := range []*plan.Firewall{was, is} {
		for _, s := range f.Sets {
			names[s.Name] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		a, b := was.Set(name), is.Set(name)
		if a == nil || b == nil || !setEqual(*a, *b) {
			out = append(out, "firewall.set."+name+" differs")
		}
	}
	return out
}

// normalRules makes nil and empty lists alike.
func normalRules(c plan.Chain) plan.Chain {
	if len(c.Rules) == 0 {
		c.Rules = nil
	}
	for i := range c.Rules {
		if len(c.Rules[i].Match) == 0 {
			c.Rules[i].Match = nil
		}
	}
	return c
}

func setEqual(a, b plan.Set) bool {
	if a.Name != b.Name || a.Type != b.Type || a.Interval != b.Interval || len(a.Elements) != len(b.Elements) {
		return false
	}
	ea, eb := slices.Clone(a.Elements), slices.Clone(b.Elements)
	plan.SortElements(ea)
	plan.SortElements(eb)
	return slices.Equal(ea, eb)
}
