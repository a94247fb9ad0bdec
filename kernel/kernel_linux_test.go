package kernel

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/plan"
)

// Root tests: each runs in its own namespace (nstest.New), and uses ip, nft
// and sysctl as independent observers.

var stateOpts = []cmp.Option{cmpopts.EquateEmpty(), cmpopts.EquateComparable(netip.Prefix{}), cmpopts.IgnoreFields(plan.Rule{}, "Handle")}

func openNS(t testing.TB) (*Handle, string) {
	t.Helper()
	ns := nstest.New(t)
	h, err := Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h, ns
}

func requireNft(t testing.TB) {
	t.Helper()
	nstest.RequireTool(t, "nft", "needs the nft CLI as an independent observer (apt-get install nftables)")
}

func read(t testing.TB, h *Handle, scope plan.Scope) plan.State {
	t.Helper()
	s, err := h.Read(scope)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeFirewall writes want into a fresh namespace, checks it reads back
// equal, and returns the handle, the namespace, what was read (with rule
// handles) and nft's listing of the table.
func writeFirewall(t *testing.T, want *plan.Firewall) (*Handle, string, *plan.Firewall, string) {
	t.Helper()
	h, ns := openNS(t)
	if err := h.SyncFirewall(nil, want); err != nil {
		t.Fatal(err)
	}
	live := read(t, h, plan.Scope{}).Firewall
	mustEqual(t, "created", want, live)
	return h, ns, live, nstest.Exec(t, ns, "nft", "list", "table", "inet", "netctl")
}

// nftRewrite loads text with nft -f into a fresh namespace and returns
// the firewall read there: what nft writes for netctl's listing.
func nftRewrite(t *testing.T, text string) *plan.Firewall {
	t.Helper()
	h, ns := openNS(t)
	f := filepath.Join(t.TempDir(), "ruleset")
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	nstest.Exec(t, ns, "nft", "-f", f)
	return read(t, h, plan.Scope{}).Firewall
}

// wantListed checks that nft's listing holds every line of want, and
// logs the listing if not.
func wantListed(t *testing.T, listing string, want []string) {
	t.Helper()
	missing := false
	for _, s := range want {
		if !strings.Contains(listing, s) {
			t.Errorf("nft list lacks %q", s)
			missing = true
		}
	}
	if missing {
		t.Logf("nft list:\n%s", listing)
	}
}

func mustEqual(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got, stateOpts...); d != "" {
		t.Fatalf("%s (-want +got):\n%s", what, d)
	}
}

func TestOpenMissingNamespace(t *testing.T) {
	nstest.RequireRoot(t)
	_, err := Open("nctest-does-not-exist")
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Open of a missing namespace: %v", err)
	}
}

