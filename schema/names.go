package schema

import (
	"fmt"
	"strings"
)

// ifNameSize is the kernel's IFNAMSIZ: a name and its terminating NUL.
const ifNameSize = 16

// checkIfName returns what is wrong with an interface name, or "" when Linux
// would accept it. It follows the kernel's dev_valid_name exactly (not empty,
// shorter than IFNAMSIZ, not "." or "..", no '/', ':' or isspace byte, where
// the kernel's isspace includes 0xA0), and additionally refuses NUL, which
// would cut the name short, and '%', which the kernel takes as a template
// ("br%d") and replaces with a number, so the interface would get another name.
func checkIfName(name string) string {
	switch {
	case name == "":
		return "interface name is empty"
	case len(name) >= ifNameSize:
		return fmt.Sprintf("interface name %q is %d bytes long: Linux allows at most %d", name, len(name), ifNameSize-1)
	case name == "." || name == "..":
		return fmt.Sprintf("interface name %q is not allowed by Linux", name)
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case '/', ':':
			return fmt.Sprintf("interface name %q contains %q, which Linux does not allow", name, string(c))
		case ' ', '\t', '\n', '\v', '\f', '\r', 0xA0:
			return fmt.Sprintf("interface name %q contains whitespace, which Linux does not allow", name)
		case 0:
			return fmt.Sprintf("interface name %q contains a NUL byte", name)
		case '%':
			return fmt.Sprintf("interface name %q contains '%%', which Linux takes as a name template and replaces", name)
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
