package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keydesk/keydesk/store/kv"
)

// commitCounter counts the engine transactions the store commits.
type commitCounter struct {
	kv.Engine
	updates atomic.Int64
}

func (c *commitCounter) Update(ctx context.Context, fn func(kv.Tx) error) error {
	c.updates.Add(1)
	return c.Engine.Update(ctx, fn)
}

// Concurrent writers share commits, and each gets its own answer: a change
// that fails is refused alone (its group rolls back and the others run
// again, each alone), every other change lands once.
func TestConcurrentWritersShareCommitsAndKeepTheirOwnErrors(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	counter := &commitCounter{Engine: s.engine}
	s.engine = counter
	const writers, each = 16, 40
	errRefused := errors.New("refused by the test")
	// write runs writers×each changes at once, refusing those refuse names,
	// and checks every caller's answer and what is stored.
	write := func(phase string, refuse func(i int) bool) {
		var wg sync.WaitGroup
		results := make([][]error, writers)
		for w := range writers {
			results[w] = make([]error, each)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					k := fmt.Appendf(nil, "%s/%02d/%03d", phase, w, i)
					results[w][i] = s.update(func(tx kv.Tx) error {
						if refuse(i) {
							return errRefused
						}
						return tx.Put(bucketMeta, k, k)
					})
				}
			}()
		}
		wg.Wait()
		for w := range writers {
			for i, err := range results[w] {
				if refuse(i) != errors.Is(err, errRefused) || !refuse(i) && err != nil {
					t.Fatalf("%s: writer %d change %d: %v", phase, w, i, err)
				}
			}
		}
		if err := s.view(func(tx kv.Tx) error {
			for w := range writers {
				for i := range each {
					k := fmt.Appendf(nil, "%s/%02d/%03d", phase, w, i)
					v, err := tx.Get(bucketMeta, k)
					if err != nil {
						return err
					}
					if refuse(i) != (v == nil) {
						return fmt.Errorf("%s: refused %v but stored %q", k, refuse(i), v)
					}
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	write("shared", func(int) bool { return false })
	if n, changes := counter.updates.Load(), int64(writers*each); n >= changes {
		t.Fatalf("%d transactions for %d changes from %d writers at once: no group commit happened", n, changes, writers)
	}
	write("refusals", func(i int) bool { return i%10 == 3 })
}

// Close lets the changes already queued commit and refuses later ones: each
// caller's answer matches what the reopened store holds, and no one hangs.
func TestCloseAnswersEveryWriterTruthfully(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const writers = 8
	var (
		wg      sync.WaitGroup
		started sync.WaitGroup
		mu      sync.Mutex
		landed  = map[string]bool{}
	)
	started.Add(writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				k := fmt.Sprintf("c/%d/%05d", w, i)
				err := s.update(func(tx kv.Tx) error { return tx.Put(bucketMeta, []byte(k), []byte(k)) })
				if i == 0 {
					started.Done()
				}
				if errors.Is(err, errClosed) {
					return
				}
				if err != nil {
					t.Errorf("%s: %v", k, err)
					return
				}
				mu.Lock()
				landed[k] = true
				mu.Unlock()
			}
		}()
	}
	started.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := s.update(func(tx kv.Tx) error { return nil }); !errors.Is(err, errClosed) {
		t.Fatalf("a change after Close: %v, want %v", err, errClosed)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stored := map[string]bool{}
	if err := s.view(func(tx kv.Tx) error {
		return tx.Scan(bucketMeta, kv.Range{Prefix: []byte("c/")}, func(k, _ []byte) error {
			stored[string(k)] = true
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(landed) {
		t.Fatalf("%d changes acknowledged, %d stored", len(landed), len(stored))
	}
	for k := range landed {
		if !stored[k] {
			t.Fatalf("%s was acknowledged but is not stored", k)
		}
	}
}

// A change that panics (a bug) takes down only its own call, as a handler's
// recover would see it: everyone else in its group gets an answer, and the
// queue keeps committing later changes instead of waiting forever for a
// committer that is gone.
func TestAPanickingChangeLeavesTheQueueWorking(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const writers = 8
	var wg sync.WaitGroup
	answers := make(chan error, writers)
	panics := make(chan any, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					panics <- p
				}
			}()
			answers <- s.update(func(tx kv.Tx) error {
				if w == 0 {
					panic("a bug in a change")
				}
				return tx.Put(bucketMeta, fmt.Appendf(nil, "p/%d", w), []byte("x"))
			})
		}()
	}
	wg.Wait()
	close(answers)
	close(panics)
	if n := len(panics); n != 1 {
		t.Fatalf("%d callers panicked, want 1", n)
	}
	for err := range answers {
		if err != nil && !errors.Is(err, kv.ErrAmbiguous) {
			t.Fatalf("a caller beside the panic: %v", err)
		}
	}
	if err := s.update(func(tx kv.Tx) error { return tx.Put(bucketMeta, []byte("p/after"), []byte("x")) }); err != nil {
		t.Fatalf("a change after the panic: %v", err)
	}
}
