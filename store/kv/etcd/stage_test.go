package etcd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/etcdtest"
	"github.com/keydesk/keydesk/store/kv"
	kvbolt "github.com/keydesk/keydesk/store/kv/bolt"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// stagedKeys is ten times what one etcd Txn may write.
const stagedKeys = 10 * DefaultMaxTxnOps

// writeGeneration writes generation g to stagedKeys keys of "a" and a tenth
// as many of the reversed bucket "log", in one Update, after reading the
// generation key (so a concurrent change to it is a conflict).
func writeGeneration(ctx context.Context, e *Engine, g uint64, check func(old uint64) error) error {
	return e.Update(ctx, func(tx kv.Tx) error {
		v, err := tx.Get("a", []byte("gen"))
		if err != nil {
			return err
		}
		var old uint64
		if v != nil {
			old = binary.BigEndian.Uint64(v)
		}
		if check != nil {
			if err := check(old); err != nil {
				return err
			}
		}
		val := binary.BigEndian.AppendUint64(nil, g)
		for i := 0; i < stagedKeys; i++ {
			if err := tx.Put("a", fmt.Appendf(nil, "k%05d", i), val); err != nil {
				return err
			}
		}
		for i := 0; i < stagedKeys/10; i++ {
			if err := tx.Put("log", fmt.Appendf(nil, "l%05d", i), val); err != nil {
				return err
			}
		}
		if _, err := tx.NextSequence("log"); err != nil {
			return err
		}
		return tx.Put("a", []byte("gen"), val)
	})
}

// generations reads, in one View, how many keys hold each generation (0:
// absent) across both buckets, newest-first pages of "log" included.
func generations(ctx context.Context, e *Engine) (map[uint64]int, error) {
	seen := map[uint64]int{}
	err := e.View(ctx, func(tx kv.Tx) error {
		clear(seen)
		count := func(k, v []byte) error {
			seen[binary.BigEndian.Uint64(v)]++
			return nil
		}
		if err := tx.Scan("a", kv.Range{Prefix: []byte("k")}, count); err != nil {
			return err
		}
		if err := tx.Scan("log", kv.Range{Reverse: true}, count); err != nil {
			return err
		}
		v, err := tx.Get("a", []byte("gen"))
		if err != nil || v == nil {
			return err
		}
		return count(nil, v)
	})
	return seen, err
}

// consistent says every key holds generation g, or (g = 0) that none exist.
func consistent(seen map[uint64]int, g uint64) error {
	want := stagedKeys + stagedKeys/10 + 1
	if g == 0 && len(seen) == 0 {
		return nil
	}
	if len(seen) != 1 || seen[g] != want {
		return fmt.Errorf("keys by generation %v, want all %d at generation %d", seen, want, g)
	}
	return nil
}