func TestSysctls(t *testing.T) {
	h, ns := openNS(t)
	hostBefore, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	scope := plan.Scope{Sysctls: []string{plan.SysctlIPForward, plan.SysctlBridgeNFIptables, "net.ipv4.no_such_sysctl"}}
	before := read(t, h, scope).Sysctls
	if _, ok := before["net.ipv4.no_such_sysctl"]; ok || before[plan.SysctlIPForward] != "0" {
		t.Fatalf("fresh namespace: %v", before)
	}
	if _, ok := before[plan.SysctlBridgeNFIptables]; !ok {
		t.Fatalf("br_netfilter sysctl missing: %v", before)
	}
	for _, kv := range [][2]string{{plan.SysctlIPForward, "1"}, {plan.SysctlBridgeNFIptables, "1"}} {
		if err := h.SetSysctl(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(nstest.Exec(t, ns, "sysctl", "-n", kv[0])); got != kv[1] {
			t.Errorf("sysctl -n %s = %q after SetSysctl %q", kv[0], got, kv[1])
		}
	}
	after := read(t, h, scope).Sysctls
	if after[plan.SysctlIPForward] != "1" || after[plan.SysctlBridgeNFIptables] != "1" {
		t.Errorf("after: %v", after)
	}
	for name, v := range before {
		if err := h.SetSysctl(name, v); err != nil {
			t.Fatal(err)
		}
	}
	mustEqual(t, "undo", before, read(t, h, scope).Sysctls)
	if hostAfter, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(hostAfter) != string(hostBefore) {
		t.Errorf("the host's ip_forward changed: %q -> %q", hostBefore, hostAfter)
	}
	for _, bad := range []string{"kernel.hostname", "net..x", "net.ipv4/../../kernel/x", "net"} {
		if err := h.SetSysctl(bad, "1"); err == nil {
			t.Errorf("SetSysctl(%q) accepted", bad)
		}
	}
	if err := h.SetSysctl("net.ipv4.no_such_sysctl", "1"); err == nil {
		t.Error("SetSysctl of a missing sysctl accepted")
	}
}

func pfx(s ...string) []netip.Prefix {
	var ps []netip.Prefix
	for _, x := range s {
		ps = append(ps, netip.MustParsePrefix(x))
	}
	return ps
}

func TestBridges(t *testing.T) {
	h, ns := openNS(t)
	scope := plan.Scope{Bridges: []string{"docker0", "br9"}}
	want := plan.Bridge{Name: "docker0", Kind: "bridge", Addresses: pfx("10.9.0.1/24", "172.17.0.1/16"), MTU: 1400, Up: true, Owner: plan.Owner}
	if err := h.SyncBridge(nil, &want); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "created", map[string]plan.Bridge{"docker0": want}, read(t, h, scope).Bridges)
	out := nstest.Exec(t, ns, "ip", "-d", "addr", "show", "docker0")
	for _, s := range []string{"mtu 1400", "alias netctl", "inet 172.17.0.1/16", "inet 10.9.0.1/24", "bridge"} {
		if !strings.Contains(out, s) {
			t.Errorf("ip addr show lacks %q:\n%s", s, out)
		}
	}

	// A container's port, attached by someone else.
	nstest.Exec(t, ns, "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
	nstest.Exec(t, ns, "ip", "link", "set", "v0", "master", "docker0")
	live := read(t, h, scope).Bridges["docker0"]
	if !slices.Equal(live.Ports, []string{"v0"}) || live.MTU != 1400 {
		t.Fatalf("with a port: %+v", live)
	}

	// Update every field, then undo.
	to := plan.Bridge{Name: "docker0", Kind: "bridge", Addresses: pfx("172.18.0.1/16"), MTU: 1500, Up: false, Owner: ""}
	if err := h.SyncBridge(&live, &to); err != nil {
		t.Fatal(err)
	}
	to.Ports = []string{"v0"}
	got := read(t, h, scope).Bridges["docker0"]
	mustEqual(t, "updated", to, got)
	if err := h.SyncBridge(&got, &live); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "update undone", live, read(t, h, scope).Bridges["docker0"])

	// Delete, then undo: the port comes back.
	if err := h.SyncBridge(&live, nil); err != nil {
		t.Fatal(err)
	}
	if b, ok := read(t, h, scope).Bridges["docker0"]; ok {
		t.Fatalf("still there: %+v", b)
	}
	if err := h.SyncBridge(nil, &live); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "delete undone", live, read(t, h, scope).Bridges["docker0"])

	// An interface of another kind under a bridge's name is never replaced
	// nor deleted, whatever the caller asks, also with netctl's mark on it.
	nstest.Exec(t, ns, "ip", "link", "add", "br9", "type", "ifb") // this kernel has no dummy
	nstest.Exec(t, ns, "ip", "link", "set", "br9", "alias", plan.Owner)
	ifb := read(t, h, scope).Bridges["br9"]
	if ifb.Kind != "ifb" {
		t.Fatalf("ifb: %+v", ifb)
	}
	index := nstest.Exec(t, ns, "cat", "/sys/class/net/br9/ifindex")
	br9 := plan.Bridge{Name: "br9", Kind: "bridge", Addresses: pfx("192.0.2.1/24"), MTU: 1500, Up: true, Owner: plan.Owner}
	asBridge := ifb // as a stale read would have it
	asBridge.Kind = "bridge"
	for what, sync := range map[string]func() error{
		"replace":                  func() error { return h.SyncBridge(&ifb, &br9) },
		"delete":                   func() error { return h.SyncBridge(&ifb, nil) },
		"create over it":           func() error { return h.SyncBridge(nil, &br9) },
		"delete, read as a bridge": func() error { return h.SyncBridge(&asBridge, nil) },
		"update, read as a bridge": func() error { return h.SyncBridge(&asBridge, &br9) },
		"create an ifb":            func() error { return h.SyncBridge(nil, &plan.Bridge{Name: "x9", Kind: "ifb"}) },
	} {
		if err := sync(); err == nil {
			t.Errorf("%s: accepted", what)
		}
	}
	mustEqual(t, "the ifb", ifb, read(t, h, scope).Bridges["br9"])
	if now := nstest.Exec(t, ns, "cat", "/sys/class/net/br9/ifindex"); now != index {
		t.Errorf("br9's ifindex %s, was %s: replaced", now, index)
	}
	if _, ok := read(t, h, plan.Scope{}).Bridges["br9"]; ok {
		t.Error("an ifb with netctl's alias is read as netctl's: only bridges are")
	}
	if _, ok := read(t, h, scope).Bridges["x9"]; ok {
		t.Error("an ifb was created")
	}

	// An interface marked as netctl's is read even when not in scope.
	nstest.Exec(t, ns, "ip", "link", "add", "old0", "type", "bridge")
	nstest.Exec(t, ns, "ip", "link", "set", "old0", "alias", plan.Owner)
	if _, ok := read(t, h, plan.Scope{}).Bridges["old0"]; !ok {
		t.Error("a bridge with netctl's alias is not read")
	}
	// So is one netctl adopted; released, it is not.
	nstest.Exec(t, ns, "ip", "link", "set", "old0", "alias", plan.Adopted+":uplink")
	old0 := read(t, h, plan.Scope{}).Bridges["old0"]
	if old0.Owner != plan.Adopted+":uplink" {
		t.Fatalf("an adopted bridge is not read: %+v", old0)
	}
	// Never deleted, adopted or anyone else's, whatever the caller read.
	asOurs := old0
	asOurs.Owner = plan.Owner
	if err := h.SyncBridge(&asOurs, nil); err == nil {
		t.Error("an adopted bridge was deleted")
	}
	rel := old0
	rel.Owner = "uplink"
	if err := h.SyncBridge(&old0, &rel); err != nil {
		t.Fatal(err)
	}
	if b, ok := read(t, h, plan.Scope{}).Bridges["old0"]; ok {
		t.Errorf("a released bridge is still read as netctl's: %+v", b)
	}
	mustEqual(t, "released", rel, read(t, h, plan.Scope{Bridges: []string{"old0"}}).Bridges["old0"])
	if err := h.SyncBridge(&asOurs, nil); err == nil {
		t.Error("someone else's bridge was deleted")
	}
	mustEqual(t, "someone else's", rel, read(t, h, plan.Scope{Bridges: []string{"old0"}}).Bridges["old0"])
}

