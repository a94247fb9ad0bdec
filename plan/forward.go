package plan

import (
	"slices"
	"strings"
)

// Forwarding between interfaces that are not netctl's bridges.
//
// When dockerd switches net.ipv4.ip_forward from 0 to 1 itself, it sets the
// FORWARD policy to DROP (unless --ip-forward-no-drop), so the host does not
// become a router between its other interfaces; when forwarding was already
// on, it leaves the policy alone. netctl does the same within its own table:
// when it is netctl that switches forwarding on, the last rule of its
// forward chain drops forwarded traffic whose input and output interfaces
// are both not netctl's bridges:
//
//	meta nfproto ipv4 iifname != @bridges oifname != @bridges drop comment "firewall.forward_others.ipv4.switched_by_netctl"
//
// The rule is also the first memory: an apply after the first finds
// ip_forward at 1, and the rule's comment says that it was netctl that
// switched it on. With forward_others: accept the rule stays, as an accept
// (which is what the chain's policy does anyway), so that the memory stays
// too. The rule goes when someone else flushes the ruleset or deletes the
// table (a firewall restart), while ip_forward stays 1: so the same memory
// is also kept outside the table, in the live state's ForwardMemory (apply
// keeps it in a file of its state directory on tmpfs, keyed by the
// namespace's cookie: gone at reboot with ip_forward's own value, never
// taken for another namespace's). Either memory is enough; the decision
// writes both again, or forgets both.

// The values of the file's forward_others.
const (
	ForwardOthersAccept = "accept"
	ForwardOthersDrop   = "drop"
)

// The set of netctl's bridges that the forward_others rule looks up, and
// the match key that makes the rule one family's.
const (
	SetBridges     = "bridges"
	BridgesKeyType = "ifname"

	KeyNFProto MatchKey = "meta nfproto"
)

// CommentForwardOthers starts the comments of the forward_others rules.
const CommentForwardOthers = "firewall.forward_others"

// switchedSuffix ends the comment of a rule that remembers that netctl
// switched the family's forwarding on.
const switchedSuffix = ".switched_by_netctl"

// forwardFamily is one IP family's forwarding switch: each family's rule
// remembers its own switch, as ip_forward and ip6_forward are set apart.
type forwardFamily struct {
	key     string // the file's key for the sysctl
	sysctl  string
	nfproto string
}

var forwardFamilies = []forwardFamily{
	{"ip_forward", SysctlIPForward, "ipv4"},
	{"ip6_forward", SysctlIP6Forward, "ipv6"},
}

// comment is the comment, and so the address, of the family's rule.
func (f forwardFamily) comment(switched bool) string {
	c := CommentForwardOthers + "." + f.nfproto
	if switched {
		c += switchedSuffix
	}
	return c
}

// ForwardDecision is what netctl does about one family's forwarding between
// interfaces that are not its bridges.
type ForwardDecision struct {
	// Sysctl is the family's forwarding switch (net.ipv4.ip_forward).
	Sysctl string
	// Switched: netctl switches the sysctl from 0 to 1 in this plan, or
	// did so before (Remembered) and it is still 1.
	Switched bool
	// Remembered: the live table holds the rule that remembers it, or the
	// memory outside the table (live ForwardMemory) does, which outlives a
	// flush of the ruleset.
	Remembered bool
	// Verdict of the rule at the end of netctl's forward chain: drop,
	// accept (kept as the memory), or "" for no rule.
	Verdict string
	// Warning, when not empty, is shown above the plan.
	Warning string
}

// DecideForward decides, for every family, from the desired state (its
// sysctls, firewall and ForwardOthers) and the live one (the sysctl's value,
// the rule read back from netctl's table and the memory kept outside it).
func DecideForward(desired, live State) []ForwardDecision {
	var out []ForwardDecision
	for _, f := range forwardFamilies {
		want, have := desired.Sysctls[f.sysctl], live.Sysctls[f.sysctl]
		d := ForwardDecision{Sysctl: f.sysctl, Remembered: remembers(live.Firewall, f) || slices.Contains(live.ForwardMemory, f.sysctl)}
		d.Switched = want == "1" && have != "1" || d.Remembered && have == "1" && want != "0"
		switch {
		case desired.Firewall == nil:
			// No table to hold the drop, nor the memory: firewall: false
			// (Docker's --iptables=false never touches the policy either),
			// or destroy.
			// destroy does not read the sysctl (it manages none): "".
			// A memory the desired state keeps (watch holding the
			// firewall, ResolveForward) is not forgotten.
			if d.Remembered && have != "0" && want != "0" && !slices.Contains(desired.ForwardMemory, f.sysctl) {
				stays := f.sysctl + " stays 1"
				if have == "" {
					stays = f.sysctl + " is left as it is"
				}
				d.Warning = stays + " and the rule " + f.comment(true) +
					" goes with netctl's table: netctl forgets that it switched forwarding on (its memory outside the table goes too), so the host routes between its other interfaces, and a later apply finds forwarding already on and leaves it open (unless forward_others: drop)."
			}
		case desired.ForwardOthers == ForwardOthersDrop:
			d.Verdict = VerdictDrop
		case d.Switched:
			d.Verdict = VerdictDrop
			if desired.ForwardOthers == ForwardOthersAccept {
				d.Verdict = VerdictAccept
			}
		case want == "1" && have == "1" && desired.ForwardOthers == "":
			d.Warning = f.key + " was already 1: netctl leaves forwarding between other interfaces alone; set forward_others: drop to close it."
		}
		out = append(out, d)
	}
	return out
}

