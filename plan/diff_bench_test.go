package plan

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// The element diff builds groups only for the elements that differ
// (touchedElements). It must give exactly what grouping every element
// gives, whatever the states: unsorted sets, elements without comments,
// repeated keys, a comment in two sets, sets in another order or missing.
func TestDiffElementsTouchedOnlyIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randomFirewall := func() *Firewall {
		f := &Firewall{}
		names := []string{"a", "b", "c"}
		rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		for _, name := range names[:rng.IntN(4)] {
			s := Set{Name: name}
			for range rng.IntN(8) {
				e := Element{Key: fmt.Sprintf("k%d", rng.IntN(6))}
				switch rng.IntN(4) {
				case 0: // foreign: no comment
				case 1:
					e.Comment = fmt.Sprintf("bridge.br%d.allowed_source.10.0.0.%d/32", rng.IntN(2), rng.IntN(3))
				default:
					e.Comment = fmt.Sprintf("bridge.br0.link.c%d->db", rng.IntN(4))
				}
				s.Elements = append(s.Elements, e)
			}
			if rng.IntN(2) == 0 {
				SortElements(s.Elements)
			}
			f.Sets = append(f.Sets, s)
		}
		if rng.IntN(20) == 0 && len(f.Sets) > 0 {
			f.Sets = append(f.Sets, f.Sets[0]) // a repeated name
		}
		return f
	}
	mutate := func(f *Firewall) *Firewall {
		g := &Firewall{Sets: slices.Clone(f.Sets)}
		for i := range g.Sets {
			es := slices.Clone(g.Sets[i].Elements)
			for range rng.IntN(3) {
				if len(es) == 0 {
					break
				}
				k := rng.IntN(len(es))
				switch rng.IntN(3) {
				case 0:
					es = slices.Delete(es, k, k+1)
				case 1:
					es[k].Comment = "bridge.br0.link.x->db"
				case 2:
					es = append(es, Element{Key: "k9", Comment: es[k].Comment})
				}
			}
			g.Sets[i].Elements = es
		}
		if rng.IntN(5) == 0 {
			rng.Shuffle(len(g.Sets), func(i, j int) { g.Sets[i], g.Sets[j] = g.Sets[j], g.Sets[i] })
		}
		return g
	}
	for i := range 20000 {
		d := randomFirewall()
		l := randomFirewall()
		if i%2 == 0 {
			l = mutate(d)
		}
		want := diffGroups(groupElements(d, nil), groupElements(l, nil))
		got := diffElements(d, l)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d:\ndesired %+v\nlive    %+v\ngot  %+v\nwant %+v", i, d.Sets, l.Sets, got, want)
		}
	}
}

// BenchmarkDiffOnly: Diff alone (Desired compiled before), at sizes: no
// change, and one link added.
func BenchmarkDiffOnly(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		desired := Desired(linksConfig(n))
		live := liveOf(desired)
		b.Run(fmt.Sprintf("links=%d/no-change", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if p := Diff(desired, live); !p.Empty() {
					b.Fatalf("%d changes", len(p.Changes))
				}
			}
		})
		fewer := liveOf(desired)
		fewer.Firewall.Set(SetLinks).Elements = fewer.Firewall.Set(SetLinks).Elements[1:]
		b.Run(fmt.Sprintf("links=%d/one-added", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if p := Diff(desired, fewer); len(p.Changes) != 1 {
					b.Fatalf("%d changes, want 1", len(p.Changes))
				}
			}
		})
		b.Run(fmt.Sprintf("links=%d/all-added", n), func(b *testing.B) {
			empty := State{Sysctls: live.Sysctls, Bridges: live.Bridges, Firewall: &Firewall{}}
			b.ReportAllocs()
			for b.Loop() {
				if p := Diff(desired, empty); p.Summary().Add < n {
					b.Fatalf("%d adds, want %d", p.Summary().Add, n)
				}
			}
		})
	}
}

// FirewallsEqual says what an empty Diff of the two firewalls says.
func TestFirewallsEqualIsDiffEmpty(t *testing.T) {
	base := Desired(linksConfig(50)).Firewall
	variants := map[string]func(f *Firewall){
		"same":            func(f *Firewall) {},
		"element removed": func(f *Firewall) { f.Sets[1].Elements = f.Sets[1].Elements[1:] },
		"comment changed": func(f *Firewall) { f.Sets[1].Elements[3].Comment = "bridge.docker0.link.x->y" },
		"keys reordered": func(f *Firewall) {
			es := f.Sets[1].Elements
			es[0], es[1] = es[1], es[0]
		},
		"rule removed":  func(f *Firewall) { f.Chains[0].Rules = f.Chains[0].Rules[1:] },
		"policy":        func(f *Firewall) { f.Chains[0].Policy = VerdictDrop },
		"set type":      func(f *Firewall) { f.Sets[0].Type = "ipv4_addr" },
		"sets swapped":  func(f *Firewall) { f.Sets[0], f.Sets[1] = f.Sets[1], f.Sets[0] },
		"set dropped":   func(f *Firewall) { f.Sets = f.Sets[:1] },
		"user chain":    func(f *Firewall) { f.Chains[2].Rules = append(f.Chains[2].Rules, Rule{Verdict: VerdictDrop}) },
		"element added": func(f *Firewall) { f.Sets[0].Elements = append(f.Sets[0].Elements, Element{Key: "x"}) },
	}
	for name, change := range variants {
		other := cloneState(State{Firewall: base}).Firewall
		change(other)
		for _, pair := range [][2]*Firewall{{base, other}, {other, base}} {
			want := Diff(State{Firewall: pair[0]}, State{Firewall: pair[1]}).Empty()
			if got := FirewallsEqual(pair[0], pair[1]); got != want {
				t.Errorf("%s: FirewallsEqual %v, Diff empty %v", name, got, want)
			}
		}
	}
	if FirewallsEqual(base, nil) || FirewallsEqual(nil, base) || !FirewallsEqual(nil, nil) {
		t.Error("nil: a missing table differs from any table, and equals a missing table")
	}
}