func TestBridgeMTUWithPorts(t *testing.T) {
	h, ns := openNS(t)
	nstest.Exec(t, ns, "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
	b := plan.Bridge{Name: "docker0", Kind: "bridge", Addresses: pfx("172.17.0.1/16"), MTU: 1400, Up: true, Owner: plan.Owner, Ports: []string{"v0", "gone0"}}
	if err := h.SyncBridge(nil, &b); err != nil {
		t.Fatal(err)
	}
	b.Ports = []string{"v0"}
	mustEqual(t, "created with a port", b, read(t, h, plan.Scope{}).Bridges["docker0"])
	// A port attached later does not drag the MTU along.
	nstest.Exec(t, ns, "ip", "link", "add", "v2", "type", "veth", "peer", "name", "v3")
	nstest.Exec(t, ns, "ip", "link", "set", "v2", "master", "docker0")
	if got := read(t, h, plan.Scope{}).Bridges["docker0"]; got.MTU != 1400 {
		t.Errorf("MTU after attaching a 1500 port: %d", got.MTU)
	}
}

// fixture is a firewall with every object type, match key and verdict.
func fixture() *plan.Firewall {
	var forward []plan.Rule
	for _, r := range everyRuleShape() {
		if r.Verdict != plan.VerdictMasquerade && r.Verdict != "jump filter-forward" {
			forward = append(forward, r)
		}
	}
	forward = append(forward, plan.Rule{Comment: "to.extra", Match: []plan.Match{m(plan.KeyIIFName, false, "docker0")}, Verdict: "jump extra"})
	return &plan.Firewall{
		Owner: plan.Owner,
		Chains: []plan.Chain{
			{Name: "extra", Rules: []plan.Rule{{Comment: "extra.docs", Match: []plan.Match{m(plan.KeySAddr, false, "192.0.2.0/24")}, Verdict: plan.VerdictAccept}}},
			{Name: plan.ChainForward, Type: "filter", Hook: "forward", Priority: 0, Policy: "accept", Rules: forward},
			{Name: "filter-input", Type: "filter", Hook: "input", Priority: -10, Policy: "drop"},
			{Name: plan.ChainPostrouting, Type: "nat", Hook: "postrouting", Priority: 100, Policy: "accept", Rules: []plan.Rule{
				{Comment: "bridge.docker0.masquerade", Match: []plan.Match{m(plan.KeyOIFName, true, "docker0"), m(plan.KeySAddr, false, "172.17.0.0/16")}, Verdict: plan.VerdictMasquerade},
			}},
			{Name: plan.ChainUser},
		},
		Sets: []plan.Set{
			{Name: plan.SetAllowedSources, Type: plan.AllowedSourcesKeyType, Interval: true, Elements: []plan.Element{
				{Key: `"br1" . 192.0.2.10-192.0.2.20`},
				{Key: `"docker0" . 198.51.100.0/24`, Comment: "bridge.docker0.allowed_source.198.51.100.0/24"},
				{Key: `"docker0" . 203.0.113.7`, Comment: "bridge.docker0.allowed_source.203.0.113.7/32"},
				{Key: `"veth*" . 0.0.0.0/0`},
			}},
			{Name: plan.SetLinks, Type: plan.LinksKeyType, Interval: true, Elements: []plan.Element{
				{Key: "10.0.0.0/8 . 172.17.0.2-172.17.0.9 . udp . 53"},
				{Key: "172.17.0.2 . 172.17.0.3 . sctp . 9"},
				{Key: "172.17.0.2 . 172.17.0.3 . tcp . 5432", Comment: "bridge.docker0.link.web->db"},
				{Key: "172.17.0.2 . 172.17.0.3 . udp . 1000-2000", Comment: "bridge.docker0.link.web->db"},
			}},
			{Name: "nets", Type: "ipv4_addr", Interval: true, Elements: []plan.Element{
				{Key: "10.0.0.0/8"}, {Key: "192.0.2.1", Comment: "one"}, {Key: "198.51.100.10-198.51.100.20"}, {Key: "203.0.113.0/24"},
			}},
			{Name: "ports", Type: "inet_service", Elements: []plan.Element{{Key: "22"}, {Key: "80", Comment: "http"}}},
		},
	}
}

// changed differs from fixture in every way SyncFirewall handles.
func changed() *plan.Firewall {
	f := fixture()
	f.Chains = slices.Clone(f.Chains)
	f.Chains[1].Policy = "drop" // policy update
	f.Chains[1].Rules = slices.Clone(f.Chains[1].Rules[:6])
	f.Chains[1].Rules[2].Comment = "renamed"                                                                     // refill
	f.Chains[2] = plan.Chain{Name: "filter-input", Type: "filter", Hook: "input", Priority: 5, Policy: "accept"} // recreate
	f.Chains = slices.Delete(f.Chains, 0, 1)                                                                     // chain deleted
	f.Chains = append(f.Chains, plan.Chain{Name: "zz-new", Rules: []plan.Rule{{Comment: "new", Verdict: "drop"}}})
	f.Sets = slices.Clone(f.Sets)
	f.Sets[1].Elements = []plan.Element{
		{Key: "172.17.0.2 . 172.17.0.3 . sctp . 9"},
		{Key: "172.17.0.2 . 172.17.0.3 . tcp . 5432", Comment: "bridge.docker0.link.web->db2"}, // comment changed
		{Key: "172.17.0.4 . 172.17.0.3 . tcp . 22"},                                            // added
	}
	f.Sets[2] = plan.Set{Name: "nets", Type: "ipv4_addr . inet_service", Interval: true, Elements: []plan.Element{{Key: "10.0.0.0/8 . 80"}}} // type changed
	f.Sets = slices.Delete(f.Sets, 3, 4)                                                                                                     // set deleted
	f.Sets = append(f.Sets, plan.Set{Name: "zz", Type: "ipv4_addr", Elements: []plan.Element{{Key: "192.0.2.2"}}})
	return f
}

func TestFirewallRoundTrip(t *testing.T) {
	h, _ := openNS(t)
	if s := read(t, h, plan.Scope{}); s.Firewall != nil {
		t.Fatalf("fresh namespace has a table: %+v", s.Firewall)
	}
	want := fixture()
	if err := h.SyncFirewall(nil, want); err != nil {
		t.Fatal(err)
	}
	live := read(t, h, plan.Scope{}).Firewall
	mustEqual(t, "created", want, live)
	for _, c := range live.Chains {
		for _, r := range c.Rules {
			if r.Handle == 0 {
				t.Errorf("chain %s rule %q has no handle", c.Name, r.Comment)
			}
		}
	}
	// Nothing to do is nothing done.
	if err := h.SyncFirewall(live, live); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "synced to itself", live, read(t, h, plan.Scope{}).Firewall)

	to := changed()
	if err := h.SyncFirewall(live, to); err != nil {
		t.Fatal(err)
	}
	got := read(t, h, plan.Scope{}).Firewall
	mustEqual(t, "changed", to, got)
	if err := h.SyncFirewall(got, live); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "change undone", live, read(t, h, plan.Scope{}).Firewall)

	if err := h.SyncFirewall(live, nil); err != nil {
		t.Fatal(err)
	}
	if s := read(t, h, plan.Scope{}); s.Firewall != nil {
		t.Fatalf("deleted table still there: %+v", s.Firewall)
	}
	if err := h.SyncFirewall(nil, live); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "delete undone", live, read(t, h, plan.Scope{}).Firewall)
}

