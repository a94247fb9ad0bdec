package schema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// SchemaID is the schema's $id. Editors find the schema through the
// modeline, not through this name.
const SchemaID = "https://github.com/netctl/netctl/netctl.schema.json"

// JSONSchema returns the JSON Schema (draft 2020-12) of the netctl file format,
// generated from File and the types it uses: objects from structs (their
// yaml names, doc, default, min, max and required tags, no other
// properties), mappings from Map, lists from slices, and string syntaxes
// from the leaf types' own descriptions.
func JSONSchema() map[string]any {
	g := &generator{defs: map[string]any{}}
	root := g.object(reflect.TypeFor[File]())
	out := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         SchemaID,
		"title":       "netctl.yaml",
		"description": "A host's container networking (Docker's bridge model) as netctl makes it: bridges, ip_forward, inter-container communication, links, source restrictions, masquerading.",
		"$defs":       g.defs,
	}
	for k, v := range root {
		out[k] = v
	}
	return out
}

// JSONSchemaText is JSONSchema as indented JSON, ending in a newline.
func JSONSchemaText() []byte {
	data, err := json.MarshalIndent(JSONSchema(), "", "  ")
	if err != nil {
		panic(err) // the schema is made of maps, strings, numbers and booleans
	}
	return append(data, '\n')
}

// leaf is a type that describes its own schema, put in $defs by type name.
type leaf interface{ jsonSchema() map[string]any }

// mapping is a type written as a YAML mapping from key to value.
type mapping interface {
	mapTypes() (key, value reflect.Type)
}

var (
	leafType    = reflect.TypeFor[leaf]()
	mappingType = reflect.TypeFor[mapping]()
)

type generator struct{ defs map[string]any }

// defName is a type's name in $defs: FileBridge is Bridge, as the file
// and its readers know it (the Go name only keeps it apart from Config's).
func defName(t reflect.Type) string { return strings.TrimPrefix(t.Name(), "File") }

func ref(name string) map[string]any { return map[string]any{"$ref": "#/$defs/" + name} }

func (g *generator) schema(t reflect.Type) map[string]any {
	if t.Kind() == reflect.Pointer { // *bool: optional, the same type
		t = t.Elem()
	}
	switch {
	case t.Implements(leafType):
		if _, ok := g.defs[defName(t)]; !ok {
			g.defs[defName(t)] = reflect.Zero(t).Interface().(leaf).jsonSchema()
		}
		return ref(defName(t))
	case t.Implements(mappingType):
		k, v := reflect.Zero(t).Interface().(mapping).mapTypes()
		return map[string]any{"type": "object", "propertyNames": g.schema(k), "additionalProperties": g.schema(v)}
	}
	switch t.Kind() {
	case reflect.Struct:
		if _, ok := g.defs[defName(t)]; !ok {
			g.defs[defName(t)] = nil // a type that refers to itself stops here
			g.defs[defName(t)] = g.object(t)
		}
		return ref(defName(t))
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.String:
		return map[string]any{"type": "string"}
	}
	panic(fmt.Sprintf("schema.JSONSchema: no schema for %s", t))
}

