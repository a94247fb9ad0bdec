package kernel

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/plan"
)

// linkElements returns n distinct, sorted link elements with realistic
// comments.
func linkElements(n int) []plan.Element {
	es := make([]plan.Element, n)
	for i := range es {
		es[i] = plan.Element{
			Key:     fmt.Sprintf("10.%d.%d.%d . 172.17.0.2 . tcp . %d", i>>16&0xff, i>>8&0xff, i&0xff, 1000+i%5000),
			Comment: fmt.Sprintf("bridge.docker0.link.c%d->db", i),
		}
	}
	plan.SortElements(es)
	return es
}

func linksFirewall(n int) *plan.Firewall {
	fw := fixture()
	fw.Sets = slices.Clone(fw.Sets)
	fw.Sets[1].Elements = linkElements(n)
	return fw
}

// TestLargeSet writes, reads back and changes a set of 100,000 link
// elements. How long that takes is measured by BenchmarkSyncFirewall and
// BenchmarkRead, never asserted here.
func TestLargeSet(t *testing.T) {
	if testing.Short() {
		t.Skip("large set")
	}
	h, ns := openNS(t)
	const n = 100000
	want := linksFirewall(n)
	if err := h.SyncFirewall(nil, want); err != nil {
		t.Fatal(err)
	}
	live, err := h.Read(plan.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if got := live.Firewall.Set(plan.SetLinks).Elements; !slices.Equal(got, want.Sets[1].Elements) {
		t.Fatalf("read back %d elements, want %d (equal: %v)", len(got), n, slices.Equal(got, want.Sets[1].Elements))
	}
	// The kernel, asked by nft, has the first and the last.
	for _, e := range []plan.Element{want.Sets[1].Elements[0], want.Sets[1].Elements[n-1]} {
		out := nstest.Exec(t, ns, "nft", "get", "element", "inet", "netctl", "links", "{ "+e.Key+" }")
		if !strings.Contains(out, e.Key) {
			t.Errorf("nft get element %s:\n%s", e.Key, out)
		}
	}

	// A few changes to a large set are a few elements in the batch.
	to := linksFirewall(n)
	to.Sets[1].Elements = slices.Clone(to.Sets[1].Elements[5:])
	to.Sets[1].Elements[0].Comment = "changed"
	to.Sets[1].Elements = append(to.Sets[1].Elements, plan.Element{Key: "192.0.2.1 . 172.17.0.2 . udp . 53"})
	plan.SortElements(to.Sets[1].Elements)
	if err := h.SyncFirewall(live.Firewall, to); err != nil {
		t.Fatal(err)
	}
	got := read(t, h, plan.Scope{}).Firewall.Set(plan.SetLinks).Elements
	if !slices.Equal(got, to.Sets[1].Elements) {
		t.Fatalf("after the change: %d elements, want %d", len(got), len(to.Sets[1].Elements))
	}
}

var benchLinks = []int{1000, 10000, 100000}

// go test -run '^$' -bench . -benchtime 5x ./kernel/
func BenchmarkSyncFirewall(b *testing.B) {
	for _, n := range benchLinks {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			h, _ := openNS(b)
			fw := linksFirewall(n)
			b.ResetTimer()
			for range b.N {
				if err := h.SyncFirewall(nil, fw); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := h.SyncFirewall(fw, nil); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkRead reads the live state of a namespace whose set holds n link
// elements; BenchmarkNftListRuleset is nft doing the same.
func BenchmarkRead(b *testing.B) {
	for _, n := range benchLinks {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			h, _ := openNS(b)
			if err := h.SyncFirewall(nil, linksFirewall(n)); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := h.Read(plan.Scope{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNftListRuleset runs `nft list ruleset` in the same kind of
// namespace as BenchmarkRead: the comparison of issue 3 (a no-change plan of
// 10,000 links must be no slower). The process is started as a user would
// start it, entering the namespace with nsenter (ip netns exec when absent);
// links=0 is that cost alone, with netctl's table and an empty set.
func BenchmarkNftListRuleset(b *testing.B) {
	requireNft(b)
	for _, n := range append([]int{0}, benchLinks...) {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			h, ns := openNS(b)
			if err := h.SyncFirewall(nil, linksFirewall(n)); err != nil {
				b.Fatal(err)
			}
			argv := []string{"ip", "netns", "exec", ns, "nft", "list", "ruleset"}
			if _, err := exec.LookPath("nsenter"); err == nil {
				argv = []string{"nsenter", "--net=/run/netns/" + ns, "nft", "list", "ruleset"}
			}
			out, err := exec.Command(argv[0], argv[1:]...).Output()
			if err != nil {
				b.Fatalf("%s: %v", strings.Join(argv, " "), err)
			}
			if got := strings.Count(string(out), "comment \"bridge.docker0.link."); got != n {
				b.Fatalf("nft list ruleset shows %d link elements, want %d", got, n)
			}
			for b.Loop() {
				if err := exec.Command(argv[0], argv[1:]...).Run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSyncFirewallOneElement: the batch of one link element added to,
// or removed from, a set of 10,000 (what apply writes for one link), to set
// against BenchmarkSyncFirewall/10000 (the whole table).
func BenchmarkSyncFirewallOneElement(b *testing.B) {
	const n = 10000
	h, _ := openNS(b)
	base := linksFirewall(n)
	more := linksFirewall(n)
	more.Sets[1].Elements = append(slices.Clone(more.Sets[1].Elements),
		plan.Element{Key: "192.0.2.1 . 172.17.0.2 . tcp . 53", Comment: "bridge.docker0.link.new->db"})
	plan.SortElements(more.Sets[1].Elements)
	if err := h.SyncFirewall(nil, base); err != nil {
		b.Fatal(err)
	}
	count := func(b *testing.B) int {
		b.Helper()
		return len(read(b, h, plan.Scope{}).Firewall.Set(plan.SetLinks).Elements)
	}
	for _, c := range []struct {
		name     string
		from, to *plan.Firewall
	}{{"add", base, more}, {"remove", more, base}} {
		b.Run(fmt.Sprintf("%s/links=%d", c.name, n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				if err := h.SyncFirewall(read(b, h, plan.Scope{}).Firewall, c.from); err != nil { // back, untimed
					b.Fatal(err)
				}
				want := len(c.to.Sets[1].Elements)
				if got := count(b); got == want {
					b.Fatalf("%d elements before the write: nothing to do", got)
				}
				b.StartTimer()
				if err := h.SyncFirewall(c.from, c.to); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if got := count(b); got != want {
					b.Fatalf("%d elements after the write, want %d", got, want)
				}
				b.StartTimer()
			}
		})
	}
}
