package kernel

import (
	"fmt"
	"strings"
	"testing"

	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// publishFile is a file with every kind of publication and gateway mode;
// extra adds that many more tcp ports to web.
func publishFile(extra int) string {
	var more strings.Builder
	for i := range extra {
		fmt.Fprintf(&more, ", \"%d:%d\"", 20000+i, 20000+i)
	}
	return `bridges:
  docker0:
    address: 172.17.0.1/16
    containers:
      web:
        address: 172.17.0.2
        publish: ["8080:80", "127.0.0.1:5432:5432/tcp", "198.51.100.1:53:53/udp", "8000-8002:9000-9002/sctp",
                  {port: "8443:443", allowed_sources: [203.0.113.0/24, 198.51.100.7]}` + more.String() + `]
  br-routed:
    address: 10.10.0.1/24
    gateway_mode: routed
    icc: false
    containers:
      app: {address: 10.10.0.2, publish: ["9090:90", {port: "9091:91/udp", allowed_sources: [192.0.2.0/25]}]}
  br-open:
    address: 10.20.0.1/24
    gateway_mode: nat-unprotected
`
}

func publishFirewall(t *testing.T, extra int) *plan.Firewall {
	cfg, err := schema.Parse("publish.yaml", []byte(publishFile(extra)))
	if err != nil {
		panic(err)
	}
	return plan.Desired(cfg).Firewall
}

// TestPublishRoundTrip writes the table of published ports, reads it back
// as written, checks nft prints it as netctl means it, and that what nft
// writes for that text reads back the same (netctl encodes as nft does).
func TestPublishRoundTrip(t *testing.T) {
	requireNft(t)
	want := publishFirewall(t, 0)
	h, _, live, out := writeFirewall(t, want)
	wantListed(t, out, []string{
		"map publish {",
		"type ipv4_addr . ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service",
		"map publish_any {",
		"type inet_proto . inet_service : ipv4_addr . inet_service",
		`tcp . 8080 comment "bridge.docker0.container.web.publish.8080:80/tcp" : 172.17.0.2 . 80`,
		`fib daddr type local dnat ip to meta l4proto . tcp dport map @publish_any comment "firewall.publish_any.tcp"`,
		`203.0.113.0/24 . 0.0.0.0/0 . tcp . 8443 comment "bridge.docker0.container.web.publish.8443:443/tcp" : 172.17.0.2 . 443`,
		`fib daddr type local dnat ip to ip saddr . ip daddr . meta l4proto . tcp dport map @publish comment "firewall.publish.tcp"`,
		`iifname != "lo" ip daddr 127.0.0.0/8 drop comment "firewall.loopback_guard"`,
		`oifname "docker0" ct status dnat accept comment "bridge.docker0.published"`,
		`iifname != "docker0" oifname "docker0" drop comment "bridge.docker0.gateway_mode"`,
		`oifname "docker0" ct status dnat ip saddr 172.17.0.0/16 masquerade comment "bridge.docker0.hairpin"`,
		`iifname != "br-routed" oifname "br-routed" ip saddr . ip daddr . meta l4proto . th dport @routed_ports accept comment "bridge.br-routed.routed"`,
		`192.0.2.0/25 . 10.10.0.2 . udp . 91 comment "bridge.br-routed.container.app.publish.9091:91/udp"`,
	})

	// What nft writes for its own listing decodes to the same state.
	mustEqual(t, "table written by nft", want, nftRewrite(t, out))

	// One more port is one element; removing it takes it away again.
	more := publishFirewall(t, 1)
	if err := h.SyncFirewall(live, more); err != nil {
		t.Fatal(err)
	}
	got := read(t, h, plan.Scope{}).Firewall
	mustEqual(t, "one more port", more, got)
	if err := h.SyncFirewall(got, want); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "port removed", want, read(t, h, plan.Scope{}).Firewall)
	if err := h.SyncFirewall(want, nil); err != nil {
		t.Fatal(err)
	}
}
