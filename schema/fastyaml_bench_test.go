package schema

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// yamlTree is yaml.v3's reading of data, as nodes; nil if it fails or there
// is not exactly one document.
func yamlTree(data []byte) *node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc, extra yaml.Node
	if decode(dec, &doc) != nil || decode(dec, &extra) == nil {
		return nil
	}
	return (&parser{}).fromYAML(&doc)
}

// sameTree describes the first difference between two trees, or "".
func sameTree(a, b *node, path string) string {
	if a == nil || b == nil {
		if a != b {
			return path + ": one is nil"
		}
		return ""
	}
	if a.Kind != b.Kind || a.tag != b.tag || a.Value != b.Value || a.Line != b.Line || a.Column != b.Column ||
		len(a.Content) != len(b.Content) || a.Kind == yaml.AliasNode {
		return fmt.Sprintf("%s: fast %+v, yaml.v3 %+v", path, *a, *b)
	}
	for i := range a.Content {
		if d := sameTree(a.Content[i], b.Content[i], fmt.Sprintf("%s/%d", path, i)); d != "" {
			return d
		}
	}
	return ""
}

// checkFast fails unless the fast reader reads data exactly as yaml.v3 does,
// or leaves it to yaml.v3. It returns whether the fast reader read it.
func checkFast(t *testing.T, name string, data []byte) bool {
	t.Helper()
	if _, msg := checkText(data); msg != "" {
		return false // Parse never reads such text
	}
	fast, ok := fastRead(string(data))
	if !ok {
		return false
	}
	want := yamlTree(data)
	if want == nil {
		t.Fatalf("%s: the fast reader read what yaml.v3 refuses:\n%s", name, data)
	}
	if d := sameTree(fast, want, ""); d != "" {
		t.Fatalf("%s: the fast reader differs from yaml.v3 at %s\n%s", name, d, data)
	}
	return true
}

// fastCases are inputs at the edges of what the fast reader reads.
var fastCases = []string{
	"a: 1\n", "a: 1", "a:  b  \n", "a: b # c\n", "# c\na: b\n\n# d\n", "  # c\na: b\n",
	"a:\n  b: c\n  d: e\nf: g\n", "a:\n    b: c\n", "a:\n- 1\n- 2\nb: 3\n", "a:\n  - 1\n  - 2\n",
	"a:\n  - x: 1\n    y: 2\n  - x: 3\n", "a:\n- x: 1\n  y:\n    z: 2\n", "a:\n  -   x: 1\n      y: 2\n",
	"a: {b: c, d: [1, 2]}\n", "a: { b: c , d: [ ] }\n", "a: {}\n", "a: []\n", "a: [[1], {b: 2}]\n",
	`a: "x y"` + "\n", "a: 'x y'\n", `"a b": c` + "\n", "'a': c\n", `a: ""` + "\n", "a: ''\n",
	"a: true\nb: False\nc: TRUE\nd: yes\ne: no\nf: on\ng: null\nh: Null\ni: ~\nj: NULL\n",
	"a: 0\nb: 1500\nc: 007\nd: 089\ne: 0x1F\nf: 1_000\ng: -3\nh: +4\ni: 1.5\nj: 1e3\nk: .5\nl: .inf\nm: -.inf\nn: .nan\n",
	"a: 2001-12-14t21:59:43.10\n", "a: 2001-12-14\nb: 2001-1-2\nc: 1000-2000/udp\nd: 10.0.0.1/8\ne: 10.0.0.2\nf: 5432/tcp\n",
	"a: 99999999999999999999\nb: 9223372036854775807\nc: 9223372036854775808\nd: 0b101\ne: 0o17\nf: -0b1\n",
	"a: -1\nb: -x\nc: ~x\nd: _x\ne: /x\nf: +x\ng: .x\nh: x.y.z\n",
	"1: a\ntrue: b\nnull: c\n", "a: b\na: c\n",
	"ip_forward: true\nbridges:\n  docker0:\n    address: 172.17.0.1/16\n    containers:\n      web: { address: 172.17.0.2, expose: [80/tcp] }\n    links:\n      - { from: web, to: db }\n      - from: a\n        to: b\n        ports: [5432/tcp]\n",
	// Left to yaml.v3 (or refused by it): the fast reader must not read
	// them differently.
	"a:\n", "a:\nb: 1\n", "a: b\n  c\n", "- a\n", "a: 1\n- b\n", "---\na: 1\n", "a: 1\n...\n", "a: &x 1\nb: *x\n",
	"a: !!str 1\n", "a: |\n  x\n", "a: >\n  x\n", "a: [1,\n 2]\n", "a: {b: 1,}\n", "a: [1, ]\n", "a: \"x\\ty\"\n",
	"a: 'it''s'\n", "a:b\n", "a :b\n", "a : b\n", "a: b: c\n", "a: b#c\n", "a: [b]#c\n", "a:\n\tb: 1\n",
	"a: 1\r\nb: 2\r\n", "\uFEFFa: 1\n", "a: é\n", "a: 1 # é\nb: 2\n", "# \u2028\na: 1\n", "a:\n  b: 1\n c: 2\n",
	"a:\n  - 1\n   - 2\n", "a:\n  - 1\n  b: 2\n", "a: -\n", "a: - b\n", "a: [-]\n", "a: {b}\n", "a: {b: }\n", "a: {\"b\":1}\n",
	"a: ?\n", "? a\n: b\n", "a: @x\n", "a: `x`\n", "a: %x\n", "%YAML 1.2\n---\na: 1\n", "  a: 1\n", "a: 1\n  # c\nb: 2\n",
	"a:\n  -\n    b: 1\n", "a:\n  - - 1\n", "a: x y\n", "a: \"x\"y\n", "a: [\"x\" , 'y']\n", "a: {b: \"c\"}\n",
	"a:   # c\n  b: 1\n", "a:\n\n  b: 1\n\n", "", "# only\n", "a: 1\n\n\n", "a: 1\n   \n",
}

