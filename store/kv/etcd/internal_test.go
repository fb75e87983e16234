package etcd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/etcdtest"
	"github.com/keydesk/keydesk/store/kv"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestRevKeyReversesOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0x00, 0x01, 'a', 0xFE, 0xFF}
	var keys [][]byte
	keys = append(keys, []byte{})
	for i := 0; i < 400; i++ {
		k := make([]byte, r.IntN(5))
		for j := range k {
			k[j] = alphabet[r.IntN(len(alphabet))]
		}
		keys = append(keys, k)
	}
	for _, a := range keys {
		back, err := unrevKey(revKey(a))
		if err != nil || !bytes.Equal(back, a) {
			t.Fatalf("unrevKey(revKey(%x)) = %x, %v", a, back, err)
		}
		for _, b := range keys {
			if got, want := bytes.Compare(revKey(a), revKey(b)), -bytes.Compare(a, b); got != want {
				t.Fatalf("compare(rev %x, rev %x) = %d, want %d", a, b, got, want)
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
	if _, err := unrevKey([]byte{0x10}); err == nil {
		t.Fatal("unterminated mirror key decoded")
	}
}

func openEngine(t *testing.T, endpoint, prefix string, opts Options) *Engine {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: etcdtest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	opts.Prefix, opts.Buckets, opts.OwnClient = prefix, []kv.Bucket{"a", "log"}, true
	opts.Reversed = []kv.Bucket{"log"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := Open(ctx, cli, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func incr(ctx context.Context, e *Engine, arm func()) error {
	return e.Update(ctx, func(tx kv.Tx) error {
		v, err := tx.Get("a", []byte("n"))
		if err != nil {
			return err
		}
		var n uint64
		if v != nil {
			n = binary.BigEndian.Uint64(v)
		}
		if arm != nil {
			arm()
			arm = nil
		}
		return tx.Put("a", []byte("n"), binary.BigEndian.AppendUint64(nil, n+1))
	})
}

func counter(t *testing.T, e *Engine) uint64 {
	t.Helper()
	var n uint64
	err := e.View(context.Background(), func(tx kv.Tx) error {
		v, err := tx.Get("a", []byte("n"))
		if v != nil {
			n = binary.BigEndian.Uint64(v)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A commit whose connection is cut after the member got it has landed; the
// engine must find that out (nonce) instead of running it again.
func TestAmbiguousCommitThatLandedIsNotRepeated(t *testing.T) {
	c := etcdtest.Shared(t)
	p := etcdtest.NewProxy(t, c.Members[0].ClientURL)
	e := openEngine(t, p.URL(), c.Prefix(t), Options{RequestTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := incr(ctx, e, nil); err != nil { // lease granted, connection up
		t.Fatal(err)
	}
	// The cut takes the next chunk the client sends: usually the commit, but
	// a lease keepalive or a watch progress request can go first, and then
	// the commit simply goes over a new connection. Try until one commit was
	// cut (every try is an acknowledged increment either way).
	want := uint64(1)
	for try := 0; try < 5 && e.Stats().Ambiguous.Load() == 0; try++ {
		if err := incr(ctx, e, p.CutAfterNext); err != nil {
			t.Fatalf("increment over a cut connection: %v", err)
		}
		want++
	}
	if got := counter(t, e); got != want {
		t.Fatalf("counter = %d after %d acknowledged increments", got, want)
	}
	if e.Stats().Ambiguous.Load() < 1 || e.Stats().Landed.Load() < 1 {
		t.Fatalf("ambiguous %d, landed %d: the cut commit was not settled by the nonce",
			e.Stats().Ambiguous.Load(), e.Stats().Landed.Load())
	}
}

// A commit that never arrived is fenced (its nonce taken) and then retried:
// it lands exactly once.
func TestAmbiguousCommitThatDidNotLandIsFencedThenRetried(t *testing.T) {
	c := etcdtest.Shared(t)
	p := etcdtest.NewProxy(t, c.Members[0].ClientURL)
	e := openEngine(t, p.URL(), c.Prefix(t), Options{RequestTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := incr(ctx, e, nil); err != nil {
		t.Fatal(err)
	}
	// As above: the dropped chunk may be a keepalive rather than the commit,
	// so try until a commit was dropped.
	want, tries := uint64(1), 0
	for ; tries < 5 && e.Stats().Ambiguous.Load() == 0; tries++ {
		if err := incr(ctx, e, p.DropNext); err != nil {
			t.Fatalf("increment over a dropped request: %v", err)
		}
		want++
	}
	if got := counter(t, e); got != want {
		t.Fatalf("counter = %d after %d acknowledged increments", got, want)
	}
	if p.Dropped != tries || e.Stats().Ambiguous.Load() < 1 || e.Stats().Landed.Load() != 0 {
		t.Fatalf("dropped %d, ambiguous %d, landed %d; want %d, ≥1, 0", p.Dropped,
			e.Stats().Ambiguous.Load(), e.Stats().Landed.Load(), tries)
	}
}

// A transaction that read more keys than one request may compare still
// commits (guards merge per bucket) and still conflicts when it should.
func TestManyReadsMergeGuards(t *testing.T) {
	c := etcdtest.Shared(t)
	prefix := c.Prefix(t)
	e := openEngine(t, c.Members[0].ClientURL, prefix, Options{})
	peer := openEngine(t, c.Members[0].ClientURL, prefix, Options{})
	ctx := context.Background()
	runs := 0
	err := e.Update(ctx, func(tx kv.Tx) error {
		runs++
		for i := 0; i < 300; i++ {
			if _, err := tx.Get("a", binary.BigEndian.AppendUint64(nil, uint64(i))); err != nil {
				return err
			}
		}
		if runs == 1 {
			if err := peer.Update(ctx, func(tx kv.Tx) error {
				return tx.Put("a", binary.BigEndian.AppendUint64(nil, 150), []byte("x"))
			}); err != nil {
				t.Fatal(err)
			}
		}
		return tx.Put("a", []byte("done"), []byte("y"))
	})
	if err != nil || runs != 2 {
		t.Fatalf("300 reads: err %v after %d runs, want nil after 2 (a conflict inside the merged guard)", err, runs)
	}
}

// Freshness: a consumer that applies what Changes delivers is fresh while
// the watch keeps up; an engine cut off from etcd stops being fresh.
func TestFreshnessFollowsTheWatch(t *testing.T) {
	c := etcdtest.Shared(t)
	prefix := c.Prefix(t)
	p := etcdtest.NewProxy(t, c.Members[0].ClientURL)
	e := openEngine(t, p.URL(), prefix, Options{FreshEvery: 20 * time.Millisecond, RequestTimeout: 500 * time.Millisecond})
	peer := openEngine(t, c.Members[0].ClientURL, prefix, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if e.Fresh() {
		t.Fatal("fresh before anyone watched")
	}
	ch := e.Changes()
	go func() {
		for c := range ch {
			e.Applied(c.Revision)
		}
	}()
	if err := e.WaitFresh(ctx); err != nil {
		t.Fatalf("never fresh: %+v", e.Freshness())
	}
	if err := incr(ctx, peer, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitFresh(ctx); err != nil {
		t.Fatalf("not fresh after a peer's commit: %+v", e.Freshness())
	}
	p.Blackhole(true)
	deadline := time.Now().Add(5 * time.Second)
	for e.Fresh() {
		if time.Now().After(deadline) {
			t.Fatalf("still fresh 5 s after being cut off: %+v", e.Freshness())
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.Blackhole(false)
	if err := e.WaitFresh(ctx); err != nil {
		t.Fatalf("not fresh again after the network healed: %+v", e.Freshness())
	}
}

// A watch that must resume from a compacted revision sends a reset.
func TestCompactionBeyondTheWatchResets(t *testing.T) {
	c := etcdtest.Shared(t)
	prefix := c.Prefix(t)
	e := openEngine(t, c.Members[0].ClientURL, prefix, Options{})
	peer := openEngine(t, c.Members[0].ClientURL, prefix, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		if err := incr(ctx, peer, nil); err != nil {
			t.Fatal(err)
		}
	}
	rev, err := peer.linearizableRev(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Client().Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	select {
	case ch := <-e.Changes():
		if ch.Bucket != "" || ch.Revision < rev {
			t.Fatalf("first change after compaction %+v, want a reset at ≥ %d", ch, rev)
		}
	case <-ctx.Done():
		t.Fatal("no reset after the watch's revisions were compacted")
	}
	if e.Stats().Resets.Load() != 1 {
		t.Fatalf("resets = %d", e.Stats().Resets.Load())
	}
	// Delivery resumes after the reset.
	if err := incr(ctx, peer, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case ch := <-e.Changes():
		if string(ch.Key) != "n" {
			t.Fatalf("after the reset got %+v", ch)
		}
	case <-ctx.Done():
		t.Fatal("no change delivered after the reset")
	}
}

// A numbered bucket pages newest first by windows of numbers, with gaps,
// bounds, limits and the transaction's own writes, like any reverse scan.
func TestNumberedBucketDescending(t *testing.T) {
	c := etcdtest.Shared(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: etcdtest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e, err := Open(ctx, cli, Options{Prefix: c.Prefix(t), Buckets: []kv.Bucket{"log"}, Numbered: []kv.Bucket{"log"}, OwnClient: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var all []uint64
	for chunk := 0; chunk < 5; chunk++ {
		err := e.Update(ctx, func(tx kv.Tx) error {
			for i := 0; i < 60; i++ {
				n, err := tx.NextSequence("log")
				if err != nil {
					return err
				}
				if n%7 == 3 {
					continue // a gap
				}
				if err := tx.Put("log", u64(n), []byte("e")); err != nil {
					return err
				}
				all = append(all, n)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Update(ctx, func(tx kv.Tx) error { return tx.Put("log", []byte("short"), nil) }); err == nil {
		t.Fatal("a non-numeric key went into a numbered bucket")
	}
	want := func(after, before uint64, limit int) []uint64 {
		var out []uint64
		for i := len(all) - 1; i >= 0; i-- {
			if all[i] > after && (before == 0 || all[i] < before) {
				out = append(out, all[i])
			}
		}
		if limit > 0 && len(out) > limit {
			out = out[:limit]
		}
		return out
	}
	for _, q := range []struct {
		after, before uint64
		limit         int
	}{{0, 0, 0}, {0, 0, 5}, {0, 150, 0}, {0, 150, 100}, {40, 0, 0}, {40, 290, 7}, {299, 0, 0}} {
		r := kv.Range{Reverse: true, Limit: q.limit}
		if q.after > 0 {
			r.After = u64(q.after)
		}
		if q.before > 0 {
			r.Before = u64(q.before)
		}
		var got []uint64
		err := e.View(ctx, func(tx kv.Tx) error {
			return tx.Scan("log", r, func(k, v []byte) error {
				n, _ := parseU64(k)
				got = append(got, n)
				return nil
			})
		})
		w := want(q.after, q.before, q.limit)
		if err != nil || len(got) != len(w) || (len(w) > 0 && (got[0] != w[0] || got[len(got)-1] != w[len(w)-1])) {
			t.Fatalf("scan %+v: got %d keys %v…, want %d %v…", q, len(got), head(got), len(w), head(w))
		}
	}
}

func head(s []uint64) []uint64 { return s[:min(len(s), 4)] }

func TestRetryableReadIsUnavailableOnly(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{rpctypes.ErrLeaderChanged, true},
		{rpctypes.ErrNoLeader, true},
		{rpctypes.ErrGRPCLeaderChanged, true},
		{rpctypes.ErrCompacted, false},
		{rpctypes.ErrGRPCCompacted, false},
		{rpctypes.ErrTooManyOps, false},
		{context.DeadlineExceeded, false},
		{context.Canceled, false},
		{errors.New("something else"), false},
	} {
		if got := retryableRead(c.err); got != c.want {
			t.Errorf("retryableRead(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// A read that loses its connection on the way (a leader change, a reset
// connection: Unavailable) is tried again, as clientv3 tries a Range again,
// instead of failing the transaction: a transaction's first read and
// Prefetch are read-only Txns, and clientv3 never retries a Txn.
func TestReadTxnRetriedOverALostConnection(t *testing.T) {
	c := etcdtest.Shared(t)
	p := etcdtest.NewProxy(t, c.Members[0].ClientURL)
	e := openEngine(t, p.URL(), c.Prefix(t), Options{RequestTimeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := incr(ctx, e, nil); err != nil { // n = 1, connection up
		t.Fatal(err)
	}
	reads := map[string]func(tx kv.Tx) ([]byte, error){
		"Prefetch then Get": func(tx kv.Tx) ([]byte, error) {
			if err := tx.(kv.Prefetcher).Prefetch(kv.GetOf("a", []byte("n"))); err != nil {
				return nil, err
			}
			return tx.Get("a", []byte("n"))
		},
		"Get": func(tx kv.Tx) ([]byte, error) { return tx.Get("a", []byte("n")) },
	}
	for name, read := range reads {
		dropped := p.Dropped
		err := e.View(ctx, func(tx kv.Tx) error {
			p.DropNext()
			v, err := read(tx)
			if err == nil && (len(v) != 8 || binary.BigEndian.Uint64(v) != 1) {
				err = fmt.Errorf("n = %x, want 1", v)
			}
			return err
		})
		if err != nil {
			t.Fatalf("%s over a dropped request: %v", name, err)
		}
		if p.Dropped != dropped+1 {
			t.Fatalf("%s: %d requests dropped, want 1 (the test did not cut the read)", name, p.Dropped-dropped)
		}
	}
}

// TestAttemptTimeoutsGrow: a commit or read that needs longer than the
// first attempt's time gets twice as long on the next, up to
// RequestTimeout, so a slow cluster is waited for rather than refused.
func TestAttemptTimeoutsGrow(t *testing.T) {
	for _, c := range []struct {
		base    time.Duration
		attempt int
		want    time.Duration
	}{
		{2 * time.Second, 1, 2 * time.Second},
		{2 * time.Second, 2, 4 * time.Second},
		{2 * time.Second, 3, 5 * time.Second},
		{time.Second, 64, 5 * time.Second},
		{time.Second, 1 << 20, 5 * time.Second},
	} {
		if got := growing(c.base, c.attempt, 5*time.Second); got != c.want {
			t.Errorf("attempt %d from %v: %v, want %v", c.attempt, c.base, got, c.want)
		}
	}
}