func TestFirewallDesiredShape(t *testing.T) {
	// What plan.Desired writes for one bridge, the common case, both ways.
	h, _ := openNS(t)
	want := &plan.Firewall{
		Owner: plan.Owner,
		Chains: []plan.Chain{
			{Name: plan.ChainForward, Type: "filter", Hook: "forward", Priority: 0, Policy: plan.VerdictAccept, Rules: []plan.Rule{
				{Comment: "firewall.user", Verdict: plan.VerdictJumpUser},
				{Comment: "firewall.established", Match: []plan.Match{m(plan.KeyCTState, false, "established,related")}, Verdict: plan.VerdictAccept},
			}},
			{Name: plan.ChainPostrouting, Type: "nat", Hook: "postrouting", Priority: 100, Policy: plan.VerdictAccept},
			{Name: plan.ChainUser},
		},
		Sets: []plan.Set{
			{Name: plan.SetAllowedSources, Type: plan.AllowedSourcesKeyType, Interval: true},
			{Name: plan.SetLinks, Type: plan.LinksKeyType, Interval: true},
		},
	}
	if err := h.SyncFirewall(nil, want); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "empty sets", want, read(t, h, plan.Scope{}).Firewall)
}

func TestFirewallErrorsChangeNothing(t *testing.T) {
	h, _ := openNS(t)
	live := fixture()
	if err := h.SyncFirewall(nil, live); err != nil {
		t.Fatal(err)
	}
	live = read(t, h, plan.Scope{}).Firewall
	// Overlapping elements: refused by the kernel in the middle of the batch.
	bad := changed()
	bad.Sets[1].Elements = append(bad.Sets[1].Elements, plan.Element{Key: "172.17.0.2 . 172.17.0.3 . tcp . 5000-6000"})
	err := h.SyncFirewall(live, bad)
	if err == nil {
		t.Fatal("overlapping elements accepted")
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "set links") {
		t.Errorf("error does not name the set: %v", err)
	}
	mustEqual(t, "after a refused batch", live, read(t, h, plan.Scope{}).Firewall)
	// A non-canonical desired element: refused before anything is sent.
	bad = changed()
	bad.Sets[1].Elements = []plan.Element{{Key: "172.17.0.2/32 . 172.17.0.3 . tcp . 22"}}
	if err := h.SyncFirewall(live, bad); err == nil || !strings.Contains(err.Error(), "canonical") {
		t.Errorf("non-canonical element: %v", err)
	}
	mustEqual(t, "after a refused element", live, read(t, h, plan.Scope{}).Firewall)
}

