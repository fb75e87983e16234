// Package memreturn gives the operating system back heap memory the Go
// runtime has freed but keeps.
//
// A burst of work (a thousand SSH consoles opening, each handshake and first
// frame leaving garbage) grows the heap; once collected, the runtime keeps
// the freed pages for reuse and its background scavenger returns them only
// slowly, so a long-running server's RSS stays at its high-water mark for
// minutes. Run checks every interval how much freed heap is still held and,
// past a threshold, returns it with debug.FreeOSMemory (one forced collection,
// then all free pages released). Below the threshold it costs one cheap read
// of runtime/metrics.
package memreturn

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// heapFree is the runtime's count of free heap bytes that the OS has not been
// given back: what FreeOSMemory would release.
const heapFree = "/memory/classes/heap/free:bytes"

// Run returns freed heap to the OS whenever more than threshold bytes of it
// are held at a check, checking every interval until ctx ends.
func Run(ctx context.Context, interval time.Duration, threshold uint64) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if Held() > threshold {
				debug.FreeOSMemory()
			}
		}
	}
}

// Held is how many bytes of freed heap the runtime holds now.
func Held() uint64 {
	s := []metrics.Sample{{Name: heapFree}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
