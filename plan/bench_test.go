package plan

import (
	"fmt"
	"io"
	"net/netip"
	"testing"

	"github.com/netctl/netctl/schema"
)

// linksConfig is one bridge with n client containers, each linked to one
// of 100 services: n links, n elements.
func linksConfig(n int) *schema.Config {
	const services = 100
	b := schema.Bridge{Name: "docker0", Address: pfx("172.17.0.1/16"), MTU: 1500, Masquerade: true,
		AllowedSources: []netip.Prefix{pfx("198.51.100.0/24")}}
	ip := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{172, 17, byte(i >> 8), byte(i)}) }
	for s := range services {
		b.Containers = append(b.Containers, schema.Container{
			Name: fmt.Sprintf("svc%d", s), Address: ip(2 + s), Expose: []schema.Port{tcp(uint16(5000+s), uint16(5000+s))}})
	}
	for i := range n {
		from := fmt.Sprintf("app%d", i)
		b.Containers = append(b.Containers, schema.Container{Name: from, Address: ip(2 + services + i)})
		b.Links = append(b.Links, link(b, from, fmt.Sprintf("svc%d", i%services)))
	}
	return &schema.Config{IPForward: ptr(true), Firewall: true, Bridges: []schema.Bridge{b}}
}

func benchDiff(b *testing.B, n int) {
	cfg := linksConfig(n)
	live := liveOf(Desired(cfg))
	b.ResetTimer()
	for b.Loop() {
		if p := Diff(Desired(cfg), live); !p.Empty() {
			b.Fatalf("%d changes", len(p.Changes))
		}
	}
}

// BenchmarkDiff10000Links: Desired and Diff, no changes, 10,000 links.
func BenchmarkDiff10000Links(b *testing.B) { benchDiff(b, 10000) }

func BenchmarkDiffLinks(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("links=%d", n), func(b *testing.B) { benchDiff(b, n) })
	}
}

// createdLinks is a plan creating n links (the table exists, the set is
// empty).
func createdLinks(n int) *Plan {
	desired := Desired(linksConfig(n))
	live := liveOf(desired)
	live.Firewall.Set(SetLinks).Elements = nil
	p := Diff(desired, live)
	if len(p.Changes) != n {
		panic(fmt.Sprintf("%d changes, want %d", len(p.Changes), n))
	}
	return p
}

// BenchmarkWriteText renders 10,000 created links.
func BenchmarkWriteText(b *testing.B) {
	p := createdLinks(10000)
	b.ResetTimer()
	for b.Loop() {
		if err := p.WriteText(io.Discard, TextOptions{Color: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteJSON(b *testing.B) {
	p := createdLinks(10000)
	b.ResetTimer()
	for b.Loop() {
		if err := p.WriteJSON(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNFT10000Links(b *testing.B) {
	fw := Desired(linksConfig(10000)).Firewall
	b.ResetTimer()
	for b.Loop() {
		_ = fw.NFT()
	}
}

// BenchmarkDiffChanges compares the changes of a saved plan (read back from
// the file) with those recomputed, as apply PLANFILE does, for n links.
func BenchmarkDiffChanges(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("links=%d", n), func(b *testing.B) {
			p := createdLinks(n)
			data, err := Encode(File{Desired: p.Desired, Changes: p.Changes})
			if err != nil {
				b.Fatal(err)
			}
			f, err := Decode("bench", data)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if d, err := f.DiffChanges(p.Changes); d != "" || err != nil {
					b.Fatal(d, err)
				}
			}
		})
	}
}
