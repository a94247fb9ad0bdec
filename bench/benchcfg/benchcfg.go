// Package benchcfg generates the netctl files of the benchmarks: one bridge,
// docker0 (10.0.0.1/8, icc: false), S service containers each exposing one
// tcp port, and N client containers each linked to one service, round
// robin: N links, N set elements, N+S containers.
//
// Service j is 10.0.(j+2)/256.(j+2)%256 and exposes 5000+j/tcp; client i is
// 10.(1+(i+1)/65536).((i+1)/256%256).((i+1)%256): every address is distinct
// up to MaxLinks.
package benchcfg

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/netip"
)

// Bridge is the name of the generated bridge; Gateway its address.
const (
	Bridge  = "docker0"
	Gateway = "10.0.0.1/8"
)

// MaxLinks and MaxServices bound what the address plan holds.
const (
	MaxLinks    = 250 << 16
	MaxServices = 60000
)

// ServiceAddr is service j's address, ServicePort the tcp port it exposes.
func ServiceAddr(j int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 0, byte((j + 2) >> 8), byte(j + 2)})
}

func ServicePort(j int) int { return 5000 + j }

// ClientAddr is client i's address.
func ClientAddr(i int) netip.Addr {
	i++
	return netip.AddrFrom4([4]byte{10, byte(1 + i>>16), byte(i >> 8), byte(i)})
}

// ServiceName and ClientName name the containers.
func ServiceName(j int) string { return fmt.Sprintf("svc%d", j) }
func ClientName(i int) string  { return fmt.Sprintf("app%d", i) }

// Write writes the file of links links to services services. icc is the
// bridge's icc setting (false for links to mean anything).
func Write(w io.Writer, links, services int, icc bool) error {
	if links < 0 || links > MaxLinks || services < 1 || services > MaxServices {
		return fmt.Errorf("benchcfg: links must be 0..%d and services 1..%d", MaxLinks, MaxServices)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	fmt.Fprintf(bw, "# %d links: go run ./bench/genconfig -links %d -services %d\n", links, links, services)
	fmt.Fprintf(bw, "ip_forward: true\nbridges:\n  %s:\n    address: %s\n    icc: %t\n    containers:\n", Bridge, Gateway, icc)
	for j := range services {
		fmt.Fprintf(bw, "      %s: { address: %s, expose: [%d/tcp] }\n", ServiceName(j), ServiceAddr(j), ServicePort(j))
	}
	for i := range links {
		fmt.Fprintf(bw, "      %s: { address: %s }\n", ClientName(i), ClientAddr(i))
	}
	if links > 0 {
		bw.WriteString("    links:\n")
		for i := range links {
			fmt.Fprintf(bw, "      - { from: %s, to: %s }\n", ClientName(i), ServiceName(i%services))
		}
	}
	return bw.Flush()
}

// YAML returns the file Write writes.
func YAML(links, services int) []byte {
	var b bytes.Buffer
	if err := Write(&b, links, services, false); err != nil {
		panic(err)
	}
	return b.Bytes()
}
