package schema

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// FuzzParse: no input makes Parse panic; an error is never empty, every line
// of it is one problem starting with the file name; a config that loads is
// valid, and written back out it loads to the same config.
func FuzzParse(f *testing.F) {
	for _, glob := range []string{"../examples/*.yaml", "testdata/invalid/*.yaml"} {
		files, err := filepath.Glob(glob)
		if err != nil || len(files) == 0 {
			f.Fatalf("no seeds in %s: %v", glob, err)
		}
		for _, path := range files {
			data, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	// Publications of every form, both families, for the writer.
	f.Add([]byte(`bridges:
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
          - "[::]:8081:81/udp"
          - "[2001:db8::1]:8000-8010:9000-9010/sctp"
          - { port: 8443:443, allowed_sources: [203.0.113.0/24, "2001:db8:100::/48", "2001:db8:200::/48"] }
          - { port: "[::]:8444:444", allowed_sources: ["2001:db8::7"] }
`))
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "fuzz.yaml"
		cfg, err := Parse(file, data)
		if err != nil {
			if cfg != nil {
				t.Fatal("config returned along with an error")
			}
			checkRendering(t, file, err)
			return
		}
		if cfg == nil {
			t.Fatal("no config and no error")
		}
		checkConfig(t, cfg)
		again, err := Parse(file, []byte(render(cfg)))
		if err != nil {
			t.Fatalf("the config written back does not load: %v\n%s", err, render(cfg))
		}
		if !reflect.DeepEqual(cfg, again) {
			t.Fatalf("the config written back loads differently:\n%#v\n%#v", cfg, again)
		}
	})
}

// TestRoundTrip writes each example back out and loads it again.
func TestRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	for _, path := range files {
		cfg, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		checkConfig(t, cfg)
		again, err := Parse(path, []byte(render(cfg)))
		if err != nil {
			t.Fatalf("%s written back: %v\n%s", path, err, render(cfg))
		}
		if !reflect.DeepEqual(cfg, again) {
			t.Errorf("%s written back loads differently:\n%#v\n%#v", path, cfg, again)
		}
	}
}

// checkConfig checks the promises of a loaded Config.
func checkConfig(t *testing.T, cfg *Config) {
	t.Helper()
	for _, b := range cfg.Bridges {
		if checkIfName(b.Name) != "" || !b.Address.Addr().Is4() || b.Address.Bits() > 30 || b.MTU < 68 || b.MTU > 65535 {
			t.Errorf("bad bridge %+v", b)
		}
		if !cfg.Firewall && (!b.ICC || b.Masquerade || len(b.AllowedSources) > 0 || len(b.Links) > 0) {
			t.Errorf("bridge %s needs the firewall, which is off: %+v", b.Name, b)
		}
		for _, s := range b.AllowedSources {
			if s != s.Masked() || s.Addr().Is4In6() || (s.Addr().Is6() && !b.Address6.IsValid()) {
				t.Errorf("bad allowed source %v", s)
			}
		}
		for _, c := range b.Containers {
			if !validContainerName(c.Name) || !b.Address.Masked().Contains(c.Address) || c.Address == b.Address.Addr() ||
				c.Address6.IsValid() && (!b.Address6.Masked().Contains(c.Address6) || c.Address6 == b.Address6.Addr()) {
				t.Errorf("bad container %+v on %s", c, b.Name)
			}
			checkPorts(t, c.Expose)
			checkPublish(t, c)
		}
		for _, l := range b.Links {
			to, ok := b.Container(l.To)
			if _, okf := b.Container(l.From); !ok || !okf || l.From == l.To || len(l.Ports) == 0 {
				t.Errorf("bad link %+v on %s", l, b.Name)
			}
			checkPorts(t, l.Ports)
			ex := newExposed(to.Expose)
			for _, p := range l.Ports {
				if !ex.covers(p) {
					t.Errorf("link %+v opens %v, which %s does not expose", l, p, l.To)
				}
			}
		}
	}
}

