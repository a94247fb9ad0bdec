package kernel

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/kernel/nfwire"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// The nf_tables messages netctl writes, byte for byte, against golden files
// in testdata/batch: an encoding change shows as a diff. No root needed: the
// batch is built, not sent. Rewrite with `go test ./kernel/ -run Golden -update`.

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenConfig has a rule of every kind plan.Desired writes: two bridges
// (isolation both ways), icc off (links, icc), allowed sources from any
// interface and from an external one, masquerade.
func goldenConfig() *schema.Config {
	on := true
	web, db := netip.MustParseAddr("172.17.0.2"), netip.MustParseAddr("172.17.0.3")
	tcp := func(p uint16) schema.Port { return schema.Port{Proto: "tcp", First: p, Last: p} }
	return &schema.Config{
		File:      "golden.yaml",
		IPForward: &on,
		Firewall:  true,
		Bridges: []schema.Bridge{{
			Name:           "docker0",
			Address:        netip.MustParsePrefix("172.17.0.1/16"),
			MTU:            1500,
			Masquerade:     true,
			AllowedSources: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.7/32")},
			Containers: []schema.Container{
				{Name: "web", Address: web, Expose: []schema.Port{tcp(80)}},
				{Name: "db", Address: db, Expose: []schema.Port{tcp(5432), {Proto: "udp", First: 1000, Last: 2000}}},
			},
			Links: []schema.Link{{From: "web", To: "db", Ports: []schema.Port{tcp(5432), {Proto: "udp", First: 1000, Last: 2000}}}},
		}, {
			Name:              "br-app",
			Address:           netip.MustParsePrefix("10.10.0.1/24"),
			MTU:               1500,
			ICC:               true,
			ExternalInterface: "eth0",
			AllowedSources:    []netip.Prefix{netip.MustParsePrefix("192.0.2.0/25")},
		}},
	}
}

func withLink(fw *plan.Firewall, key, comment string) *plan.Firewall {
	out := *fw
	out.Sets = slices.Clone(fw.Sets)
	for i := range out.Sets {
		if out.Sets[i].Name == plan.SetLinks {
			out.Sets[i].Elements = append(slices.Clone(out.Sets[i].Elements), plan.Element{Key: key, Comment: comment})
			plan.SortElements(out.Sets[i].Elements)
		}
	}
	return &out
}

func withUserObjects(fw *plan.Firewall) *plan.Firewall {
	out := *fw
	out.Chains = append(slices.Clone(fw.Chains), plan.Chain{Name: "user_x", Rules: []plan.Rule{{Verdict: plan.VerdictDrop}}})
	out.Sets = append(slices.Clone(fw.Sets), plan.Set{Name: "user_allow", Type: "ipv4_addr", Elements: []plan.Element{{Key: "172.17.0.2"}}})
	return &out
}

type goldenCase struct {
	name     string
	from, to *plan.Firewall
	summary  bool // one line per message with its hash, for batches too large to read
}

func goldenCases() []goldenCase {
	t0 := &testing.T{}
	desired := plan.Desired(goldenConfig()).Firewall
	oneMore := withLink(desired, "172.17.0.9 . 172.17.0.3 . tcp . 5432", "bridge.docker0.link.cache->db")
	return []goldenCase{
		{name: "create-desired", to: desired},
		{name: "create-fixture", to: fixture()},
		{name: "change-fixture", from: fixture(), to: changed()},
		{name: "add-element", from: desired, to: oneMore},
		{name: "delete-element", from: oneMore, to: desired},
		{name: "set-replaced", from: fixture(), to: func() *plan.Firewall {
			f := fixture()
			f.Sets[1] = plan.Set{Name: plan.SetLinks, Type: plan.LinksKeyType, Elements: []plan.Element{{Key: "172.17.0.2 . 172.17.0.3 . tcp . 5432", Comment: "exact"}}}
			return f
		}()},
		{name: "delete-table", from: desired},
		{name: "no-change", from: desired, to: desired},
		// The person's user* objects are neither deleted nor written.
		{name: "user-objects-kept", from: withUserObjects(desired), to: oneMore},
		{name: "create-dual-stack", to: plan.Desired(dualStackConfig()).Firewall},
		{name: "large-3000", to: linksFirewall(3000), summary: true},
		// Published ports: the map publish, its DNAT rules, the loopback
		// guard, gateway modes; adding a port is one element.
		{name: "create-publish", to: publishFirewall(t0, 0)},
		{name: "publish-add-port", from: publishFirewall(t0, 0), to: publishFirewall(t0, 1)},
		// Over IPv6: the maps publish6 and publish_any6, the set
		// routed_ports6 and their rules; a port more is one element.
		{name: "create-publish6", to: withPublish6(nil, 0)},
		{name: "publish6-add-port", from: withPublish6(nil, 0), to: withPublish6(nil, 1)},
		{name: "large-delete-3000", from: linksFirewall(3000), to: linksFirewall(0), summary: true},
	}
}

