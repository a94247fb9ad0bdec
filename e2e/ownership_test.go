package e2e

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
)

// Issue 10, items 1 and 2: netctl writes only what it created or was told to
// adopt. A name in the file held by another kind of interface, or by a
// bridge someone else made, is refused before anything is written.

// link is what ip says of one interface, read independently of netctl.
type link struct {
	Index  int    `json:"ifindex"`
	Name   string `json:"ifname"`
	Alias  string `json:"ifalias"`
	Master string `json:"master"`
	Info   struct {
		Kind string `json:"info_kind"`
	} `json:"linkinfo"`
	NetNSID *int `json:"link_netnsid"` // set when a veth's peer is in another namespace
	Addrs   []struct {
		Family string `json:"family"`
		Local  string `json:"local"`
		Prefix int    `json:"prefixlen"`
	} `json:"addr_info"`
}

// ipLink reads one interface of ns with ip -d -j addr show; ok is false
// when it does not exist.
func ipLink(t *testing.T, ns, name string) (link, bool) {
	t.Helper()
	var all []link
	if err := json.Unmarshal([]byte(nstest.Run(t, "ip", "-n", ns, "-d", "-j", "addr", "show")), &all); err != nil {
		t.Fatal(err)
	}
	for _, l := range all {
		if l.Name == name {
			return l, true
		}
	}
	return link{}, false
}

func (l link) inet() []string {
	var out []string
	for _, a := range l.Addrs {
		if a.Family == "inet" {
			out = append(out, netip.PrefixFrom(netip.MustParseAddr(a.Local), a.Prefix).String())
		}
	}
	return out
}

// wantUntouched fails unless the named interface of ns is still the one
// seen before: same index, kind, alias and addresses.
func wantUntouched(t *testing.T, ns string, before link) {
	t.Helper()
	now, ok := ipLink(t, ns, before.Name)
	switch {
	case !ok:
		t.Errorf("%s in %s is gone", before.Name, ns)
	case now.Index != before.Index || now.Info.Kind != before.Info.Kind:
		t.Errorf("%s in %s was replaced: index %d kind %q, was index %d kind %q", before.Name, ns, now.Index, now.Info.Kind, before.Index, before.Info.Kind)
	case now.Alias != before.Alias || strings.Join(now.inet(), " ") != strings.Join(before.inet(), " "):
		t.Errorf("%s in %s changed: alias %q addresses %v, was alias %q addresses %v", before.Name, ns, now.Alias, now.inet(), before.Alias, before.inet())
	}
}

// wantNothingWritten fails if netctl wrote its table.
func (e *env) wantNothingWritten() {
	e.t.Helper()
	if e.hasTable() {
		e.t.Errorf("netctl's table was created:\n%s", e.nft("list", "table", "inet", "netctl"))
	}
}

