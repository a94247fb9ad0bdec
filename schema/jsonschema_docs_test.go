package schema

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestSchemaSaysWhatIsExpected walks the JSON Schema as an editor reads it:
// every property has a description (its own, or its type's in $defs);
// every string syntax (a pattern) has examples and a human message for the
// pattern and for a wrong type, so that yaml-language-server says what is
// expected instead of a regular expression or "Expected integer".
func TestSchemaSaysWhatIsExpected(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(JSONSchemaText(), &doc); err != nil {
		t.Fatal(err)
	}
	defs := doc["$defs"].(map[string]any)
	resolve := func(s map[string]any) map[string]any {
		if r, ok := s["$ref"].(string); ok {
			return defs[strings.TrimPrefix(r, "#/$defs/")].(map[string]any)
		}
		return s
	}
	properties, patterns := 0, 0
	var walk func(path string, s map[string]any)
	walk = func(path string, s map[string]any) {
		if props, ok := s["properties"].(map[string]any); ok {
			for name, p := range props {
				p := p.(map[string]any)
				properties++
				if d, _ := p["description"].(string); d == "" {
					if d, _ := resolve(p)["description"].(string); d == "" {
						t.Errorf("%s.%s has no description", path, name)
					}
				}
				walk(path+"."+name, p)
			}
		}
		if _, ok := s["pattern"]; ok {
			patterns++
			for _, kw := range []string{"description", "patternErrorMessage", "errorMessage"} {
				if m, _ := s[kw].(string); m == "" {
					t.Errorf("%s: a pattern without %s", path, kw)
				}
			}
			if ex, _ := s["examples"].([]any); len(ex) == 0 {
				t.Errorf("%s: a pattern without examples", path)
			}
		}
		for _, kw := range []string{"items", "additionalProperties", "propertyNames"} {
			if sub, ok := s[kw].(map[string]any); ok {
				walk(path+"/"+kw, sub)
			}
		}
	}
	walk("file", doc)
	for name, d := range defs {
		walk("$defs."+name, d.(map[string]any))
	}
	if properties < 15 || patterns < 6 {
		t.Errorf("walked %d properties and %d patterns: the walk missed the schema's shape", properties, patterns)
	}
	// The port's examples are the forms people write.
	var ex []string
	for _, e := range defs["Port"].(map[string]any)["examples"].([]any) {
		ex = append(ex, fmt.Sprint(e))
	}
	for _, want := range []string{"5432/tcp", "1000-2000/udp"} {
		if !slices.Contains(ex, want) {
			t.Errorf("Port examples %q lack %s", ex, want)
		}
	}
}

// TestSchemaPortTypo: "5432/tpc" fails the port's pattern (whose message
// says what a port is), not a type; 5432 and "5432/tcp" pass.
func TestSchemaPortTypo(t *testing.T) {
	s := compile(t)
	doc := func(port string) []byte {
		return []byte("bridges: {docker0: {address: 172.17.0.1/16, containers: {db: {address: 172.17.0.3, expose: [" + port + "]}}}}\n")
	}
	for _, ok := range []string{"5432", "5432/tcp", "1000-2000/udp"} {
		if err := s.Validate(instance(t, doc(ok))); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	err := s.Validate(instance(t, doc("5432/tpc")))
	if err == nil {
		t.Fatal("5432/tpc is accepted")
	}
	if msg := err.Error(); !strings.Contains(msg, "does not match pattern") || strings.Contains(msg, "want integer") {
		t.Errorf("5432/tpc: %v; want only the pattern's failure", msg)
	}
}
