// Package kvtest is the conformance suite every kv.Engine passes: ordered
// scans both ways, read-your-writes, re-run safety, serializable conflicts,
// the phantom guard on scans, dense sequences, limits, export and changes.
// Each engine's tests call Run (or RunConfig) with a function that opens a
// fresh, empty engine on Buckets.
package kvtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keydesk/keydesk/store/kv"
	kvbolt "github.com/keydesk/keydesk/store/kv/bolt"
)

// The buckets the suite uses; engines are opened with Buckets, and Reversed
// (read newest first) gets whatever the engine does for such buckets.
const (
	BucketA   kv.Bucket = "a"
	BucketB   kv.Bucket = "b"
	BucketLog kv.Bucket = "log"
)

// Buckets lists the suite's buckets; Reversed those it pages newest first.
var (
	Buckets  = []kv.Bucket{BucketA, BucketB, BucketLog}
	Reversed = []kv.Bucket{BucketLog}
)

// Config describes an engine under test.
type Config struct {
	// Open returns a fresh, empty engine on Buckets, closed when t ends.
	Open func(t *testing.T) kv.Engine
	// Peer, when set, returns a second engine (another client or process)
	// on the same store as first. Engines whose writers can interleave
	// (optimistic concurrency) set it; the suite then also checks conflicts
	// between transactions that overlap in time.
	Peer func(t *testing.T, first kv.Engine) kv.Engine
}

// Run runs the suite on engines from open.
func Run(t *testing.T, open func(t *testing.T) kv.Engine) { RunConfig(t, Config{Open: open}) }

