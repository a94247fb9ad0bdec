package metrics

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Family is one metric family read from a text exposition.
type Family struct {
	Name, Help, Type string
	// Samples by their label set, rendered canonically: `action="create"`,
	// or "" for none.
	Samples map[string]float64
}

var (
	nameRE  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	types   = map[string]bool{"counter": true, "gauge": true, "histogram": true, "summary": true, "untyped": true}
)

// Parse reads the text exposition format strictly, as node_exporter's
// textfile collector wants it: every family has HELP and TYPE before its
// samples, a family's samples are together, no series appears twice, no
// sample carries a timestamp, and the text ends with a newline. It checks
// what netctl writes and serves the tests; it is not a general reader (no
// histograms or summaries).
func Parse(data []byte) (map[string]*Family, error) {
	text := string(data)
	if text != "" && !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("the text does not end with a newline")
	}
	fams := map[string]*Family{}
	var cur *Family
	closed := map[string]bool{} // families whose samples have ended
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		n := i + 1
		fail := func(format string, args ...any) error {
			return fmt.Errorf("line %d: %s: %q", n, fmt.Sprintf(format, args...), line)
		}
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "#"):
			f := strings.SplitN(line, " ", 4)
			if len(f) < 3 || f[0] != "#" || (f[1] != "HELP" && f[1] != "TYPE") {
				continue // a plain comment
			}
			name := f[2]
			if !nameRE.MatchString(name) {
				return nil, fail("invalid metric name")
			}
			if cur != nil && cur.Name != name {
				closed[cur.Name] = true
			}
			if closed[name] {
				return nil, fail("%s appears again after other families", name)
			}
			fam := fams[name]
			if fam == nil {
				fam = &Family{Name: name, Samples: map[string]float64{}}
				fams[name] = fam
			}
			if len(fam.Samples) > 0 {
				return nil, fail("%s after samples of %s", f[1], name)
			}
			arg := ""
			if len(f) == 4 {
				arg = f[3]
			}
			if f[1] == "HELP" {
				if fam.Help != "" {
					return nil, fail("second HELP")
				}
				fam.Help = arg
				if arg == "" {
					return nil, fail("empty HELP")
				}
			} else {
				if fam.Type != "" {
					return nil, fail("second TYPE")
				}
				if !types[arg] {
					return nil, fail("unknown type %q", arg)
				}
				fam.Type = arg
			}
			cur = fam
		default:
			name, labels, value, err := sample(line)
			if err != nil {
				return nil, fail("%v", err)
			}
			fam := fams[name]
			if fam == nil || fam.Help == "" || fam.Type == "" {
				return nil, fail("sample of %s before its HELP and TYPE", name)
			}
			if cur != fam || closed[name] {
				return nil, fail("samples of %s are not together", name)
			}
			if _, dup := fam.Samples[labels]; dup {
				return nil, fail("series %s{%s} appears twice", name, labels)
			}
			fam.Samples[labels] = value
		}
	}
	return fams, nil
}

// sample reads `name{l="v",...} value`.
func sample(line string) (name, labels string, value float64, err error) {
	rest := line
	i := strings.IndexAny(rest, "{ ")
	if i < 0 {
		return "", "", 0, fmt.Errorf("no value")
	}
	name, rest = rest[:i], rest[i:]
	if !nameRE.MatchString(name) {
		return "", "", 0, fmt.Errorf("invalid metric name")
	}
	var pairs []string
	if strings.HasPrefix(rest, "{") {
		rest = rest[1:]
		seen := map[string]bool{}
		for !strings.HasPrefix(rest, "}") {
			eq := strings.Index(rest, `="`)
			if eq < 0 {
				return "", "", 0, fmt.Errorf("malformed labels")
			}
			lname := rest[:eq]
			if !labelRE.MatchString(lname) || strings.HasPrefix(lname, "__") {
				return "", "", 0, fmt.Errorf("invalid label name %q", lname)
			}
			if seen[lname] {
				return "", "", 0, fmt.Errorf("label %s twice", lname)
			}
			seen[lname] = true
			rest = rest[eq+2:]
			var v strings.Builder
			for {
				if rest == "" {
					return "", "", 0, fmt.Errorf("unterminated label value")
				}
				c := rest[0]
				rest = rest[1:]
				if c == '"' {
					break
				}
				if c == '\\' {
					if rest == "" {
						return "", "", 0, fmt.Errorf("unterminated label value")
					}
					switch rest[0] {
					case '\\', '"':
						v.WriteByte(rest[0])
					case 'n':
						v.WriteByte('\n')
					default:
						return "", "", 0, fmt.Errorf("invalid escape \\%c", rest[0])
					}
					rest = rest[1:]
					continue
				}
				v.WriteByte(c)
			}
			pairs = append(pairs, fmt.Sprintf("%s=%q", lname, v.String()))
			if strings.HasPrefix(rest, ",") {
				rest = rest[1:]
			} else if !strings.HasPrefix(rest, "}") {
				return "", "", 0, fmt.Errorf("malformed labels")
			}
		}
		rest = rest[1:]
	}
	f := strings.Split(strings.TrimPrefix(rest, " "), " ")
	if !strings.HasPrefix(rest, " ") || len(f) != 1 {
		return "", "", 0, fmt.Errorf("expected one value after a single space (a timestamp is refused by the textfile collector)")
	}
	switch f[0] {
	case "+Inf":
		value = math.Inf(1)
	case "-Inf":
		value = math.Inf(-1)
	case "NaN":
		value = math.NaN()
	default:
		value, err = strconv.ParseFloat(f[0], 64)
		if err != nil || strings.ContainsAny(f[0], "_xXpP") {
			return "", "", 0, fmt.Errorf("invalid value %q", f[0])
		}
	}
	slices.Sort(pairs)
	return name, strings.Join(pairs, ","), value, nil
}
