package schema

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"gopkg.in/yaml.v3"
)

// Load reads and parses the file at path. See Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// data is Load's alone and never changes: the config's strings may be
	// slices of it rather than of a copy.
	return parse(path, data, unsafe.String(unsafe.SliceData(data), len(data)))
}

// Parse parses and validates a netctl.yaml held in data; file names it in
// messages. It returns either a valid Config with every default filled in, or
// an error holding every problem found, one line each, sorted by line then
// column; Problems returns them one by one.
func Parse(file string, data []byte) (*Config, error) {
	return parse(file, data, string(data))
}

// parse is Parse, text being data as a string.
func parse(file string, data []byte, text string) (*Config, error) {
	p := &parser{file: file, limit: 2*len(data) + 10000}
	cfg := p.parse(data, text)
	if p.tooBig {
		// What follows the cut saw a truncated tree: not worth reporting.
		p.problems = p.problems[:p.cut]
	}
	if len(p.problems) > 0 {
		return nil, newError(p.problems)
	}
	return cfg, nil
}

// parser gathers problems while walking the tree of nodes.
type parser struct {
	file     string
	problems []Problem

	// visits counts nodes walked; aliases can make a small file walk a
	// large tree, so the walk stops at limit (twice the nodes a file of
	// that size can hold without aliases), keeping the cut first problems.
	visits, limit int
	tooBig        bool
	cut           int

	// quiet is set while the fast reader's tree is walked: a file with a
	// problem is read again by yaml.v3 and walked again, so only whether
	// there is a problem counts, and neither paths nor messages are made.
	quiet bool

	portBlock []Port // see copyPorts

	// otherTags holds the tags of tagOther nodes (fromYAML).
	otherTags map[*node]string
}

// child and index are the paths of problems.go, or "" when quiet.
func (p *parser) child(path, key string) string {
	if p.quiet {
		return ""
	}
	return child(path, key)
}

func (p *parser) index(path string, i int) string {
	if p.quiet {
		return ""
	}
	return index(path, i)
}

func (p *parser) addAt(line, col int, path, format string, args ...any) {
	if p.quiet {
		p.problems = append(p.problems, Problem{})
		return
	}
	msg := fmt.Sprintf(format, args...)
	// One problem, one line, whatever the input held.
	msg = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\u0085' || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, msg)
	if line < 1 {
		line = 1
	}
	if col < 1 {
		col = 1
	}
	p.problems = append(p.problems, Problem{File: p.file, Line: line, Col: col, Path: path, Msg: msg})
}

func (p *parser) add(n *node, path, format string, args ...any) {
	p.addAt(int(n.Line), int(n.Column), path, format, args...)
}

func (p *parser) parse(data []byte, text string) *Config {
	if !p.checkText(data) {
		return nil
	}
	if doc, ok := fastRead(text); ok {
		p.quiet = true
		if cfg := p.config(doc); len(p.problems) == 0 {
			return cfg
		}
		// A file with problems is read again by yaml.v3: every message
		// comes from the reference reader.
		*p = parser{file: p.file, limit: p.limit}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := decode(dec, &doc)
	if errors.Is(err, io.EOF) {
		p.addAt(1, 1, "", "empty document: expected a mapping with bridges and settings")
		return nil
	}
	if err != nil {
		p.syntaxError(err, data)
		return nil
	}
	var extra yaml.Node
	switch err := decode(dec, &extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		p.syntaxError(err, data)
	default:
		p.addAt(extra.Line, extra.Column, "", "more than one document: netctl reads a single document")
	}
	return p.config(p.fromYAML(&doc))
}

// decode runs the YAML decoder, turning a panic inside it into an error so
// that no input can crash the caller.
func decode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: internal error: %v", r)
		}
	}()
	return dec.Decode(n)
}

var (
	yamlLineRE   = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	yamlAnchorRE = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)
)

// syntaxError records an error from the YAML decoder. yaml.v3 gives no
// column, and for parser errors a line that is the start of the enclosing
// construct, off by one; so the line is found by decoding ever shorter
// prefixes of the file: the first line at which the same error appears is
// where the problem is. The column is that line's first non-blank character.
func (p *parser) syntaxError(err error, data []byte) {
	msg := err.Error()
	if m := yamlAnchorRE.FindStringSubmatch(msg); m != nil {
		line, col := 1, 1
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			line, col = position(data, i)
		}
		p.addAt(line, col, "", "unknown alias *%s: no anchor &%s before it", shorten(m[1]), shorten(m[1]))
		return
	}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	line, col := errorLine(data, err.Error())
	if msg == "found character that cannot start any token" && col > 1 && tabIndented(data, line) {
		p.addAt(line, 1, "", "syntax error: this line is indented with a tab: YAML indents with spaces only")
		return
	}
	p.addAt(line, col, "", "syntax error: %s", msg)
}