// RunConfig runs the suite on cfg.
func RunConfig(t *testing.T, cfg Config) {
	peer := cfg.Peer
	if peer == nil {
		peer = func(_ *testing.T, first kv.Engine) kv.Engine { return first }
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, cfg Config, peer func(*testing.T, kv.Engine) kv.Engine)
	}{
		{"ScanOrder", testScanOrder},
		{"ReadYourWrites", testReadYourWrites},
		{"OnCommitOnce", testOnCommitOnce},
		{"ReadOnlyAndUnknownBucket", testReadOnly},
		{"ConcurrentCounters", testCounters},
		{"PhantomGuard", testPhantomGuard},
		{"DenseSequence", testDenseSequence},
		{"Limits", testLimits},
		{"Export", testExport},
		{"CheckCleanAndCloseTwice", testCheckClose},
		{"PrefetchSeesWhatReadsSee", testPrefetchSeesWhatReadsSee},
	}
	if cfg.Peer != nil {
		tests = append(tests, []struct {
			name string
			fn   func(t *testing.T, cfg Config, peer func(*testing.T, kv.Engine) kv.Engine)
		}{
			{"RerunOnConflict", testRerun},
			{"ScanGuardSeesDeletes", testScanGuardDeletes},
			{"AbsentKeyGuard", testAbsentKeyGuard},
			{"ViewIsOneSnapshot", testViewSnapshot},
			{"Changes", testChanges},
			{"PrefetchGuardsWhatIsRead", testPrefetchGuards},
		}...)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, cfg, peer) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func put(t *testing.T, e kv.Engine, b kv.Bucket, kvs ...string) {
	t.Helper()
	err := e.Update(ctx(t), func(tx kv.Tx) error {
		for i := 0; i+1 < len(kvs); i += 2 {
			if err := tx.Put(b, []byte(kvs[i]), []byte(kvs[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, e kv.Engine, b kv.Bucket, k string) (v []byte) {
	t.Helper()
	err := e.View(ctx(t), func(tx kv.Tx) error {
		got, err := tx.Get(b, []byte(k))
		v = bytes.Clone(got)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func scan(t *testing.T, tx kv.Tx, b kv.Bucket, r kv.Range) []string {
	t.Helper()
	var out []string
	err := tx.Scan(b, r, func(k, v []byte) error {
		out = append(out, string(k)+"="+string(v))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// model answers r over keys (sorted ascending) as the contract defines it.
func model(keys []string, vals map[string]string, r kv.Range) []string {
	var out []string
	for _, k := range keys {
		if r.Prefix != nil && !strings.HasPrefix(k, string(r.Prefix)) {
			continue
		}
		if r.After != nil && k <= string(r.After) {
			continue
		}
		if r.Before != nil && k >= string(r.Before) {
			continue
		}
		out = append(out, k+"="+vals[k])
	}
	if r.Reverse {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	if r.Limit > 0 && len(out) > r.Limit {
		out = out[:r.Limit]
	}
	return out
}

var scanKeys = []string{"a", "ab", "abc", "ab\x00", "ab\xff", "b", "b\x00", "b\xff", "b\xff\xff", "ba", "c", "c/1", "c/2", "c/10", "d\x00\x00", "\x00", "\xff"}

func ranges() []kv.Range {
	var rs []kv.Range
	for _, rev := range []bool{false, true} {
		for _, lim := range []int{0, 1, 3} {
			rs = append(rs,
				kv.Range{Reverse: rev, Limit: lim},
				kv.Range{Prefix: []byte("ab"), Reverse: rev, Limit: lim},
				kv.Range{Prefix: []byte("b\xff"), Reverse: rev, Limit: lim},
				kv.Range{Prefix: []byte("c/"), Reverse: rev, Limit: lim},
				kv.Range{Prefix: []byte("zz"), Reverse: rev, Limit: lim},
				kv.Range{After: []byte("ab"), Reverse: rev, Limit: lim},
				kv.Range{Before: []byte("b"), Reverse: rev, Limit: lim},
				kv.Range{After: []byte("a"), Before: []byte("c"), Reverse: rev, Limit: lim},
				kv.Range{Prefix: []byte("b"), After: []byte("b\x00"), Reverse: rev, Limit: lim},
				kv.Range{Prefix: []byte("c/"), Before: []byte("c/2"), Reverse: rev, Limit: lim},
				kv.Range{After: []byte("c"), Before: []byte("b"), Reverse: rev, Limit: lim},
			)
		}
	}
	return rs
}

func testScanOrder(t *testing.T, cfg Config, _ func(*testing.T, kv.Engine) kv.Engine) {
	e := cfg.Open(t)
	vals := map[string]string{}
	var kvs []string
	for i, k := range scanKeys {
		vals[k] = fmt.Sprint(i)
		kvs = append(kvs, k, vals[k])
	}
	keys := append([]string(nil), scanKeys...)
	sort.Strings(keys)
	for _, b := range []kv.Bucket{BucketA, BucketLog} {
		put(t, e, b, kvs...)
		err := e.View(ctx(t), func(tx kv.Tx) error {
			for _, r := range ranges() {
				if got, want := scan(t, tx, b, r), model(keys, vals, r); !equal(got, want) {
					t.Errorf("bucket %s scan %s:\n got %q\nwant %q", b, show(r), got, want)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Inside an Update the transaction's own puts and deletes merge into
		// every scan in order.
		err = e.Update(ctx(t), func(tx kv.Tx) error {
			mv := map[string]string{}
			for k, v := range vals {
				mv[k] = v
			}
			for _, k := range []string{"ab\x00", "c/1", "\xff"} {
				if err := tx.Delete(b, []byte(k)); err != nil {
					return err
				}
				delete(mv, k)
			}
			for _, k := range []string{"aa", "ab", "c/3", "e", "b\xff\x00"} {
				if err := tx.Put(b, []byte(k), []byte("new")); err != nil {
					return err
				}
				mv[k] = "new"
			}
			var mk []string
			for k := range mv {
				mk = append(mk, k)
			}
			sort.Strings(mk)
			for _, r := range ranges() {
				if got, want := scan(t, tx, b, r), model(mk, mv, r); !equal(got, want) {
					t.Errorf("bucket %s scan in update %s:\n got %q\nwant %q", b, show(r), got, want)
				}
			}
			return errors.New("roll back")
		})
		if err == nil || err.Error() != "roll back" {
			t.Fatalf("update returned %v, want the function's error", err)
		}
		if v := get(t, e, b, "aa"); v != nil {
			t.Fatalf("rolled-back put is visible: %q", v)
		}
	}
	// ErrStop ends a scan early without an error.
	err := e.View(ctx(t), func(tx kv.Tx) error {
		n := 0
		err := tx.Scan(BucketA, kv.Range{}, func(k, v []byte) error {
			n++
			if n == 2 {
				return kv.ErrStop
			}
			return nil
		})
		if err != nil || n != 2 {
			t.Errorf("scan stopped by ErrStop: n=%d err=%v, want 2 and nil", n, err)
		}
		boom := errors.New("boom")
		if err := tx.Scan(BucketA, kv.Range{}, func(k, v []byte) error { return boom }); !errors.Is(err, boom) {
			t.Errorf("scan callback error: got %v, want it returned", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func show(r kv.Range) string {
	return fmt.Sprintf("{prefix %q after %q before %q reverse %v limit %d}", r.Prefix, r.After, r.Before, r.Reverse, r.Limit)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testReadYourWrites(t *testing.T, cfg Config, _ func(*testing.T, kv.Engine) kv.Engine) {
	e := cfg.Open(t)
	put(t, e, BucketA, "k", "old", "gone", "x")
	err := e.Update(ctx(t), func(tx kv.Tx) error {
		if !tx.Writable() {
			t.Error("Update's transaction says it is not writable")
		}
		if v, err := tx.Get(BucketA, []byte("k")); err != nil || string(v) != "old" {
			t.Errorf("get before put = %q, %v", v, err)
		}
		if err := tx.Put(BucketA, []byte("k"), []byte("new")); err != nil {
			return err
		}
		if v, err := tx.Get(BucketA, []byte("k")); err != nil || string(v) != "new" {
			t.Errorf("get after put = %q, %v; want new", v, err)
		}
		if err := tx.Put(BucketA, []byte("empty"), nil); err != nil {
			return err
		}
		if v, err := tx.Get(BucketA, []byte("empty")); err != nil || v == nil || len(v) != 0 {
			t.Errorf("empty value = %#v, %v; want present and empty", v, err)
		}
		if err := tx.Delete(BucketA, []byte("gone")); err != nil {
			return err
		}
		if v, err := tx.Get(BucketA, []byte("gone")); err != nil || v != nil {
			t.Errorf("get after delete = %q, %v; want absent", v, err)
		}
		if err := tx.Delete(BucketA, []byte("never")); err != nil {
			t.Errorf("deleting an absent key: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := get(t, e, BucketA, "k"); string(v) != "new" {
		t.Fatalf("after commit k = %q", v)
	}
	if v := get(t, e, BucketA, "empty"); v == nil || len(v) != 0 {
		t.Fatalf("after commit empty = %#v, want present and empty", v)
	}
	if v := get(t, e, BucketA, "gone"); v != nil {
		t.Fatalf("after commit deleted key = %q", v)
	}
	// A deleted key can be written again.
	put(t, e, BucketA, "gone", "back")
	if v := get(t, e, BucketA, "gone"); string(v) != "back" {
		t.Fatalf("re-put after delete = %q", v)
	}
	err = e.View(ctx(t), func(tx kv.Tx) error {
		if tx.Writable() {
			t.Error("View's transaction says it is writable")
		}
		if got := scan(t, tx, BucketA, kv.Range{}); !equal(got, []string{"empty=", "gone=back", "k=new"}) {
			t.Errorf("scan after commit = %q", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testOnCommitOnce(t *testing.T, cfg Config, _ func(*testing.T, kv.Engine) kv.Engine) {
	e := cfg.Open(t)
	var ran atomic.Int32
	err := e.Update(ctx(t), func(tx kv.Tx) error {
		tx.OnCommit(func() { ran.Add(1) })
		return tx.Put(BucketA, []byte("k"), []byte("v"))
	})
	if err != nil || ran.Load() != 1 {
		t.Fatalf("OnCommit ran %d times (err %v), want once", ran.Load(), err)
	}
	err = e.Update(ctx(t), func(tx kv.Tx) error {
		tx.OnCommit(func() { ran.Add(100) })
		if err := tx.Put(BucketA, []byte("k"), []byte("w")); err != nil {
			return err
		}
		return errors.New("refused")
	})
	if err == nil || ran.Load() != 1 {
		t.Fatalf("OnCommit of a rolled-back transaction ran (count %d, err %v)", ran.Load(), err)
	}
	if v := get(t, e, BucketA, "k"); string(v) != "v" {
		t.Fatalf("rolled-back write visible: %q", v)
	}
}

func testReadOnly(t *testing.T, cfg Config, _ func(*testing.T, kv.Engine) kv.Engine) {
	e := cfg.Open(t)
	err := e.View(ctx(t), func(tx kv.Tx) error {
		if err := tx.Put(BucketA, []byte("k"), []byte("v")); !errors.Is(err, kv.ErrReadOnly) {
			t.Errorf("Put in View = %v, want ErrReadOnly", err)
		}
		if err := tx.Delete(BucketA, []byte("k")); !errors.Is(err, kv.ErrReadOnly) {
			t.Errorf("Delete in View = %v, want ErrReadOnly", err)
		}
		if _, err := tx.NextSequence(BucketA); !errors.Is(err, kv.ErrReadOnly) {
			t.Errorf("NextSequence in View = %v, want ErrReadOnly", err)
		}
		if _, err := tx.Get("nope", []byte("k")); !errors.Is(err, kv.ErrUnknownBucket) {
			t.Errorf("Get on an unknown bucket = %v, want ErrUnknownBucket", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = e.Update(ctx(t), func(tx kv.Tx) error { return tx.Put("nope", []byte("k"), []byte("v")) })
	if !errors.Is(err, kv.ErrUnknownBucket) {
		t.Fatalf("Put on an unknown bucket = %v, want ErrUnknownBucket", err)
	}
}

// testCounters: read-modify-write increments from goroutines on two engines
// sum exactly to the number of Updates that returned nil.
func testCounters(t *testing.T, cfg Config, peer func(*testing.T, kv.Engine) kv.Engine) {
	e1 := cfg.Open(t)
	e2 := peer(t, e1)
	const workers, each = 8, 8
	var ok, conflicts atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		e := e1
		if w%2 == 1 {
			e = e2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				err := e.Update(context.Background(), func(tx kv.Tx) error {
					v, err := tx.Get(BucketA, []byte("ctr"))
					if err != nil {
						return err
					}
					n := uint64(0)
					if v != nil {
						n = binary.BigEndian.Uint64(v)
					}
					return tx.Put(BucketA, []byte("ctr"), binary.BigEndian.AppendUint64(nil, n+1))
				})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, kv.ErrConflict):
					conflicts.Add(1)
				default:
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := binary.BigEndian.Uint64(get(t, e1, BucketA, "ctr"))
	if got != uint64(ok.Load()) {
		t.Fatalf("counter = %d after %d acknowledged increments (%d gave up): lost or duplicated updates", got, ok.Load(), conflicts.Load())
	}
	if ok.Load() < workers*each/2 {
		t.Fatalf("only %d of %d increments committed (%d gave up on conflicts)", ok.Load(), workers*each, conflicts.Load())
	}
	t.Logf("%d increments committed, %d gave up", ok.Load(), conflicts.Load())
}

// testPhantomGuard: transactions that each count a prefix and insert while
// the count is under a cap never exceed the cap, however they interleave.
func testPhantomGuard(t *testing.T, cfg Config, peer func(*testing.T, kv.Engine) kv.Engine) {
	e1 := cfg.Open(t)
	e2 := peer(t, e1)
	const limit, workers = 5, 12
	var wg sync.WaitGroup
	var inserted atomic.Int64
	for w := 0; w < workers; w++ {
		e := e1
		if w%2 == 1 {
			e = e2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var did bool
			err := e.Update(context.Background(), func(tx kv.Tx) error {
				did = false
				n := 0
				if err := tx.Scan(BucketB, kv.Range{Prefix: []byte("slot/")}, func(k, v []byte) error {
					n++
					return nil
				}); err != nil {
					return err
				}
				if n >= limit {
					return nil
				}
				did = true
				return tx.Put(BucketB, []byte(fmt.Sprintf("slot/%02d", w)), []byte("taken"))
			})
			if err != nil && !errors.Is(err, kv.ErrConflict) {
				t.Error(err)
			}
			if err == nil && did {
				inserted.Add(1)
			}
		}()
	}
	wg.Wait()
	var n int
	if err := e1.View(ctx(t), func(tx kv.Tx) error {
		n = len(scan(t, tx, BucketB, kv.Range{Prefix: []byte("slot/")}))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n > limit || int64(n) != inserted.Load() {
		t.Fatalf("%d slots taken (%d inserts acknowledged), cap %d", n, inserted.Load(), limit)
	}
	if n != limit {
		t.Fatalf("%d slots taken, want the cap %d (every worker saw room or a full set)", n, limit)
	}
}

// testDenseSequence: numbers from two engines are 1..N with no gap or
// duplicate, and a rolled-back transaction uses none.
func testDenseSequence(t *testing.T, cfg Config, peer func(*testing.T, kv.Engine) kv.Engine) {
	e1 := cfg.Open(t)
	e2 := peer(t, e1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var got []uint64
	const workers, each = 6, 6
	for w := 0; w < workers; w++ {
		e := e1
		if w%2 == 1 {
			e = e2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				var seq uint64
				err := e.Update(context.Background(), func(tx kv.Tx) error {
					var err error
					if seq, err = tx.NextSequence(BucketLog); err != nil {
						return err
					}
					return tx.Put(BucketLog, binary.BigEndian.AppendUint64(nil, seq), []byte(fmt.Sprint(w)))
				})
				if errors.Is(err, kv.ErrConflict) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, seq)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// A transaction that takes a number and rolls back uses none.
	err := e1.Update(ctx(t), func(tx kv.Tx) error {
		if _, err := tx.NextSequence(BucketLog); err != nil {
			return err
		}
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("rolled-back update returned nil")
	}
	var next uint64
	if err := e2.Update(ctx(t), func(tx kv.Tx) error {
		a, err := tx.NextSequence(BucketLog)
		if err != nil {
			return err
		}
		b, err := tx.NextSequence(BucketLog)
		if b != a+1 {
			t.Errorf("two numbers in one transaction: %d then %d", a, b)
		}
		next = a
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("sequence numbers %v: not dense from 1", got)
		}
	}
	if next != uint64(len(got)+1) {
		t.Fatalf("after %d numbers (and a rollback) the next is %d", len(got), next)
	}
	// The entries are stored under their numbers, newest first on request.
	var keys []uint64
	if err := e1.View(ctx(t), func(tx kv.Tx) error {
		return tx.Scan(BucketLog, kv.Range{Reverse: true, Limit: 3}, func(k, v []byte) error {
			keys = append(keys, binary.BigEndian.Uint64(k))
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	n := uint64(len(got))
	if len(got) < 3 || !(keys[0] == n && keys[1] == n-1 && keys[2] == n-2) {
		t.Fatalf("newest three entries %v, want %d, %d, %d", keys, n, n-1, n-2)
	}
}

// testLimits: a transaction within Limits commits, one beyond them is
// refused whole with ErrTooLarge (or, with MaxStagedBytes, committed whole),
// a single value too big for any transaction is refused, and bulk work split
// at Limits succeeds.
func testLimits(t *testing.T, cfg Config, _ func(*testing.T, kv.Engine) kv.Engine) {
	e := cfg.Open(t)
	lim := e.Limits()
	total := 300
	chunk := total
	if lim.MaxOps > 0 {
		chunk = lim.MaxOps
	}
	for start := 0; start < total; start += chunk {
		err := e.Update(ctx(t), func(tx kv.Tx) error {
			for i := start; i < min(start+chunk, total); i++ {
				if err := tx.Put(BucketLog, []byte(fmt.Sprintf("k%04d", i)), []byte("v")); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("chunk of %d writes (Limits %+v): %v", chunk, lim, err)
		}
	}
	var n int
	if err := e.View(ctx(t), func(tx kv.Tx) error {
		n = len(scan(t, tx, BucketLog, kv.Range{Reverse: true}))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != total {
		t.Fatalf("%d keys after split writes, want %d", n, total)
	}
	if lim.MaxOps > 0 {
		err := e.Update(ctx(t), func(tx kv.Tx) error {
			for i := 0; i < 4*lim.MaxOps+8; i++ {
				if err := tx.Put(BucketA, []byte(fmt.Sprintf("big%04d", i)), []byte("v")); err != nil {
					return err
				}
			}
			return nil
		})
		switch {
		case lim.MaxStagedBytes > 0: // staged: all of it committed
			if err != nil {
				t.Fatalf("%d writes with MaxOps %d and MaxStagedBytes %d: %v", 4*lim.MaxOps+8, lim.MaxOps, lim.MaxStagedBytes, err)
			}
			n := 0
			if err := e.View(ctx(t), func(tx kv.Tx) error {
				n = len(scan(t, tx, BucketA, kv.Range{Prefix: []byte("big")}))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if n != 4*lim.MaxOps+8 {
				t.Fatalf("%d of %d writes of a staged transaction visible", n, 4*lim.MaxOps+8)
			}
		case !errors.Is(err, kv.ErrTooLarge):
			t.Fatalf("%d writes with MaxOps %d: %v, want ErrTooLarge", 4*lim.MaxOps+8, lim.MaxOps, err)
		default:
			if v := get(t, e, BucketA, "big0000"); v != nil {
				t.Fatal("part of a refused transaction was written")
			}
		}
	}
	if lim.MaxBytes > 0 {
		err := e.Update(ctx(t), func(tx kv.Tx) error {
			return tx.Put(BucketA, []byte("huge"), bytes.Repeat([]byte("x"), 3*lim.MaxBytes))
		})
		if !errors.Is(err, kv.ErrTooLarge) {
			t.Fatalf("a %d-byte value with MaxBytes %d: %v, want ErrTooLarge", 3*lim.MaxBytes, lim.MaxBytes, err)
		}
	}
}

func testExport(t *testing.T, cfg Config, _ func(*testing.T, kv.Engine) kv.Engine) {
	e := cfg.Open(t)
	put(t, e, BucketA, "x", "1", "y", "2")
	if err := e.Update(ctx(t), func(tx kv.Tx) error {
		if err := tx.Delete(BucketA, []byte("y")); err != nil {
			return err
		}
		for i := 0; i < 3; i++ {
			s, err := tx.NextSequence(BucketLog)
			if err != nil {
				return err
			}
			if err := tx.Put(BucketLog, binary.BigEndian.AppendUint64(nil, s), []byte("e")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.Export(ctx(t), f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st == nil || st.Size() != n || n == 0 {
		t.Fatalf("Export said %d bytes, file has %v", n, st)
	}
	// The export is keydesk's backup format (kvbolt.ReadBackup reads it).
	seen := map[kv.Bucket]bool{}
	err = kvbolt.ReadBackup(path, func(b kv.Bucket, seq uint64, keys int, each func(func(k, v []byte) error) error) error {
		seen[b] = true
		switch b {
		case BucketA:
			got := map[string]string{}
			if err := each(func(k, v []byte) error { got[string(k)] = string(v); return nil }); err != nil {
				return err
			}
			if _, y := got["y"]; got["x"] != "1" || y {
				t.Errorf("export bucket a: %v, want x=1 and no y", got)
			}
		case BucketLog:
			if seq != 3 || keys != 3 {
				t.Errorf("export bucket log: sequence %d with %d keys, want 3 and 3", seq, keys)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("export is not in the backup format: %v", err)
	}
	for _, b := range Buckets {
		if !seen[b] {
			t.Errorf("export lacks bucket %s", b)
		}
	}
}

func testCheckClose(t *testing.T, cfg Config, _ func(*testing.T, kv.Engine) kv.Engine) {
	e := cfg.Open(t)
	put(t, e, BucketLog, "a", "1", "b", "2")
	var lines []string
	if err := e.Check(ctx(t), func(f string, args ...any) { lines = append(lines, fmt.Sprintf(f, args...)) }); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 0 {
		t.Fatalf("Check on a clean engine reports %q", lines)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// --- tests for engines whose writers interleave (Config.Peer set) ---

// testRerun: fn re-runs when a peer changes what it read; OnCommit still
// runs once and the committed state reflects the last run.
func testRerun(t *testing.T, cfg Config, peer func(*testing.T, kv.Engine) kv.Engine) {
	e1 := cfg.Open(t)
	e2 := peer(t, e1)
	put(t, e1, BucketA, "k", "0")
	runs, commits := 0, 0
	err := e1.Update(ctx(t), func(tx kv.Tx) error {
		runs++
		v, err := tx.Get(BucketA, []byte("k"))
		if err != nil {
			return err
		}
		if runs == 1 {
			put(t, e2, BucketA, "k", "peer")
		}
		tx.OnCommit(func() { commits++ })
		return tx.Put(BucketA, []byte("k"), append(bytes.Clone(v), '+'))
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 || commits != 1 {
		t.Fatalf("fn ran %d times, OnCommit %d; want 2 and 1", runs, commits)
	}
	if v := get(t, e1, BucketA, "k"); string(v) != "peer+" {
		t.Fatalf("k = %q, want peer+ (the re-run saw the peer's write)", v)
	}
}

// testScanGuardDeletes: a key deleted from a scanned range after the scan
// makes the commit conflict.
func testScanGuardDeletes(t *testing.T, cfg Config, peer func(*testing.T, kv.Engine) kv.Engine) {
	e1 := cfg.Open(t)
	e2 := peer(t, e1)
	put(t, e1, BucketB, "h/1", "x", "h/2", "x", "h/3", "x")
	runs := 0
	err := e1.Update(ctx(t), func(tx kv.Tx) error {
		runs++
		n := len(scan(t, tx, BucketB, kv.Range{Prefix: []byte("h/")}))
		if runs == 1 {
			if err := e2.Update(ctx(t), func(tx kv.Tx) error { return tx.Delete(BucketB, []byte("h/2")) }); err != nil {
				t.Fatal(err)
			}
		}
		return tx.Put(BucketA, []byte("count"), []byte(fmt.Sprint(n)))
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := get(t, e1, BucketA, "count"); string(v) != "2" || runs != 2 {
		t.Fatalf("count = %q after %d runs, want 2 after 2 (the deletion must conflict)", v, runs)
	}
	// A write outside the part of the range a stopped scan read does not.
	runs = 0
	err = e1.Update(ctx(t), func(tx kv.Tx) error {
		runs++
		if err := tx.Scan(BucketB, kv.Range{Prefix: []byte("h/"), Limit: 1}, func(k, v []byte) error { return nil }); err != nil {
			return err
		}
		if runs == 1 {
			put(t, e2, BucketB, "h/9", "late")
		}
		return tx.Put(BucketA, []byte("first"), []byte("seen"))
	})
	if err != nil || runs != 1 {
		t.Fatalf("write beyond a limited scan's reach: %d runs, err %v; want 1 run", runs, err)
	}
}

// testAbsentKeyGuard: two transactions that both see a key absent and create
// it cannot both commit (uniqueness of an index key).
func testAbsentKeyGuard(t *testing.T, cfg Config, peer func(*testing.T, kv.Engine) kv.Engine) {
	e1 := cfg.Open(t)
	e2 := peer(t, e1)
	runs := 0
	var outcome string
	err := e1.Update(ctx(t), func(tx kv.Tx) error {
		runs++
		v, err := tx.Get(BucketA, []byte("email"))
		if err != nil {
			return err
		}
		if runs == 1 {
			put(t, e2, BucketA, "email", "peer")
		}
		if v != nil {
			outcome = "conflict with " + string(v)
			return nil
		}
		outcome = "created"
		return tx.Put(BucketA, []byte("email"), []byte("me"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if outcome != "conflict with peer" || string(get(t, e1, BucketA, "email")) != "peer" {
		t.Fatalf("outcome %q, email %q; want the peer's creation to win", outcome, get(t, e1, BucketA, "email"))
	}
}

// testViewSnapshot: every read of one View is of the same state.
func testViewSnapshot(t *testing.T, cfg Config, peer func(*testing.T, kv.Engine) kv.Engine) {
	e1 := cfg.Open(t)
	e2 := peer(t, e1)
	put(t, e1, BucketA, "x", "1", "y", "1")
	err := e1.View(ctx(t), func(tx kv.Tx) error {
		x, err := tx.Get(BucketA, []byte("x"))
		if err != nil {
			return err
		}
		put(t, e2, BucketA, "x", "2", "y", "2")
		y, err := tx.Get(BucketA, []byte("y"))
		if err != nil {
			return err
		}
		if string(x) != "1" || string(y) != "1" {
			t.Errorf("one View read x=%s y=%s, want both 1", x, y)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := get(t, e1, BucketA, "y"); string(v) != "2" {
		t.Fatalf("a new View reads y=%s, want 2", v)
	}
}

// testChanges: a peer's commits arrive on Changes in order, values in place,
// deletes marked; the engine's own commits do not.
func testChanges(t *testing.T, cfg Config, peer func(*testing.T, kv.Engine) kv.Engine) {
	e1 := cfg.Open(t)
	ch := e1.Changes()
	if ch == nil {
		return // the engine shares with no one
	}
	e2 := peer(t, e1)
	put(t, e1, BucketA, "mine", "1")
	put(t, e2, BucketA, "p", "1")
	put(t, e2, BucketB, "q", "2")
	if err := e2.Update(ctx(t), func(tx kv.Tx) error { return tx.Delete(BucketA, []byte("p")) }); err != nil {
		t.Fatal(err)
	}
	want := []string{"a/p=1", "b/q=2", "a/p deleted"}
	var got []string
	var last int64
	deadline := time.After(10 * time.Second)
	for len(got) < len(want) {
		select {
		case c := <-ch:
			if c.Bucket == "" {
				continue // a reset
			}
			if c.Revision <= last {
				t.Errorf("revision %d after %d", c.Revision, last)
			}
			last = c.Revision
			if c.Deleted {
				got = append(got, fmt.Sprintf("%s/%s deleted", c.Bucket, c.Key))
			} else {
				got = append(got, fmt.Sprintf("%s/%s=%s", c.Bucket, c.Key, c.Value))
			}
		case <-deadline:
			t.Fatalf("changes so far %q, want %q", got, want)
		}
	}
	if !equal(got, want) {
		t.Fatalf("changes %q, want %q (own commits excluded)", got, want)
	}
}
