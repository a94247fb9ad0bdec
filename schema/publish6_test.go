package schema

import (
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestParsePublishRefuses: the -p forms netctl refuses, each with a
// message that says why and what to write; the IPv4 messages are the ones
// of before IPv6.
func TestParsePublishRefuses(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"2001:db8::1:8080:80", `IPv6 host address 2001:db8::1 in "2001:db8::1:8080:80" needs brackets: write [2001:db8::1]:8080:80`},
		{":::8080:80/udp", `IPv6 host address :: in ":::8080:80/udp" needs brackets: write [::]:8080:80/udp`},
		{"[2001:db8::1:8080:80", `malformed brackets in "[2001:db8::1:8080:80": an IPv6 host address is written in brackets, e.g. [2001:db8::1]:8080:80 or [::]:8080:80`},
		{"2001:db8::1]:8080:80", `malformed brackets in "2001:db8::1]:8080:80"`},
		{"[::]8080:80", `malformed brackets in "[::]8080:80"`},
		{"[[::]]:8080:80", `malformed brackets in "[[::]]:8080:80"`},
		{"8080:[80]", `malformed brackets in "8080:[80]"`},
		{"[::]:80", `"[::]:80" has no host port: netctl publishes on a port you name (Docker would pick a random one); expected [IPV6_ADDRESS]:HOST_PORT:CONTAINER_PORT[/PROTO]`},
		{"[::]::80", `"[::]::80" has no host port`},
		{"[::]:1:2:3", `malformed publication "[::]:1:2:3": expected [IPV6_ADDRESS]:HOST_PORT:CONTAINER_PORT[/PROTO]`},
		{"[::]:0:80", `port 0 in "[::]:0:80" is out of range 1-65535`},
		{"[fd00::1]:8000-8010:80", `"[fd00::1]:8000-8010:80" maps 11 host ports to 1 container ports`},
		{"[2001:db8::zz]:8080:80", `malformed host address "2001:db8::zz" in "[2001:db8::zz]:8080:80": expected an IPv6 address in brackets such as [2001:db8::1]`},
		{"[]:8080:80", `malformed host address "" in "[]:8080:80"`},
		{"[127.0.0.1]:8080:80", `host address 127.0.0.1 in "[127.0.0.1]:8080:80" is IPv4: brackets are for IPv6 addresses, write 127.0.0.1:8080:80`},
		{"[ff02::1]:8080:80", `host address ff02::1 in "[ff02::1]:8080:80" is not a unicast address`},
		{"[ff0e::1]:8080:80/udp", `host address ff0e::1 in "[ff0e::1]:8080:80/udp" is not a unicast address`},
		{"[fe80::1]:8080:80", `host address fe80::1 in "[fe80::1]:8080:80" is link-local (fe80::/10): a publication on it would need a zone, which netctl does not support`},
		{"[febf::1]:8080:80", `is link-local (fe80::/10)`},
		{"[fe80::1%eth0]:8080:80", `host address fe80::1%eth0 in "[fe80::1%eth0]:8080:80" has a zone`},
		{"[::1]:8080:80", `host address ::1 in "[::1]:8080:80" is not promised: IPv6 has no route_localnet, so [::1] would need a userland proxy, which netctl does not run; publish on the host's own global IPv6 address (the host reaches it too) or on [::]`},
		{"::1:8080:80", `host address ::1 in "::1:8080:80" is not promised`},
		{"[::ffff:192.0.2.1]:8080:80", `host address ::ffff:192.0.2.1 in "[::ffff:192.0.2.1]:8080:80" is an IPv4-mapped address: write the IPv4 address, 192.0.2.1`},
		{"[::ffff:0.0.0.0]:8080:80", `is an IPv4-mapped address`},
		// IPv4, as before.
		{"1:2:3:4", `malformed publication "1:2:3:4": expected [HOST_ADDRESS:]HOST_PORT:CONTAINER_PORT[/PROTO], e.g. 8080:80, 127.0.0.1:5432:5432/tcp or 8000-8010:8000-8010/udp`},
		{"300.1.1.1:53:53/udp", `malformed host address "300.1.1.1" in "300.1.1.1:53:53/udp": expected an IPv4 address such as 127.0.0.1`},
		{"0.1.2.3:80:80", `host address 0.1.2.3 in "0.1.2.3:80:80" is in 0.0.0.0/8, not a host's address`},
		{"224.0.0.1:81:81", `host address 224.0.0.1 in "224.0.0.1:81:81" is not a unicast address`},
	} {
		_, err := ParsePublish(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePublish(%q) = %v, want an error saying %q", tc.in, err, tc.want)
		}
	}
}