// errorLine finds the first line whose prefix of the file fails to decode
// with the error want, by bisection over line ends.
func errorLine(data []byte, want string) (line, col int) {
	var ends []int
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	same := func(k int) bool {
		err := firstError(data[:ends[k]])
		return err != nil && err.Error() == want
	}
	lo, hi := 0, len(ends)-1 // the whole file fails with want
	for lo < hi {
		mid := (lo + hi) / 2
		if same(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	start := 0
	if lo > 0 {
		start = ends[lo-1]
	}
	for start < ends[lo] && (data[start] == ' ' || data[start] == '\t') {
		start++
	}
	if start >= len(data) || data[start] == '\n' || data[start] == '\r' {
		return position(data, max(ends[lo]-1, 0))
	}
	return position(data, start)
}

// tabIndented reports whether the indentation of the given line (1-based,
// counting '\n' only) holds a tab.
func tabIndented(data []byte, line int) bool {
	lines := bytes.Split(data, []byte("\n"))
	if line < 1 || line > len(lines) {
		return false
	}
	l := lines[line-1]
	indent := l[:len(l)-len(bytes.TrimLeft(l, " \t"))]
	return bytes.IndexByte(indent, '\t') >= 0
}

// firstError decodes every document of data and returns the first error.
func firstError(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := decode(dec, &n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// position is the 1-based line and column (in characters) of byte offset
// off, counting line breaks the way YAML does.
func position(data []byte, off int) (line, col int) {
	line, col = 1, 1
	for i := 0; i < off && i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == '\r' && i+1 < len(data) && data[i+1] == '\n':
			// \r\n is one break, counted at the \n.
			col++
		case r == '\n' || r == '\r' || r == '\u0085' || r == '\u2028' || r == '\u2029':
			line, col = line+1, 1
		default:
			col++
		}
		i += size
	}
	return line, col
}

// checkText refuses what the YAML reader would refuse without a position:
// text that is not UTF-8 and characters YAML does not allow.
func checkText(data []byte) (off int, msg string) {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return i, "the file is not valid UTF-8"
		case r == '\uFEFF' && i == 0:
			// A byte order mark may open the file.
		case !printable(r):
			return i, fmt.Sprintf("character %U is not allowed in YAML", r)
		}
		i += size
	}
	return 0, ""
}

func (p *parser) checkText(data []byte) bool {
	off, msg := checkText(data)
	if msg == "" {
		return true
	}
	line, col := position(data, off)
	p.addAt(line, col, "", "%s", msg)
	return false
}

