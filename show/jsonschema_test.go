package show

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/netctl/netctl/schema"
)

// TestSchemaAcceptsShowOutput: the JSON Schema of the format accepts every
// round-trip case and what show writes for it.
func TestSchemaAcceptsShowOutput(t *testing.T) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema.JSONSchemaText()))
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
	instance := func(data []byte) any {
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
	for name, data := range loadCases(t) {
		if err := s.Validate(instance(data)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		shown := Config(asLive(desired(t, name, data))).YAML
		if err := s.Validate(instance([]byte(shown))); err != nil {
			t.Errorf("show output for %s: %v\n%s", name, err, shown)
		}
	}
}
