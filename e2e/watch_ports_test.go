package e2e

import (
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
)

const watchPortsConfig = `ip_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    containers:
      web: { address: 172.17.0.2, publish: [8080:80] }
      db: { address: 172.17.0.3 }
`

// TestWatchSetsHairpinOnNewPorts: on a bridge with publications, a port
// that joins after the apply lacks the hairpin flag, so its container
// cannot reach its own publication through the host's address. watch
// --repair sees the port join (the kernel's link notifications of a port
// joining a bridge make it look), sets the flag through the transaction,
// and self-hairpin works.
func TestWatchSetsHairpinOnNewPorts(t *testing.T) {
	e := setup(t)
	path := e.file(watchPortsConfig)
	e.applyFile(path) // attached and applied again: both ports have the flag
	web := e.C["web"]
	// No IPv6 on links: a port's link-local address would notify too (an
	// address without a label always makes watch look); the port itself is
	// what watch must see.
	nstest.Exec(t, e.Host, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	e.Changed("IPv6 off")
	w := e.startWatch(path, "--repair")
	// web's port leaves the bridge and joins it again, as a restarted
	// container's would: the kernel gives a joining port no hairpin flag.
	// db keeps the bridge up, so the bridge itself does not change.
	nstest.Run(t, "ip", "-n", e.Host, "link", "set", web.HostVeth, "nomaster")
	from := w.mark()
	nstest.Run(t, "ip", "-n", e.Host, "link", "set", web.HostVeth, "master", "docker0")
	e.Changed("web's port joined docker0 again")
	w.waitFrom(from, "the repair of bridge.docker0", func(l map[string]any) bool {
		return l["msg"] == "repaired" && l["object"] == "bridge.docker0"
	})
	e.Ready(t)
	if out := nstest.Exec(t, e.Host, "ip", "-d", "link", "show", web.HostVeth); !strings.Contains(out, "hairpin on") {
		t.Errorf("port %s after watch's repair: hairpin not on:\n%s", web.HostVeth, out)
	}
	l80 := web.Listen(t, "tcp", 80)
	outA := e.FromOutside(outsideA)
	// The outside client through the same publication is the control.
	testnet.Expect(t, via(outA, l80, hostExtA, 8080, true), via(web.Client(), l80, hostExtA, 8080, true))
	e.wantPlanClean(path)
}
