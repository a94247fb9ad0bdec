// Package plan holds the normalized model of everything netctl owns (State),
// compiles a config into it (Desired), compares two states (Diff) and renders
// the result. It is pure: no kernel calls, so all of it is tested without root.
package plan

import (
	"net/netip"
	"slices"
	"strings"
)

// Names of the objects netctl owns. Every table, chain and set has a constant.
const (
	TableFamily = "inet"
	TableName   = "netctl"

	ChainForward     = "filter-forward"
	ChainPostrouting = "nat-postrouting"
	// ChainUser is created empty, jumped to first, and never changed or read
	// as drift afterwards: the place for a person's own rules (DOCKER-USER).
	ChainUser = "user"
	// ChainTrace is transient: `netctl explain --trace` adds it for one
	// flow and removes it (a leftover is removed by the next netctl run).
	// Never drift, never written by an apply (see WithoutUserObjects).
	ChainTrace = "trace"

	SetLinks          = "links"
	SetAllowedSources = "allowed_sources"

	// Owner is written as the alias (IFLA_IFALIAS) of every bridge netctl
	// creates, so that a bridge dropped from the file is still known as ours.
	Owner = "netctl"
	// Adopted is the alias of a bridge netctl was told to adopt (adopt:
	// true): managed as its own, but released, never deleted, when it leaves
	// the file. The bridge's alias before adoption follows after a colon
	// ("netctl:adopted:uplink bridge"), so a release gives it back.
	Adopted = "netctl:adopted"
)

// Sysctl names netctl manages.
const (
	SysctlIPForward        = "net.ipv4.ip_forward"
	SysctlBridgeNFIptables = "net.bridge.bridge-nf-call-iptables"
	// SysctlBridgeNFIp6tables is the IPv6 twin: without it, bridged IPv6
	// between containers never meets the inet forward hook.
	SysctlBridgeNFIp6tables = "net.bridge.bridge-nf-call-ip6tables"
)

// Set key types, in nft syntax.
const (
	LinksKeyType          = "ipv4_addr . ipv4_addr . inet_proto . inet_service"
	AllowedSourcesKeyType = "ifname . ipv4_addr"
)

// State is every object netctl owns in one network namespace, desired or
// live: the same type, so that the two compare field by field.
type State struct {
	// Sysctls holds the managed sysctls by dotted name ("net.ipv4.ip_forward").
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// Bridges by name.
	Bridges map[string]Bridge `json:"bridges,omitempty"`
	// Firewall is netctl's table; nil when the table is absent.
	Firewall *Firewall `json:"firewall,omitempty"`
	// ForwardOthers is the file's forward_others ("", accept, drop), in a
	// desired state only: ResolveForward turns it into a rule (forward.go).
	ForwardOthers string `json:"forward_others,omitempty"`
	// ForwardMemory holds the forwarding sysctls ("net.ipv4.ip_forward")
	// that netctl remembers switching on, kept outside its table so that a
	// flush of the ruleset does not make it forget (apply keeps it in its
	// state directory, keyed by the namespace's cookie). In a live state:
	// what that memory says, read like the rest of the live state; in a
	// desired state: what it must say after the apply (ResolveForward sets
	// it). Sorted; nil for none. See forward.go.
	ForwardMemory []string `json:"forward_memory,omitempty"`
}

// Scope names what Read must look at beyond what is marked as netctl's.
type Scope struct {
	Sysctls []string
	Bridges []string
}