// printable is YAML's set of characters allowed in a stream.
func printable(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == '\u0085':
		return true
	case r >= 0x20 && r <= 0x7E:
		return true
	case r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD && r != 0xFEFF, r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// Walking nodes.

// knownTags are the YAML tags the loader understands.
var knownTags = map[string]bool{
	"!!str": true, "!!int": true, "!!bool": true, "!!float": true, "!!null": true,
	"!!map": true, "!!seq": true, "!!timestamp": true, "!!merge": true,
}

// resolve follows aliases and counts the walk. It returns nil, after
// recording why, for a node that cannot be used.
func (p *parser) resolve(n *node, path string) *node {
	for hops := 0; n != nil && n.Kind == yaml.AliasNode; hops++ {
		if hops > 100 || n.alias() == nil {
			p.add(n, path, "alias *%s leads nowhere", n.Value)
			return nil
		}
		n = n.alias()
	}
	if n == nil || p.tooBig {
		return nil
	}
	if p.visits++; p.visits > p.limit {
		p.tooBig = true
		p.add(n, path, "aliases expand the document too much")
		p.cut = len(p.problems)
		return nil
	}
	if tag := p.tagText(n); !knownTags[tag] {
		p.add(n, path, "unsupported YAML tag %s", shorten(tag))
		return nil
	}
	return n
}

func isNull(n *node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node holds, for "expected X, got Y".
func describe(n *node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	}
	v := strconv.Quote(shorten(n.Value))
	switch n.ShortTag() {
	case "!!null":
		return "null"
	case "!!bool":
		return "the boolean " + n.Value
	case "!!int":
		return "the integer " + shorten(n.Value)
	case "!!float":
		return "the number " + shorten(n.Value)
	case "!!str":
		return "the string " + v
	}
	return v
}

func (p *parser) expected(n *node, path, want string) {
	p.add(n, path, "expected %s, got %s", want, describe(n))
}

// entry is one key of a mapping, with its value resolved (nil when the value
// is unusable, its problem already recorded).
type entry struct {
	name     string
	key, val *node
	path     string
}

// mapping returns the entries of a mapping node in file order, recording
// duplicate keys and, when fields is not nil, keys that are not fields. Only
// the first of duplicate keys is returned.
func (p *parser) mapping(n *node, path string, fields []string, synonyms map[string]string) ([]entry, bool) {
	if n.Kind != yaml.MappingNode {
		p.expected(n, path, "a mapping")
		return nil, false
	}
	out := make([]entry, 0, len(n.Content)/2)
	// Keys seen, for duplicates: a map only for large mappings (the
	// containers of a bridge); most have a few keys.
	var seen map[string]*node
	var few [8]struct {
		name string
		key  *node
	}
	nfew := 0
	if len(n.Content)/2 > len(few) {
		seen = make(map[string]*node, len(n.Content)/2)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := p.resolve(n.Content[i], path)
		if k == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			p.add(k, path, "expected a name as key, got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			p.add(k, path, "merge keys (<<) are not supported")
			continue
		}
		name := k.Value
		if isNull(k) {
			name = ""
		}
		kpath := p.child(path, name)
		var first *node
		if seen != nil {
			first = seen[name]
		} else {
			for _, f := range few[:nfew] {
				if f.name == name {
					first = f.key
					break
				}
			}
		}
		if first != nil {
			p.add(k, kpath, "duplicate key %q (first at line %d)", shorten(name), first.Line)
			continue
		}
		if seen != nil {
			seen[name] = k
		} else {
			few[nfew].name, few[nfew].key = name, k
			nfew++
		}
		if fields != nil && !contains(fields, name) {
			hint := didYouMean(name, fields)
			if s, ok := synonyms[strings.ToLower(name)]; ok && hint == "" {
				hint = fmt.Sprintf(" (did you mean %q?)", s)
			}
			p.add(k, kpath, "unknown field%s", hint)
			continue
		}
		out = append(out, entry{name: name, key: k, val: p.resolve(n.Content[i+1], kpath), path: kpath})
	}
	return out, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sequence returns the items of a list node, resolved; unusable items are
// nil.
func (p *parser) sequence(n *node, path string) ([]*node, bool) {
	if n.Kind != yaml.SequenceNode {
		p.expected(n, path, "a list")
		return nil, false
	}
	out := make([]*node, len(n.Content))
	for i, c := range n.Content {
		out[i] = p.resolve(c, p.index(path, i))
	}
	return out, true
}

func (p *parser) boolean(n *node, path string) (bool, bool) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		p.expected(n, path, "a boolean (true or false)")
		return false, false
	}
	return b, true
}

func (p *parser) integer(n *node, path string) (int64, bool) {
	var v int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		p.expected(n, path, "an integer")
		return 0, false
	}
	if n.Decode(&v) != nil {
		p.add(n, path, "integer %s is out of range", shorten(n.Value))
		return 0, false
	}
	return v, true
}

// text returns a scalar's text. Any scalar will do (a container may be
// named 1), except null.
func (p *parser) text(n *node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.expected(n, path, "a string")
		return "", false
	}
	return n.Value, true
}

// port reads one port: a string as ParsePort reads it, or a YAML integer,
// which is a tcp port.
func (p *parser) port(n *node, path string) (Port, bool) {
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!str":
			pt, msg := parsePort(n.Value)
			if msg != "" {
				p.add(n, path, "%s", msg)
				return Port{}, false
			}
			return pt, true
		case "!!int":
			var v int64
			if n.Decode(&v) != nil || v < 1 || v > 65535 {
				p.add(n, path, "port %s is out of range 1-65535", shorten(n.Value))
				return Port{}, false
			}
			return Port{Proto: "tcp", First: uint16(v), Last: uint16(v)}, true
		}
	}
	p.expected(n, path, "a port such as 80, 5432/tcp or 1000-2000/udp")
	return Port{}, false
}

// ports reads a list of ports; entries that are wrong are left out, their
// problems recorded.
func (p *parser) ports(n *node, path string) []portSrc {
	items, ok := p.sequence(n, path)
	if !ok {
		return nil
	}
	var out []portSrc
	for i, it := range items {
		if it == nil {
			continue
		}
		if pt, ok := p.port(it, p.index(path, i)); ok {
			out = append(out, portSrc{port: pt, node: it, path: p.index(path, i)})
		}
	}
	return out
}
