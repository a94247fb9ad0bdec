package main

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/netctl/netctl/cmd/netctl/internal/genman"
)

// manDir holds the checked-in man pages.
const manDir = "../../docs/man"

var updateMan = flag.Bool("update-man", false, "rewrite "+manDir+" from the command tree (go generate does)")

// TestManPages fails when the checked-in man pages are not those the command
// tree generates; with -update-man ('go generate ./cmd/netctl') it
// rewrites them.
func TestManPages(t *testing.T) {
	if *updateMan {
		if err := genman.Write(newRootCmd(), manDir); err != nil {
			t.Fatal(err)
		}
	}
	fresh := t.TempDir()
	if err := genman.Write(newRootCmd(), fresh); err != nil {
		t.Fatal(err)
	}
	want, got := manPages(t, fresh), manPages(t, manDir)
	if len(want) < 10 {
		t.Fatalf("only %d pages generated: %v", len(want), want)
	}
	for name, page := range want {
		if checkedIn, ok := got[name]; !ok {
			t.Errorf("%s/%s is missing", manDir, name)
		} else if checkedIn != page {
			t.Errorf("%s/%s is not current", manDir, name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s/%s is of no command", manDir, name)
		}
	}
	if t.Failed() {
		t.Log("regenerate the pages: go generate ./cmd/netctl")
	}
}

// manPages reads the *.1 files in dir by name.
func manPages(t *testing.T, dir string) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.1"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(paths)
	pages := map[string]string{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		pages[filepath.Base(p)] = string(data)
	}
	return pages
}
