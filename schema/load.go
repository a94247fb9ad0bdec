package schema

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds what Load reads: a netctl file of a million links is
// about 80 MB, and a larger input is a mistake (-f /dev/zero), not a file.
const MaxFileSize = 64 << 20

// fileLimit is MaxFileSize; tests lower it.
var fileLimit int64 = MaxFileSize

// Stdin is the name Load reads standard input by, and the name messages
// give it.
const (
	Stdin     = "-"
	StdinName = "<stdin>"
)

// Load reads and parses the file at path, or standard input for "-" (named
// <stdin> in messages). The input must be a regular file (standard input
// may also be a pipe) of at most MaxFileSize bytes; a directory, a device
// or a FIFO is refused before anything is read from it. See Parse.
func Load(path string) (*Config, error) {
	name, data, err := read(path)
	if err != nil {
		return nil, err
	}
	cfg, err := Parse(name, data)
	if len(data) > bigFile {
		// The parser's tree, the largest thing netctl ever holds (about 40
		// bytes of it per byte of file), is garbage now; collecting it here
		// lets what follows (planning, the kernel's state, the batch) reuse
		// its memory rather than grow the heap past it (apply of 100,000
		// links: 370 MB peak RSS without this, 270 MB with it).
		runtime.GC()
	}
	return cfg, err
}

// bigFile is the size past which Load collects the parser's garbage.
const bigFile = 1 << 20

// read returns the input's name for messages and its bytes.
func read(path string) (string, []byte, error) {
	if path == Stdin {
		data, err := readLimited(StdinName, os.Stdin)
		return StdinName, data, err
	}
	// O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
	// below, as soon as it is seen.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return path, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return path, nil, err
	}
	switch m := st.Mode(); {
	case m&(os.ModeNamedPipe|os.ModeSocket) != 0 && isStdin(st):
		// -f /dev/stdin (or /proc/self/fd/0) given a pipe, as scripts
		// write it: the same input as -f -, read from the descriptor
		// already open. Any other pipe is refused.
		data, err := readLimited(path, os.Stdin)
		return path, data, err
	case m.IsDir():
		return path, nil, fmt.Errorf("%s: is a directory, not a netctl file", path)
	case !m.IsRegular():
		return path, nil, fmt.Errorf("%s: is not a regular file (%s): netctl reads a file, or standard input with -f -", path, fileKind(m))
	case st.Size() > fileLimit:
		return path, nil, tooLarge(path)
	}
	data, err := readLimited(path, f)
	return path, data, err
}

// isStdin reports whether st is the file of standard input.
func isStdin(st os.FileInfo) bool {
	in, err := os.Stdin.Stat()
	return err == nil && os.SameFile(st, in)
}

func readLimited(name string, r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, fileLimit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > fileLimit {
		return nil, tooLarge(name)
	}
	return data, nil
}

func tooLarge(name string) error {
	if fileLimit%(1<<20) != 0 {
		return fmt.Errorf("%s: larger than %d bytes, the most netctl reads", name, fileLimit)
	}
	return fmt.Errorf("%s: larger than %d MiB, the most netctl reads", name, fileLimit>>20)
}

func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "a " + m.Type().String()
}

// Parse parses and validates a netctl.yaml held in data; file names it in
// messages. It returns either a valid Config with every default filled in, or
// an error holding every problem found, one line each, sorted by line then
// column; Problems returns them one by one.
func Parse(file string, data []byte) (*Config, error) {
	if len(data) <= bigFile {
		defer pauseGC()()
	}
	p := &parser{file: file, limit: 2*len(data) + 10000}
	cfg := p.parse(data)
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

	portBlock []Port // see copyPorts

	// entries is a stack of the entries of the mappings being walked: a
	// caller of mapping pops its entries (release) when done with them, so
	// that a mapping of one key per container costs no allocation.
	entries []entry
}

// release pops the entries above mark, a length of p.entries taken before
// a call of mapping.
func (p *parser) release(mark int) { p.entries = p.entries[:mark] }

func (p *parser) addAt(line, col int, path fieldPath, format string, args ...any) {
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
	p.problems = append(p.problems, Problem{File: p.file, Line: line, Col: col, Path: path.String(), Msg: msg})
}

func (p *parser) add(n *node, path fieldPath, format string, args ...any) {
	p.addAt(n.Line, n.Column, path, format, args...)
}