// object is a struct's schema: its fields by yaml name, nothing else.
func (g *generator) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	required := []string{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			panic(fmt.Sprintf("schema.JSONSchema: %s.%s has no yaml name", t.Name(), f.Name))
		}
		p := map[string]any{}
		for k, v := range g.schema(f.Type) {
			p[k] = v
		}
		if d := f.Tag.Get("doc"); d != "" {
			p["description"] = d
		}
		if d, ok := f.Tag.Lookup("default"); ok {
			var v any
			if err := json.Unmarshal([]byte(d), &v); err != nil {
				panic(fmt.Sprintf("schema.JSONSchema: %s.%s: default %q is not JSON", t.Name(), f.Name, d))
			}
			p["default"] = v
		}
		for tag, kw := range map[string]string{"min": "minimum", "max": "maximum"} {
			if v, ok := f.Tag.Lookup(tag); ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					panic(fmt.Sprintf("schema.JSONSchema: %s.%s: %s %q", t.Name(), f.Name, tag, v))
				}
				p[kw] = n
			}
		}
		if f.Tag.Get("required") == "true" {
			required = append(required, name)
		}
		props[name] = p
	}
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// Syntaxes, as the loader reads them. The regular expressions use only what
// both ECMA-262 (editors) and RE2 (Go validators) understand.
const (
	octet   = `(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])`
	ipv4    = octet + `(\.` + octet + `){3}`
	portNum = `0*(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})`

	// PatternIfName is an interface name as CheckIfName accepts it: 1-15
	// printable ASCII characters but / : % " ' ` \\ *, not "." or "..".
	PatternIfName = `^[!#$&()+,\-.0-9;-\[\]-_a-~]{1,15}$`
	// PatternContainerName is Docker's container name syntax.
	PatternContainerName = `^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`
	// PatternGateway is an IPv4 address with a prefix length of at most 30.
	PatternGateway = `^` + ipv4 + `/([0-9]|[12][0-9]|30)$`
	// PatternHostAddress is an IPv4 address without prefix length.
	PatternHostAddress = `^` + ipv4 + `$`
	// PatternSource is an IPv4 address or CIDR, or an IPv6 one (loosely:
	// the loader checks it).
	PatternSource = `^(` + ipv4 + `(/([0-9]|[12][0-9]|3[0-2]))?|` + ipv6 + `(/` + bits6 + `)?)$`
	// PatternPort is PORT, START-END, PORT/PROTO or START-END/PROTO.
	PatternPort = `^` + portNum + `(-` + portNum + `)?(/(tcp|udp|sctp))?$`
)

func (IfName) jsonSchema() map[string]any {
	return map[string]any{
		"type":        "string",
		"description": "A Linux interface name: 1-15 printable ASCII characters, none of / : % \" ' ` \\ * and no whitespace, not '.' or '..'.",
		"pattern":     PatternIfName,
		// Editors (yaml-language-server, VS Code) say these instead of
		// the regular expression or "Incorrect type".
		"patternErrorMessage": "Not a Linux interface name: 1-15 printable ASCII characters, none of / : % \" ' ` \\ * and no whitespace, e.g. docker0 or br-app.",
		"errorMessage":        "Expected an interface name (a string), e.g. docker0.",
		"not":                 map[string]any{"enum": []any{".", ".."}},
		"examples":            []any{"docker0", "eth0"},
	}
}

func (ContainerName) jsonSchema() map[string]any {
	return map[string]any{
		"type":                "string",
		"description":         "A Docker container name: [a-zA-Z0-9][a-zA-Z0-9_.-]*.",
		"pattern":             PatternContainerName,
		"patternErrorMessage": "Not a Docker container name: a letter or digit, then letters, digits, '_', '.' or '-', e.g. web or db-1.",
		"errorMessage":        "Expected a container name (a string), e.g. web.",
		"examples":            []any{"web", "db"},
	}
}

func (Gateway) jsonSchema() map[string]any {
	return map[string]any{
		"type":                "string",
		"description":         "An IPv4 gateway address with the subnet's prefix length (at most /30); a host address of the subnet, not its network or broadcast address.",
		"pattern":             PatternGateway,
		"patternErrorMessage": "Not an IPv4 gateway address with prefix length (/0 to /30), e.g. 172.17.0.1/16.",
		"errorMessage":        "Expected an IPv4 gateway address with prefix length (a string), e.g. 172.17.0.1/16.",
		"examples":            []any{"172.17.0.1/16"},
	}
}

func (HostAddress) jsonSchema() map[string]any {
	return map[string]any{
		"type":                "string",
		"description":         "An IPv4 address without prefix length.",
		"pattern":             PatternHostAddress,
		"patternErrorMessage": "Not an IPv4 address without prefix length, e.g. 172.17.0.2.",
		"errorMessage":        "Expected an IPv4 address (a string), e.g. 172.17.0.2.",
		"examples":            []any{"172.17.0.2"},
	}
}

