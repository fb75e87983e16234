package memreturn

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// sink keeps allocations from being optimized away.
var sink [][]byte

// Garbage and freed heap above the threshold are collected and handed back
// to the OS by Run.
func TestRunReturnsFreedHeap(t *testing.T) {
	runtime.GC()
	// 64 MiB of garbage, not yet collected.
	for range 64 {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
	if Held() < 16<<20 {
		t.Fatalf("64 MiB of garbage, Held says %d bytes", Held())
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
