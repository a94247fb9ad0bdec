package schema

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// ifNameSize is the kernel's IFNAMSIZ: a name and its terminating NUL.
const ifNameSize = 16

// CheckIfName says what is wrong with a bridge's or an external
// interface's name, or returns nil when netctl can write it: the one rule
// for both, which the JSON Schema's PatternIfName states too.
func CheckIfName(name string) error {
	if msg := checkIfName(name); msg != "" {
		return errors.New(msg)
	}
	return nil
}

// checkIfName returns what is wrong with an interface name, or "". Linux
// (dev_valid_name) refuses an empty name, IFNAMSIZ-1 = 15 bytes or more,
// "." and "..", and '/', ':' and isspace bytes (which include 0xA0). netctl
// also refuses what it cannot write or read back faithfully: NUL; '%',
// which the kernel takes as a template ("br%d") and replaces with a number;
// '"', which an nft string cannot hold; '\\' and '*', which nft reads as an
// escape and a wildcard ("veth*" is every veth), as netctl's own rule reader
// does; the other quotes ' and `; and anything but printable ASCII.
func checkIfName(name string) string {
	switch {
	case name == "":
		return "interface name is empty"
	case len(name) >= ifNameSize:
		return fmt.Sprintf("interface name %q is %d bytes long: Linux allows at most %d", name, len(name), ifNameSize-1)
	case name == "." || name == "..":
		return fmt.Sprintf("interface name %q is not allowed by Linux", name)
	}
	for _, r := range name {
		switch {
		case r == '/' || r == ':':
			return fmt.Sprintf("interface name %q contains %q, which Linux does not allow", name, string(r))
		case unicode.IsSpace(r) || r == 0xA0:
			return fmt.Sprintf("interface name %q contains whitespace, which Linux does not allow", name)
		case r == 0:
			return fmt.Sprintf("interface name %q contains a NUL byte", name)
		case r == '%':
			return fmt.Sprintf("interface name %q contains '%%', which Linux takes as a name template and replaces", name)
		case r == '"' || r == '\'' || r == '`' || r == '\\' || r == '*':
			return fmt.Sprintf("interface name %q contains %q: netctl does not write quotes, '\\' or '*' in interface names (nft reads them as string ends, escapes and wildcards)", name, string(r))
		case r < '!' || r > '~':
			return fmt.Sprintf("interface name %q contains %q: netctl writes interface names of printable ASCII only", name, string(r))
		}
	}
	return ""
}

// validContainerName is Docker's rule for container names, as written in the
// netctl contract: [a-zA-Z0-9][a-zA-Z0-9_.-]*.
func validContainerName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum || i > 0 && !alnum && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// maxSuggestLen bounds the strings suggest compares, to keep it cheap.
const maxSuggestLen = 64

// suggest returns the candidate s most likely stands for, or "". A candidate
// is close when it differs only in case or in '-' for '_', when its edit
// distance is at most 2 and at most half the candidate's length (so "dbb"
// suggests "db", not "web"), or when one is a clear prefix of the other (at least 3 characters). The first closest
// candidate wins, so the result follows the candidates' order.
func suggest(s string, candidates []string) string {
	if len(s) > maxSuggestLen {
		return ""
	}
	norm := func(x string) string { return strings.ReplaceAll(strings.ToLower(x), "-", "_") }
	for _, c := range candidates {
		if c != s && norm(c) == norm(s) {
			return c
		}
	}
	best, bestD := "", 3
	for _, c := range candidates {
		if c == s || len(c) > maxSuggestLen {
			continue
		}
		d := levenshtein(s, c, bestD)
		if d < bestD && 2*d <= len(c) {
			best, bestD = c, d
		}
	}
	if best != "" {
		return best
	}
	for _, c := range candidates {
		if c == s {
			continue
		}
		if len(s) >= 3 && strings.HasPrefix(c, s) || len(c) >= 3 && strings.HasPrefix(s, c) {
			return c
		}
	}
	return ""
}

// didYouMean renders suggest's answer as a message suffix.
func didYouMean(s string, candidates []string) string {
	if c := suggest(s, candidates); c != "" {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}

// levenshtein is the edit distance between a and b in runes; any result of
// at least limit is returned as limit.
func levenshtein(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return min(prev[len(rb)], limit)
}
