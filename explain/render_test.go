package explain

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/netctl/netctl/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestRenderGolden: the text and JSON of representative answers.
func TestRenderGolden(t *testing.T) {
	cfg := load(t, testFile)
	type tc struct {
		name, from, to, port string
		mutate               func(*Input)
	}
	cases := []tc{
		{name: "link", from: "docker0/web", to: "db", port: "5432"},
		{name: "icc", from: "db", to: "docker0/web", port: "80"},
		{name: "sources", from: "198.51.100.20", to: "db", port: "53/udp"},
		{name: "isolation", from: "api", to: "db", port: "5432"},
		{name: "drift", from: "docker0/web", to: "203.0.113.10", port: "443", mutate: func(in *Input) {
			in.Live.Sysctls[plan.SysctlIPForward] = "0"
		}},
		{name: "foreign", from: "docker0/web", to: "203.0.113.10", port: "443", mutate: func(in *Input) {
			in.ForeignDrops = []string{"table ip filter chain FORWARD has policy drop"}
		}},
		{name: "user", from: "docker0/web", to: "db", port: "5432", mutate: func(in *Input) {
			c := in.Live.Firewall.Chain(plan.ChainUser)
			c.Rules = append(c.Rules, plan.Rule{Unknown: userDropDB, Handle: 7})
		}},
	}
	cfg6 := load(t, testFile6)
	// IPv6 answers: names with -6, and addresses.
	cases6 := []tc{
		{name: "link6", from: "web", to: "db", port: "5432"},
		{name: "sources6", from: "2001:db8:200::20", to: "db", port: "53/udp"},
		{name: "ipv4only6", from: "2001:db8:200::20", to: "2001:db8:1::3%br-v4", port: "80"},
	}
	for i, c := range append(cases, cases6...) {
		cfg := cfg
		if i >= len(cases) {
			cfg = cfg6
		}
		in := Input{Config: cfg, Live: liveOf(cfg)}
		if c.mutate != nil {
			c.mutate(&in)
		}
		from, to, ipv6, err := ResolveFlow(cfg, c.from, c.to, i >= len(cases))
		if err != nil {
			t.Fatal(err)
		}
		proto, port, _ := ParsePort(c.port)
		a := Explain(in, Flow{From: from, To: to, Proto: proto, Port: port, IPv6: ipv6})
		var txt, js bytes.Buffer
		if err := a.WriteText(&txt); err != nil {
			t.Fatal(err)
		}
		if err := a.WriteJSON(&js); err != nil {
			t.Fatal(err)
		}
		golden(t, c.name+".txt", txt.Bytes())
		golden(t, c.name+".json", js.Bytes())
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}