func (Source) jsonSchema() map[string]any {
	return map[string]any{
		"type":                "string",
		"description":         "An IPv4 or IPv6 address (a host) or CIDR without host bits set; IPv6 entries only on a bridge with address6.",
		"pattern":             PatternSource,
		"patternErrorMessage": "Not an IPv4 or IPv6 address or CIDR, e.g. 198.51.100.10, 203.0.113.0/24 or 2001:db8:100::/48.",
		"errorMessage":        "Expected an IPv4 or IPv6 address or CIDR (a string), e.g. 203.0.113.0/24 or 2001:db8:100::/48.",
		"examples":            []any{"198.51.100.10", "203.0.113.0/24", "2001:db8:100::/48"},
	}
}

// A port is an integer or a string in one schema, not anyOf: each keyword
// applies to its own type (minimum to numbers, pattern to strings), and an
// editor reports the string's pattern message for "5432/tpc" rather than
// the first branch's "Expected integer".
func (FilePort) jsonSchema() map[string]any {
	return map[string]any{
		"description":         "A port or an inclusive range of ports: PORT, PORT/PROTO or START-END/PROTO, protocol tcp (default), udp or sctp. A bare number is a tcp port.",
		"type":                []any{"integer", "string"},
		"minimum":             1,
		"maximum":             65535,
		"pattern":             PatternPort,
		"patternErrorMessage": "Not a port: PORT, PORT/PROTO or START-END/PROTO, ports 1-65535, protocol tcp, udp or sctp, e.g. 5432/tcp, 53/udp or 1000-2000/udp.",
		"errorMessage":        "Expected a port: a number 1-65535 or a string such as 5432/tcp, 53/udp or 1000-2000/udp.",
		"examples":            []any{"5432/tcp", "53/udp", "1000-2000/udp", 80},
	}
}

// PatternPublish is Docker's -p as netctl reads it: an IPv4 host address,
// or an IPv6 one in brackets (loosely: the loader also checks the address
// and that ranges are the same size); ports in range.
const PatternPublish = `^(` + ipv4 + `:|\[` + ipv6 + `\]:)?` + portNum + `(-` + portNum + `)?:` + portNum + `(-` + portNum + `)?(/(tcp|udp|sctp))?$`

func (PublishSpec) jsonSchema() map[string]any {
	return map[string]any{
		"type":                "string",
		"description":         "Docker's -p: [HOST_ADDRESS:]HOST_PORT:CONTAINER_PORT[/PROTO]; ranges of the same size; protocol tcp (default), udp or sctp. An IPv6 host address in brackets: [2001:db8::1]:8080:80. No address is every host address of both families (IPv6 when the container has address6); 0.0.0.0 every IPv4 address only; [::] every IPv6 address only. [::1] is not supported (IPv6 has no route_localnet): the host reaches a publication on its own global IPv6 address.",
		"pattern":             PatternPublish,
		"patternErrorMessage": "Not a publication: [HOST_ADDRESS:]HOST_PORT:CONTAINER_PORT[/PROTO], ports 1-65535, protocol tcp, udp or sctp, an IPv6 address in brackets, e.g. 8080:80, 127.0.0.1:5432:5432/tcp or [2001:db8::1]:8080:80.",
		"errorMessage":        "Expected a publication (a string) such as 8080:80 or [::]:8080:80, or a mapping with port and allowed_sources.",
		"examples":            []any{"8080:80", "127.0.0.1:5432:5432/tcp", "8000-8010:8000-8010/udp", "[2001:db8::1]:8080:80", "[::]:8443:443"},
	}
}

func (FilePublish) jsonSchema() map[string]any {
	return map[string]any{
		"description": "A published port: its -p string, or a mapping with port and allowed_sources.",
		"anyOf": []any{
			PublishSpec("").jsonSchema(),
			map[string]any{
				"type": "object",
				"properties": map[string]any{
					"port":            PublishSpec("").jsonSchema(),
					"allowed_sources": map[string]any{"type": "array", "items": ref("Source"), "minItems": 1},
				},
				"required":             []any{"port"},
				"additionalProperties": false,
			},
		},
	}
}

func (GatewayMode) jsonSchema() map[string]any {
	return map[string]any{
		"type":        "string",
		"description": "nat (default), routed or nat-unprotected, as Docker 28.",
		"enum":        []any{"nat", "routed", "nat-unprotected"},
	}
}
