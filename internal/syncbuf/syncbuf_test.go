package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

func TestConcurrentWriteAndRead(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 1000; i++ {
			b.Write([]byte("x"))
		}
	}()
	for i := 0; i < 100; i++ {
		_ = b.String()
	}
	wg.Wait()
	if b.String() != strings.Repeat("x", 1000) {
		t.Fatalf("lost writes: %d bytes", len(b.String()))
	}
}