func TestUserChainSurvives(t *testing.T) {
	requireNft(t)
	h, ns := openNS(t)
	if err := h.SyncFirewall(nil, fixture()); err != nil {
		t.Fatal(err)
	}
	nstest.Exec(t, ns, "nft", "add", "rule", "inet", "netctl", "user", "ip", "saddr", "192.0.2.66", "drop")
	nstest.Exec(t, ns, "nft", "add", "rule", "inet", "netctl", "user", "counter", "accept", "comment", `"mine"`)
	live := read(t, h, plan.Scope{}).Firewall
	user := live.Chain(plan.ChainUser)
	if len(user.Rules) != 2 || user.Rules[0].String() != "ip saddr 192.0.2.66 drop" || user.Rules[1].Unknown == "" || user.Rules[1].Comment != "mine" {
		t.Fatalf("user chain as read: %+v", user.Rules)
	}
	to := changed() // its user chain is empty
	if err := h.SyncFirewall(live, to); err != nil {
		t.Fatal(err)
	}
	after := read(t, h, plan.Scope{}).Firewall
	mustEqual(t, "user chain after a change", user.Rules, after.Chain(plan.ChainUser).Rules)
	out := nstest.Exec(t, ns, "nft", "list", "chain", "inet", "netctl", "user")
	if !strings.Contains(out, "ip saddr 192.0.2.66 drop") || !strings.Contains(out, `comment "mine"`) {
		t.Errorf("nft list chain user:\n%s", out)
	}
	// Not even a desired state without the user chain removes it.
	to.Chains = slices.DeleteFunc(slices.Clone(to.Chains), func(c plan.Chain) bool { return c.Name == plan.ChainUser })
	if err := h.SyncFirewall(after, to); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "user chain kept", user.Rules, read(t, h, plan.Scope{}).Firewall.Chain(plan.ChainUser).Rules)
}

