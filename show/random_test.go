package show

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// ifChars are the characters CheckIfName accepts.
const ifChars = "!#$&()+,-.0123456789;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_abcdefghijklmnopqrstuvwxyz{|}~"

// randomFile writes a valid netctl file with names YAML might misread,
// quoted as strconv.Quote does (JSON strings are YAML double-quoted ones),
// independently of how show quotes.
func randomFile(r *rand.Rand) string {
	word := func(chars string, min, max int) string {
		b := make([]byte, min+r.IntN(max-min+1))
		for i := range b {
			b[i] = chars[r.IntN(len(chars))]
		}
		return string(b)
	}
	tricky := []string{"<<", "~", "-", "?", "y", "n", "null", "Null", "true", "NO", "0x1", "0o7", "1e3", ".inf", ".NaN", "=", "<<a",
		"|", ">", "!", "&a", "[", "{", "#", "@", "--", "---", "...", "-1", "+1", "1_0", "0.", "2001-01-01", "1:2"}
	ifName := func() string {
		if r.IntN(3) == 0 {
			if s := tricky[r.IntN(len(tricky))]; schema.CheckIfName(s) == nil {
				return s
			}
		}
		for {
			// Short names from a few characters, so that "<<", "~", "-" and
			// the like come up.
			chars := ifChars
			if r.IntN(2) == 0 {
				chars = "<>~-?:!&*#|[]{},.=01ny"
			}
			if s := word(chars, 1, 4+r.IntN(12)); schema.CheckIfName(s) == nil {
				return s
			}
		}
	}
	q := strconv.Quote
	var b strings.Builder
	firewall := r.IntN(5) > 0
	fmt.Fprintf(&b, "firewall: %v\n", firewall)
	if r.IntN(2) == 0 {
		fmt.Fprintf(&b, "ip_forward: %v\n", r.IntN(2) == 0)
	}
	b.WriteString("bridges:\n")
	names := map[string]bool{}
	for i := range 1 + r.IntN(4) {
		name := ifName()
		for names[name] {
			name = ifName()
		}
		names[name] = true
		fmt.Fprintf(&b, "  %s:\n    address: 10.%d.0.1/24\n", q(name), i)
		if r.IntN(2) == 0 {
			fmt.Fprintf(&b, "    mtu: %d\n", 1280+r.IntN(8000))
		}
		if !firewall {
			continue
		}
		fmt.Fprintf(&b, "    icc: %v\n    masquerade: %v\n", r.IntN(2) == 0, r.IntN(2) == 0)
		if r.IntN(2) == 0 {
			ext := ifName()
			for names[ext] {
				ext = ifName()
			}
			names[ext] = true // not a bridge's name later
			fmt.Fprintf(&b, "    external_interface: %s\n", q(ext))
			fmt.Fprintf(&b, "    allowed_sources: [192.0.2.%d, 198.51.100.0/24]\n", 1+r.IntN(250))
		}
		nc := r.IntN(5)
		if nc == 0 {
			continue
		}
		b.WriteString("    containers:\n")
		cnames := make([]string, nc)
		exposes := make([]bool, nc)
		for j := range nc {
			cnames[j] = word("abcxyz", 1, 1) + word("abc019_.-", 0, 5)
			for slicesContains(cnames[:j], cnames[j]) {
				cnames[j] = word("abcxyz", 1, 1) + word("abc019_.-", 0, 5)
			}
			exposes[j] = r.IntN(3) > 0
			fmt.Fprintf(&b, "      %s: { address: 10.%d.0.%d", q(cnames[j]), i, 2+j)
			if exposes[j] {
				fmt.Fprintf(&b, ", expose: [%d/tcp, %d-%d/udp]", 1+r.IntN(1000), 2000, 2000+r.IntN(100))
			}
			b.WriteString(" }\n")
		}
		var links []string
		for from := range nc {
			for to := range nc {
				if from != to && exposes[to] && r.IntN(2) == 0 {
					links = append(links, fmt.Sprintf("      - { from: %s, to: %s }\n", q(cnames[from]), q(cnames[to])))
				}
			}
		}
		if len(links) > 0 {
			b.WriteString("    links:\n" + strings.Join(links, ""))
		}
	}
	return b.String()
}

func slicesContains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// TestRoundTripRandom: for random valid files full of names YAML could
// misread, show's output of their state loads back to the same state.
func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		text := randomFile(r)
		cfg, err := schema.Parse("random.yaml", []byte(text))
		if err != nil {
			t.Fatalf("case %d: the generated file does not load (a bug in the test): %v\n%s", i, err, text)
		}
		want := plan.Desired(cfg)
		got := Config(asLive(plan.Desired(cfg)))
		if len(got.Notes) > 0 || len(got.Residual) > 0 {
			t.Fatalf("case %d: not a faithful file: %q\n%s\n--- from\n%s", i, got.Notes, got.YAML, text)
		}
		back, err := schema.Parse("shown", []byte(got.YAML))
		if err != nil {
			t.Fatalf("case %d: show's output does not load: %v\n%s", i, err, got.YAML)
		}
		again := plan.Desired(back)
		if _, ok := want.Sysctls[plan.SysctlIPForward]; !ok {
			delete(again.Sysctls, plan.SysctlIPForward)
		}
		if !reflect.DeepEqual(again, want) {
			t.Fatalf("case %d: show's output compiles to another state:\n%s\n--- from\n%s", i, got.YAML, text)
		}
	}
}

// TestShowLeavesOutNamesAFileCannotHold: a marked bridge whose name the
// kernel took but a file cannot hold is left out with a note, and what is
// written still loads.
func TestShowLeavesOutNamesAFileCannotHold(t *testing.T) {
	live := asLive(desired(t, "f", []byte("bridges:\n  docker0: {address: 172.17.0.1/16}\n  br1: {address: 172.18.0.1/16}\n")))
	b := live.Bridges["br1"]
	b.Name = "br\"é"
	delete(live.Bridges, "br1")
	live.Bridges[b.Name] = b
	r := Config(live)
	if _, err := schema.Parse("shown", []byte(r.YAML)); err != nil {
		t.Fatalf("show's output does not load: %v\n%s", err, r.YAML)
	}
	found := false
	for _, n := range r.Notes {
		found = found || strings.Contains(n, `bridge "br\"é" carries netctl's mark but a netctl file cannot name it`)
	}
	if !found {
		t.Errorf("no note for the bridge left out: %q", r.Notes)
	}
}