// TestNonBridgeUnderABridgeNameIsRefused is issue 10's reproduction: a veth
// whose peer lives in another namespace, named as a bridge of the file, next
// to a bridge that cannot be made (lo). Before the fix the veth was
// "replaced" (deleted with its peer) and the failed apply claimed a rollback.
func TestNonBridgeUnderABridgeNameIsRefused(t *testing.T) {
	e := setup(t)
	b := nstest.New(t)
	nstest.Run(t, "ip", "-n", e.Host, "link", "add", "ext0", "type", "veth", "peer", "name", "eth0", "netns", b)
	nstest.Run(t, "ip", "-n", e.Host, "addr", "add", "192.0.2.1/30", "dev", "ext0")
	nstest.Run(t, "ip", "-n", e.Host, "link", "set", "ext0", "up")
	nstest.Run(t, "ip", "-n", b, "addr", "add", "192.0.2.2/30", "dev", "eth0")
	nstest.Run(t, "ip", "-n", b, "link", "set", "eth0", "up")
	ext0, _ := ipLink(t, e.Host, "ext0")
	peer, _ := ipLink(t, b, "eth0")
	lo, _ := ipLink(t, e.Host, "lo")
	if ext0.Info.Kind != "veth" || ext0.NetNSID == nil {
		t.Fatalf("setup: ext0 is not a veth with its peer elsewhere: %+v", ext0)
	}
	// The link works before, proved by a connection across it.
	l := testnet.Listen(t, b, "B", "tcp", netip.MustParseAddr("192.0.2.2"), 7000)
	testnet.Expect(t, testnet.Client{Name: "A", NS: e.Host}.Reaches(l))
	forward := e.sysctl("net.ipv4.ip_forward")

	for name, config := range map[string]string{
		"the veth alone":           "ip_forward: true\nbridges: {ext0: {address: 172.30.0.1/16}}\n",
		"the veth and lo":          "ip_forward: true\nbridges: {ext0: {address: 172.30.0.1/16}, lo: {address: 172.31.0.1/16}}\n",
		"the veth, adopt: true":    "ip_forward: true\nbridges: {ext0: {address: 172.30.0.1/16, adopt: true}}\n",
		"the veth, firewall false": "firewall: false\nbridges: {ext0: {address: 172.30.0.1/16}}\n",
	} {
		t.Run(name, func(t *testing.T) {
			f := e.file(config)
			wantMsg := "bridge.ext0: ext0 exists and is a veth, not a bridge; netctl will not replace it"
			for _, cmd := range [][]string{
				{"plan", "-f", f},
				{"plan", "-f", f, "--detailed-exitcode"},
				{"apply", "-f", f, "--auto-approve"},
				{"apply", "-f", f, "--auto-approve", "--json"},
			} {
				out, code := e.netctl(cmd...)
				if code != 1 || !strings.Contains(out, wantMsg) {
					t.Errorf("netctl %s exited %d, want 1 saying %q:\n%s", strings.Join(cmd, " "), code, wantMsg, out)
				}
				if strings.Contains(config, "lo:") && !strings.Contains(out, "bridge.lo: lo exists and is a device, not a bridge") {
					t.Errorf("netctl %s does not name lo:\n%s", strings.Join(cmd, " "), out)
				}
			}
			wantUntouched(t, e.Host, ext0)
			wantUntouched(t, e.Host, lo)
			wantUntouched(t, b, peer)
			e.wantNothingWritten()
			if got := e.sysctl("net.ipv4.ip_forward"); got != forward {
				t.Errorf("ip_forward %s, was %s", got, forward)
			}
			testnet.Expect(t, testnet.Client{Name: "A", NS: e.Host}.Reaches(l))
		})
	}
}

