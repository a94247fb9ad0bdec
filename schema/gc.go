package schema

import (
	"runtime/debug"
	"sync"
)

// Parse turns the garbage collector off (pauseGC) while it reads a file of
// at most bigFile bytes (about 13,000 links). Almost all it allocates stays live
// until it returns: two thirds is the parser's tree (about 20 bytes per
// byte of file), most of the rest the values the walk builds from it. A
// collection during the parse frees little and marks the growing tree
// again each time; at 10,000 links the collector was a fifth of the
// instructions of netctl validate. The cost is the parse's garbage held
// to its end: at most about 40 MB, at bigFile. Larger files are read
// with the collector as set, which keeps the peak of a 100,000-link
// apply where it was (a paused collector raised it from 280 to 345 MB).

// gcPause counts the Parses running with the collector paused, so that
// concurrent Parses restore the caller's setting once, when the last one
// ends.
var gcPause struct {
	sync.Mutex
	n    int
	prev int // the setting pauseGC found
}

// pauseGC turns the garbage collector off until the returned function is
// called.
func pauseGC() (resume func()) {
	gcPause.Lock()
	if gcPause.n == 0 {
		gcPause.prev = debug.SetGCPercent(-1)
	}
	gcPause.n++
	gcPause.Unlock()
	return func() {
		gcPause.Lock()
		if gcPause.n--; gcPause.n == 0 {
			debug.SetGCPercent(gcPause.prev)
		}
		gcPause.Unlock()
	}
}
