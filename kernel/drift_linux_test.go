package kernel

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// Issue 3's drift acceptance: every kind of drift, made by an independent
// tool (ip, nft, sysctl, iptables inside the test's namespace), is named by
// Read + plan.Diff with its address and action; and what netctl does not
// own is never drift.

// driftConfig is a representative file, built in Go: one bridge with icc
// off, two links (one of two ports), source restrictions, masquerading and
// ip_forward.
func driftConfig() *schema.Config {
	on := true
	web, db, cache := netip.MustParseAddr("172.17.0.2"), netip.MustParseAddr("172.17.0.3"), netip.MustParseAddr("172.17.0.4")
	return &schema.Config{
		File:      "drift.yaml",
		IPForward: &on,
		Firewall:  true,
		Bridges: []schema.Bridge{{
			Name:       "docker0",
			Address:    netip.MustParsePrefix("172.17.0.1/16"),
			MTU:        1500,
			ICC:        false,
			Masquerade: true,
			AllowedSources: []netip.Prefix{
				netip.MustParsePrefix("198.51.100.10/32"),
				netip.MustParsePrefix("203.0.113.0/24"),
			},
			Containers: []schema.Container{
				{Name: "web", Address: web, Expose: []schema.Port{{Proto: "tcp", First: 80, Last: 80}}},
				{Name: "db", Address: db, Expose: []schema.Port{{Proto: "tcp", First: 5432, Last: 5432}, {Proto: "udp", First: 53, Last: 53}}},
				{Name: "cache", Address: cache, Expose: []schema.Port{{Proto: "tcp", First: 6379, Last: 6379}}},
			},
			Links: []schema.Link{
				{From: "web", To: "db", Ports: []schema.Port{{Proto: "tcp", First: 5432, Last: 5432}, {Proto: "udp", First: 53, Last: 53}}},
				{From: "web", To: "cache", Ports: []schema.Port{{Proto: "tcp", First: 6379, Last: 6379}}},
			},
		}},
	}
}

// writeDesired makes the desired state real through the kernel package, in
// apply's order: the firewall before forwarding is switched on.
func writeDesired(t *testing.T, h *Handle, desired plan.State) {
	t.Helper()
	if err := h.SyncFirewall(nil, desired.Firewall); err != nil {
		t.Fatalf("SyncFirewall: %v", err)
	}
	for _, name := range desired.Scope().Bridges {
		b := desired.Bridges[name]
		if err := h.SyncBridge(nil, &b); err != nil {
			t.Fatalf("SyncBridge %s: %v", name, err)
		}
	}
	for _, name := range desired.Scope().Sysctls {
		if err := h.SetSysctl(name, desired.Sysctls[name]); err != nil {
			t.Fatalf("SetSysctl %s: %v", name, err)
		}
	}
}

// wantChange is a change a drift must produce: its address and action.
// Address may hold "{handle}", the handle of the rule the drift added.
type wantChange struct {
	addr   string
	action plan.Action
}

func (w wantChange) String() string { return string(w.action) + " " + w.addr }

// driftCtx is what a drift function works on.
type driftCtx struct {
	t  *testing.T
	ns string
	// handle is set by a drift that adds a rule: the handle nft gave it.
	handle uint64
}

func (d *driftCtx) ip(args ...string) string {
	d.t.Helper()
	return nstest.Exec(d.t, d.ns, "ip", args...)
}

func (d *driftCtx) nft(args ...string) string {
	d.t.Helper()
	return nstest.Exec(d.t, d.ns, "nft", args...)
}

func (d *driftCtx) sysctl(kv string) {
	d.t.Helper()
	nstest.Exec(d.t, d.ns, "sysctl", "-q", "-w", kv)
}

// ruleHandle finds, with nft -a, the handle of netctl's rule with a comment.
func (d *driftCtx) ruleHandle(chain, comment string) string {
	d.t.Helper()
	out := d.nft("-a", "list", "chain", "inet", "netctl", chain)
	re := regexp.MustCompile(`comment "` + regexp.QuoteMeta(comment) + `" # handle (\d+)`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		d.t.Fatalf("no rule with comment %q in chain %s:\n%s", comment, chain, out)
	}
	return m[1]
}

var echoedHandle = regexp.MustCompile(`# handle (\d+)`)

// addRule adds a rule with nft --echo --handle and records its handle.
func (d *driftCtx) addRule(args ...string) {
	d.t.Helper()
	out := d.nft(append([]string{"--echo", "--handle", "add", "rule"}, args...)...)
	m := echoedHandle.FindStringSubmatch(out)
	if m == nil {
		d.t.Fatalf("nft --echo printed no handle:\n%s", out)
	}
	if _, err := fmt.Sscan(m[1], &d.handle); err != nil {
		d.t.Fatal(err)
	}
}

