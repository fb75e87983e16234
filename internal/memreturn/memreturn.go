// Package memreturn gives the operating system back heap memory the Go
// runtime has freed but keeps.
//
// A burst of work (a thousand SSH consoles opening, each handshake and first
// frame leaving garbage) grows the heap; once collected, the runtime keeps
// the freed pages for reuse and its background scavenger returns them only
// slowly, and garbage made after the last collection stays until the next
// one, which an idle server does not reach: its RSS stays at its high-water
// mark. Run checks every interval how much heap is held beyond the live
// objects and, past a threshold and once the process has gone quiet, collects
// and returns it with debug.FreeOSMemory. Otherwise a check costs two cheap
// reads of runtime/metrics.
package memreturn

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The runtime's counts (runtime/metrics): free heap the OS has not been
// given back, the heap's objects now (live or not yet collected), and the
// live heap as of the last collection.
const (
	heapFree    = "/memory/classes/heap/free:bytes"
	heapObjects = "/memory/classes/heap/objects:bytes"
	heapLive    = "/gc/heap/live:bytes"
	heapAllocs  = "/gc/heap/allocs:bytes"
)

// Run returns held heap (see Held) to the OS once the process has gone
// quiet: at a check, every interval until ctx ends, when more than threshold
// bytes are held and less than threshold was allocated since the previous
// check. A busy process is left to its own collections, which reuse that
// memory soon anyway; forcing them would only add work.
func Run(ctx context.Context, interval time.Duration, threshold uint64) {
	t := time.NewTicker(interval)
	defer t.Stop()
	last := allocated()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := allocated()
			quiet := now-last < threshold
			last = now
			if quiet && Held() > threshold {
				debug.FreeOSMemory()
				last = allocated()
			}
		}
	}
}

// allocated is the bytes allocated on the heap since the process started.
func allocated() uint64 {
	s := []metrics.Sample{{Name: heapAllocs}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// Held is how many heap bytes the process holds beyond its live objects:
// free pages not yet returned, plus garbage made since the last collection.
// An idle server allocates next to nothing, so without a collection that
// garbage would stay resident for as long as it stays idle.
func Held() uint64 {
	s := []metrics.Sample{{Name: heapFree}, {Name: heapObjects}, {Name: heapLive}}
	metrics.Read(s)
	for _, x := range s {
		if x.Value.Kind() != metrics.KindUint64 {
			return 0
		}
	}
	free, objects, live := s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()
	if objects > live {
		free += objects - live
	}
	return free
}
