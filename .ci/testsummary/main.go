// Command testsummary reads `go test -json` on stdin and prints what a
// person needs from a CI run: each package's result line, the full output
// of every failed test, every skipped test with its reason, and the number
// of tests run, passed, failed and skipped (subtests counted). It exits 1 if
// anything failed, including a package that did not build, or if no test
// ran at all.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action string
	// ImportPath is set on build-output and build-fail events.
	ImportPath string
	Package    string
	Test       string
	Output     string
}

func main() {
	type key struct{ pkg, test string }
	out := map[key][]string{}
	var passed, failed, skipped []key
	pkgFailed := false
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// Not an event (a build error printed by go): show it.
			fmt.Println(sc.Text())
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "build-output":
			fmt.Print(e.Output)
		case "build-fail":
			pkgFailed = true
		case "output":
			if e.Test == "" {
				if !strings.HasPrefix(e.Output, "=== ") && e.Output != "PASS\n" {
					fmt.Print(e.Output)
				}
				continue
			}
			out[k] = append(out[k], e.Output)
		case "pass":
			if e.Test != "" {
				passed = append(passed, k)
			}
			delete(out, k)
		case "fail":
			if e.Test == "" {
				pkgFailed = true
				continue
			}
			failed = append(failed, k)
			fmt.Printf("--- output of failed %s %s:\n%s", e.Package, e.Test, strings.Join(out[k], ""))
			delete(out, k)
		case "skip":
			if e.Test != "" {
				skipped = append(skipped, k)
				reason := ""
				for _, l := range out[k] {
					if t := strings.TrimSpace(l); !strings.HasPrefix(t, "=== ") && !strings.HasPrefix(t, "--- SKIP") {
						reason += " " + t
					}
				}
				out[key{e.Package, e.Test + "\x00reason"}] = []string{reason}
			}
			delete(out, k)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
	sort.Slice(skipped, func(i, j int) bool {
		return skipped[i].pkg+" "+skipped[i].test < skipped[j].pkg+" "+skipped[j].test
	})
	for _, k := range skipped {
		fmt.Printf("skipped: %s %s:%s\n", k.pkg, k.test, out[key{k.pkg, k.test + "\x00reason"}][0])
	}
	run := len(passed) + len(failed)
	fmt.Printf("tests: %d run (%d passed, %d failed), %d skipped\n", run, len(passed), len(failed), len(skipped))
	if len(failed) > 0 || pkgFailed || run == 0 {
		fmt.Println("FAIL")
		os.Exit(1)
	}
}