func TestFastReadIsYAML(t *testing.T) {
	read := 0
	for i, c := range fastCases {
		if checkFast(t, fmt.Sprintf("case %d", i), []byte(c)) {
			read++
		}
	}
	for _, glob := range []string{"../examples/*.yaml", "testdata/invalid/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, path := range files {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if checkFast(t, path, data) {
				read++
			}
			// And every prefix of it: partial lines, open blocks.
			for n := 0; n < len(data); n += 7 {
				checkFast(t, fmt.Sprintf("%s[:%d]", path, n), data[:n])
			}
			if cfg, err := Parse(path, data); err == nil {
				checkFast(t, path+" rendered", []byte(render(cfg)))
			}
		}
	}
	if read < 40 {
		t.Fatalf("the fast reader read only %d inputs: it gives up too often to be worth it", read)
	}
	if !checkFast(t, "generated", linksFile(200)) {
		t.Fatal("the fast reader gives up on the generated benchmark file")
	}
}

// FuzzFastRead: whatever the fast reader reads, it reads as yaml.v3 does.
func FuzzFastRead(f *testing.F) {
	for _, c := range fastCases {
		f.Add([]byte(c))
	}
	f.Add(linksFile(3))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFast(t, "fuzz", data)
	})
}

// linksFile is a file of n links, shaped as bench/genconfig writes them.
func linksFile(n int) []byte {
	var b strings.Builder
	b.WriteString("# generated\nip_forward: true\nbridges:\n  docker0:\n    address: 10.0.0.1/8\n    icc: false\n    containers:\n")
	const services = 100
	for j := range services {
		fmt.Fprintf(&b, "      svc%d: { address: 10.0.%d.%d, expose: [%d/tcp] }\n", j, (j+2)>>8, (j+2)&0xff, 5000+j)
	}
	for i := range n {
		fmt.Fprintf(&b, "      app%d: { address: 10.%d.%d.%d }\n", i, 1+(i+1)>>16, (i+1)>>8&0xff, (i+1)&0xff)
	}
	b.WriteString("    links:\n")
	for i := range n {
		fmt.Fprintf(&b, "      - { from: app%d, to: svc%d }\n", i, i%services)
	}
	return []byte(b.String())
}

// BenchmarkParse: Parse of a file of n links, as bench/genconfig writes it.
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{100, 1000, 10000, 100000} {
		data := linksFile(n)
		b.Run(fmt.Sprintf("links=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				cfg, err := Parse("links.yaml", data)
				if err != nil {
					b.Fatal(err)
				}
				if len(cfg.Bridges[0].Links) != n {
					b.Fatalf("%d links", len(cfg.Bridges[0].Links))
				}
			}
		})
	}
}

func TestFastReadDepth(t *testing.T) {
	deep := "a: " + strings.Repeat("[", 60) + strings.Repeat("]", 60) + "\n"
	if _, ok := fastRead(deep); ok {
		t.Fatal("the fast reader read 60 nested collections: past maxDepth, yaml.v3's limits are its own")
	}
	checkFast(t, "deep", []byte(deep))
	long := "a: 1\n" + strings.Repeat("k", 1100) + ": 2\n"
	checkFast(t, "long key", []byte(long))
}