func (p *parser) parse(data []byte) *Config {
	if !p.checkText(data) {
		return nil
	}
	in := &lineReader{data: data}
	dec := yaml.NewDecoder(in)
	var doc yaml.Node
	err := decode(dec, &doc)
	if errors.Is(err, io.EOF) {
		p.addAt(1, 1, fieldPath{}, "empty document: expected a mapping with bridges and settings")
		return nil
	}
	if err != nil {
		p.syntaxError(err, data, in)
		return nil
	}
	var extra yaml.Node
	switch err := decode(dec, &extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		p.syntaxError(err, data, in)
	default:
		p.addAt(extra.Line, extra.Column, fieldPath{}, "more than one document: netctl reads a single document")
	}
	return p.config(&doc)
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

// lineReader gives the YAML parser its input one line per Read, so that
// when the parser stops on an error, last is the start of the line it was
// reading: the parser's error texts carry no column, and for most errors
// of structure a line that is where the enclosing construct begins.
type lineReader struct {
	data      []byte
	off, last int
}

func (r *lineReader) Read(b []byte) (int, error) {
	if r.off >= len(r.data) {
		return 0, io.EOF
	}
	// A line longer than b is given in pieces: look no further than b holds.
	end := r.off + lineEnd(r.data[r.off:min(len(r.data), r.off+len(b))])
	n := copy(b, r.data[r.off:end])
	if r.off == 0 || r.data[r.off-1] == '\n' || r.data[r.off-1] == '\r' || isBreakEnd(r.data[:r.off]) {
		r.last = r.off
	}
	r.off += n
	return n, nil
}

// lineEnd is the length of the first line of data with its break, counting
// breaks as YAML does (see position).
func lineEnd(data []byte) int {
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '\n':
			return i + 1
		case '\r':
			if i+1 < len(data) && data[i+1] == '\n' {
				return i + 2
			}
			return i + 1
		case 0xC2: // U+0085
			if i+1 < len(data) && data[i+1] == 0x85 {
				return i + 2
			}
		case 0xE2: // U+2028, U+2029
			if i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xA8 || data[i+2] == 0xA9) {
				return i + 3
			}
		}
	}
	return len(data)
}

// isBreakEnd reports whether data ends with a multi-byte line break.
func isBreakEnd(data []byte) bool {
	n := len(data)
	return n >= 2 && data[n-2] == 0xC2 && data[n-1] == 0x85 ||
		n >= 3 && data[n-3] == 0xE2 && data[n-2] == 0x80 && (data[n-1] == 0xA8 || data[n-1] == 0xA9)
}

// lineStart is the offset of the 1-based line of data.
func lineStart(data []byte, line int) int {
	off := 0
	for l := 1; l < line && off < len(data); l++ {
		off += lineEnd(data[off:])
	}
	return off
}

// Errors of the YAML parser (not its scanner), whose line is that of the
// construct being parsed, 0-based; see syntaxError.
var parserErrors = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// syntaxError records an error from the YAML parser at the place it gives:
// "yaml: line N: MSG". For its scanner's errors N is the line of the
// problem (or of the token it was scanning, such as a quoted string left
// open). For its parser's errors N is the line before the construct being
// parsed: for a flow collection left open ([80/tcp }) that line, the one
// after N, is where to look; for the others, such as a key indented wrongly
// in a block mapping, the construct may begin far above the problem, and
// the problem is on the line the parser was reading when it stopped. The
// column is that line's first non-blank character: the parser gives none.
func (p *parser) syntaxError(err error, data []byte, in *lineReader) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	stopped := in.last // the start of the line the parser stopped in
	if name, ok := strings.CutPrefix(msg, "unknown anchor '"); ok {
		name = strings.TrimSuffix(name, "' referenced")
		// The failing alias is the last one of that name the parser read.
		off := stopped
		if i := bytes.LastIndex(data[:in.off], []byte("*"+name)); i >= 0 {
			off = i
		}
		line, col := position(data, off)
		p.addAt(line, col, fieldPath{}, "unknown alias *%s: no anchor &%s before it", shorten(name), shorten(name))
		return
	}
	off := stopped
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, text, _ := strings.Cut(rest, ": ")
		if n, err := strconv.Atoi(num); err == nil {
			msg = text
			switch {
			case !parserErrors[text]:
				off = lineStart(data, n)
			case strings.HasPrefix(text, "did not find expected ','"):
				off = lineStart(data, n+1)
			}
		}
	}
	for off < len(data) && (data[off] == ' ' || data[off] == '\t') {
		off++
	}
	line, col := position(data, off)
	if off < len(data) && (data[off] == '\n' || data[off] == '\r') {
		col = 1
	}
	if msg == "found character that cannot start any token" && tabIndented(data, line) {
		p.addAt(line, 1, fieldPath{}, "syntax error: this line is indented with a tab: YAML indents with spaces only")
		return
	}
	if unquotedBracket.Match(lineText(data, line)) {
		msg += "; " + unquoted6
	}
	p.addAt(line, col, fieldPath{}, "syntax error: %s", msg)
}

