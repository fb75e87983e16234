package kvtest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/keydesk/keydesk/store/kv"
)

// The kv.Prefetch contract: a hint changes nothing a transaction sees or
// guards. Reads after it return what they would have without it (own writes
// included, scans past the first page, more keys than one etcd request
// takes); a transaction's first read fixes its snapshot even when it is a
// prefetch; a prefetched key, range or sequence that fn then reads is guarded
// as if read directly, and one fn never reads is not guarded at all.

// testPrefetchSeesWhatReadsSee: on any engine, reads after a prefetch answer
// exactly as reads without one.
func testPrefetchSeesWhatReadsSee(t *testing.T, cfg Config, _ func(*testing.T, kv.Engine) kv.Engine) {
	e := cfg.Open(t)
	var kvs []string
	for i := 0; i < 100; i++ {
		kvs = append(kvs, fmt.Sprintf("p/%03d", i), fmt.Sprint(i))
	}
	put(t, e, BucketB, kvs...)
	put(t, e, BucketA, "x", "1", "empty", "", "m/007", "seven", "m/299", "last")
	var many []kv.Read
	for i := 0; i < 300; i++ { // more than etcd's 128 operations a request
		many = append(many, kv.GetOf(BucketA, []byte(fmt.Sprintf("m/%03d", i))))
	}
	var want, got []string
	read := func(tx kv.Tx) ([]string, error) {
		var out []string
		for _, k := range []string{"x", "empty", "absent", "m/007", "m/299"} {
			v, err := tx.Get(BucketA, []byte(k))
			if err != nil {
				return nil, err
			}
			out = append(out, fmt.Sprintf("%s=%q/%v", k, v, v == nil))
		}
		for _, r := range []kv.Range{{Prefix: []byte("p/")}, {Prefix: []byte("p/"), Limit: 3},
			{Prefix: []byte("p/"), Reverse: true, Limit: 5}, {After: []byte("p/090")}} {
			out = append(out, show(r)+": "+join(scan(t, tx, BucketB, r)))
		}
		if tx.Writable() {
			n, err := tx.NextSequence(BucketLog)
			if err != nil {
				return nil, err
			}
			out = append(out, fmt.Sprint("seq ", n))
		}
		return out, nil
	}
	hint := append([]kv.Read{kv.GetOf(BucketA, []byte("x")), kv.GetOf(BucketA, []byte("empty")),
		kv.GetOf(BucketA, []byte("absent")), kv.ScanOf(BucketB, kv.Range{Prefix: []byte("p/")}),
		kv.ScanOf(BucketB, kv.Range{Prefix: []byte("p/"), Limit: 3}),
		kv.ScanOf(BucketB, kv.Range{Prefix: []byte("p/"), Reverse: true, Limit: 5}),
		kv.ScanOf(BucketB, kv.Range{After: []byte("p/090")}), kv.SequenceOf(BucketLog)}, many...)
	for _, writable := range []bool{false, true} {
		run := e.View
		if writable {
			run = e.Update
		}
		errA := run(ctx(t), func(tx kv.Tx) (err error) { want, err = read(tx); return errRollback(writable, err) })
		errB := run(ctx(t), func(tx kv.Tx) (err error) {
			if err := kv.Prefetch(tx, hint...); err != nil {
				return err
			}
			got, err = read(tx)
			return errRollback(writable, err)
		})
		for _, err := range []error{errA, errB} {
			if err != nil && !errors.Is(err, errRolledBack) {
				t.Fatal(err)
			}
		}
		if !equal(got, want) {
			t.Fatalf("writable=%v: after a prefetch reads gave\n%v\nwithout one\n%v", writable, got, want)
		}
	}

	// A prefetch after the transaction's own writes does not hide them.
	err := e.Update(ctx(t), func(tx kv.Tx) error {
		if err := tx.Put(BucketA, []byte("x"), []byte("mine")); err != nil {
			return err
		}
		if err := tx.Put(BucketB, []byte("p/050x"), []byte("mine")); err != nil {
			return err
		}
		if err := tx.Delete(BucketB, []byte("p/051")); err != nil {
			return err
		}
		if _, err := tx.NextSequence(BucketLog); err != nil {
			return err
		}
		if err := kv.Prefetch(tx, kv.GetOf(BucketA, []byte("x")), kv.ScanOf(BucketB, kv.Range{After: []byte("p/049")}),
			kv.SequenceOf(BucketLog)); err != nil {
			return err
		}
		if v, err := tx.Get(BucketA, []byte("x")); err != nil || string(v) != "mine" {
			return fmt.Errorf("x = %q (%v) after a prefetch, want the transaction's own write", v, err)
		}
		got := scan(t, tx, BucketB, kv.Range{After: []byte("p/049")})
		if want := []string{"p/050=50", "p/050x=mine", "p/052=52"}; len(got) != 50 || !equal(got[:3], want) {
			return fmt.Errorf("scan after a prefetch: %d keys starting %v, want 50 starting %v (own put and delete in place)", len(got), got[:min(3, len(got))], want)
		}
		n, err := tx.NextSequence(BucketLog)
		if err != nil || n != 2 {
			return fmt.Errorf("second number of the transaction %d (%v), want 2", n, err)
		}
		return errRolledBack
	})
	if !errors.Is(err, errRolledBack) {
		t.Fatal(err)
	}
}

