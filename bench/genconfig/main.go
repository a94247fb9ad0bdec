// Command genconfig writes a netctl.yaml with N links (see package
// bench/benchcfg for its shape), for bench/compare.sh and for anyone
// measuring netctl at scale:
//
//	go run ./bench/genconfig -links 10000 > links-10000.yaml
//	go run ./bench/genconfig -publish 10000 > publish-10000.yaml
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/netctl/netctl/bench/benchcfg"
)

func main() {
	links := flag.Int("links", 1000, "number of links (and of client containers)")
	services := flag.Int("services", 100, "number of service containers the clients link to, round robin")
	icc := flag.Bool("icc", false, "the bridge's icc setting")
	publish := flag.Int("publish", 0, "write N published ports over the services instead of links")
	flag.Parse()
	if *publish > 0 {
		if err := benchcfg.WritePublish(os.Stdout, *publish, *services); err != nil {
			fmt.Fprintln(os.Stderr, "genconfig:", err)
			os.Exit(1)
		}
		return
	}
	if err := benchcfg.Write(os.Stdout, *links, *services, *icc); err != nil {
		fmt.Fprintln(os.Stderr, "genconfig:", err)
		os.Exit(1)
	}
}