func TestNftListsOurTable(t *testing.T) {
	requireNft(t)
	h, ns := openNS(t)
	if err := h.SyncFirewall(nil, fixture()); err != nil {
		t.Fatal(err)
	}
	out := nstest.Exec(t, ns, "nft", "list", "ruleset")
	for _, want := range []string{
		`type ipv4_addr . ipv4_addr . inet_proto . inet_service`,
		`type ifname . ipv4_addr`,
		`172.17.0.2 . 172.17.0.3 . tcp . 5432 comment "bridge.docker0.link.web->db"`,
		`172.17.0.2 . 172.17.0.3 . udp . 1000-2000 comment "bridge.docker0.link.web->db"`,
		`10.0.0.0/8 . 172.17.0.2-172.17.0.9 . udp . 53`,
		`"docker0" . 198.51.100.0/24 comment "bridge.docker0.allowed_source.198.51.100.0/24"`,
		`"veth*" . 0.0.0.0/0`,
		`type filter hook forward priority filter; policy accept;`,
		`type nat hook postrouting priority srcnat; policy accept;`,
		`type filter hook input priority filter - 10; policy drop;`,
		`jump user comment "firewall.user"`,
		`ct state established,related accept comment "firewall.established"`,
		`iifname "docker0" oifname "docker0" ip saddr . ip daddr . meta l4proto . th dport @links accept comment "bridge.docker0.links"`,
		`iifname != "docker0" oifname "docker0" oifname . ip saddr != @allowed_sources drop comment "bridge.docker0.allowed_sources"`,
		`ip saddr 10.0.0.0/8 ip saddr != 10.1.0.0/16 ip daddr 10.1.2.0/23 ip daddr != 192.168.1.128/25 drop comment "prefixes"`,
		`iifname "veth*" oifname != "br-*" accept comment "wildcard"`,
		`oifname != "docker0" ip saddr 172.17.0.0/16 masquerade comment "bridge.docker0.masquerade"`,
		`10.0.0.0/8`, `192.0.2.1 comment "one"`, `198.51.100.10-198.51.100.20`,
		`elements = { 22, 80 comment "http" }`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("nft list ruleset lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("nft list ruleset:\n%s", out)
	}
}

// TestNftWrittenTableReadsTheSame loads, with nft -f, the text nft prints
// for netctl's table into a fresh namespace: what nft writes for that text
// must read back as the same state, rule for rule and element for element.
func TestNftWrittenTableReadsTheSame(t *testing.T) {
	requireNft(t)
	h, ns := openNS(t)
	want := fixture()
	if err := h.SyncFirewall(nil, want); err != nil {
		t.Fatal(err)
	}
	text := nstest.Exec(t, ns, "nft", "list", "table", "inet", "netctl")
	mustEqual(t, "table written by nft", want, nftRewrite(t, text))
}

func TestNftAddedObjectsReadBack(t *testing.T) {
	requireNft(t)
	h, ns := openNS(t)
	if err := h.SyncFirewall(nil, fixture()); err != nil {
		t.Fatal(err)
	}
	nstest.Exec(t, ns, "nft", "add", "element", "inet", "netctl", "links", "{ 172.17.0.2 . 172.17.0.30 . tcp . 22 }")
	nstest.Exec(t, ns, "nft", "add", "element", "inet", "netctl", "links",
		`{ 172.17.0.5 . 192.168.0.0/16 . udp . 100-200 comment "by hand", 172.17.0.6 . 172.17.0.7 . icmp . 0 }`)
	nstest.Exec(t, ns, "nft", "add", "element", "inet", "netctl", "allowed_sources", `{ "eth0" . 192.0.2.128/25 }`)
	nstest.Exec(t, ns, "nft", "add", "rule", "inet", "netctl", "filter-forward", "ip", "saddr", "10.0.0.1", "drop")
	nstest.Exec(t, ns, "nft", "add", "rule", "inet", "netctl", "filter-forward", "ip", "saddr", "10.0.0.0/8", "oifname", "docker0", "accept")
	nstest.Exec(t, ns, "nft", "add", "rule", "inet", "netctl", "filter-forward", "ip", "saddr", "10.0.0.1", "counter", "drop")
	nstest.Exec(t, ns, "nft", "add", "rule", "inet", "netctl", "filter-forward", "tcp", "dport", "22", "accept")
	fw := read(t, h, plan.Scope{}).Firewall

	links := fw.Set(plan.SetLinks).Elements
	for _, want := range []plan.Element{
		{Key: "172.17.0.2 . 172.17.0.30 . tcp . 22"},
		{Key: "172.17.0.5 . 192.168.0.0/16 . udp . 100-200", Comment: "by hand"},
		{Key: "172.17.0.6 . 172.17.0.7 . 1 . 0"},
	} {
		if !slices.Contains(links, want) {
			t.Errorf("links lacks %+v: %+v", want, links)
		}
	}
	if !slices.IsSortedFunc(links, func(a, b plan.Element) int { return strings.Compare(a.Key, b.Key) }) {
		t.Error("elements not sorted by key")
	}
	if !slices.Contains(fw.Set(plan.SetAllowedSources).Elements, plan.Element{Key: `"eth0" . 192.0.2.128/25`}) {
		t.Errorf("allowed_sources: %+v", fw.Set(plan.SetAllowedSources).Elements)
	}
	rules := fw.Chain(plan.ChainForward).Rules
	tail := rules[len(rules)-4:]
	for i, want := range []string{"ip saddr 10.0.0.1 drop", "ip saddr 10.0.0.0/8 oifname \"docker0\" accept"} {
		if tail[i].Unknown != "" || tail[i].Comment != "" || tail[i].String() != want {
			t.Errorf("nft-added rule %d: %+v, want %q", i, tail[i], want)
		}
	}
	for _, r := range tail[2:] {
		if r.Unknown == "" {
			t.Errorf("rule with expressions netctl does not write decoded: %+v", r)
		}
		t.Logf("unknown rule: %s", r.Unknown)
	}
	// Syncing to the fixture removes exactly what was added by hand.
	if err := h.SyncFirewall(fw, fixture()); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "drift removed", fixture(), read(t, h, plan.Scope{}).Firewall)
}