// Bridge is a Linux bridge interface.
type Bridge struct {
	Name string `json:"name"`
	// Kind is the link type; a desired bridge is always "bridge". A live
	// interface of another kind under a name in the file is a plan error
	// (Resolve): netctl never replaces it.
	Kind string `json:"kind"`
	// Addresses are sorted.
	Addresses []netip.Prefix `json:"addresses"`
	MTU       int            `json:"mtu"`
	// Up is the administrative flag, not the operstate: a bridge without
	// ports is up but NO-CARRIER.
	Up bool `json:"up"`
	// Owner is the interface's alias: Owner when netctl created it, Adopted
	// (perhaps followed by ":" and the alias it had) when netctl adopted it.
	Owner string `json:"owner"`
	// Adopt is the file's adopt: true, in a desired state only: a bridge of
	// this name that someone else made may be adopted.
	Adopt bool `json:"adopt,omitempty"`
	// Ports are the interfaces attached to the bridge by others (container
	// runtimes). Never drift; kept so a rollback can re-attach them.
	Ports []string `json:"ports,omitempty"`
	// Hairpin, in a desired state: the bridge has published ports, so every
	// port gets the hairpin flag (plan/ports.go). HairpinPorts, in a live
	// state: the ports that have it, which a rollback restores.
	Hairpin      bool     `json:"hairpin,omitempty"`
	HairpinPorts []string `json:"hairpin_ports,omitempty"`
}

// Firewall is netctl's nftables table.
type Firewall struct {
	// Owner is the table's comment (NFTA_TABLE_USERDATA): Owner on every
	// table netctl creates. A table of netctl's name without it was made by
	// someone else (see Owned).
	Owner  string  `json:"owner,omitempty"`
	Chains []Chain `json:"chains"`
	Sets   []Set   `json:"sets"`
}

// UserPrefix starts the names of the chains and sets in netctl's table that
// are a person's, as the user chain's rules are: never drift, never written
// or deleted by an apply; they go only with the whole table.
const UserPrefix = "user"

// IsUserChain reports whether a chain of netctl's table is a person's (the
// user chain itself is netctl's: created empty, its rules the person's).
func IsUserChain(name string) bool { return name != ChainUser && strings.HasPrefix(name, UserPrefix) }

// IsUserSet reports whether a set of netctl's table is a person's.
func IsUserSet(name string) bool { return strings.HasPrefix(name, UserPrefix) }

// WithoutUserObjects is f without the person's chains and sets, and
// without explain's transient trace chain (f itself when it has none):
// what netctl compares and writes while the table stays.
func (f *Firewall) WithoutUserObjects() *Firewall {
	if f == nil {
		return nil
	}
	user := false
	for _, c := range f.Chains {
		user = user || IsUserChain(c.Name) || c.Name == ChainTrace
	}
	for _, s := range f.Sets {
		user = user || IsUserSet(s.Name)
	}
	if !user {
		return f
	}
	out := *f
	out.Chains = slices.DeleteFunc(slices.Clone(f.Chains), func(c Chain) bool { return IsUserChain(c.Name) || c.Name == ChainTrace })
	out.Sets = slices.DeleteFunc(slices.Clone(f.Sets), func(s Set) bool { return IsUserSet(s.Name) })
	return &out
}

// Owned reports whether the table is netctl's: marked with Owner, or
// unmarked but in the shape every netctl before the mark wrote (its forward
// chain starts with the rule `jump user comment "firewall.user"`, and the
// user chain exists). The kernel does not change a table's comment in place,
// so such a table keeps working unmarked until it is next created.
func (f *Firewall) Owned() bool {
	if f == nil {
		return false
	}
	if f.Owner == Owner {
		return true
	}
	if f.Owner != "" || f.Chain(ChainUser) == nil {
		return false
	}
	fwd := f.Chain(ChainForward)
	if fwd == nil || len(fwd.Rules) == 0 {
		return false
	}
	r := fwd.Rules[0]
	return r.Comment == CommentJumpUser && r.Verdict == VerdictJumpUser && len(r.Match) == 0 && r.Unknown == ""
}

// Chain is a chain of netctl's table. Base chains have Type, Hook, Priority
// and Policy; regular chains leave them empty.
type Chain struct {
	Name     string `json:"name"`
	Type     string `json:"type,omitempty"`
	Hook     string `json:"hook,omitempty"`
	Priority int    `json:"priority,omitempty"`
	Policy   string `json:"policy,omitempty"`
	Rules    []Rule `json:"rules"`
}

