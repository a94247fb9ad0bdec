package schema

import (
	"runtime/debug"
	"sync"
	"testing"
)

// Parses running at once leave the collector as they found it.
func TestParseRestoresGC(t *testing.T) {
	prev := debug.SetGCPercent(123)
	defer debug.SetGCPercent(prev)
	data := linksFile(2000)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := Parse("links.yaml", data); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := debug.SetGCPercent(123); got != 123 {
		t.Fatalf("GC percent after the parses: %d, want 123", got)
	}
}
