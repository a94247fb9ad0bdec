package schema

import (
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/go-multierror"
)

var update = flag.Bool("update", false, "rewrite testdata/invalid/*.golden from the current output")

// TestInvalid loads each testdata/invalid/*.yaml and compares the error with
// the matching .golden file, byte for byte.
func TestInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid files: %v", err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := Parse(name, data)
			if err == nil {
				t.Fatalf("Parse succeeded, want an error; got %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config along with its error")
			}
			got := err.Error() + "\n"
			checkRendering(t, name, err)
			golden := strings.TrimSuffix(path, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("error differs from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// checkRendering checks what every error of Parse promises: one line per
// problem, each starting with the file name, in line and column order, and
// Problems agreeing with the text.
func checkRendering(t *testing.T, file string, err error) {
	t.Helper()
	text := err.Error()
	if text == "" {
		t.Fatal("empty error")
	}
	lines := strings.Split(text, "\n")
	ps := Problems(err)
	if len(ps) != len(lines) {
		t.Fatalf("Problems returned %d problems for %d lines:\n%s", len(ps), len(lines), text)
	}
	for i, p := range ps {
		if lines[i] != p.Error() {
			t.Errorf("line %d is %q, problem renders %q", i, lines[i], p.Error())
		}
		if !strings.HasPrefix(lines[i], file+":") {
			t.Errorf("line %q does not start with %q", lines[i], file+":")
		}
		if p.File != file || p.Line < 1 || p.Col < 1 || p.Msg == "" {
			t.Errorf("bad problem %+v", p)
		}
		if i > 0 && (p.Line < ps[i-1].Line || p.Line == ps[i-1].Line && p.Col < ps[i-1].Col) {
			t.Errorf("problems out of order: %v before %v", ps[i-1], p)
		}
	}
}

func TestErrorValue(t *testing.T) {
	_, err := Parse("f.yaml", []byte("ip_forward: 3\nfirewall: 4\n"))
	var me *multierror.Error
	if !errors.As(err, &me) || len(me.Errors) != 2 {
		t.Fatalf("want a *multierror.Error of 2, got %#v", err)
	}
	want := "f.yaml:1:13: ip_forward: expected a boolean (true or false), got the integer 3\n" +
		"f.yaml:2:11: firewall: expected a boolean (true or false), got the integer 4"
	if err.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", err, want)
	}
	ps := Problems(err)
	if len(ps) != 2 || ps[0] != (Problem{File: "f.yaml", Line: 1, Col: 13, Path: "ip_forward", Msg: "expected a boolean (true or false), got the integer 3"}) {
		t.Errorf("Problems = %#v", ps)
	}
	// Problems survive wrapping and being gathered with other errors.
	wrapped := multierror.Append(errors.New("other"), err)
	if got := Problems(wrapped); len(got) != 2 {
		t.Errorf("Problems of an appended multierror = %v", got)
	}
	if got := Problems(errors.New("plain")); got != nil {
		t.Errorf("Problems of a plain error = %v", got)
	}
	var p Problem
	if !errors.As(err, &p) || p.Line != 1 {
		t.Errorf("errors.As(err, *Problem) = %v", p)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "netctl.yaml")
	if err := os.WriteFile(path, []byte("bridges:\n  docker0: {address: 172.17.0.1/16, mtu: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + ":2:42: bridges.docker0.mtu: expected an integer, got the string \"x\""
	if err == nil || err.Error() != want {
		t.Errorf("Load error = %v, want %s", err, want)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func tcp(p uint16) Port                   { return Port{Proto: "tcp", First: p, Last: p} }
func port(proto string, a, b uint16) Port { return Port{Proto: proto, First: a, Last: b} }
func ptr(b bool) *bool                    { return &b }

func TestValid(t *testing.T) {
	gw := netip.MustParsePrefix("172.17.0.1/16")
	ip := netip.MustParseAddr
	tests := []struct {
		name, yaml string
		want       Config
	}{{
		name: "defaults",
		yaml: `
bridges:
  docker0:
    address: 172.17.0.1/16
`,
		want: Config{File: "f.yaml", Firewall: true, Bridges: []Bridge{
			{Name: "docker0", Address: gw, MTU: 1500, ICC: true, Masquerade: true, GatewayMode: GatewayNAT},
		}},
	}, {
		name: "adopt",
		yaml: `
bridges:
  docker0: { address: 172.17.0.1/16, adopt: true }
  br1: { address: 10.1.0.1/24, adopt: false }
`,
		want: Config{File: "f.yaml", Firewall: true, Bridges: []Bridge{
			{Name: "docker0", Address: gw, MTU: 1500, ICC: true, Masquerade: true, GatewayMode: GatewayNAT, Adopt: true},
			{Name: "br1", Address: netip.MustParsePrefix("10.1.0.1/24"), MTU: 1500, ICC: true, Masquerade: true, GatewayMode: GatewayNAT},
		}},
	}, {
		name: "empty mapping",
		yaml: "{}",
		want: Config{File: "f.yaml", Firewall: true},
	}, {
		name: "every field",
		yaml: `
ip_forward: false
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    mtu: 9000
    icc: false
    masquerade: false
    external_interface: eth0
    allowed_sources: [198.51.100.10, 203.0.113.0/24, 192.0.2.0/24]
    containers:
      web: { address: 172.17.0.2 }
      db:  { address: 172.17.0.3, expose: [5432/tcp, 53/udp, 80, "443", 1000-2000/sctp, 7000-7010] }
    links:
      - from: web
        to: db
        alias: database
        ports: [5432/tcp, 1500-1600/sctp, 7005]
`,
		want: Config{File: "f.yaml", IPForward: ptr(false), Firewall: true, Bridges: []Bridge{{
			Name: "docker0", Address: gw, MTU: 9000, ICC: false, Masquerade: false, GatewayMode: GatewayNAT,
			ExternalInterface: "eth0",
			AllowedSources: []netip.Prefix{
				netip.MustParsePrefix("198.51.100.10/32"),
				netip.MustParsePrefix("203.0.113.0/24"),
				netip.MustParsePrefix("192.0.2.0/24"),
			},
			Containers: []Container{
				{Name: "web", Address: ip("172.17.0.2")},
				{Name: "db", Address: ip("172.17.0.3"), Expose: []Port{
					tcp(5432), port("udp", 53, 53), tcp(80), tcp(443), port("sctp", 1000, 2000), port("tcp", 7000, 7010),
				}},
			},
			Links: []Link{{From: "web", To: "db", Alias: "database", Ports: []Port{tcp(5432), port("sctp", 1500, 1600), tcp(7005)}}},
		}}},
	}, {
		name: "link ports default to the target's expose list",
		yaml: `
ip_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    icc: false
    containers:
      web: { address: 172.17.0.2 }
      db:  { address: 172.17.0.3, expose: [5432/tcp, 53/udp] }
    links:
      - { from: web, to: db }
`,
		want: Config{File: "f.yaml", IPForward: ptr(true), Firewall: true, Bridges: []Bridge{{
			Name: "docker0", Address: gw, MTU: 1500, ICC: false, Masquerade: true, GatewayMode: GatewayNAT,
			Containers: []Container{
				{Name: "web", Address: ip("172.17.0.2")},
				{Name: "db", Address: ip("172.17.0.3"), Expose: []Port{tcp(5432), port("udp", 53, 53)}},
			},
			Links: []Link{{From: "web", To: "db", Ports: []Port{tcp(5432), port("udp", 53, 53)}}},
		}}},
	}, {
		name: "firewall off turns the masquerade default off",
		yaml: `
firewall: false
bridges:
  docker0: { address: 172.17.0.1/16 }
  br-nat: { address: 172.18.0.1/16, masquerade: false, icc: true, allowed_sources: [] }
`,
		want: Config{File: "f.yaml", Firewall: false, Bridges: []Bridge{
			{Name: "docker0", Address: gw, MTU: 1500, ICC: true, Masquerade: false, GatewayMode: GatewayNATUnprotected},
			{Name: "br-nat", Address: netip.MustParsePrefix("172.18.0.1/16"), MTU: 1500, ICC: true, Masquerade: false, GatewayMode: GatewayNATUnprotected},
		}},
	}, {
		name: "file order and nulls",
		yaml: `
ip_forward: ~
bridges:
  zeta:
    address: 10.0.0.1/30
    mtu:
    containers:
      z2: { address: 10.0.0.2 }
  alpha:
    address: 192.168.0.254/24
    containers:
      b: { address: 192.168.0.2 }
      a: { address: 192.168.0.1, expose: [] }
    links:
`,
		want: Config{File: "f.yaml", Firewall: true, Bridges: []Bridge{
			{Name: "zeta", Address: netip.MustParsePrefix("10.0.0.1/30"), MTU: 1500, ICC: true, Masquerade: true, GatewayMode: GatewayNAT,
				Containers: []Container{{Name: "z2", Address: ip("10.0.0.2")}}},
			{Name: "alpha", Address: netip.MustParsePrefix("192.168.0.254/24"), MTU: 1500, ICC: true, Masquerade: true, GatewayMode: GatewayNAT,
				Containers: []Container{{Name: "b", Address: ip("192.168.0.2")}, {Name: "a", Address: ip("192.168.0.1")}}},
		}},
	}, {
		name: "aliases, quoted values, CRLF and a byte order mark",
		yaml: "\uFEFFbridges:\r\n  docker0:\r\n    address: \"172.17.0.1/16\"\r\n    containers:\r\n" +
			"      web: &c { address: 172.17.0.2, expose: &p ['80/tcp', 1000-1001/udp] }\r\n" +
			"      db: { address: 172.17.0.3, expose: *p }\r\n",
		want: Config{File: "f.yaml", Firewall: true, Bridges: []Bridge{{
			Name: "docker0", Address: gw, MTU: 1500, ICC: true, Masquerade: true, GatewayMode: GatewayNAT,
			Containers: []Container{
				{Name: "web", Address: ip("172.17.0.2"), Expose: []Port{tcp(80), port("udp", 1000, 1001)}},
				{Name: "db", Address: ip("172.17.0.3"), Expose: []Port{tcp(80), port("udp", 1000, 1001)}},
			},
		}}},
	}, {
		name: "odd but valid interface names",
		yaml: `
bridges:
  fifteen-bytes-1: { address: 10.0.0.1/24, external_interface: "eth0.100" }
  "0": { address: 10.1.0.1/24, external_interface: "e@1" }
  "<<": { address: 10.2.0.1/24, external_interface: "x;{}[]()" }
`,
		want: Config{File: "f.yaml", Firewall: true, Bridges: []Bridge{
			{Name: "fifteen-bytes-1", Address: netip.MustParsePrefix("10.0.0.1/24"), MTU: 1500, ICC: true, Masquerade: true, GatewayMode: GatewayNAT, ExternalInterface: "eth0.100"},
			{Name: "0", Address: netip.MustParsePrefix("10.1.0.1/24"), MTU: 1500, ICC: true, Masquerade: true, GatewayMode: GatewayNAT, ExternalInterface: "e@1"},
			{Name: "<<", Address: netip.MustParsePrefix("10.2.0.1/24"), MTU: 1500, ICC: true, Masquerade: true, GatewayMode: GatewayNAT, ExternalInterface: "x;{}[]()"},
		}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("f.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(*cfg, tt.want) {
				t.Errorf("got  %#v\nwant %#v", *cfg, tt.want)
			}
		})
	}
}

// TestExamples validates every examples/*.yaml.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Bridges) == 0 {
				t.Error("no bridges")
			}
			data, _ := os.ReadFile(path)
			if !strings.HasPrefix(string(data), "# ") {
				t.Error("no comment header saying what the example shows and promises")
			}
		})
	}
}

