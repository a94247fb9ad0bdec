package benchcfg

import (
	"fmt"
	"strings"

	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// LinkRule is one element of netctl's links set, as one rule would match it:
// traffic from From to To on Proto/Port, within Bridge.
type LinkRule struct {
	Bridge, From, To, Proto, Port string
}

// LinkRules returns the elements of the links set of cfg's desired state,
// in the set's order, one rule each: the same links written the way Docker
// writes them, one rule per link and port.
func LinkRules(cfg *schema.Config) ([]LinkRule, error) {
	fw := plan.Desired(cfg).Firewall
	if fw == nil {
		return nil, fmt.Errorf("%s turns the firewall off", cfg.File)
	}
	bridgeOf := map[string]string{}
	for _, b := range cfg.Bridges {
		for _, l := range b.Links {
			bridgeOf[plan.LinkAddress(b.Name, l.From, l.To)] = b.Name
		}
	}
	var out []LinkRule
	for _, e := range fw.Set(plan.SetLinks).Elements {
		f := strings.Split(e.Key, " . ")
		br, ok := bridgeOf[e.Comment]
		if len(f) != 4 || !ok {
			return nil, fmt.Errorf("link element %q (%s) is not one netctl writes", e.Key, e.Comment)
		}
		out = append(out, LinkRule{Bridge: br, From: f[0], To: f[1], Proto: f[2], Port: f[3]})
	}
	return out, nil
}

// Iptables is the rule as iptables arguments (-A FORWARD …), as Docker
// appends a link's rule.
func (r LinkRule) Iptables() []string {
	return []string{"-A", "FORWARD", "-i", r.Bridge, "-o", r.Bridge, "-s", r.From, "-d", r.To,
		"-p", r.Proto, "--dport", strings.Replace(r.Port, "-", ":", 1), "-j", "ACCEPT"}
}

// NFT is the rule in nft syntax.
func (r LinkRule) NFT() string {
	return fmt.Sprintf("iifname %q oifname %q ip saddr %s ip daddr %s %s dport %s accept", r.Bridge, r.Bridge, r.From, r.To, r.Proto, r.Port)
}

// LinearTable is the name of the table LinearNFT writes.
const LinearTable = "inet linear"

// LinearNFT is an nft script of a table of its own (inet linear) whose
// forward chain does with one rule per link what netctl does with one set
// lookup: replies pass, each link's rule accepts, then traffic between two
// containers of one bridge is dropped.
func LinearNFT(rules []LinkRule, bridges []string) string {
	var b strings.Builder
	b.WriteString("table " + LinearTable + "\ndelete table " + LinearTable + "\ntable " + LinearTable + " {\n")
	b.WriteString("\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n")
	b.WriteString("\t\tct state established,related accept\n")
	for _, r := range rules {
		b.WriteString("\t\t" + r.NFT() + "\n")
	}
	for _, br := range bridges {
		fmt.Fprintf(&b, "\t\tiifname %q oifname %q drop\n", br, br)
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}