func TestDrift(t *testing.T) {
	requireNft(t)
	const (
		fwd          = plan.ChainForward
		post         = plan.ChainPostrouting
		icc          = "bridge.docker0.icc"
		linkWebDB    = "bridge.docker0.link.web->db"
		linkWebCache = "bridge.docker0.link.web->cache"
		srcA         = "bridge.docker0.allowed_source.198.51.100.10/32"
		srcNet       = "bridge.docker0.allowed_source.203.0.113.0/24"
	)
	bridgeUpdate := []wantChange{{"bridge.docker0", plan.Update}}
	cases := []struct {
		name  string
		drift func(d *driftCtx)
		// want is every change the plan must hold, in any order; empty:
		// not drift, the plan must be empty.
		want []wantChange
		// check, when set, looks closer at the changes (values).
		check func(t *testing.T, cs []plan.Change)
		// refused, when set, is the plan error: netctl will not touch it.
		refused string
	}{
		// ---- drift ----
		{
			name:  "bridge deleted",
			drift: func(d *driftCtx) { d.ip("link", "del", "docker0") },
			want:  []wantChange{{"bridge.docker0", plan.Create}},
		},
		{
			name:  "bridge address removed",
			drift: func(d *driftCtx) { d.ip("addr", "del", "172.17.0.1/16", "dev", "docker0") },
			want:  bridgeUpdate,
			check: bridgeBefore(func(b plan.Bridge) bool { return len(b.Addresses) == 0 }),
		},
		{
			name: "bridge address changed",
			drift: func(d *driftCtx) {
				d.ip("addr", "del", "172.17.0.1/16", "dev", "docker0")
				d.ip("addr", "add", "172.17.0.254/16", "dev", "docker0")
			},
			want:  bridgeUpdate,
			check: bridgeBefore(func(b plan.Bridge) bool { return slices.Equal(b.Addresses, pfx("172.17.0.254/16")) }),
		},
		{
			name:  "extra bridge address added",
			drift: func(d *driftCtx) { d.ip("addr", "add", "10.9.0.1/24", "dev", "docker0") },
			want:  bridgeUpdate,
			check: bridgeBefore(func(b plan.Bridge) bool { return slices.Equal(b.Addresses, pfx("10.9.0.1/24", "172.17.0.1/16")) }),
		},
		{
			name:  "bridge MTU changed",
			drift: func(d *driftCtx) { d.ip("link", "set", "docker0", "mtu", "1400") },
			want:  bridgeUpdate,
			check: bridgeBefore(func(b plan.Bridge) bool { return b.MTU == 1400 }),
		},
		{
			name:  "bridge set down",
			drift: func(d *driftCtx) { d.ip("link", "set", "docker0", "down") },
			want:  bridgeUpdate,
			check: bridgeBefore(func(b plan.Bridge) bool { return !b.Up }),
		},
		{
			name: "an interface of another kind under the bridge's name",
			drift: func(d *driftCtx) {
				d.ip("link", "del", "docker0")
				d.ip("link", "add", "docker0", "type", "ifb")
			},
			refused: "bridge.docker0: docker0 exists and is a ifb, not a bridge; netctl will not replace it",
		},
		{
			name: "someone else's bridge under the bridge's name",
			drift: func(d *driftCtx) {
				d.ip("link", "del", "docker0")
				d.ip("link", "add", "docker0", "type", "bridge")
			},
			refused: "bridge.docker0: docker0 exists and netctl did not create it",
		},
		{
			name: "a bridge marked as netctl's but not in the file",
			drift: func(d *driftCtx) {
				d.ip("link", "add", "old0", "type", "bridge")
				d.ip("link", "set", "old0", "alias", plan.Owner)
			},
			want: []wantChange{{"bridge.old0", plan.Delete}},
		},
		{
			name:  "ip_forward changed",
			drift: func(d *driftCtx) { d.sysctl("net.ipv4.ip_forward=0") },
			want:  []wantChange{{"sysctl.net.ipv4.ip_forward", plan.Update}},
			check: sysctlChange("0", "1"),
		},
		{
			name:  "bridge-nf-call-iptables changed",
			drift: func(d *driftCtx) { d.sysctl("net.bridge.bridge-nf-call-iptables=0") },
			want:  []wantChange{{"sysctl.net.bridge.bridge-nf-call-iptables", plan.Update}},
			check: sysctlChange("0", "1"),
		},
		{
			name:  "bridge-nf-call-ip6tables changed",
			drift: func(d *driftCtx) { d.sysctl("net.bridge.bridge-nf-call-ip6tables=0") },
			want:  []wantChange{{"sysctl.net.bridge.bridge-nf-call-ip6tables", plan.Update}},
			check: sysctlChange("0", "1"),
		},
		{
			name:  "netctl's table deleted",
			drift: func(d *driftCtx) { d.nft("delete", "table", "inet", "netctl") },
			want: []wantChange{
				{"firewall", plan.Create},
				{"firewall.chain." + fwd, plan.Create},
				{"firewall.chain." + post, plan.Create},
				{"firewall.chain.user", plan.Create},
				{"firewall.set.allowed_sources", plan.Create},
				{"firewall.set.links", plan.Create},
				{"firewall.user", plan.Create},
				{"firewall.established", plan.Create},
				{"bridge.docker0.allowed_sources", plan.Create},
				{"bridge.docker0.links", plan.Create},
				{icc, plan.Create},
				{"bridge.docker0.masquerade", plan.Create},
				{linkWebDB, plan.Create},
				{linkWebCache, plan.Create},
				{srcA, plan.Create},
				{srcNet, plan.Create},
			},
		},
		{
			name:  "a chain of netctl's deleted",
			drift: func(d *driftCtx) { d.nft("delete", "chain", "inet", "netctl", post) },
			want: []wantChange{
				{"firewall.chain." + post, plan.Create},
				{"bridge.docker0.masquerade", plan.Create},
			},
		},
		{
			name: "a rule of netctl's deleted",
			drift: func(d *driftCtx) {
				d.nft("delete", "rule", "inet", "netctl", fwd, "handle", d.ruleHandle(fwd, icc))
			},
			want: []wantChange{{icc, plan.Create}},
		},
		{
			name: "a rule of netctl's changed (replaced, same comment)",
			drift: func(d *driftCtx) {
				d.nft("replace", "rule", "inet", "netctl", fwd, "handle", d.ruleHandle(fwd, icc),
					"iifname", "docker0", "oifname", "docker0", "accept", "comment", `"`+icc+`"`)
			},
			want: []wantChange{{icc, plan.Update}},
			check: func(t *testing.T, cs []plan.Change) {
				before, _ := cs[0].Before.(plan.Rule)
				after, _ := cs[0].After.(plan.Rule)
				if before.Verdict != plan.VerdictAccept || after.Verdict != plan.VerdictDrop {
					t.Errorf("rule change: before %+v, after %+v; want accept -> drop", before, after)
				}
			},
		},
		{
			name: "a rule of netctl's changed to one netctl does not write",
			drift: func(d *driftCtx) {
				d.nft("replace", "rule", "inet", "netctl", fwd, "handle", d.ruleHandle(fwd, icc),
					"iifname", "docker0", "oifname", "docker0", "counter", "drop", "comment", `"`+icc+`"`)
			},
			want: []wantChange{{icc, plan.Update}},
		},
		{
			name: "a rule of netctl's moved to the end of its chain",
			drift: func(d *driftCtx) {
				d.nft("delete", "rule", "inet", "netctl", fwd, "handle", d.ruleHandle(fwd, "bridge.docker0.links"))
				d.nft("add", "rule", "inet", "netctl", fwd, "iifname", "docker0", "oifname", "docker0",
					"ip", "saddr", ".", "ip", "daddr", ".", "meta", "l4proto", ".", "th", "dport", "@links", "accept",
					"comment", `"bridge.docker0.links"`)
			},
			want: []wantChange{{"firewall.chain." + fwd + ".order", plan.Update}},
		},
		{
			name:  "a chain's policy changed",
			drift: func(d *driftCtx) { d.nft("chain", "inet", "netctl", fwd, "{ policy drop; }") },
			want:  []wantChange{{"firewall.chain." + fwd, plan.Update}},
		},
		{
			name:  "a foreign chain added to netctl's table",
			drift: func(d *driftCtx) { d.nft("add", "chain", "inet", "netctl", "extra") },
			want:  []wantChange{{"firewall.chain.extra", plan.Delete}},
		},
		{
			name:  "a foreign rule added to a managed chain",
			drift: func(d *driftCtx) { d.addRule("inet", "netctl", fwd, "ip", "saddr", "192.0.2.66", "accept") },
			want:  []wantChange{{"firewall.chain." + fwd + ".rule.handle-{handle}", plan.Delete}},
		},
		{
			name: "a link element removed (the link keeps another)",
			drift: func(d *driftCtx) {
				d.nft("delete", "element", "inet", "netctl", "links", "{ 172.17.0.2 . 172.17.0.3 . udp . 53 }")
			},
			want: []wantChange{{linkWebDB, plan.Update}},
			check: func(t *testing.T, cs []plan.Change) {
				if b, a := fmt.Sprint(cs[0].Before), fmt.Sprint(cs[0].After); b != "[172.17.0.2 . 172.17.0.3 . tcp . 5432]" ||
					a != "[172.17.0.2 . 172.17.0.3 . tcp . 5432 172.17.0.2 . 172.17.0.3 . udp . 53]" {
					t.Errorf("link change: before %s, after %s", b, a)
				}
			},
		},
		{
			name: "a link's only element removed",
			drift: func(d *driftCtx) {
				d.nft("delete", "element", "inet", "netctl", "links", "{ 172.17.0.2 . 172.17.0.4 . tcp . 6379 }")
			},
			want: []wantChange{{linkWebCache, plan.Create}},
		},
		{
			name: "a foreign element added to the links set",
			drift: func(d *driftCtx) {
				d.nft("add", "element", "inet", "netctl", "links", "{ 172.17.0.4 . 172.17.0.3 . tcp . 22 }")
			},
			want: []wantChange{{"firewall.set.links.element[172.17.0.4 . 172.17.0.3 . tcp . 22]", plan.Delete}},
		},
		{
			name: "a foreign element added with the comment of a link",
			drift: func(d *driftCtx) {
				d.nft("add", "element", "inet", "netctl", "links", `{ 172.17.0.4 . 172.17.0.3 . tcp . 22 comment "`+linkWebDB+`" }`)
			},
			want: []wantChange{{linkWebDB, plan.Update}},
		},
		{
			name: "an allowed source removed",
			drift: func(d *driftCtx) {
				d.nft("delete", "element", "inet", "netctl", "allowed_sources", `{ "docker0" . 198.51.100.10 }`)
			},
			want: []wantChange{{srcA, plan.Create}},
		},
		{
			name: "a foreign element added to allowed_sources",
			drift: func(d *driftCtx) {
				d.nft("add", "element", "inet", "netctl", "allowed_sources", `{ "docker0" . 192.0.2.0/24 }`)
			},
			want: []wantChange{{`firewall.set.allowed_sources.element["docker0" . 192.0.2.0/24]`, plan.Delete}},
		},

		// ---- not drift ----
		{
			name: "a veth attached to the bridge as a port",
			drift: func(d *driftCtx) {
				d.ip("link", "add", "vethX", "type", "veth", "peer", "name", "vethY")
				d.ip("link", "set", "vethX", "master", "docker0")
				d.ip("link", "set", "vethX", "up")
				d.ip("link", "set", "vethY", "up")
				if out := d.ip("link", "show", "master", "docker0"); !strings.Contains(out, "vethX") {
					d.t.Fatalf("vethX is not a port of docker0:\n%s", out)
				}
			},
		},
		{
			name: "rules in the user chain",
			drift: func(d *driftCtx) {
				d.nft("add", "rule", "inet", "netctl", "user", "ip", "saddr", "192.0.2.66", "drop")
				d.nft("add", "rule", "inet", "netctl", "user", "ip", "daddr", "172.17.0.3", "tcp", "dport", "22", "accept")
				// A person's comment may even repeat one of netctl's.
				d.nft("add", "rule", "inet", "netctl", "user", "counter", "accept", "comment", `"`+icc+`"`)
			},
		},
		{
			name: "other nftables tables with rules",
			drift: func(d *driftCtx) {
				d.nft("add", "table", "inet", "other")
				d.nft("add", "chain", "inet", "other", "forward_chain", "{ type filter hook forward priority 10; policy accept; }")
				d.nft("add", "rule", "inet", "other", "forward_chain", "ip", "saddr", "192.0.2.1", "drop")
				d.nft("add", "set", "inet", "other", "links", "{ type ipv4_addr; elements = { 192.0.2.1 } }")
				// Same name as netctl's table, another family: not netctl's.
				d.nft("add", "table", "ip", "netctl")
				d.nft("add", "chain", "ip", "netctl", fwd, "{ type filter hook forward priority 0; policy accept; }")
				d.nft("add", "rule", "ip", "netctl", fwd, "ip", "saddr", "192.0.2.2", "counter", "accept", "comment", `"`+icc+`"`)
				d.nft("add", "table", "bridge", "other")
				d.nft("add", "chain", "bridge", "other", "forward_chain", "{ type filter hook forward priority 0; policy accept; }")
				d.nft("add", "rule", "bridge", "other", "forward_chain", "ether", "type", "arp", "accept")
			},
		},
		{
			name: "an iptables rule",
			drift: func(d *driftCtx) {
				nstest.RequireTool(d.t, "iptables", "cannot add an iptables rule (apt-get install iptables)")
				nstest.Exec(d.t, d.ns, "iptables", "-A", "FORWARD", "-s", "192.0.2.1/32", "-j", "DROP")
				nstest.Exec(d.t, d.ns, "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "172.17.0.0/16", "!", "-o", "docker0", "-j", "MASQUERADE")
				if out := nstest.Exec(d.t, d.ns, "iptables", "-S", "FORWARD"); !strings.Contains(out, "192.0.2.1/32") {
					d.t.Fatalf("the iptables rule is not there:\n%s", out)
				}
			},
		},
		{
			name: "unmanaged interfaces",
			drift: func(d *driftCtx) {
				d.ip("link", "add", "br-other", "type", "bridge")
				d.ip("addr", "add", "192.0.2.1/24", "dev", "br-other")
				d.ip("link", "set", "br-other", "up")
				d.ip("link", "add", "ifb9", "type", "ifb") // this kernel has no dummy
				d.ip("link", "set", "ifb9", "up")
				d.ip("link", "add", "vethA", "type", "veth", "peer", "name", "vethB")
				d.ip("addr", "add", "198.51.100.1/24", "dev", "vethA")
			},
		},
	}

	// As the first apply in a new namespace (ip_forward 0) writes it, with
	// the forward_others rule that remembers netctl switched forwarding on.
	desired, _ := plan.ResolveForward(plan.Desired(driftConfig()), plan.State{Sysctls: map[string]string{plan.SysctlIPForward: "0"}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, ns := openNS(t)
			writeDesired(t, h, desired)
			if p := plan.Diff(desired, read(t, h, desired.Scope())); !p.Empty() {
				t.Fatalf("right after writing the desired state, the plan is not empty:\n%s", planText(t, p))
			}

			d := &driftCtx{t: t, ns: ns}
			tc.drift(d)
			live := read(t, h, desired.Scope())
			resolved, err := plan.Resolve(desired, live)
			if tc.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("plan error %v, want %q", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := plan.Diff(resolved, live)
			text := planText(t, p)
			t.Logf("plan:\n%s", text)

			var want []string
			for _, w := range tc.want {
				w.addr = strings.ReplaceAll(w.addr, "{handle}", fmt.Sprint(d.handle))
				want = append(want, w.String())
			}
			var got []string
			for _, c := range p.Changes {
				got = append(got, wantChange{c.Address, c.Action}.String())
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(want, got) {
				t.Fatalf("changes:\n got  %q\n want %q", got, want)
			}
			if len(tc.want) == 0 {
				if !strings.HasPrefix(text, "No changes.") {
					t.Errorf("text of an empty plan:\n%s", text)
				}
				return
			}
			// The text names each change as a user sees it.
			for _, c := range p.Changes {
				if line := "# " + c.Address + " " + phrase(c.Action); !strings.Contains(text, line) {
					t.Errorf("plan text lacks %q", line)
				}
			}
			if tc.check != nil {
				tc.check(t, p.Changes)
			}
		})
	}
}

func planText(t *testing.T, p *plan.Plan) string {
	t.Helper()
	var b bytes.Buffer
	if err := p.WriteText(&b, plan.TextOptions{Source: "drift.yaml"}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// phrase is how the text rendering words an action (Terraform's words).
func phrase(a plan.Action) string {
	return map[plan.Action]string{
		plan.Create:  "will be created",
		plan.Update:  "will be updated in-place",
		plan.Delete:  "will be destroyed",
		plan.Replace: "must be replaced",
	}[a]
}

// bridgeBefore checks the live bridge of the (single) change.
func bridgeBefore(ok func(plan.Bridge) bool) func(*testing.T, []plan.Change) {
	return func(t *testing.T, cs []plan.Change) {
		t.Helper()
		b, isBridge := cs[0].Before.(plan.Bridge)
		if !isBridge || !ok(b) {
			t.Errorf("live bridge in the change: %+v", cs[0].Before)
		}
		if a, _ := cs[0].After.(plan.Bridge); !plan.BridgeEqual(a, plan.Desired(driftConfig()).Bridges["docker0"]) {
			t.Errorf("desired bridge in the change: %+v", cs[0].After)
		}
	}
}

func sysctlChange(before, after string) func(*testing.T, []plan.Change) {
	return func(t *testing.T, cs []plan.Change) {
		t.Helper()
		if cs[0].Before != before || cs[0].After != after {
			t.Errorf("sysctl change: %v -> %v, want %s -> %s", cs[0].Before, cs[0].After, before, after)
		}
	}
}
