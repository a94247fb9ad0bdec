// Command nftscript prints the firewall of a netctl file written for other
// tools, for bench/compare.sh:
//
//	go run ./bench/nftscript -f links.yaml > links.nft    # for nft -f: netctl's table, exactly
//	go run ./bench/nftscript -f links.yaml -iptables      # iptables arguments, one line per link element
//	go run ./bench/nftscript -f links.yaml -linear        # for nft -f: one rule per link element, in a table of its own
//
// The default is (*plan.Firewall).NFT() of the file's desired state: the
// table netctl writes, as an nft script that replaces it in one batch.
// -iptables writes the same links the way Docker does, one rule each
// (-A FORWARD -i docker0 -o docker0 -s A -d B -p tcp --dport P -j ACCEPT).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/netctl/netctl/bench/benchcfg"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

func main() {
	file := flag.String("f", schema.DefaultFile, "the netctl file")
	iptables := flag.Bool("iptables", false, "print iptables arguments, one rule per link element")
	linear := flag.Bool("linear", false, "print an nft script of one rule per link element (table inet linear)")
	flag.Parse()
	if err := run(*file, *iptables, *linear); err != nil {
		fmt.Fprintln(os.Stderr, "nftscript:", err)
		os.Exit(1)
	}
}

func run(file string, iptables, linear bool) error {
	cfg, err := schema.Load(file)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	switch {
	case iptables || linear:
		rules, err := benchcfg.LinkRules(cfg)
		if err != nil {
			return err
		}
		if linear {
			var bridges []string
			for _, b := range cfg.Bridges {
				bridges = append(bridges, b.Name)
			}
			w.WriteString(benchcfg.LinearNFT(rules, bridges))
			break
		}
		for _, r := range rules {
			w.WriteString(strings.Join(r.Iptables(), " ") + "\n")
		}
	default:
		fw := plan.Desired(cfg).Firewall
		if fw == nil {
			return fmt.Errorf("%s turns the firewall off", file)
		}
		w.WriteString(fw.NFT())
	}
	return w.Flush()
}