var msgNames = map[int]string{
	unix.NFT_MSG_NEWTABLE: "NEWTABLE", unix.NFT_MSG_DELTABLE: "DELTABLE",
	unix.NFT_MSG_NEWCHAIN: "NEWCHAIN", unix.NFT_MSG_DELCHAIN: "DELCHAIN",
	unix.NFT_MSG_NEWRULE: "NEWRULE", unix.NFT_MSG_DELRULE: "DELRULE",
	unix.NFT_MSG_NEWSET: "NEWSET", unix.NFT_MSG_DELSET: "DELSET",
	unix.NFT_MSG_NEWSETELEM: "NEWSETELEM", unix.NFT_MSG_DELSETELEM: "DELSETELEM",
}

// renderWire writes messages as text: per message its type, flags and
// payload in hex (16 bytes a line), or, with summary, its length and hash.
func renderWire(msgs []netlink.Message, summary bool) string {
	var b strings.Builder
	for _, m := range msgs {
		t := int(m.Header.Type)
		name := fmt.Sprintf("0x%04x", t)
		switch {
		case t == unix.NFNL_MSG_BATCH_BEGIN:
			name = "BATCH_BEGIN"
		case t == unix.NFNL_MSG_BATCH_END:
			name = "BATCH_END"
		case t>>8 == unix.NFNL_SUBSYS_NFTABLES && msgNames[t&0xff] != "":
			name = msgNames[t&0xff]
		}
		fmt.Fprintf(&b, "%s flags=0x%04x len=%d", name, uint16(m.Header.Flags), len(m.Data))
		if summary {
			sum := sha256.Sum256(m.Data)
			fmt.Fprintf(&b, " sha256=%s\n", hex.EncodeToString(sum[:8]))
			continue
		}
		b.WriteByte('\n')
		for off := 0; off < len(m.Data); off += 16 {
			line := m.Data[off:min(off+16, len(m.Data))]
			fmt.Fprintf(&b, "  %04x ", off)
			for _, c := range line {
				fmt.Fprintf(&b, " %02x", c)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// batchBytes is what SyncFirewall(from, to) would send, as text.
func batchBytes(t *testing.T, from, to *plan.Firewall, summary bool) string {
	t.Helper()
	h := &Handle{} // no sockets: the batch is only built
	b, err := h.firewallBatch(from, to)
	if err != nil {
		t.Fatal(err)
	}
	if b.Err != nil {
		t.Fatal(b.Err)
	}
	if len(b.Msgs) == 0 {
		return "(nothing sent)\n"
	}
	return renderWire(b.Wire(), summary)
}

func TestBatchGolden(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			got := batchBytes(t, c.from, c.to, c.summary)
			path := filepath.Join("testdata", "batch", c.name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if d := cmp.Diff(string(want), got); d != "" {
				t.Errorf("%s: the bytes written changed (-golden +now):\n%s", path, d)
			}
		})
	}
}

// TestBatchGoldenElementsSplit checks the large goldens' point: elements
// spread over several messages, none with an element list past 16 bits.
func TestBatchGoldenElementsSplit(t *testing.T) {
	h := &Handle{}
	b, err := h.firewallBatch(nil, linksFirewall(3000))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range b.Msgs {
		if int(m.Header.Type)&0xff != unix.NFT_MSG_NEWSETELEM {
			continue
		}
		n++
		a := nfwire.Attrs{B: m.Data[4:]}
		for {
			typ, d, ok := a.Next()
			if !ok {
				break
			}
			if typ == unix.NFTA_SET_ELEM_LIST_ELEMENTS && len(d)+4 > 0xffff {
				t.Errorf("element list of %d bytes", len(d))
			}
		}
	}
	if n < 2 {
		t.Errorf("3000 elements in %d NEWSETELEM messages, want several", n)
	}
}

// A table of netctl's name that netctl did not create is never written to.
func TestBatchRefusesForeignTable(t *testing.T) {
	h := &Handle{}
	foreign := &plan.Firewall{Chains: []plan.Chain{{Name: "mine"}}}
	if _, err := h.firewallBatch(foreign, plan.Desired(goldenConfig()).Firewall); !errors.As(err, new(plan.ForeignTableError)) {
		t.Errorf("batch into a foreign table: %v", err)
	}
}