// unquotedBracket finds a publication with an IPv6 address written
// unquoted, where YAML fails to read it as a list: - [::]:8080:80.
var unquotedBracket = regexp.MustCompile(`(^|[\s,{\[-])\[[0-9A-Fa-f:.%\w]*\]:[0-9]`)

// lineText is the text of a line (1-based), without its end.
func lineText(data []byte, line int) []byte {
	start := lineStart(data, line)
	end := bytes.IndexByte(data[start:], '\n')
	if end < 0 {
		return data[start:]
	}
	return data[start : start+end]
}

// tabIndented reports whether the indentation of the given line holds a tab.
func tabIndented(data []byte, line int) bool {
	off := lineStart(data, line)
	l := data[off : off+lineEnd(data[off:])]
	indent := l[:len(l)-len(bytes.TrimLeft(l, " \t"))]
	return bytes.IndexByte(indent, '\t') >= 0
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
		// Most of a file is printable ASCII and line breaks: one
		// comparison a byte, not a rune decoded (a quarter of the time
		// validate took before the parser).
		if b := data[i]; b >= 0x20 && b <= 0x7E || b == '\n' || b == '\t' || b == '\r' {
			i++
			continue
		}
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
	p.addAt(line, col, fieldPath{}, "%s", msg)
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
func (p *parser) resolve(n *node, path fieldPath) *node {
	for hops := 0; n != nil && n.Kind == yaml.AliasNode; hops++ {
		if hops > 100 || n.Alias == nil {
			p.add(n, path, "alias *%s leads nowhere", n.Value)
			return nil
		}
		n = n.Alias
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
	if tag := n.ShortTag(); !knownTags[tag] {
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

func (p *parser) expected(n *node, path fieldPath, want string) {
	p.add(n, path, "expected %s, got %s", want, describe(n))
}

// entry is one key of a mapping, with its value resolved (nil when the value
// is unusable, its problem already recorded).
type entry struct {
	name     string
	key, val *node
	path     fieldPath
}

// mapping returns the entries of a mapping node in file order, recording
// duplicate keys and, when fields is not nil, keys that are not fields. Only
// the first of duplicate keys is returned.
func (p *parser) mapping(n *node, path fieldPath, fields []string, synonyms map[string]string) ([]entry, bool) {
	if n.Kind != yaml.MappingNode {
		p.expected(n, path, "a mapping")
		return nil, false
	}
	// The entries are taken from a stack: see parser.entries.
	mark := len(p.entries)
	p.entries = slices.Grow(p.entries, len(n.Content)/2)
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
		kpath := child(path, name)
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
		p.entries = append(p.entries, entry{name: name, key: k, val: p.resolve(n.Content[i+1], kpath), path: kpath})
	}
	return p.entries[mark:len(p.entries):len(p.entries)], true
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
func (p *parser) sequence(n *node, path fieldPath) ([]*node, bool) {
	if n.Kind != yaml.SequenceNode {
		p.expected(n, path, "a list")
		return nil, false
	}
	out := make([]*node, len(n.Content))
	for i, c := range n.Content {
		out[i] = p.resolve(c, index(path, i))
	}
	return out, true
}

func (p *parser) boolean(n *node, path fieldPath) (bool, bool) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		p.expected(n, path, "a boolean (true or false)")
		return false, false
	}
	return b, true
}

func (p *parser) integer(n *node, path fieldPath) (int64, bool) {
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
func (p *parser) text(n *node, path fieldPath) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.expected(n, path, "a string")
		return "", false
	}
	return n.Value, true
}

// port reads one port: a string as ParsePort reads it, or a YAML integer,
// which is a tcp port.
func (p *parser) port(n *node, path fieldPath) (Port, bool) {
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
func (p *parser) ports(n *node, path fieldPath) []portSrc {
	items, ok := p.sequence(n, path)
	if !ok {
		return nil
	}
	var out []portSrc
	for i, it := range items {
		if it == nil {
			continue
		}
		if pt, ok := p.port(it, index(path, i)); ok {
			out = append(out, portSrc{port: pt, node: it, path: index(path, i)})
		}
	}
	return out
}