// TestBridgeOfSomeoneElse: a bridge netctl did not create is refused unless
// the file says adopt: true; adopted, it is managed, and released — never
// deleted — when it leaves the file or on destroy. A bridge netctl created
// is deleted as before.
func TestBridgeOfSomeoneElse(t *testing.T) {
	e := setup(t)
	// br1 is someone else's: an alias, an address, a port.
	nstest.Run(t, "ip", "-n", e.Host, "link", "add", "br1", "type", "bridge")
	nstest.Run(t, "ip", "-n", e.Host, "link", "set", "br1", "alias", "uplink bridge")
	nstest.Run(t, "ip", "-n", e.Host, "addr", "add", "10.44.0.1/24", "dev", "br1")
	nstest.Run(t, "ip", "-n", e.Host, "link", "set", "br1", "up")
	nstest.Run(t, "ip", "-n", e.Host, "link", "add", "p1", "type", "veth", "peer", "name", "p1b")
	nstest.Run(t, "ip", "-n", e.Host, "link", "set", "p1", "master", "br1")
	br1, _ := ipLink(t, e.Host, "br1")

	const noAdopt = `
ip_forward: true
bridges:
  br1: { address: 172.30.0.1/16, icc: false }
  br2: { address: 172.31.0.1/16 }
`
	refused := e.file(noAdopt)
	wantMsg := `bridge.br1: br1 exists and netctl did not create it (its alias is "uplink bridge"); netctl will not take it over unless the file says adopt: true for it`
	for _, cmd := range [][]string{{"plan", "-f", refused}, {"apply", "-f", refused, "--auto-approve"}} {
		out, code := e.netctl(cmd...)
		if code != 1 || !strings.Contains(out, wantMsg) {
			t.Errorf("netctl %s exited %d, want 1 saying %q:\n%s", cmd[0], code, wantMsg, out)
		}
	}
	wantUntouched(t, e.Host, br1)
	e.wantNothingWritten()
	if _, ok := ipLink(t, e.Host, "br2"); ok {
		t.Error("br2 was created by a refused apply")
	}

	adopting := e.file(strings.Replace(noAdopt, "icc: false }", "icc: false, adopt: true }", 1))
	wantAdopted := func() {
		t.Helper()
		now, _ := ipLink(t, e.Host, "br1")
		if now.Index != br1.Index || now.Alias != "netctl:adopted:uplink bridge" || strings.Join(now.inet(), " ") != "172.30.0.1/16" {
			t.Errorf("adopted br1: index %d (was %d), alias %q, addresses %v", now.Index, br1.Index, now.Alias, now.inet())
		}
		if p1, _ := ipLink(t, e.Host, "p1"); p1.Master != "br1" {
			t.Errorf("p1 is no longer a port of br1: master %q", p1.Master)
		}
	}
	wantReleased := func(how string) {
		t.Helper()
		now, ok := ipLink(t, e.Host, "br1")
		if !ok || now.Index != br1.Index || now.Info.Kind != "bridge" {
			t.Fatalf("%s: br1 was deleted or replaced: %+v", how, now)
		}
		if now.Alias != "uplink bridge" || len(now.inet()) != 0 {
			t.Errorf("%s: br1 not released: alias %q, addresses %v (want its own alias back and no address)", how, now.Alias, now.inet())
		}
		if p1, _ := ipLink(t, e.Host, "p1"); p1.Master != "br1" {
			t.Errorf("%s: p1 is no longer a port of br1: master %q", how, p1.Master)
		}
		if e.hasTable() && strings.Contains(e.nft("list", "table", "inet", "netctl"), `"br1"`) {
			t.Errorf("%s: netctl's firewall still names br1:\n%s", how, e.nft("list", "table", "inet", "netctl"))
		}
	}

	out, code := e.netctl("plan", "-f", adopting, "--detailed-exitcode")
	if code != 2 || !strings.Contains(out, `"netctl:adopted:uplink bridge"`) {
		t.Errorf("plan with adopt: true exited %d, want 2 showing the mark:\n%s", code, out)
	}
	e.applyFile(adopting)
	wantAdopted()
	e.wantPlanClean(adopting)
	// Once adopted, the file need not say it again.
	e.wantPlanClean(e.file(noAdopt))

	// Out of the file: released; br2, netctl's own, deleted.
	only := e.file("ip_forward: true\nbridges:\n  br3: { address: 172.29.0.1/16 }\n")
	e.applyFile(only)
	wantReleased("removed from the file")
	if _, ok := ipLink(t, e.Host, "br2"); ok {
		t.Error("br2, created by netctl, was not deleted when it left the file")
	}
	e.wantPlanClean(only)

	// Adopted again, then destroyed: released again; br3 deleted.
	e.applyFile(adopting)
	wantAdopted()
	out, code = e.netctl("destroy", "--auto-approve")
	if code != 0 {
		t.Fatalf("destroy exited %d:\n%s", code, out)
	}
	wantReleased("destroy")
	for _, name := range []string{"br2", "br3"} {
		if _, ok := ipLink(t, e.Host, name); ok {
			t.Errorf("%s, created by netctl, survived destroy", name)
		}
	}
	if e.hasTable() {
		t.Error("netctl's table survived destroy")
	}
	// Released means not netctl's any more: a file naming it is refused.
	if out, code := e.netctl("plan", "-f", refused); code != 1 || !strings.Contains(out, "bridge.br1: br1 exists and netctl did not create it") {
		t.Errorf("plan after the release exited %d, want 1:\n%s", code, out)
	}
}
