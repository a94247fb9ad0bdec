package plan

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/schema"
)

// TestNFTValidates proves that NFT() is valid nft syntax and that the
// kernel accepts it: `nft -c -f -` parses the script and checks it against
// the kernel in a batch that is never committed. It runs in a network
// namespace of its own, made for the nft process and gone with it, so the
// machine's namespace is not even read.
func TestNFTValidates(t *testing.T) {
	nft := nstest.RequireTool(t, "nft", "cannot check the script against the kernel (apt-get install nftables)")
	cfg := fullConfig()
	// Port ranges, both protocols, all ports, merged ranges.
	b := &cfg.Bridges[0]
	b.Containers = append(b.Containers,
		container("any", "172.17.0.6", tcp(1, 65535), udp(1, 65535)),
		container("app", "172.17.0.7", tcp(8000, 8100)))
	b.Links = append(b.Links,
		link(*b, "web", "any"),
		link(*b, "web", "app", tcp(8000, 8050), tcp(8040, 8100)),
		link(*b, "app", "db", tcp(5432, 5432)))
	third := schema.Bridge{Name: "br3", Address: pfx("10.20.0.1/24"), MTU: 1500, Masquerade: true}
	cfg.Bridges = append(cfg.Bridges, third)
	fw := Desired(cfg).Firewall

	for _, tt := range []struct {
		name   string
		script string
	}{
		{"representative", fw.NFT()},
		{"no elements", (&Firewall{Chains: fw.Chains, Sets: []Set{setHeader(fw.Sets[0]), setHeader(fw.Sets[1])}}).NFT()},
		{"10,000 links", Desired(linksConfig(10000)).Firewall.NFT()},
		{"published ports", Desired(publishConfig(t, "routed", `"8080:80"`, `"127.0.0.1:5432:5432"`, `"198.51.100.1:53:53/udp"`,
			`"8000-8010:8000-8010/sctp"`, `{port: "8443:443", allowed_sources: [203.0.113.0/24, 198.51.100.7]}`)).Firewall.NFT()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(nft, "-c", "-f", "-")
			cmd.Stdin = strings.NewReader(tt.script)
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if errors.Is(err, syscall.EPERM) {
				nstest.Skip(t, "nft -c needs CAP_NET_ADMIN, and a namespace of its own CAP_SYS_ADMIN: %v", err)
			}
			if err != nil && strings.Contains(out.String(), "Operation not permitted") {
				nstest.Skip(t, "nft -c needs CAP_NET_ADMIN: %s", out.String())
			}
			if err != nil {
				t.Fatalf("nft -c -f rejects the script: %v\n%s\n--- script ---\n%s", err, out.String(), numbered(tt.script))
			}
		})
	}
}

func numbered(s string) string {
	var b strings.Builder
	for i, line := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, line)
	}
	return b.String()
}