// checkPublish checks a container's publications: each reads back from
// its String, takes IPv6 only with the container's address6, and has no
// source of a family it does not take.
func checkPublish(t *testing.T, c Container) {
	t.Helper()
	for _, p := range c.Publish {
		again, err := ParsePublish(p.String())
		if err != nil || again.HostAddr != p.HostAddr || again.Host != p.Host || again.Container != p.Container || again.Proto != p.Proto {
			t.Errorf("publication %+v of %s reads back as %+v, %v", p, c.Name, again, err)
		}
		if p.HostAddr.Is6() && (!c.Address6.IsValid() || p.HostAddr.IsLoopback() || p.HostAddr.IsLinkLocalUnicast() || p.HostAddr.Is4In6()) {
			t.Errorf("publication %s of %s (address6 %v)", p, c.Name, c.Address6)
		}
		for _, s := range p.AllowedSources {
			if s.Addr().Is4() && !p.OnIPv4() || s.Addr().Is6() && !p.OnIPv6() || s != s.Masked() || s.Addr().Is4In6() {
				t.Errorf("publication %s of %s: source %s admits nothing", p, c.Name, s)
			}
		}
	}
}

func checkPorts(t *testing.T, ports []Port) {
	t.Helper()
	for _, p := range ports {
		if p.First == 0 || p.First > p.Last || protoIndex(p.Proto) >= uint64(len(protocols)) {
			t.Errorf("bad port %#v", p)
		}
	}
}

// render writes a config as a netctl.yaml, every field explicit.
func render(cfg *Config) string {
	var b strings.Builder
	q := strconv.Quote
	if cfg.IPForward != nil {
		fmt.Fprintf(&b, "ip_forward: %v\n", *cfg.IPForward)
	}
	if cfg.IP6Forward != nil {
		fmt.Fprintf(&b, "ip6_forward: %v\n", *cfg.IP6Forward)
	}
	if cfg.ForwardOthers != "" {
		fmt.Fprintf(&b, "forward_others: %s\n", cfg.ForwardOthers)
	}
	fmt.Fprintf(&b, "firewall: %v\nbridges:\n", cfg.Firewall)
	ports := func(ps []Port) string {
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = p.String()
		}
		return "[" + strings.Join(s, ", ") + "]"
	}
	for _, br := range cfg.Bridges {
		fmt.Fprintf(&b, "  %s:\n    address: %s\n    mtu: %d\n    icc: %v\n    masquerade: %v\n    gateway_mode: %s\n",
			q(br.Name), br.Address, br.MTU, br.ICC, br.Masquerade, br.GatewayMode)
		if br.Address6.IsValid() {
			fmt.Fprintf(&b, "    address6: %s\n    masquerade6: %v\n", br.Address6, br.Masquerade6)
		}
		if br.ExternalInterface != "" {
			fmt.Fprintf(&b, "    external_interface: %s\n", q(br.ExternalInterface))
		}
		if len(br.AllowedSources) > 0 {
			b.WriteString("    allowed_sources:\n")
			for _, s := range br.AllowedSources {
				fmt.Fprintf(&b, "      - %s\n", s)
			}
		}
		if len(br.Containers) > 0 {
			b.WriteString("    containers:\n")
			for _, c := range br.Containers {
				fmt.Fprintf(&b, "      %s:\n        address: %s\n", q(c.Name), c.Address)
				if c.Address6.IsValid() {
					fmt.Fprintf(&b, "        address6: %q\n", c.Address6)
				}
				if len(c.Expose) > 0 {
					fmt.Fprintf(&b, "        expose: %s\n", ports(c.Expose))
				}
				if len(c.Publish) > 0 {
					b.WriteString("        publish:\n")
					for _, p := range c.Publish {
						fmt.Fprintf(&b, "          - port: %q\n", p.String())
						if len(p.AllowedSources) > 0 {
							s := make([]string, len(p.AllowedSources))
							for i, pr := range p.AllowedSources {
								s[i] = q(pr.String())
							}
							fmt.Fprintf(&b, "            allowed_sources: [%s]\n", strings.Join(s, ", "))
						}
					}
				}
			}
		}
		if len(br.Links) > 0 {
			b.WriteString("    links:\n")
			for _, l := range br.Links {
				fmt.Fprintf(&b, "      - from: %s\n        to: %s\n        ports: %s\n", q(l.From), q(l.To), ports(l.Ports))
				if l.Alias != "" {
					fmt.Fprintf(&b, "        alias: %s\n", q(l.Alias))
				}
			}
		}
	}
	return b.String()
}