// TestPublishFamilies: which families a publication takes, and its
// sources per family (the contract the plan reads).
func TestPublishFamilies(t *testing.T) {
	v4s, v6s := netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8:100::/48")
	for _, tc := range []struct {
		in         string
		sources    []netip.Prefix
		on4, on6   bool
		any        bool
		src4, src6 []netip.Prefix
		ok4, ok6   bool
	}{
		{"8080:80", nil, true, true, true, nil, nil, true, true},
		{"0.0.0.0:8080:80", nil, true, false, true, nil, nil, true, true},
		{"[::]:8080:80", nil, false, true, true, nil, nil, true, true},
		{"198.51.100.1:8080:80", nil, true, false, false, nil, nil, true, true},
		{"[2001:db8::1]:8080:80", nil, false, true, false, nil, nil, true, true},
		{"8080:80", []netip.Prefix{v4s, v6s}, true, true, true, []netip.Prefix{v4s}, []netip.Prefix{v6s}, true, true},
		{"8080:80", []netip.Prefix{v4s}, true, true, true, []netip.Prefix{v4s}, nil, true, false},
		{"[::]:8080:80", []netip.Prefix{v6s}, false, true, true, nil, []netip.Prefix{v6s}, false, true},
	} {
		p, err := ParsePublish(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		p.AllowedSources = tc.sources
		s4, ok4 := p.Sources(4)
		s6, ok6 := p.Sources(6)
		if p.OnIPv4() != tc.on4 || p.OnIPv6() != tc.on6 || p.AnyHostAddr() != tc.any ||
			!reflect.DeepEqual(s4, tc.src4) || ok4 != tc.ok4 || !reflect.DeepEqual(s6, tc.src6) || ok6 != tc.ok6 {
			t.Errorf("%s %v: OnIPv4 %v OnIPv6 %v AnyHostAddr %v Sources(4) %v %v Sources(6) %v %v; want %v %v %v %v %v %v %v",
				tc.in, tc.sources, p.OnIPv4(), p.OnIPv6(), p.AnyHostAddr(), s4, ok4, s6, ok6,
				tc.on4, tc.on6, tc.any, tc.src4, tc.ok4, tc.src6, tc.ok6)
		}
	}
}

// TestPublish6Loads: a dual-stack file with every form of publication,
// mixed-family sources included, loads; each publication's String reads
// back as itself.
func TestPublish6Loads(t *testing.T) {
	cfg, err := Parse("f.yaml", []byte(`bridges:
  docker0:
    address: 172.17.0.1/16
    address6: fd00:17::1/64
    containers:
      web:
        address: 172.17.0.2
        address6: "fd00:17::2"
        publish:
          - 8080:80
          - 0.0.0.0:8081:81
          - "[::]:8081:81"
          - "[2001:db8::1]:8082:82/udp"
          - 198.51.100.1:8082:82/udp
          - { port: "[::]:8443:443", allowed_sources: [2001:db8:100::/48, 2001:db8:200::7] }
          - { port: 8444:444, allowed_sources: [203.0.113.0/24, 2001:db8:100::/48] }
          - { port: 8445:445, allowed_sources: [2001:db8:100::/48] }
          - { port: 0.0.0.0:8446:446, allowed_sources: [203.0.113.0/24] }
      v4only:
        address: 172.17.0.3
        publish:
          - 9090:90
          - { port: 9091:91, allowed_sources: [203.0.113.0/24] }
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cfg.Bridges[0].Containers {
		for _, p := range c.Publish {
			got = append(got, p.String())
			if again, err := ParsePublish(p.String()); err != nil || again.HostAddr != p.HostAddr || again.Host != p.Host || again.Container != p.Container || again.Proto != p.Proto {
				t.Errorf("%s reads back as %+v, %v", p, again, err)
			}
		}
	}
	want := []string{"8080:80/tcp", "0.0.0.0:8081:81/tcp", "[::]:8081:81/tcp", "[2001:db8::1]:8082:82/udp", "198.51.100.1:8082:82/udp",
		"[::]:8443:443/tcp", "8444:444/tcp", "8445:445/tcp", "0.0.0.0:8446:446/tcp", "9090:90/tcp", "9091:91/tcp"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("publications %q, want %q", got, want)
	}
	web := cfg.Bridges[0].Containers[0].Publish
	if s := web[5].AllowedSources; len(s) != 2 || s[1] != netip.MustParsePrefix("2001:db8:200::7/128") {
		t.Errorf("[::]:8443:443 sources %v", s)
	}
	if s := web[6].AllowedSources; len(s) != 2 || !s[0].Addr().Is4() || !s[1].Addr().Is6() {
		t.Errorf("8444:444 sources %v, want one of each family", s)
	}
}

// TestPublishOverlapsAcrossFamilies: which two publications of one port
// take the same host address.
func TestPublishOverlapsAcrossFamilies(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want string // the overlap named, or "" for none
	}{
		{"8080:80", "8080:81", "8080/tcp on every host address"},
		{"8080:80", "0.0.0.0:8080:81", "8080/tcp on every IPv4 address"},
		{"8080:80", "[::]:8080:81", "8080/tcp on every IPv6 address"},
		{"8080:80", "198.51.100.1:8080:81", "8080/tcp on 198.51.100.1"},
		{"8080:80", "[2001:db8::1]:8080:81", "8080/tcp on 2001:db8::1"},
		{"0.0.0.0:8080:80", "0.0.0.0:8080:81", "8080/tcp on every IPv4 address"},
		{"0.0.0.0:8080:80", "198.51.100.1:8080:81", "8080/tcp on 198.51.100.1"},
		{"[::]:8080:80", "[::]:8080:81", "8080/tcp on every IPv6 address"},
		{"[::]:8080:80", "[2001:db8::1]:8080:81", "8080/tcp on 2001:db8::1"},
		{"[2001:db8::1]:8000-8010:8000-8010", "[2001:db8::1]:8010:81", "8010/tcp on 2001:db8::1"},
		{"[2001:db8::1]:8080:80", "[2001:db8::2]:8080:81", ""},
		{"0.0.0.0:8080:80", "[::]:8080:81", ""},
		{"0.0.0.0:8080:80", "[2001:db8::1]:8080:81", ""},
		{"[::]:8080:80", "198.51.100.1:8080:81", ""},
		{"198.51.100.1:8080:80", "[2001:db8::1]:8080:81", ""},
		{"[::]:8080:80", "[::]:8080:81/udp", ""},
	} {
		for _, swap := range []bool{false, true} {
			a, b := tc.a, tc.b
			if swap {
				a, b = b, a
			}
			file := "bridges:\n  docker0:\n    address: 172.17.0.1/16\n    address6: fd00:17::1/64\n    containers:\n" +
				"      one: { address: 172.17.0.2, address6: \"fd00:17::2\", publish: [\"" + a + "\"] }\n" +
				"      two: { address: 172.17.0.3, address6: \"fd00:17::3\", publish: [\"" + b + "\"] }\n"
			_, err := Parse("f.yaml", []byte(file))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("%s then %s: %v, want no overlap", a, b, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), `f.yaml:7:69: bridges.docker0.containers.two.publish[0]: `+b+" takes "+tc.want+", already published by container \"one\"")):
				t.Errorf("%s then %s: %v, want an overlap on %s", a, b, err, tc.want)
			}
		}
	}
}

// TestPublishPattern holds the JSON Schema's publication pattern to the
// loader: every form the loader reads matches, and what is wrong in its
// syntax (not only in its address) does not.
func TestPublishPattern(t *testing.T) {
	re := regexp.MustCompile(PatternPublish)
	for _, in := range []string{"8080:80", "8080:80/udp", "0.0.0.0:8080:80", "127.0.0.1:5432:5432/tcp", "8000-8010:8000-8010/sctp",
		"[2001:db8::1]:8080:80", "[::]:8080:80/udp", "[fd00:17::1]:8000-8010:9000-9010/sctp", "[2001:DB8:0:0:0:0:0:1]:1:65535", "[64:ff9b::192.0.2.1]:80:80"} {
		if _, err := ParsePublish(in); err != nil || !re.MatchString(in) {
			t.Errorf("%q: loader %v, pattern matches %v; want both to accept", in, err, re.MatchString(in))
		}
	}
	for _, in := range []string{"2001:db8::1:8080:80", "[2001:db8::1:8080:80", "2001:db8::1]:8080:80", "[::]8080:80", "[::]:80", "[::]:0:80",
		"[::]:8080:80/icmp", "[127.0.0.1]:80:80", "[[::]]:80:80", "[]:80:80", "[fe80::1%eth0]:80:80", "1:2:3:4", "80"} {
		if _, err := ParsePublish(in); err == nil || re.MatchString(in) {
			t.Errorf("%q: loader %v, pattern matches %v; want both to refuse", in, err, re.MatchString(in))
		}
	}
}

// FuzzParsePublish: no -p string makes ParsePublish panic, and what it
// accepts reads back from its String as itself.
func FuzzParsePublish(f *testing.F) {
	for _, s := range []string{"8080:80", "0.0.0.0:8080:80/udp", "127.0.0.1:1-2:3-4/sctp", "[2001:db8::1]:8080:80", "[::]:8080:80",
		"2001:db8::1:8080:80", "[::1]:80:80", "[fe80::1%eth0]:80:80", "[::ffff:1.2.3.4]:1:1", "[[::]]:1:1", "[::]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePublish(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("%q: empty error", s)
			}
			return
		}
		again, err := ParsePublish(p.String())
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("%q = %+v; its String %q reads back as %+v, %v", s, p, p.String(), again, err)
		}
	})
}