func stageKeys(t *testing.T, e *Engine) int64 {
	t.Helper()
	r, err := e.cli.Get(context.Background(), string(e.prefix)+nsStage, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.cli.Get(context.Background(), e.markerKey())
	if err != nil {
		t.Fatal(err)
	}
	return r.Count + int64(len(m.Kvs))
}

func setApplyHook(t *testing.T, f func(i int) error) {
	applyHook = f
	t.Cleanup(func() { applyHook = nil })
}

// An Update ten times bigger than one Txn commits whole; a reader and an
// Export on another engine started while it is half applied (checked on the
// raw keys) see all of it, never part; a write on that engine meanwhile
// waits and commits after it; the other engine's watch delivers it as one
// commit.
func TestStagedCommitIsAllOrNothing(t *testing.T) {
	c := etcdtest.Shared(t)
	prefix := c.Prefix(t)
	a := openEngine(t, c.Members[0].ClientURL, prefix, Options{})
	b := openEngine(t, c.Members[0].ClientURL, prefix, Options{})
	ch := b.Changes()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := writeGeneration(ctx, a, 1, nil); err != nil {
		t.Fatal(err)
	}
	if a.Stats().Staged.Load() != 1 {
		t.Fatalf("%d staged commits, want 1", a.Stats().Staged.Load())
	}
	seen, err := generations(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := consistent(seen, 1); err != nil {
		t.Fatal(err)
	}
	// B's watch: every change of generation 1 in one commit (one revision),
	// all but the last flagged More.
	want := stagedKeys + stagedKeys/10 + 1
	var rev int64
	for i := 0; i < want; {
		select {
		case cg := <-ch:
			if cg.Bucket == "" || (cg.Bucket != "a" && cg.Bucket != "log") {
				continue
			}
			if rev == 0 {
				rev = cg.Revision
			}
			i++
			if cg.Revision != rev || cg.More != (i < want) {
				t.Fatalf("change %d of %d: revision %d (first %d), more %v", i, want, cg.Revision, rev, cg.More)
			}
		case <-ctx.Done():
			t.Fatal("B's watch did not deliver the staged commit")
		}
	}

	type result struct {
		seen map[uint64]int
		err  error
	}
	reads := make(chan result, 1)
	wrote := make(chan error, 1)
	exported := make(chan error, 1)
	backup := filepath.Join(t.TempDir(), "backup.db")
	setApplyHook(t, func(i int) error {
		if i != 3 {
			return nil
		}
		// Half applied on the raw keys: some at 2 already (the chunks
		// written alongside), some still at 1 (this one and the last).
		for n2 := 0; n2 == 0; {
			r, err := a.cli.Get(ctx, string(a.key(nsData, "a", []byte("k"))), clientv3.WithPrefix())
			if err != nil {
				return err
			}
			n2 = 0
			for _, kvp := range r.Kvs {
				if binary.BigEndian.Uint64(kvp.Value[1:]) == 2 {
					n2++
				}
			}
			if n2 == len(r.Kvs) {
				t.Errorf("before chunk 3 was written, all %d raw keys were at generation 2", n2)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		waits := b.Stats().StageWaits.Load()
		go func() {
			s, err := generations(ctx, b)
			reads <- result{s, err}
		}()
		go func() {
			f, err := os.Create(backup)
			if err == nil {
				_, err = b.Export(ctx, f)
				err = errors.Join(err, f.Close())
			}
			exported <- err
		}()
		go func() {
			wrote <- b.Update(ctx, func(tx kv.Tx) error {
				v, err := tx.Get("a", []byte("gen"))
				if err != nil {
					return err
				}
				if v == nil || binary.BigEndian.Uint64(v) != 2 {
					return fmt.Errorf("a write during the apply read generation %x, want 2", v)
				}
				return tx.Put("a", []byte("after"), v)
			})
		}()
		for b.Stats().StageWaits.Load() < waits+3 {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(time.Millisecond) // polling a condition the other goroutines set
		}
		return nil
	})
	if err := writeGeneration(ctx, a, 2, nil); err != nil {
		t.Fatal(err)
	}
	r := <-reads
	if r.err != nil {
		t.Fatal(r.err)
	}
	if err := consistent(r.seen, 2); err != nil {
		t.Fatalf("a read started mid-apply: %v", err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	// The export started mid-apply is of one revision with all of it.
	if err := <-exported; err != nil {
		t.Fatal(err)
	}
	inBackup := map[uint64]int{}
	if err := kvbolt.ReadBackup(backup, func(bk kv.Bucket, _ uint64, _ int, each func(func(k, v []byte) error) error) error {
		return each(func(k, v []byte) error {
			if bk == "log" || (bk == "a" && (k[0] == 'k' || string(k) == "gen")) {
				inBackup[binary.BigEndian.Uint64(v)]++
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if err := consistent(inBackup, 2); err != nil {
		t.Fatalf("an export started mid-apply: %v", err)
	}
	if n := stageKeys(t, a); n != 0 {
		t.Fatalf("%d stage keys left after the apply", n)
	}
}

// An applier that stops after three chunks (its process died) leaves the
// change to whoever reads next: another engine finishes applying it.
func TestStagedCommitCompletedByAnotherEngine(t *testing.T) {
	c := etcdtest.Shared(t)
	prefix := c.Prefix(t)
	a := openEngine(t, c.Members[0].ClientURL, prefix, Options{})
	b := openEngine(t, c.Members[0].ClientURL, prefix, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	setApplyHook(t, func(i int) error {
		if i == 3 {
			return errors.New("applier killed")
		}
		return nil
	})
	err := writeGeneration(ctx, a, 1, nil)
	if !errors.Is(err, kv.ErrAmbiguous) {
		t.Fatalf("Update whose applier died: %v, want ErrAmbiguous", err)
	}
	applyHook = nil
	seen, err := generations(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := consistent(seen, 1); err != nil {
		t.Fatalf("after another engine completed it: %v", err)
	}
	if b.Stats().StageWaits.Load() == 0 {
		t.Fatal("B's read did not wait for the half-applied change")
	}
	if n := stageKeys(t, a); n != 0 {
		t.Fatalf("%d stage keys left after completion", n)
	}
	// And the engine that died goes on working.
	if err := writeGeneration(ctx, a, 2, nil); err != nil {
		t.Fatal(err)
	}
	if seen, err = generations(ctx, b); err != nil || consistent(seen, 2) != nil {
		t.Fatalf("generation 2: %v %v", seen, err)
	}
}

// A stage whose stager died before committing is deleted by the next engine
// to open, and none of it is visible.
func TestAbandonedStageIsRemoved(t *testing.T) {
	c := etcdtest.Shared(t)
	prefix := c.Prefix(t)
	a := openEngine(t, c.Members[0].ClientURL, prefix, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tx := newTx(ctx, a, true)
	for i := 0; i < stagedKeys; i++ {
		if err := tx.Put("a", fmt.Appendf(nil, "k%05d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	chunks, _, err := a.chunk(tx.stagedWrites())
	if err != nil {
		t.Fatal(err)
	}
	st, err := a.newStage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.putChunks(ctx, st, chunks); err != nil {
		t.Fatal(err)
	}
	a.endStage(st) // the stager dies: its live key goes with its lease
	if n := stageKeys(t, a); n != int64(len(chunks)) {
		t.Fatalf("%d stage keys, want the %d chunks", n, len(chunks))
	}
	b := openEngine(t, c.Members[0].ClientURL, prefix, Options{})
	if n := stageKeys(t, b); n != 0 {
		t.Fatalf("%d stage keys left after an engine opened", n)
	}
	seen, err := generations(ctx, b)
	if err != nil || len(seen) != 0 {
		t.Fatalf("visible after an abandoned stage: %v %v", seen, err)
	}
}

// A guarded key changed between the staged transaction's read and its
// commit refuses the whole commit: the function runs again, and when it then
// gives up nothing at all was written.
func TestStagedCommitConflictRefusesWhole(t *testing.T) {
	c := etcdtest.Shared(t)
	prefix := c.Prefix(t)
	a := openEngine(t, c.Members[0].ClientURL, prefix, Options{})
	b := openEngine(t, c.Members[0].ClientURL, prefix, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errTaken := errors.New("generation key taken meanwhile")
	runs := 0
	err := writeGeneration(ctx, a, 1, func(old uint64) error {
		runs++
		if runs == 1 { // another writer takes the key after our read
			return b.Update(ctx, func(tx kv.Tx) error {
				return tx.Put("a", []byte("gen"), binary.BigEndian.AppendUint64(nil, 7))
			})
		}
		if old != 0 {
			return errTaken
		}
		return nil
	})
	if !errors.Is(err, errTaken) || runs != 2 {
		t.Fatalf("Update: %v after %d runs, want errTaken after 2", err, runs)
	}
	seen, err := generations(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[7] != 1 {
		t.Fatalf("keys by generation %v, want only the other writer's key", seen)
	}
	if n := stageKeys(t, a); n != 0 {
		t.Fatalf("%d stage keys left after a refused staged commit", n)
	}
	if a.Stats().Staged.Load() != 0 || a.Stats().Conflicts.Load() != 1 {
		t.Fatalf("staged %d, conflicts %d; want 0, 1", a.Stats().Staged.Load(), a.Stats().Conflicts.Load())
	}
}

// A staged chunk decodes to what was encoded.
func TestChunkEncoding(t *testing.T) {
	ws := []swrite{{op: 'p', bucket: "a", key: []byte("k"), val: []byte{}},
		{op: 'd', bucket: "log", key: []byte{0, 0xFF}}, {op: 's', bucket: "log", val: u64(9)}}
	got, err := decodeChunk(encodeChunk(ws))
	if err != nil || len(got) != 3 || got[1].bucket != "log" || string(got[1].key) != "\x00\xff" ||
		got[2].op != 's' || string(got[2].val) != string(u64(9)) || got[0].val == nil {
		t.Fatalf("decode(encode) = %+v, %v", got, err)
	}
	if _, err := decodeChunk([]byte{'p', 5, 'a'}); err == nil {
		t.Fatal("a truncated chunk decoded")
	}
}

// writeCost counts what writeOps makes.
func TestWriteCostIsWriteOps(t *testing.T) {
	e := &Engine{prefix: []byte("/org/"), reversed: map[kv.Bucket]bool{"log": true}}
	for _, w := range []swrite{{op: 'p', bucket: "a", key: []byte("k"), val: []byte("vv")},
		{op: 'p', bucket: "log", key: []byte{0, 1, 0}, val: []byte("v")}, {op: 'd', bucket: "log", key: []byte("x")},
		{op: 'd', bucket: "a", key: []byte("y")}, {op: 's', bucket: "log", val: u64(3)}} {
		ops, size := e.writeOps(w, 0)
		if n, sz := e.writeCost(w); n != len(ops) || sz != size {
			t.Fatalf("%c %s %q: cost %d ops %d bytes, writeOps %d ops %d bytes", w.op, w.bucket, w.key, n, sz, len(ops), size)
		}
	}
}

// A watch that starts while a staged commit is half applied (the marker is
// there at its first revision) holds back what follows and delivers it as
// one commit when the marker goes: nothing of it arrives before (all of it,
// if no chunk had landed yet when the watch began).
func TestWatchOpenedMidApplyHoldsTheRest(t *testing.T) {
	c := etcdtest.Shared(t)
	prefix := c.Prefix(t)
	a := openEngine(t, c.Members[0].ClientURL, prefix, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var b *Engine
	var ch <-chan kv.Change
	setApplyHook(t, func(i int) error {
		if i == 3 {
			b = openEngine(t, c.Members[0].ClientURL, prefix, Options{})
			ch = b.Changes()
		}
		return nil
	})
	if err := writeGeneration(ctx, a, 1, nil); err != nil {
		t.Fatal(err)
	}
	if b == nil {
		t.Fatal("the hook never ran")
	}
	// The sequence is written by the last chunk, with the marker's delete.
	end, err := a.cli.Get(ctx, string(a.seqKey("log")))
	if err != nil || len(end.Kvs) != 1 {
		t.Fatal(end, err)
	}
	last := end.Kvs[0].ModRevision
	var got []kv.Change
	for done := false; !done; {
		select {
		case cg := <-ch:
			if cg.Bucket == "" {
				t.Fatalf("reset %+v", cg)
			}
			got = append(got, cg)
			done = !cg.More
		case <-ctx.Done():
			t.Fatalf("B's watch delivered %d changes and no end", len(got))
		}
	}
	rev := got[0].Revision
	for _, cg := range got {
		if cg.Revision != rev {
			t.Fatalf("changes at revisions %d and %d: not one commit", rev, cg.Revision)
		}
	}
	if rev != last || len(got) > stagedKeys+stagedKeys/10+1 {
		t.Fatalf("%d changes at revision %d (the apply ended at %d): want the rest of the apply, at its end",
			len(got), rev, last)
	}
	t.Logf("B, opened mid-apply, got the remaining %d changes as one commit", len(got))
}

// A marker naming a stage that is gone (deleted by hand) is reported, not
// waited on for ever.
func TestMarkerWithoutStageIsReported(t *testing.T) {
	c := etcdtest.Shared(t)
	a := openEngine(t, c.Members[0].ClientURL, c.Prefix(t), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := a.cli.Put(ctx, a.markerKey(), "nobody.0"); err != nil {
		t.Fatal(err)
	}
	_, err := generations(ctx, a)
	if err == nil || !strings.Contains(err.Error(), "delete "+a.markerKey()) {
		t.Fatalf("read under an orphan marker: %v, want it named with what to delete", err)
	}
	if _, err := a.cli.Delete(ctx, a.markerKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := generations(ctx, a); err != nil {
		t.Fatalf("after deleting the marker: %v", err)
	}
}
