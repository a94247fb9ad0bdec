package schema

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
)

// ylsDir is the installed yaml-language-server package (its bin resolved
// to the package directory).
func ylsDir(t *testing.T) string {
	t.Helper()
	bin := nstest.RequireTool(t, "yaml-language-server", "the editor test needs it (npm install -g yaml-language-server@1.15.0, as .ci/run does)")
	nstest.RequireTool(t, "node", "yaml-language-server runs on it (apt-get install nodejs)")
	p, err := filepath.EvalSymlinks(bin)
	if err != nil {
		t.Fatal(err)
	}
	for dir := filepath.Dir(p); dir != "/"; dir = filepath.Dir(dir) {
		if data, err := os.ReadFile(filepath.Join(dir, "package.json")); err == nil && strings.Contains(string(data), `"name": "yaml-language-server"`) {
			return dir
		}
	}
	t.Fatalf("no yaml-language-server package above %s", p)
	return ""
}

// TestEditorMessages validates files with yaml-language-server's language
// service (testdata/yls/validate.js) against the schema: a typo in a port,
// a wrong gateway, a bad container name are reported in words with an
// example, never as a regular expression or "Expected integer"; the
// examples get no diagnostic (the positive control).
func TestEditorMessages(t *testing.T) {
	yls := ylsDir(t)
	dir := t.TempDir()
	schemaPath := filepath.Join(dir, "netctl.schema.json")
	if err := os.WriteFile(schemaPath, JSONSchemaText(), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := map[string]struct{ text, want string }{
		"port-typo.yaml":   {"bridges:\n  docker0:\n    address: 172.17.0.1/16\n    containers:\n      db: { address: 172.17.0.3, expose: [5432/tpc] }\n", "Not a port: PORT, PORT/PROTO or START-END/PROTO"},
		"gateway.yaml":     {"bridges:\n  docker0:\n    address: 172.17.0.1/33\n", "Not an IPv4 gateway address with prefix length (/0 to /30), e.g. 172.17.0.1/16."},
		"container.yaml":   {"bridges:\n  docker0:\n    address: 172.17.0.1/16\n    containers:\n      -web: { address: 172.17.0.2 }\n", "Not a Docker container name"},
		"port-type.yaml":   {"bridges:\n  docker0:\n    address: 172.17.0.1/16\n    containers:\n      db: { address: 172.17.0.3, expose: [true] }\n", "Expected a port: a number 1-65535 or a string such as 5432/tcp"},
		"host-prefix.yaml": {"bridges:\n  docker0:\n    address: 172.17.0.1/16\n    containers:\n      db: { address: 172.17.0.3/16 }\n", "Not an IPv4 address without prefix length, e.g. 172.17.0.2."},
		"publish6.yaml":    {"bridges:\n  docker0:\n    address: 172.17.0.1/16\n    address6: fd00:17::1/64\n    containers:\n      db: { address: 172.17.0.3, address6: \"fd00:17::3\", publish: [\"2001:db8::1:8080:80\"] }\n", "Not a publication"},
	}
	// IPv6 publications in brackets: no diagnostic (beside the examples).
	good := filepath.Join(dir, "publish6-good.yaml")
	if err := os.WriteFile(good, []byte("bridges:\n  docker0:\n    address: 172.17.0.1/16\n    address6: fd00:17::1/64\n    containers:\n      db:\n        address: 172.17.0.3\n        address6: \"fd00:17::3\"\n        publish: [\"[2001:db8::1]:8080:80\", \"[::]:8081:81/udp\", 0.0.0.0:8082:82, { port: \"[::]:8443:443\", allowed_sources: [\"2001:db8:100::/48\"] }]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{filepath.Join("testdata", "yls", "validate.js"), yls, schemaPath}
	for name, c := range bad {
		args = append(args, filepath.Join(dir, name))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	examples, _ := filepath.Glob("../examples/*.yaml")
	if len(examples) == 0 {
		t.Fatal("no examples/*.yaml")
	}
	examples = append(examples, good)
	args = append(args, examples...)
	out, err := exec.Command("node", args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	var diags map[string][]struct {
		Line, Character int
		Message         string
	}
	if err := json.Unmarshal(out, &diags); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for name, c := range bad {
		ds := diags[filepath.Join(dir, name)]
		if len(ds) != 1 || !strings.Contains(ds[0].Message, c.want) {
			t.Errorf("%s: diagnostics %+v, want one saying %q", name, ds, c.want)
			continue
		}
		if m := ds[0].Message; strings.Contains(m, "pattern") || strings.Contains(m, "Expected \"") || strings.Contains(m, "[0-9]") {
			t.Errorf("%s: %q shows the schema's machinery, not words", name, m)
		}
	}
	for _, f := range examples {
		if ds, ok := diags[f]; !ok || len(ds) != 0 {
			t.Errorf("%s: diagnostics %+v (present %v), want none", f, ds, ok)
		}
	}
}
