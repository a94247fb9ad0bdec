package benchcfg

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/netip"
)

// Published ports: one bridge, docker0 (10.0.0.1/8, gateway mode nat), S
// service containers, and N publications spread over them round robin:
// host port PublishFirst+i on every host address reaches port
// PublishedPort of service i%S.

// PublishFirst is the host port of publication 0; PublishedPort the
// container port every publication reaches.
const (
	PublishFirst  = 20000
	PublishedPort = 80
	// MaxPublish is what the host ports above PublishFirst hold.
	MaxPublish = 65535 - PublishFirst + 1
)

// WritePublish writes the file of n publications over services services.
func WritePublish(w io.Writer, n, services int) error {
	if n < 0 || n > MaxPublish || services < 1 || services > MaxServices {
		return fmt.Errorf("benchcfg: publications must be 0..%d and services 1..%d", MaxPublish, services)
	}
	pubs := make([][]int, services)
	for i := range n {
		pubs[i%services] = append(pubs[i%services], PublishFirst+i)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	fmt.Fprintf(bw, "# %d published ports: go run ./bench/genconfig -publish %d -services %d\n", n, n, services)
	fmt.Fprintf(bw, "ip_forward: true\nbridges:\n  %s:\n    address: %s\n    containers:\n", Bridge, Gateway)
	for j := range services {
		fmt.Fprintf(bw, "      %s:\n        address: %s\n", ServiceName(j), ServiceAddr(j))
		if len(pubs[j]) == 0 {
			continue
		}
		bw.WriteString("        publish: [")
		for k, p := range pubs[j] {
			if k > 0 {
				bw.WriteString(", ")
			}
			fmt.Fprintf(bw, `"%d:%d"`, p, PublishedPort)
		}
		bw.WriteString("]\n")
	}
	return bw.Flush()
}

// PublishYAML returns the file WritePublish writes.
func PublishYAML(n, services int) []byte {
	var b bytes.Buffer
	if err := WritePublish(&b, n, services); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// PublishTarget is where host port PublishFirst+i leads.
func PublishTarget(i, services int) netip.AddrPort {
	return netip.AddrPortFrom(ServiceAddr(i%services), PublishedPort)
}
