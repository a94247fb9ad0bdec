package kernel

import "testing"

func TestSysctlPath(t *testing.T) {
	for in, want := range map[string]string{
		"net.ipv4.ip_forward":                  "/proc/sys/net/ipv4/ip_forward",
		"net.ipv4.conf.docker0.route_localnet": "/proc/sys/net/ipv4/conf/docker0/route_localnet",
		"net.ipv4.conf.br.lan.route_localnet":  "/proc/sys/net/ipv4/conf/br.lan/route_localnet",
	} {
		if got, err := sysctlPath(in); err != nil || got != want {
			t.Errorf("sysctlPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"kernel.panic", "net..x", "net.ipv4.conf...x", "net.ipv4.conf....x"} {
		if _, err := sysctlPath(bad); err == nil {
			t.Errorf("sysctlPath(%q): no error", bad)
		}
	}
}
