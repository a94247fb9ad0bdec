package schema

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestParsePublish(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		in   string
		want Publish
		text string
	}{
		{"8080:80", Publish{Proto: "tcp", Host: [2]uint16{8080, 8080}, Container: [2]uint16{80, 80}}, "8080:80/tcp"},
		// 0.0.0.0 is every IPv4 address only (no address is both
		// families), so it is kept, no longer normalised away.
		{"0.0.0.0:8080:80", Publish{HostAddr: netip.IPv4Unspecified(), Proto: "tcp", Host: [2]uint16{8080, 8080}, Container: [2]uint16{80, 80}}, "0.0.0.0:8080:80/tcp"},
		{"[2001:db8::1]:8080:80/tcp", Publish{HostAddr: netip.MustParseAddr("2001:db8::1"), Proto: "tcp", Host: [2]uint16{8080, 8080}, Container: [2]uint16{80, 80}}, "[2001:db8::1]:8080:80/tcp"},
		{"[2001:DB8:0:0:0:0:0:1]:53:53/udp", Publish{HostAddr: netip.MustParseAddr("2001:db8::1"), Proto: "udp", Host: [2]uint16{53, 53}, Container: [2]uint16{53, 53}}, "[2001:db8::1]:53:53/udp"},
		{"[::]:8080:80", Publish{HostAddr: netip.IPv6Unspecified(), Proto: "tcp", Host: [2]uint16{8080, 8080}, Container: [2]uint16{80, 80}}, "[::]:8080:80/tcp"},
		{"[fd00:17::1]:8000-8010:9000-9010/sctp", Publish{HostAddr: netip.MustParseAddr("fd00:17::1"), Proto: "sctp", Host: [2]uint16{8000, 8010}, Container: [2]uint16{9000, 9010}}, "[fd00:17::1]:8000-8010:9000-9010/sctp"},
		{"127.0.0.1:5432:5432/tcp", Publish{HostAddr: lo, Proto: "tcp", Host: [2]uint16{5432, 5432}, Container: [2]uint16{5432, 5432}}, "127.0.0.1:5432:5432/tcp"},
		{"8000-8010:9000-9010/udp", Publish{Proto: "udp", Host: [2]uint16{8000, 8010}, Container: [2]uint16{9000, 9010}}, "8000-8010:9000-9010/udp"},
		{"1:65535/sctp", Publish{Proto: "sctp", Host: [2]uint16{1, 1}, Container: [2]uint16{65535, 65535}}, "1:65535/sctp"},
	} {
		got, err := ParsePublish(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) || got.String() != tc.text {
			t.Errorf("ParsePublish(%q) = %+v (%q), %v; want %+v (%q)", tc.in, got, got.String(), err, tc.want, tc.text)
		}
		// The canonical form reads back as the same publication.
		if again, err := ParsePublish(got.String()); err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("ParsePublish(%q) (String of %q) = %+v, %v; want %+v", got.String(), tc.in, again, err, got)
		}
	}
}

func TestPublishLoads(t *testing.T) {
	cfg, err := Parse("f.yaml", []byte(`bridges:
  docker0:
    address: 172.17.0.1/16
    gateway_mode: routed
    containers:
      web:
        address: 172.17.0.2
        publish:
          - 8080:80
          - 127.0.0.1:8081:81
          - { port: 8443:443, allowed_sources: [203.0.113.0/24, 198.51.100.7] }
  br1:
    address: 10.1.0.1/24
    gateway_mode: nat-unprotected
`))
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Bridges[0]
	if b.GatewayMode != GatewayRouted || b.Masquerade {
		t.Errorf("routed: mode %q masquerade %v, want routed without masquerade", b.GatewayMode, b.Masquerade)
	}
	if m := cfg.Bridges[1]; m.GatewayMode != GatewayNATUnprotected || !m.Masquerade {
		t.Errorf("nat-unprotected: mode %q masquerade %v, want masquerade", m.GatewayMode, m.Masquerade)
	}
	var got []string
	for _, p := range b.Containers[0].Publish {
		got = append(got, p.String())
	}
	if want := []string{"8080:80/tcp", "127.0.0.1:8081:81/tcp", "8443:443/tcp"}; !reflect.DeepEqual(got, want) {
		t.Errorf("publications %q, want %q", got, want)
	}
	if src := b.Containers[0].Publish[2].AllowedSources; len(src) != 2 || src[1] != netip.MustParsePrefix("198.51.100.7/32") {
		t.Errorf("allowed sources %v", src)
	}
}