// Rule is one rule: conditions and a verdict, identified by its comment,
// which is the address of what in the file it comes from.
type Rule struct {
	Comment string  `json:"comment"`
	Match   []Match `json:"match"`
	Verdict string  `json:"verdict"`
	// Unknown describes expressions the kernel package could not decode
	// into Match and Verdict; such a rule never equals one netctl writes.
	Unknown string `json:"unknown,omitempty"`
	// Handle is the kernel's handle of a live rule; zero in a desired state.
	Handle uint64 `json:"-"`
}

// Match is one condition of a rule, in nft terms: Key Op Value.
type Match struct {
	Key MatchKey `json:"key"`
	// Negate turns == into !=.
	Negate bool `json:"negate,omitempty"`
	// Value is an interface name, an address or prefix, a list of conntrack
	// states ("established,related") or a set reference ("@links").
	Value string `json:"value"`
}

// MatchKey is what a Match compares, spelled as nft spells it.
type MatchKey string

// The match keys netctl writes.
const (
	KeyIIFName     MatchKey = "iifname"
	KeyOIFName     MatchKey = "oifname"
	KeySAddr       MatchKey = "ip saddr"
	KeyDAddr       MatchKey = "ip daddr"
	KeyCTState     MatchKey = "ct state"
	KeyLinkTuple   MatchKey = "ip saddr . ip daddr . meta l4proto . th dport"
	KeySourceTuple MatchKey = "oifname . ip saddr"
)

// Verdicts and statements that end a rule.
const (
	VerdictAccept     = "accept"
	VerdictDrop       = "drop"
	VerdictJumpUser   = "jump " + ChainUser
	VerdictMasquerade = "masquerade"
)

// Set is a named set of netctl's table.
type Set struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Interval bool   `json:"interval"`
	// Elements are sorted by Key.
	Elements []Element `json:"elements"`
}

// Element is one set element. Key is in nft syntax, canonical: fields joined
// by " . ", interface names quoted, a single address or port written alone,
// an address range that is a prefix written as a prefix, other ranges as
// first-last ("172.17.0.2 . 172.17.0.3 . tcp . 5432",
// `"docker0" . 198.51.100.0/24`). Comment is the address of the file item the
// element comes from.
type Element struct {
	Key string `json:"key"`
	// Value is a map element's data in nft syntax ("172.17.0.2 . 80"),
	// empty in a set.
	Value   string `json:"value,omitempty"`
	Comment string `json:"comment,omitempty"`
}

// String renders the rule in nft syntax, without its comment.
func (r Rule) String() string {
	if r.Unknown != "" {
		return r.Unknown
	}
	var b strings.Builder
	for _, m := range r.Match {
		b.WriteString(m.String())
		b.WriteByte(' ')
	}
	b.WriteString(r.Verdict)
	return b.String()
}

// String renders the match in nft syntax.
func (m Match) String() string {
	op := ""
	if m.Negate {
		op = "!= "
	}
	v := m.Value
	if (m.Key == KeyIIFName || m.Key == KeyOIFName) && !strings.HasPrefix(v, "@") {
		v = `"` + v + `"`
	}
	return string(m.Key) + " " + op + v
}

// Chain returns the named chain.
func (f *Firewall) Chain(name string) *Chain {
	if f == nil {
		return nil
	}
	for i := range f.Chains {
		if f.Chains[i].Name == name {
			return &f.Chains[i]
		}
	}
	return nil
}

// Set returns the named set.
func (f *Firewall) Set(name string) *Set {
	if f == nil {
		return nil
	}
	for i := range f.Sets {
		if f.Sets[i].Name == name {
			return &f.Sets[i]
		}
	}
	return nil
}