func TestForeignObjectsUntouched(t *testing.T) {
	requireNft(t)
	h, ns := openNS(t)
	nstest.Exec(t, ns, "nft", "add", "table", "ip", "filter")
	nstest.Exec(t, ns, "nft", "add", "chain", "ip", "filter", "FORWARD", "{ type filter hook forward priority 0; policy drop; }")
	nstest.Exec(t, ns, "nft", "add", "rule", "ip", "filter", "FORWARD", "ip", "saddr", "10.0.0.1", "accept")
	nstest.Exec(t, ns, "nft", "add", "table", "inet", "other")
	nstest.Exec(t, ns, "nft", "add", "set", "inet", "other", "links", "{ type ipv4_addr; elements = { 192.0.2.1 } }")
	nstest.Exec(t, ns, "nft", "add", "chain", "inet", "other", "fwd_chain", "{ type filter hook forward priority 10; policy accept; }")
	nstest.Exec(t, ns, "nft", "add", "table", "ip6", "filter6")
	nstest.Exec(t, ns, "nft", "add", "chain", "ip6", "filter6", "FORWARD", "{ type filter hook forward priority 0; policy drop; }")
	nstest.Exec(t, ns, "ip", "link", "add", "unmanaged", "type", "bridge")
	nstest.Exec(t, ns, "ip", "addr", "add", "192.0.2.1/24", "dev", "unmanaged")
	foreign := func() string {
		return nstest.Exec(t, ns, "nft", "list", "table", "ip", "filter") +
			nstest.Exec(t, ns, "nft", "list", "table", "inet", "other") +
			nstest.Exec(t, ns, "nft", "list", "table", "ip6", "filter6") +
			nstest.Exec(t, ns, "ip", "-d", "addr", "show", "unmanaged")
	}
	before := foreign()
	docker0 := plan.Bridge{Name: "docker0", Kind: "bridge", Addresses: pfx("172.17.0.1/16"), MTU: 1500, Up: true, Owner: plan.Owner}
	steps := []struct {
		name string
		do   func() error
	}{
		{"create table", func() error { return h.SyncFirewall(nil, fixture()) }},
		{"change table", func() error { return h.SyncFirewall(read(t, h, plan.Scope{}).Firewall, changed()) }},
		{"delete table", func() error { return h.SyncFirewall(read(t, h, plan.Scope{}).Firewall, nil) }},
		{"create bridge", func() error { return h.SyncBridge(nil, &docker0) }},
		{"delete bridge", func() error { return h.SyncBridge(&docker0, nil) }},
		{"set sysctl", func() error { return h.SetSysctl(plan.SysctlIPForward, "1") }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if after := foreign(); after != before {
			t.Fatalf("%s changed foreign objects:\nbefore:\n%s\nafter:\n%s", s.name, before, after)
		}
		if _, ok := read(t, h, plan.Scope{Bridges: []string{"docker0"}}).Bridges["unmanaged"]; ok {
			t.Fatalf("%s: an unmanaged bridge is read as netctl's", s.name)
		}
	}
	drops, err := h.ForwardDropPolicies()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"table ip filter chain FORWARD has policy drop"}; !slices.Equal(drops, want) {
		t.Errorf("ForwardDropPolicies = %q, want %q", drops, want)
	}
}

