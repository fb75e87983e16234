package store_test

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/store/kv"
)

// TestEachTokenRowStopsItsReader: a listing of several pages that ends early
// (the caller stops, or fails, in the middle of a page) returns at once with
// the caller's answer and leaves no page reader behind; a full listing still
// sees every token once, in order.
func TestEachTokenRowStopsItsReader(t *testing.T) {
	o := newOrg(t)
	if err := o.s.BulkLoad(o.ownerA, store.BulkSpec{Users: 1200, TokensPerUser: 5}); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	seen, last := map[string]bool{}, ""
	if err := o.s.EachTokenRow(o.ownerA, store.TokenQuery{All: true}, func(r *store.TokenRow) error {
		id := string(r.ID)
		if seen[id] || (last != "" && id >= last) {
			t.Fatalf("token %s out of order or twice (after %s)", id, last)
		}
		seen[id], last = true, id
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 6000 {
		t.Fatalf("listed %d tokens, want 6000 (more than one page)", len(seen))
	}
	failed := errors.New("client went away")
	for _, c := range []struct {
		stopAt int
		ret    error
		want   error
	}{{10, kv.ErrStop, nil}, {4500, kv.ErrStop, nil}, {4500, failed, failed}} {
		n := 0
		err := o.s.EachTokenRow(o.ownerA, store.TokenQuery{All: true}, func(*store.TokenRow) error {
			if n++; n == c.stopAt {
				return c.ret
			}
			return nil
		})
		if !errors.Is(err, c.want) || (c.want == nil && err != nil) || n != c.stopAt {
			t.Fatalf("stopped at %d with %v: got %v after %d rows", c.stopAt, c.ret, err, n)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after the listings, %d before: a page reader was left running", runtime.NumGoroutine(), before)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}
