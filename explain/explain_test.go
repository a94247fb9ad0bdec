package explain

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

const testFile = `
ip_forward: true
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    gateway_mode: nat-unprotected
    icc: false
    external_interface: eth0
    allowed_sources: [198.51.100.10, 192.0.2.0/24]
    containers:
      web:   { address: 172.17.0.2, expose: [80/tcp] }
      db:    { address: 172.17.0.3, expose: [5432/tcp, 22/tcp, 53/udp] }
      cache: { address: 172.17.0.4, expose: [6379/tcp] }
    links:
      - { from: web, to: db, ports: [5432/tcp, 53/udp] }
      - { from: web, to: cache }
  br-app:
    address: 172.18.0.1/16
    gateway_mode: nat-unprotected
    containers:
      api: { address: 172.18.0.2, expose: [8000/tcp] }
      web: { address: 172.18.0.3, expose: [80/tcp] }
`

// userDropDB is how the kernel package reads the person's rule
// `ip daddr 172.17.0.3 tcp dport 5432 drop` (it does not decode it).
const userDropDB = "[ meta load nfproto => reg 1 ] [ cmp eq reg 1 0x02 ] [ payload load 4b @ network header + 16 => reg 1 ] " +
	"[ cmp eq reg 1 0xac110003 ] [ meta load l4proto => reg 1 ] [ cmp eq reg 1 0x06 ] " +
	"[ payload load 2b @ transport header + 2 => reg 1 ] [ cmp eq reg 1 0x1538 ] [ drop ]"

// Person's rules as the kernel package reads them: `ip saddr 172.17.0.3
// drop`, the same with `ct state new`, and `tcp dport 22 drop`.
const (
	userDropFromDB = "[ meta load nfproto => reg 1 ] [ cmp eq reg 1 0x02 ] [ payload load 4b @ network header + 12 => reg 1 ] " +
		"[ cmp eq reg 1 0xac110003 ] [ drop ]"
	userDropNewFromDB = "[ ct load 0 => reg 1 ] [ bitwise reg 1 = ( reg 1 & 0x08000000 ) ^ 0x00000000 ] [ cmp neq reg 1 0x00000000 ] " +
		"[ meta load nfproto => reg 1 ] [ cmp eq reg 1 0x02 ] [ payload load 4b @ network header + 12 => reg 1 ] " +
		"[ cmp eq reg 1 0xac110003 ] [ drop ]"
	userDropPort22 = "[ meta load l4proto => reg 1 ] [ cmp eq reg 1 0x06 ] [ payload load 2b @ transport header + 2 => reg 1 ] " +
		"[ cmp eq reg 1 0x0016 ] [ drop ]"
)

