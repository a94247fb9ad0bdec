package hosts

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const twoBridges = `bridges:
  docker0:
    address: 172.17.0.1/16
    icc: false
    containers:
      web: { address: 172.17.0.2 }
      db: { address: 172.17.0.3, expose: [5432/tcp, 5433/tcp] }
      api: { address: 172.17.0.4, expose: [80/tcp] }
    links:
      - { from: web, to: db, alias: database, ports: [5432/tcp] }
      - { from: web, to: api, alias: api }
      - { from: api, to: db }
  br-app:
    address: 10.10.0.1/24
    containers:
      web: { address: 10.10.0.2 }
      cache: { address: 10.10.0.3, expose: [6379/tcp] }
    links:
      - { from: web, to: cache, alias: redis }
`

// dualStack: web links to db (both with address6) and to cache (IPv4
// only, so no IPv6 line).
const dualStack = `bridges:
  docker0:
    address: 172.17.0.1/16
    address6: fd00:17::1/64
    containers:
      web: { address: 172.17.0.2, address6: "fd00:17::2" }
      db: { address: 172.17.0.3, address6: "fd00:17::3", expose: [5432/tcp] }
      cache: { address: 172.17.0.4, expose: [6379/tcp] }
    links:
      - { from: web, to: db, alias: database }
      - { from: web, to: cache }
`

func TestHostsGolden(t *testing.T) {
	icc, err := schema.Load("../examples/icc-links.yaml")
	if err != nil {
		t.Fatal(err)
	}
	two, err := schema.Parse("two.yaml", []byte(twoBridges))
	if err != nil {
		t.Fatal(err)
	}
	dual, err := schema.Parse("dual.yaml", []byte(dualStack))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		golden string
		cfg    *schema.Config
		spec   string
	}{
		{"icc-links-web.hosts", icc, "web"},           // an alias, and links without one
		{"icc-links-db.hosts", icc, "db"},             // linked to, linking nothing
		{"two-docker0-web.hosts", two, "docker0/web"}, // alias = name: the name once
		{"two-br-app-web.hosts", two, "br-app/web"},
		{"two-api.hosts", two, "api"},
		{"dual-stack-web.hosts", dual, "web"}, // address6 at both ends: an IPv6 line too
	} {
		t.Run(tc.golden, func(t *testing.T) {
			l, err := For(tc.cfg, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := l.Write(&buf, tc.cfg.File); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if buf.String() != string(want) {
				t.Fatalf("%s differs (run with -update to accept):\n--- got\n%s--- want\n%s", path, buf.String(), want)
			}
		})
	}
}

func TestHostsRefused(t *testing.T) {
	two, err := schema.Parse("two.yaml", []byte(twoBridges))
	if err != nil {
		t.Fatal(err)
	}
	for spec, want := range map[string]string{
		"web":         `"web" is a container on 2 bridges: write docker0/web or br-app/web`,
		"nobody":      `"nobody" is not a container of two.yaml`,
		"br-app/db":   `"br-app/db" is not a container of two.yaml`,
		"br-none/web": `"br-none/web" is not a container of two.yaml`,
	} {
		if _, err := For(two, spec); err == nil || err.Error() != want {
			t.Errorf("For(%q): got %v, want %s", spec, err, want)
		}
	}
	// Positive control: the same names, scoped, are found.
	for _, spec := range []string{"docker0/web", "br-app/web", "docker0/db"} {
		if l, err := For(two, spec); err != nil || !strings.HasSuffix(spec, "/"+l.Container) {
			t.Errorf("For(%q): %+v, %v", spec, l, err)
		}
	}
}
