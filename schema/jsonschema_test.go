package schema

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// compile checks the schema against the draft 2020-12 metaschema and
// compiles it.
func compile(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(JSONSchemaText()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("netctl.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("netctl.schema.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return s
}

// instance turns YAML into the JSON value an editor validates.
func instance(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func TestSchemaAcceptsExamples(t *testing.T) {
	s := compile(t)
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples/*.yaml found")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(instance(t, data)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestSchemaRejects(t *testing.T) {
	s := compile(t)
	ok := "bridges:\n  docker0:\n    address: 172.17.0.1/16\n"
	if err := s.Validate(instance(t, []byte(ok))); err != nil {
		t.Fatalf("the base case is refused: %v", err)
	}
	cases := map[string]string{
		"unknown top field":        "iptables: true\n",
		"unknown bridge field":     "bridges: {docker0: {address: 172.17.0.1/16, bip: 172.17.0.1/16}}\n",
		"missing address":          "bridges: {docker0: {mtu: 1500}}\n",
		"gateway without prefix":   "bridges: {docker0: {address: 172.17.0.1}}\n",
		"prefix too long":          "bridges: {docker0: {address: 172.17.0.1/31}}\n",
		"IPv6 gateway":             "bridges: {docker0: {address: 'fd00::1/64'}}\n",
		"octet out of range":       "bridges: {docker0: {address: 172.256.0.1/16}}\n",
		"mtu too small":            "bridges: {docker0: {address: 172.17.0.1/16, mtu: 67}}\n",
		"mtu as text":              "bridges: {docker0: {address: 172.17.0.1/16, mtu: big}}\n",
		"icc as text":              "bridges: {docker0: {address: 172.17.0.1/16, icc: 'no'}}\n",
		"interface name too long":  "bridges: {abcdefghijklmnop: {address: 172.17.0.1/16}}\n",
		"interface name with /":    "bridges: {a/b: {address: 172.17.0.1/16}}\n",
		"interface name with ' '":  "bridges: {'a b': {address: 172.17.0.1/16}}\n",
		"interface name ..":        "bridges: {'..': {address: 172.17.0.1/16}}\n",
		"external interface :":     "bridges: {docker0: {address: 172.17.0.1/16, external_interface: 'eth0:1'}}\n",
		"container name":           "bridges: {docker0: {address: 172.17.0.1/16, containers: {-web: {address: 172.17.0.2}}}}\n",
		"container with prefix":    "bridges: {docker0: {address: 172.17.0.1/16, containers: {web: {address: 172.17.0.2/16}}}}\n",
		"container without addr":   "bridges: {docker0: {address: 172.17.0.1/16, containers: {web: {expose: [80]}}}}\n",
		"unknown container field":  "bridges: {docker0: {address: 172.17.0.1/16, containers: {web: {address: 172.17.0.2, ports: [80]}}}}\n",
		"port 0":                   "bridges: {docker0: {address: 172.17.0.1/16, containers: {web: {address: 172.17.0.2, expose: [0]}}}}\n",
		"port 65536":               "bridges: {docker0: {address: 172.17.0.1/16, containers: {web: {address: 172.17.0.2, expose: [65536/tcp]}}}}\n",
		"unknown protocol":         "bridges: {docker0: {address: 172.17.0.1/16, containers: {web: {address: 172.17.0.2, expose: [80/icmp]}}}}\n",
		"port range without end":   "bridges: {docker0: {address: 172.17.0.1/16, containers: {web: {address: 172.17.0.2, expose: [80-/tcp]}}}}\n",
		"source with bad prefix":   "bridges: {docker0: {address: 172.17.0.1/16, allowed_sources: [198.51.100.0/33]}}\n",
		"link without to":          "bridges: {docker0: {address: 172.17.0.1/16, links: [{from: web}]}}\n",
		"link with unknown field":  "bridges: {docker0: {address: 172.17.0.1/16, links: [{from: web, to: db, expose: [80]}]}}\n",
		"links as a mapping":       "bridges: {docker0: {address: 172.17.0.1/16, links: {web: db}}}\n",
		"bridges as a list":        "bridges: [docker0]\n",
		"ip_forward as a number":   "ip_forward: 1\n",
		"allowed_sources a string": "bridges: {docker0: {address: 172.17.0.1/16, allowed_sources: 198.51.100.10}}\n",
		"IPv6 publication bare":    "bridges: {docker0: {address: 172.17.0.1/16, address6: 'fd00:17::1/64', containers: {web: {address: 172.17.0.2, address6: 'fd00:17::2', publish: ['2001:db8::1:8080:80']}}}}\n",
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			if err := s.Validate(instance(t, []byte(doc))); err == nil {
				t.Errorf("accepted:\n%s", doc)
			}
			// The schema is never stricter than the loader: each of these is
			// refused by the loader too.
			if _, err := Parse("x.yaml", []byte(doc)); err == nil {
				t.Errorf("the loader accepts what the schema refuses:\n%s", doc)
			}
		})
	}
}

// TestPortPattern holds the port pattern to the loader's parser.
func TestPortPattern(t *testing.T) {
	re := regexp.MustCompile(PatternPort)
	var inputs []string
	for _, n := range []string{"0", "1", "01", "0080", "9", "99", "999", "1023", "9999", "10000", "59999", "60000", "64999",
		"65000", "65499", "65500", "65529", "65530", "65535", "65536", "65540", "65600", "66000", "70000", "99999", "100000", "", "-1", "1.5", "x"} {
		for _, proto := range []string{"", "/tcp", "/udp", "/sctp", "/icmp", "/", "/TCP"} {
			inputs = append(inputs, n+proto, "1-"+n+proto, n+"-65535"+proto)
		}
	}
	inputs = append(inputs, "80 /tcp", " 80", "80/tcp/udp", "1--2", "1-2-3")
	for _, in := range inputs {
		_, err := ParsePort(in)
		// Reversed ranges are beyond a pattern; everything else agrees.
		reversed := err != nil && strings.Contains(err.Error(), "reversed")
		if got, want := re.MatchString(in), err == nil; got != want && !(reversed && got) {
			t.Errorf("%q: pattern matches %v, loader accepts %v (%v)", in, got, want, err)
		}
	}
}

// TestDefaults holds the default tags of format.go to what the loader
// fills in.
func TestDefaults(t *testing.T) {
	cfg, err := Parse("f.yaml", []byte("bridges: {b: {address: 10.0.0.1/24}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Bridges[0]
	got := map[string]any{"firewall": cfg.Firewall, "mtu": float64(b.MTU), "icc": b.ICC, "masquerade": b.Masquerade, "masquerade6": b.Masquerade6, "adopt": b.Adopt, "gateway_mode": b.GatewayMode}
	seen := 0
	for _, typ := range []reflect.Type{reflect.TypeFor[File](), reflect.TypeFor[FileBridge](), reflect.TypeFor[FileContainer](), reflect.TypeFor[FileLink]()} {
		for i := range typ.NumField() {
			f := typ.Field(i)
			d, ok := f.Tag.Lookup("default")
			if !ok {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			var want any
			if err := json.Unmarshal([]byte(d), &want); err != nil {
				t.Fatal(err)
			}
			seen++
			if v, ok := got[name]; !ok || v != want {
				t.Errorf("%s.%s: default tag %s, the loader fills in %v", typ.Name(), name, d, v)
			}
		}
	}
	if seen != len(got) {
		t.Errorf("%d default tags for %d defaults the loader fills in", seen, len(got))
	}
}

// TestIfNamePattern holds the schema's interface name pattern to the
// loader's rule, CheckIfName, over every byte alone and in a name.
func TestIfNamePattern(t *testing.T) {
	re := regexp.MustCompile(PatternIfName)
	var inputs []string
	for c := range 256 {
		b := string([]byte{byte(c)})
		inputs = append(inputs, b, "a"+b+"b", "eth"+b)
	}
	inputs = append(inputs, "é", "br-é", "123456789012345", "1234567890123456", "<<", "", ".", "..", "...", "\u00a0")
	for _, in := range inputs {
		want := CheckIfName(in) == nil
		got := re.MatchString(in) && in != "." && in != ".." // "not": {"enum": [".", ".."]}
		if got != want {
			t.Errorf("%q: pattern accepts %v, CheckIfName %v (%v)", in, got, want, CheckIfName(in))
		}
	}
}
