package schema

import (
	"net/netip"
	"testing"
)

// TestDualStack: a dual-stack bridge's IPv6 fields load; an IPv4-only
// bridge has none.
func TestDualStack(t *testing.T) {
	cfg, err := Parse("f.yaml", []byte(`
ip6_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    address6: fd00:17::1/64
    masquerade6: true
    allowed_sources: [198.51.100.10, 2001:db8:100::/48, 2001:db8:200::7]
    containers:
      db: { address: 172.17.0.3, address6: "fd00:17::3", expose: [5432/tcp] }
      web: { address: 172.17.0.2 }
  br-v4:
    address: 10.1.0.1/24
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.IP6Forward == nil || !*cfg.IP6Forward {
		t.Errorf("IP6Forward = %v, want true", cfg.IP6Forward)
	}
	b := cfg.Bridges[0]
	if b.Address6 != netip.MustParsePrefix("fd00:17::1/64") || !b.Masquerade6 {
		t.Errorf("docker0: Address6 %s Masquerade6 %v", b.Address6, b.Masquerade6)
	}
	want := []netip.Prefix{netip.MustParsePrefix("198.51.100.10/32"), netip.MustParsePrefix("2001:db8:100::/48"), netip.MustParsePrefix("2001:db8:200::7/128")}
	if len(b.AllowedSources) != len(want) {
		t.Fatalf("AllowedSources = %v, want %v", b.AllowedSources, want)
	}
	for i := range want {
		if b.AllowedSources[i] != want[i] {
			t.Errorf("AllowedSources[%d] = %s, want %s", i, b.AllowedSources[i], want[i])
		}
	}
	if db, _ := b.Container("db"); db.Address6 != netip.MustParseAddr("fd00:17::3") {
		t.Errorf("db.Address6 = %s", db.Address6)
	}
	if web, _ := b.Container("web"); web.Address6.IsValid() {
		t.Errorf("web.Address6 = %s, want none", web.Address6)
	}
	if v4 := cfg.Bridges[1]; v4.Address6.IsValid() || v4.Masquerade6 {
		t.Errorf("br-v4: Address6 %s Masquerade6 %v, want none", v4.Address6, v4.Masquerade6)
	}
}
