// Package genman writes netctl's man pages (docs/man) from its command tree
// with cobra's doc generator. The pages are checked in and compared byte for
// byte with freshly generated ones, so nothing in them may depend on when or
// where they were made.
package genman

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// Date is the date in the pages' header. It is fixed, not the time of
// generation, so that generating twice gives the same pages; move it on
// when the pages change for a release.
var Date = time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)

// Write replaces the man pages in dir (netctl.1, netctl-plan.1, …) with
// those of root and its subcommands. Pages of commands that no longer exist
// are removed.
func Write(root *cobra.Command, dir string) error {
	old, err := filepath.Glob(filepath.Join(dir, "*.1"))
	if err != nil {
		return err
	}
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// The generator's tag would carry today's date; the parents' setting
	// reaches every subcommand's page.
	root.DisableAutoGenTag = true
	date := Date
	header := &doc.GenManHeader{Section: "1", Date: &date, Source: "netctl", Manual: "netctl manual"}
	if err := doc.GenManTree(root, header, dir); err != nil {
		return fmt.Errorf("writing man pages to %s: %w", dir, err)
	}
	return nil
}