func load(t *testing.T, text string) *schema.Config {
	t.Helper()
	cfg, err := schema.Parse("test.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// liveOf is the state Read returns after an apply of cfg: the desired
// state with rule handles, and both sysctls as an apply leaves them.
func liveOf(cfg *schema.Config) plan.State {
	s := plan.Desired(cfg)
	s.Sysctls[plan.SysctlBridgeNFIptables] = "1"
	s.Sysctls[plan.SysctlBridgeNFIp6tables] = "1"
	if s.Firewall != nil {
		h := uint64(2)
		for i := range s.Firewall.Chains {
			s.Firewall.Chains[i].Rules = slices.Clone(s.Firewall.Chains[i].Rules)
			for j := range s.Firewall.Chains[i].Rules {
				s.Firewall.Chains[i].Rules[j].Handle = h
				h++
			}
		}
	}
	return s
}

func TestExplain(t *testing.T) {
	cfg := load(t, testFile)
	type tc struct {
		name     string
		from, to string
		port     string
		mutate   func(*Input)
		verdict  string
		texts    []string // each the Text of a step, in order
		drift    bool
	}
	userRuleOf := func(desc string) func(*Input) {
		return func(in *Input) {
			c := in.Live.Firewall.Chain(plan.ChainUser)
			c.Rules = append(c.Rules, plan.Rule{Unknown: desc, Handle: 7})
		}
	}
	userRule := userRuleOf(userDropDB)
	cases := []tc{
		{name: "link tcp", from: "docker0/web", to: "db", port: "5432",
			verdict: Allowed, texts: []string{"bridge.docker0.link.web->db accepts 5432/tcp"}},
		{name: "link udp", from: "docker0/web", to: "db", port: "53/udp",
			verdict: Allowed, texts: []string{"bridge.docker0.link.web->db accepts 53/udp"}},
		{name: "link udp only", from: "docker0/web", to: "db", port: "53/tcp",
			verdict: Blocked, texts: []string{"bridge.docker0.icc drops", "port 53/tcp is not among the ports of bridge.docker0.link.web->db"}},
		{name: "links are one way", from: "db", to: "docker0/web", port: "80",
			verdict: Blocked, texts: []string{"bridge.docker0.icc drops", "no link from db to web on bridge docker0"}},
		{name: "not exposed", from: "docker0/web", to: "cache", port: "6380",
			verdict: Blocked, texts: []string{"bridge.docker0.icc drops", "port 6380 is not exposed by cache"}},
		{name: "link without ports opens exposed", from: "docker0/web", to: "cache", port: "6379",
			verdict: Allowed, texts: []string{"bridge.docker0.link.web->cache accepts 6379/tcp"}},
		{name: "icc on", from: "api", to: "br-app/web", port: "80",
			verdict: Allowed, texts: []string{"chain filter-forward policy accept"}},
		{name: "allowed source refused", from: "198.51.100.20", to: "db", port: "5432",
			verdict: Blocked, texts: []string{"bridge.docker0.allowed_sources drops 198.51.100.20"}},
		{name: "allowed source admitted", from: "198.51.100.10", to: "db", port: "5432",
			verdict: Allowed, texts: []string{"bridge.docker0.allowed_source.198.51.100.10/32 admits 198.51.100.10", "chain filter-forward policy accept"}},
		{name: "allowed source prefix", from: "192.0.2.77", to: "db", port: "5432",
			verdict: Allowed, texts: []string{"bridge.docker0.allowed_source.192.0.2.0/24 admits 192.0.2.77"}},
		{name: "outside to an unrestricted bridge", from: "198.51.100.20", to: "api", port: "8000",
			verdict: Allowed},
		{name: "isolation", from: "docker0/web", to: "api", port: "8000",
			verdict: Blocked, texts: []string{"different bridges: isolation"}},
		{name: "isolation back", from: "api", to: "db", port: "5432",
			verdict: Blocked, texts: []string{"different bridges: isolation"}},
		{name: "to outside", from: "docker0/web", to: "203.0.113.10", port: "443",
			verdict: Allowed},
		{name: "ip_forward 0", from: "docker0/web", to: "203.0.113.10", port: "443",
			mutate:  func(in *Input) { in.Live.Sysctls[plan.SysctlIPForward] = "0" },
			verdict: Blocked, texts: []string{"ip_forward = 0"}, drift: true},
		{name: "ip_forward 0 does not stop bridging", from: "docker0/web", to: "db", port: "5432",
			mutate:  func(in *Input) { in.Live.Sysctls[plan.SysctlIPForward] = "0" },
			verdict: Allowed, drift: true},
		{name: "br_netfilter off", from: "db", to: "docker0/web", port: "80",
			mutate:  func(in *Input) { in.Live.Sysctls[plan.SysctlBridgeNFIptables] = "0" },
			verdict: Allowed, texts: []string{"bridge-nf-call-iptables = 0 (icc cannot be enforced)"}, drift: true},
		{name: "user chain rule", from: "docker0/web", to: "db", port: "5432", mutate: userRule,
			verdict: Blocked, texts: []string{"user chain rule handle 7 drops"}},
		// The person's rules come before the accept of established
		// traffic: one that drops by the server's address kills the
		// reply, so the connection (explain walks the reply too).
		{name: "user rule drops the reply", from: "docker0/web", to: "db", port: "5432", mutate: userRuleOf(userDropFromDB),
			verdict: Blocked, texts: []string{"bridge.docker0.link.web->db accepts 5432/tcp", "the reply, db → docker0/web (ct state established), is dropped:", "user chain rule handle 7 drops"}},
		{name: "user rule on new connections spares the reply", from: "docker0/web", to: "db", port: "5432", mutate: userRuleOf(userDropNewFromDB),
			verdict: Allowed, texts: []string{"bridge.docker0.link.web->db accepts 5432/tcp"}},
		{name: "user rule on the client's port", from: "docker0/web", to: "db", port: "5432", mutate: userRuleOf(userDropPort22),
			verdict: Allowed, texts: []string{"bridge.docker0.link.web->db accepts 5432/tcp", "the reply, db → docker0/web (ct state established), could not be followed; the verdict is the first packet's",
				"user chain rule handle 7 cannot be evaluated: the reply's destination port (the client's, not known before the connection is made): " + userDropPort22}},
		{name: "user chain rule other port", from: "docker0/web", to: "cache", port: "6379", mutate: userRule,
			verdict: Allowed, texts: []string{"bridge.docker0.link.web->cache accepts 6379/tcp"}},
		{name: "foreign drop policy", from: "docker0/web", to: "203.0.113.10", port: "443",
			mutate:  func(in *Input) { in.ForeignDrops = []string{"table ip filter chain FORWARD has policy drop"} },
			verdict: Blocked, texts: []string{"table ip filter chain FORWARD policy drop (not netctl's)"}},
		{name: "foreign bridge family drop sees bridged", from: "docker0/web", to: "db", port: "5432",
			mutate:  func(in *Input) { in.ForeignDrops = []string{"table bridge f chain fwd has policy drop"} },
			verdict: Blocked, texts: []string{"bridge.docker0.link.web->db accepts 5432/tcp", "table bridge f chain fwd policy drop (not netctl's)"}},
		{name: "foreign bridge family drop ignores routed", from: "docker0/web", to: "203.0.113.10", port: "443",
			mutate:  func(in *Input) { in.ForeignDrops = []string{"table bridge f chain fwd has policy drop"} },
			verdict: Allowed},
		{name: "firewall off", from: "docker0/web", to: "api", port: "8000",
			mutate:  func(in *Input) { in.Live.Firewall = nil },
			verdict: Allowed, texts: []string{"no table inet netctl (firewall off): nothing of netctl's filters it"}, drift: true},
		{name: "drift: link gone", from: "docker0/web", to: "db", port: "5432",
			mutate: func(in *Input) {
				s := in.Live.Firewall.Set(plan.SetLinks)
				s.Elements = slices.DeleteFunc(slices.Clone(s.Elements), func(e plan.Element) bool { return e.Comment == "bridge.docker0.link.web->db" })
			},
			verdict: Blocked, texts: []string{"bridge.docker0.icc drops"}, drift: true},
		{name: "bridge missing", from: "api", to: "203.0.113.10", port: "443",
			mutate:  func(in *Input) { delete(in.Live.Bridges, "br-app") },
			verdict: Blocked, texts: []string{"bridge br-app does not exist in the kernel"}, drift: true},
		{name: "host to container", from: "host", to: "db", port: "22", verdict: Allowed},
		{name: "container to gateway", from: "db", to: "172.17.0.1", port: "22", verdict: Allowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := Input{Config: cfg, Live: liveOf(cfg)}
			if c.mutate != nil {
				c.mutate(&in)
			}
			from, err := Resolve(cfg, c.from)
			if err != nil {
				t.Fatal(err)
			}
			to, err := Resolve(cfg, c.to)
			if err != nil {
				t.Fatal(err)
			}
			proto, port, err := ParsePort(c.port)
			if err != nil {
				t.Fatal(err)
			}
			a := Explain(in, Flow{From: from, To: to, Proto: proto, Port: port})
			var texts []string
			for _, s := range a.Path {
				texts = append(texts, s.Text)
			}
			if a.Verdict != c.verdict {
				t.Errorf("verdict %s, want %s; path:\n  %s", a.Verdict, c.verdict, strings.Join(texts, "\n  "))
			}
			if !subsequence(texts, c.texts) {
				t.Errorf("path lacks %q (in order); path:\n  %s", c.texts, strings.Join(texts, "\n  "))
			}
			if got := len(a.Drift) > 0; got != c.drift {
				t.Errorf("drift %v (%v), want %v", got, a.Drift, c.drift)
			}
			if c.drift && !strings.Contains(texts[0], "differs from the file") {
				t.Errorf("first step %q does not say the live state differs", texts[0])
			}
		})
	}
}

func TestResolve(t *testing.T) {
	cfg := load(t, testFile)
	cases := []struct {
		spec, want, err string
	}{
		{spec: "db", want: "container db on docker0 172.17.0.3"},
		{spec: "br-app/web", want: "container web on br-app 172.18.0.3"},
		{spec: "172.17.0.3", want: "container db on docker0 172.17.0.3"},
		{spec: "172.17.0.99", want: "address  on docker0 172.17.0.99"},
		{spec: "172.18.0.1", want: "host  on  172.18.0.1"},
		{spec: "host", want: "host  on  invalid IP"},
		{spec: "198.51.100.20", want: "address  on  198.51.100.20"},
		{spec: "web", err: `"web" is a container on 2 bridges: write docker0/web or br-app/web`},
		{spec: "nope", err: `"nope" is not a container of test.yaml, "host" or an address`},
		// An IPv6 address makes the flow IPv6: outside, by the external interface.
		{spec: "2001:db8::1", want: "address  on  2001:db8::1"},
	}
	for _, c := range cases {
		e, err := Resolve(cfg, c.spec)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("Resolve(%q) error %v, want %q", c.spec, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Resolve(%q): %v", c.spec, err)
			continue
		}
		if got := e.Kind + " " + e.Container + " on " + e.Bridge + " " + e.Addr.String(); got != c.want {
			t.Errorf("Resolve(%q) = %s, want %s", c.spec, got, c.want)
		}
	}
}

func TestParsePort(t *testing.T) {
	for in, want := range map[string]string{"5432": "tcp 5432", "53/udp": "udp 53", "9/sctp": "sctp 9", "0": "error", "70000": "error", "80/icmp": "error", "x": "error"} {
		proto, port, err := ParsePort(in)
		got := proto + " " + strconv.Itoa(int(port))
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("ParsePort(%q) = %s, want %s", in, got, want)
		}
	}
}
