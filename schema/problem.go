package schema

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/go-multierror"
)

// Problem is one thing wrong with a file, at a line and column.
//
// It renders as FILE:LINE:COL: PATH: MSG, or FILE:LINE:COL: MSG when the
// problem concerns the document as a whole (syntax errors, an empty file).
type Problem struct {
	File      string
	Line, Col int
	// Path names the field, as bridges.docker0.links[2].to; empty for
	// problems with the document as a whole.
	Path string
	Msg  string
}

func (p Problem) Error() string {
	if p.Path == "" {
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", p.File, p.Line, p.Col, p.Path, p.Msg)
}

// Problems returns the individual problems held by an error from Load or
// Parse, in the order they are rendered (by line, then column). It returns
// nil for an error that holds none, such as a file that cannot be read.
func Problems(err error) []Problem {
	var me *multierror.Error
	if errors.As(err, &me) {
		var out []Problem
		for _, e := range me.Errors {
			var p Problem
			if errors.As(e, &p) {
				out = append(out, p)
			}
		}
		return out
	}
	var p Problem
	if errors.As(err, &p) {
		return []Problem{p}
	}
	return nil
}

// formatProblems renders a multierror of problems as just their lines, one
// per problem, with no header.
func formatProblems(errs []error) string {
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// newError sorts the problems by line then column (keeping the order they were
// found in for equal positions), drops exact repeats and wraps them in one
// *multierror.Error.
func newError(ps []Problem) error {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Col < ps[j].Col
	})
	me := &multierror.Error{ErrorFormat: formatProblems}
	seen := make(map[Problem]bool, len(ps))
	for _, p := range ps {
		if seen[p] {
			continue
		}
		seen[p] = true
		me.Errors = append(me.Errors, p)
	}
	return me
}

// Paths.

// simpleKey reports whether a key can be written in a path without quotes.
func simpleKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// fieldPath names a field for messages, as bridges.docker0.links[2].to.
// It is rendered only when a problem is reported: a large file has a
// million fields and few problems. base is a rendered prefix; up to three
// more steps are held as they are.
type fieldPath struct {
	base  string
	steps [3]step
	n     uint8
}

// step is a key, or the index of a list item.
type step struct {
	key   string
	i     int32
	isIdx bool
}

func (fp fieldPath) String() string {
	s := fp.base
	for _, st := range fp.steps[:fp.n] {
		if st.isIdx {
			s = s + "[" + strconv.Itoa(int(st.i)) + "]"
		} else {
			s = childText(s, st.key)
		}
	}
	return s
}

func (fp fieldPath) push(st step) fieldPath {
	if int(fp.n) == len(fp.steps) {
		fp = fieldPath{base: fp.String()}
	}
	fp.steps[fp.n] = st
	fp.n++
	return fp
}

// child is the path of key under path.
func child(path fieldPath, key string) fieldPath { return path.push(step{key: key}) }

// index is the path of the i-th item of the list at path.
func index(path fieldPath, i int) fieldPath { return path.push(step{i: int32(i), isIdx: true}) }

// childText renders key under path: bridges.docker0, or
// bridges["eth0.100"] for keys that are not plain words.
func childText(path, key string) string {
	if !simpleKey(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}
