package main

import (
	"strings"
	"testing"
)

// TestExplainBadInput: names, ports and files explain cannot use end it
// with exit 1 and the reason, before the kernel is opened (the namespace
// named does not exist, and no error is about it).
func TestExplainBadInput(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", `
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    containers:
      web: { address: 172.17.0.2 }
      db:  { address: 172.17.0.3, expose: [5432/tcp] }
  br-app:
    address: 172.18.0.1/16
    containers:
      web: { address: 172.18.0.2 }
`)
	bad := writeFile(t, dir, "bad.yaml", "bridges:\n  docker0:\n    address: nope\n")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-f", good, "nope", "db", "5432"}, `"nope" is not a container of ` + good + `, "host" or an address`},
		{[]string{"-f", good, "web", "db", "5432"}, `"web" is a container on 2 bridges: write docker0/web or br-app/web`},
		{[]string{"-f", good, "docker0/web", "db", "5432/icmp"}, `port "5432/icmp": protocol must be tcp, udp or sctp`},
		{[]string{"-f", good, "docker0/web", "db", "99999"}, `port "99999": want a number 1-65535`},
		{[]string{"-f", good, "db", "docker0/web"}, `give a PORT: docker0/web exposes none`},
		// An IPv6 address makes the flow IPv6: db (IPv4-only bridge) has no end of it.
		{[]string{"-f", good, "db", "2001:db8::1", "80"}, `"db" has no IPv6 address (its bridge docker0 has no address6): an IPv6 flow cannot start or end there`},
		{[]string{"-f", good, "-6", "db", "host", "80"}, `"db" has no IPv6 address (its bridge docker0 has no address6)`},
		{[]string{"-f", good, "172.17.0.3", "2001:db8::1", "80"}, `172.17.0.3 is an IPv4 address and 2001:db8::1 an IPv6 one: a flow is of one family`},
		{[]string{"-f", good, "--ipv6", "docker0/web", "172.17.0.3", "80"}, `-6 asks for an IPv6 flow, but 172.17.0.3 is an IPv4 address`},
		{[]string{"-f", bad, "web", "db", "80"}, bad + ":3:14: "},
		{[]string{"-f", good, "db"}, `accepts between 2 and 3 arg(s), received 1`},
	}
	for _, c := range cases {
		r := netctl(t, append([]string{"explain", "--netns", "ncex-does-not-exist"}, c.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, c.want) || r.stdout != "" || strings.Contains(r.stderr, "does-not-exist") {
			t.Errorf("netctl explain %s: want exit 1 and %q on stderr, got %s", strings.Join(c.args, " "), c.want, r)
		}
	}
}