func TestCheckIfName(t *testing.T) {
	for name, ok := range map[string]bool{
		"docker0": true, "br-app": true, "eth0.100": true, "123456789012345": true,
		"...": true, ".a": true, "a.": true, "a-b_c@d": true, "<<": true, "a$b#c!d": true, "x;{}[]()": true,
		"~^&+,=?|<>": true, "-": true, "0": true, "null": true,
		"": false, ".": false, "..": false, "1234567890123456": false, "a/b": false, "a:b": false,
		"a b": false, "a\tb": false, "a\nb": false, "a\vb": false, "a\fb": false, "a\rb": false,
		"a\xa0b": false, "\u00e0": false, // 'à' is C3 A0: the kernel's isspace(0xA0) refuses it
		"a\x00b": false, "br%d": false,
		// What nft or netctl cannot write or read back faithfully.
		"é": false, "a\"b": false, "a'b": false, "a`b": false, "a\\b": false, "veth*": false,
		"a\x7fb": false, "a\x01b": false, "a\xffb": false, "\u2028": false,
	} {
		if got := checkIfName(name) == ""; got != ok {
			t.Errorf("checkIfName(%q) = %q, want ok=%v", name, checkIfName(name), ok)
		}
	}
}

func TestParsePort(t *testing.T) {
	for s, want := range map[string]Port{
		"80": tcp(80), "80/tcp": tcp(80), "53/udp": port("udp", 53, 53), "9/sctp": port("sctp", 9, 9),
		"1000-2000/udp": port("udp", 1000, 2000), "1-65535": port("tcp", 1, 65535), "7-7": tcp(7), "080": tcp(80),
	} {
		got, err := ParsePort(s)
		if err != nil || got != want {
			t.Errorf("ParsePort(%q) = %v, %v; want %v", s, got, err, want)
		}
		if err == nil && s == want.String() {
			continue
		}
	}
	for _, s := range []string{"", "0", "65536", "http", "80/icmp", "80/TCP", "80/", "/tcp", "-80", "80-", "2-1", "1-2-3", "80/tcp/udp", " 80", "+80", "0x50", "1-0"} {
		if p, err := ParsePort(s); err == nil {
			t.Errorf("ParsePort(%q) = %v, want an error", s, p)
		}
	}
}

