package plan

import (
	"flag"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/netctl/netctl/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./plan -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (go test ./plan -update rewrites it)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }
func ptr[T any](v T) *T         { return &v }

func tcp(first, last uint16) schema.Port { return schema.Port{Proto: "tcp", First: first, Last: last} }
func udp(first, last uint16) schema.Port { return schema.Port{Proto: "udp", First: first, Last: last} }

func container(name, address string, expose ...schema.Port) schema.Container {
	return schema.Container{Name: name, Address: addr(address), Expose: expose}
}

// link builds a link as the loader leaves it: omitted ports are every port
// the target exposes.
func link(b schema.Bridge, from, to string, ports ...schema.Port) schema.Link {
	if len(ports) == 0 {
		c, ok := b.Container(to)
		if !ok {
			panic("no container " + to)
		}
		ports = slices.Clone(c.Expose)
	}
	return schema.Link{From: from, To: to, Ports: ports}
}

// docker0 is Docker's default bridge with --icc=false, links and a source
// restriction.
func docker0() schema.Bridge {
	b := schema.Bridge{
		Name:           "docker0",
		Address:        pfx("172.17.0.1/16"),
		MTU:            1500,
		ICC:            false,
		Masquerade:     true,
		AllowedSources: []netip.Prefix{pfx("198.51.100.0/24"), pfx("203.0.113.7/32")},
		Containers: []schema.Container{
			container("web", "172.17.0.2"),
			container("db", "172.17.0.3", tcp(5432, 5432)),
			container("cache", "172.17.0.4", tcp(6379, 6379)),
			container("dns", "172.17.0.5", udp(53, 53), tcp(53, 53)),
		},
	}
	b.Links = []schema.Link{
		link(b, "web", "db"),
		link(b, "web", "cache"),
		link(b, "web", "dns"),
	}
	return b
}

// internal is a second bridge: icc on, an external interface, no masquerade.
func internal() schema.Bridge {
	return schema.Bridge{
		Name:              "br-internal",
		Address:           pfx("10.10.0.1/24"),
		MTU:               9000,
		ICC:               true,
		ExternalInterface: "eth0",
		AllowedSources:    []netip.Prefix{pfx("192.0.2.0/24")},
		Containers: []schema.Container{
			container("a", "10.10.0.2", tcp(80, 80)),
			container("b", "10.10.0.3", tcp(1000, 2000)),
		},
	}
}

// fullConfig is the representative config: two bridges, links, sources.
func fullConfig() *schema.Config {
	return &schema.Config{
		File:      "netctl.yaml",
		IPForward: ptr(true),
		Firewall:  true,
		Bridges:   []schema.Bridge{docker0(), internal()},
	}
}

// cloneState deep-copies a state, so a test can make a live state out of a
// desired one and change it.
func cloneState(s State) State {
	c := State{Sysctls: maps.Clone(s.Sysctls)}
	if s.Bridges != nil {
		c.Bridges = make(map[string]Bridge, len(s.Bridges))
		for name, b := range s.Bridges {
			b.Addresses = slices.Clone(b.Addresses)
			b.Ports = slices.Clone(b.Ports)
			c.Bridges[name] = b
		}
	}
	if s.Firewall != nil {
		fw := &Firewall{Owner: s.Firewall.Owner, Chains: slices.Clone(s.Firewall.Chains), Sets: slices.Clone(s.Firewall.Sets)}
		for i := range fw.Chains {
			fw.Chains[i].Rules = slices.Clone(fw.Chains[i].Rules)
			for j := range fw.Chains[i].Rules {
				fw.Chains[i].Rules[j].Match = slices.Clone(fw.Chains[i].Rules[j].Match)
			}
		}
		for i := range fw.Sets {
			fw.Sets[i].Elements = slices.Clone(fw.Sets[i].Elements)
		}
		c.Firewall = fw
	}
	return c
}

// liveOf is what a read of the kernel returns after an apply of desired:
// the same state with rule handles, and ports attached to the bridges.
func liveOf(desired State) State {
	live := cloneState(desired)
	var handle uint64
	if live.Firewall != nil {
		for i := range live.Firewall.Chains {
			for j := range live.Firewall.Chains[i].Rules {
				handle++
				live.Firewall.Chains[i].Rules[j].Handle = handle
			}
		}
	}
	return live
}

// rules returns the comments of a chain's rules, in order.
func comments(c *Chain) []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, r := range c.Rules {
		out = append(out, r.Comment)
	}
	return out
}