// remembers reports whether netctl's live table holds the family's rule
// that says netctl switched forwarding on.
func remembers(live *Firewall, f forwardFamily) bool {
	fwd := ownedFirewall(live).WithoutUserObjects().Chain(ChainForward)
	if fwd == nil {
		return false
	}
	return slices.ContainsFunc(fwd.Rules, func(r Rule) bool { return r.Comment == f.comment(true) && r.Unknown == "" })
}

// Rule returns the rule the decision puts at the end of netctl's forward
// chain; ok is false when there is none.
func (d ForwardDecision) Rule() (r Rule, ok bool) {
	i := slices.IndexFunc(forwardFamilies, func(f forwardFamily) bool { return f.sysctl == d.Sysctl })
	if d.Verdict == "" || i < 0 {
		return Rule{}, false
	}
	f := forwardFamilies[i]
	return Rule{
		Comment: f.comment(d.Switched),
		Match: []Match{
			{Key: KeyNFProto, Value: f.nfproto},
			{Key: KeyIIFName, Negate: true, Value: "@" + SetBridges},
			{Key: KeyOIFName, Negate: true, Value: "@" + SetBridges},
		},
		Verdict: d.Verdict,
	}, true
}

// ResolveForward returns desired with the forward_others rules (and the set
// of bridges they look up) the decisions call for, the memory to keep
// outside the table (ForwardMemory: the families whose rule says
// switched_by_netctl), and the decisions' warnings. Resolve calls it last.
// It is pure and may be called again on its result (a saved plan's desired
// state): it first takes out what it would add.
func ResolveForward(desired, live State) (State, []string) {
	var ws []string
	var rules []Rule
	var memory []string
	for _, d := range DecideForward(desired, live) {
		if d.Warning != "" {
			ws = append(ws, d.Warning)
		}
		if r, ok := d.Rule(); ok {
			rules = append(rules, r)
			if d.Switched {
				memory = append(memory, d.Sysctl)
			}
		}
	}
	if desired.Firewall == nil {
		// No table, so no rule: the memory is as the desired state says
		// — none from a file (destroy, firewall: false: forgotten), the
		// live one when watch holds the firewall (watch.WithLive).
		return desired, ws
	}
	slices.Sort(memory)
	desired.ForwardMemory = memory
	fw := *desired.Firewall
	fw.Chains = slices.Clone(fw.Chains)
	fw.Sets = slices.DeleteFunc(slices.Clone(fw.Sets), func(s Set) bool { return s.Name == SetBridges })
	for i := range fw.Chains {
		if fw.Chains[i].Name != ChainForward {
			continue
		}
		rs := slices.DeleteFunc(slices.Clone(fw.Chains[i].Rules), IsForwardOthersRule)
		fw.Chains[i].Rules = append(rs, rules...)
	}
	if len(rules) > 0 {
		fw.Sets = append(fw.Sets, bridgesSet(desired.Bridges))
		slices.SortStableFunc(fw.Sets, func(a, b Set) int { return strings.Compare(a.Name, b.Name) })
	}
	desired.Firewall = &fw
	return desired, ws
}

// ForwardWarnings are the decisions' warnings (ResolveForward's), for a
// plan whose desired state Resolve already settled.
func ForwardWarnings(desired, live State) []string {
	_, ws := ResolveForward(desired, live)
	return ws
}

// IsForwardOthersRule reports whether a rule of netctl's forward chain is a
// forward_others rule.
func IsForwardOthersRule(r Rule) bool { return strings.HasPrefix(r.Comment, CommentForwardOthers+".") }

// bridgesSet is the set of the bridges netctl manages (created or adopted).
func bridgesSet(bridges map[string]Bridge) Set {
	s := Set{Name: SetBridges, Type: BridgesKeyType}
	for _, name := range Names(bridges, nil) {
		if IsOwned(bridges[name].Owner) {
			s.Elements = append(s.Elements, Element{Key: quoteIfname(name), Comment: "bridge." + name + ".forward_others"})
		}
	}
	SortElements(s.Elements)
	return s
}

// forwardPhrase words a change of a forward_others rule in the text plan:
// what happens to forwarding between other interfaces, and why.
func forwardPhrase(c *Change) string {
	if c.Type != TypeRule || !strings.HasPrefix(c.Address, CommentForwardOthers+".") {
		return ""
	}
	r, ok := c.After.(Rule)
	if c.Action == Delete || !ok {
		if strings.HasSuffix(c.Address, switchedSuffix) {
			return "will be destroyed: forwarding between interfaces that are not netctl's bridges is no longer dropped, and netctl forgets that it switched forwarding on"
		}
		return "will be destroyed: forwarding between interfaces that are not netctl's bridges is no longer dropped"
	}
	switch {
	case r.Verdict == VerdictAccept:
		return actionPhrase(c.Action) + ": forwarding between interfaces that are not netctl's bridges stays open (forward_others: accept); the rule remembers that netctl switched forwarding on"
	case strings.HasSuffix(r.Comment, switchedSuffix):
		return actionPhrase(c.Action) + ": forwarding between interfaces that are not netctl's bridges will be dropped, because netctl switches forwarding on (as dockerd does; forward_others: accept keeps the host a router)"
	}
	return actionPhrase(c.Action) + ": forwarding between interfaces that are not netctl's bridges will be dropped (forward_others: drop)"
}

// ForwardOthersOf is the forward_others a file needs for the live table's
// forward_others rules to be planned again as they are ("" for the default):
// for netctl show.
func ForwardOthersOf(live *Firewall) string {
	fwd := live.Chain(ChainForward)
	if fwd == nil {
		return ""
	}
	for _, r := range fwd.Rules {
		if !IsForwardOthersRule(r) || r.Unknown != "" {
			continue
		}
		switch {
		case r.Verdict == VerdictAccept:
			return ForwardOthersAccept
		case !strings.HasSuffix(r.Comment, switchedSuffix):
			return ForwardOthersDrop
		}
	}
	return ""
}