func TestSuggest(t *testing.T) {
	fields := []string{"address", "mtu", "icc", "masquerade", "external_interface", "allowed_sources", "containers", "links"}
	for s, want := range map[string]string{
		"mttu": "mtu", "adress": "address", "masq": "masquerade", "external": "external_interface",
		"Address": "address", "allowed-sources": "allowed_sources", "link": "links", "containers2": "containers",
		"zzz": "", "x": "", "ic": "icc", "bandwidth": "",
	} {
		if got := suggest(s, fields); got != want {
			t.Errorf("suggest(%q) = %q, want %q", s, got, want)
		}
	}
	if got := suggest("dbb", []string{"web", "db"}); got != "db" {
		t.Errorf("suggest(dbb) = %q, want db", got)
	}
	if got := suggest("x", []string{"db"}); got != "" {
		t.Errorf("suggest(x) = %q, want nothing", got)
	}
}

// TestAliasExpansion: aliases may repeat what an anchor holds, but not make
// a small file walk a huge tree; only the problems found before the walk
// stopped are reported.
func TestAliasExpansion(t *testing.T) {
	var b strings.Builder
	b.WriteString("bridges:\n  docker0:\n    address: 10.0.0.1/8\n    containers:\n")
	b.WriteString("      c0: &c { address: 10.0.0.2, expose: [")
	for i := 1; i <= 2000; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(i))
	}
	b.WriteString("] }\n")
	for i := 1; i < 2000; i++ {
		b.WriteString("      c" + strconv.Itoa(i) + ": *c\n")
	}
	_, err := Parse("f.yaml", []byte(b.String()))
	ps := Problems(err)
	if len(ps) < 1 || len(ps) > 2 || !strings.HasSuffix(ps[len(ps)-1].Msg, "aliases expand the document too much") {
		t.Fatalf("got %d problems, want the duplicate address and the expansion:\n%v", len(ps), err)
	}
}