var errRolledBack = errors.New("rolled back on purpose")

// errRollback makes a writable run end without committing (its sequence
// number stays unused, so both runs take the same one).
func errRollback(writable bool, err error) error {
	if err == nil && writable {
		return errRolledBack
	}
	return err
}

func join(s []string) string { return fmt.Sprint(s) }

// testPrefetchGuards: with a peer writing between the prefetch and the
// commit, what fn read after the prefetch conflicts and what it never read
// does not.
func testPrefetchGuards(t *testing.T, cfg Config, peer func(*testing.T, kv.Engine) kv.Engine) {
	e1 := cfg.Open(t)
	e2 := peer(t, e1)
	put(t, e1, BucketA, "x", "0", "y", "0", "z", "0")
	put(t, e1, BucketB, "s/1", "0")
	hint := []kv.Read{kv.GetOf(BucketA, []byte("x")), kv.GetOf(BucketA, []byte("y")), kv.GetOf(BucketA, []byte("new")),
		kv.ScanOf(BucketB, kv.Range{Prefix: []byte("s/")}), kv.SequenceOf(BucketLog)}
	cases := []struct {
		name     string
		peer     func() // the peer's write after the prefetch
		read     func(tx kv.Tx) (string, error)
		conflict bool
	}{
		{"key read", func() { put(t, e2, BucketA, "x", "peer") }, func(tx kv.Tx) (string, error) {
			v, err := tx.Get(BucketA, []byte("x"))
			return string(v), err
		}, true},
		{"absent key read", func() { put(t, e2, BucketA, "new", "peer") }, func(tx kv.Tx) (string, error) {
			v, err := tx.Get(BucketA, []byte("new"))
			return fmt.Sprintf("%q/%v", v, v == nil), err
		}, true},
		{"range scanned", func() { put(t, e2, BucketB, "s/2", "peer") }, func(tx kv.Tx) (string, error) {
			return join(scan(t, tx, BucketB, kv.Range{Prefix: []byte("s/")})), nil
		}, true},
		{"sequence taken", func() {
			if err := e2.Update(ctx(t), func(tx kv.Tx) error { _, err := tx.NextSequence(BucketLog); return err }); err != nil {
				t.Fatal(err)
			}
		}, func(tx kv.Tx) (string, error) {
			n, err := tx.NextSequence(BucketLog)
			return fmt.Sprint(n), err
		}, true},
		{"key not in the hint, read after it", func() { put(t, e2, BucketA, "z", "peer") }, func(tx kv.Tx) (string, error) {
			v, err := tx.Get(BucketA, []byte("z")) // at the prefetch's snapshot: "0"
			return string(v), err
		}, true},
		{"prefetched, never read", func() {
			put(t, e2, BucketA, "y", "peer")
			put(t, e2, BucketB, "s/3", "peer")
		}, func(tx kv.Tx) (string, error) { return "", nil }, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runs := 0
			var first string
			err := e1.Update(ctx(t), func(tx kv.Tx) error {
				runs++
				if err := kv.Prefetch(tx, hint...); err != nil {
					return err
				}
				if runs == 1 {
					c.peer()
				}
				got, err := c.read(tx)
				if err != nil {
					return err
				}
				if runs == 1 {
					first = got
				}
				return tx.Put(BucketA, []byte(fmt.Sprint("out", i)), []byte(got))
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 2, false: 1}[c.conflict]; runs != want {
				t.Fatalf("fn ran %d times, want %d (conflict: %v); first run read %s", runs, want, c.conflict, first)
			}
			if c.conflict && bytes.Contains([]byte(first), []byte("peer")) {
				t.Fatalf("the first run read %s: the peer's write after the prefetch, not the prefetch's snapshot", first)
			}
		})
	}
}