func TestForwardDropPoliciesIgnoresOurs(t *testing.T) {
	h, _ := openNS(t)
	fw := fixture()
	fw.Chains[1].Policy = "drop"
	if err := h.SyncFirewall(nil, fw); err != nil {
		t.Fatal(err)
	}
	drops, err := h.ForwardDropPolicies()
	if err != nil || len(drops) != 0 {
		t.Errorf("ForwardDropPolicies = %q, %v", drops, err)
	}
}

func TestClosedHandle(t *testing.T) {
	h, _ := openNS(t)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Read(plan.Scope{}); err == nil || errors.Is(err, ErrPermission) {
		t.Errorf("Read on a closed handle: %v", err)
	}
}

// TestErrPermission runs Open in a child process without CAP_NET_ADMIN (its
// bounding set lacks it, so not even root has it after exec).
func TestErrPermission(t *testing.T) {
	if ns := os.Getenv("NETCTL_KERNEL_EPERM_NS"); ns != "" {
		_, err := Open(ns)
		if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), "netctl needs CAP_NET_ADMIN (run as root)") {
			t.Fatalf("Open without CAP_NET_ADMIN: %v", err)
		}
		t.Log(err)
		return
	}
	nstest.RequireRoot(t)
	nstest.RequireTool(t, "setpriv", "needs setpriv (util-linux) to drop CAP_NET_ADMIN")
	ns := nstest.New(t)
	cmd := exec.Command("setpriv", "--bounding-set", "-net_admin", os.Args[0], "-test.run", "^TestErrPermission$", "-test.v")
	cmd.Env = append(os.Environ(), "NETCTL_KERNEL_EPERM_NS="+ns)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestErrPermission") {
		t.Fatalf("child without CAP_NET_ADMIN: %v\n%s", err, out)
	}
	t.Logf("child:\n%s", out)
}

// TestSetReplacedUnderRules: a set that changes type is deleted and re-added
// in the batch, and the rules that look it up are refilled around it.
func TestSetReplacedUnderRules(t *testing.T) {
	h, _ := openNS(t)
	if err := h.SyncFirewall(nil, fixture()); err != nil {
		t.Fatal(err)
	}
	live := read(t, h, plan.Scope{}).Firewall
	to := fixture()
	to.Sets[1] = plan.Set{Name: plan.SetLinks, Type: plan.LinksKeyType, Interval: false, Elements: []plan.Element{
		{Key: "172.17.0.2 . 172.17.0.3 . tcp . 5432", Comment: "exact"},
	}}
	if err := h.SyncFirewall(live, to); err != nil {
		t.Fatal(err)
	}
	got := read(t, h, plan.Scope{}).Firewall
	mustEqual(t, "set replaced", to, got)
	if err := h.SyncFirewall(got, live); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "replace undone", live, read(t, h, plan.Scope{}).Firewall)
}
