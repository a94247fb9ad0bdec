// Package plural writes counts with their nouns, "1 bridge" and "2 bridges",
// for every message netctl renders: one helper, so no message says
// "1 bridges".
package plural

import "strconv"

// Count writes n with one (the singular) when n is 1, with many otherwise
// ("0 changes", "1 change", "2 changes").
func Count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// S is Count for nouns whose plural adds an s ("1 link", "3 links").
func S(n int, noun string) string { return Count(n, noun, noun+"s") }
