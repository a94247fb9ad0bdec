package kernel

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

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

func timeIt(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

func TestLargeSet(t *testing.T) {
	if testing.Short() {
		t.Skip("large set")
	}
	h, ns := openNS(t)
	const n = 100000
	want := linksFirewall(n)
	d, err := timeIt(func() error { return h.SyncFirewall(nil, want) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SyncFirewall of %d link elements: %v", n, d)
	if d > 2*time.Second {
		t.Errorf("SyncFirewall of %d elements took %v, want well under 2s", n, d)
	}
	var live plan.State
	d, err = timeIt(func() (err error) { live, err = h.Read(plan.Scope{}); return err })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Read of %d link elements: %v", n, d)
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
	d, err = timeIt(func() error { return h.SyncFirewall(live.Firewall, to) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SyncFirewall of 7 element changes in a set of %d: %v", n, d)
	got := read(t, h, plan.Scope{}).Firewall.Set(plan.SetLinks).Elements
	if !slices.Equal(got, to.Sets[1].Elements) {
		t.Fatalf("after the change: %d elements, want %d", len(got), len(to.Sets[1].Elements))
	}
}

// TestReadNoSlowerThanNft: a plan of 10,000 links must not be slower than
// `nft list ruleset`.
func TestReadNoSlowerThanNft(t *testing.T) {
	requireNft(t)
	if testing.Short() {
		t.Skip("large set")
	}
	h, ns := openNS(t)
	if err := h.SyncFirewall(nil, linksFirewall(10000)); err != nil {
		t.Fatal(err)
	}
	best := func(f func() error) time.Duration {
		b := time.Hour
		for range 3 {
			d, err := timeIt(f)
			if err != nil {
				t.Fatal(err)
			}
			b = min(b, d)
		}
		return b
	}
	ours := best(func() error { _, err := h.Read(plan.Scope{}); return err })
	nft := best(func() error { return exec.Command("ip", "netns", "exec", ns, "nft", "list", "ruleset").Run() })
	t.Logf("10,000 links: Read %v, nft list ruleset %v", ours, nft)
	if ours > nft {
		t.Errorf("Read (%v) slower than nft list ruleset (%v)", ours, nft)
	}
}

// go test -run '^$' -bench . -benchtime 5x ./kernel/
func BenchmarkSyncFirewall(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
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

func BenchmarkRead(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
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
