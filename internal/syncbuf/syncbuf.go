// Package syncbuf is a bytes.Buffer that one goroutine may write while
// another reads it: tests poll a program's output with it until a condition
// holds, instead of sleeping.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is safe for one writer and any number of readers at once.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
