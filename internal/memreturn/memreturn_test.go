package memreturn

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// sink keeps allocations from being optimized away.
var sink [][]byte

// Freed heap above the threshold is handed back to the OS by Run.
func TestRunReturnsFreedHeap(t *testing.T) {
	// 64 MiB of garbage, collected: freed, still held by the runtime.
	for range 64 {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
	runtime.GC()
	if Held() < 16<<20 {
		t.Skipf("the runtime already returned the memory (%d bytes held); nothing to show", Held())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); Run(ctx, time.Millisecond, 8<<20) }()
	deadline := time.Now().Add(30 * time.Second)
	for Held() >= 8<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("still %d bytes of freed heap held", Held())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}
