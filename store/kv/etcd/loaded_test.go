package etcd

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/etcdtest"
	"github.com/keydesk/keydesk/store/kv"
)

// keyIndex finds exactly the keys in a range, across merges.
func TestKeyIndexRanges(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var ix keyIndex
	all := map[string]bool{}
	for i := 0; i < 2000; i++ {
		k := fmt.Sprintf("%04d", r.IntN(5000))
		if !all[k] {
			all[k] = true
			ix.add(k)
		}
		if i%97 != 0 {
			continue
		}
		lo, hi := fmt.Sprintf("%04d", r.IntN(5000)), fmt.Sprintf("%04d", r.IntN(5000))
		var got, want []string
		ix.each(lo, hi, func(k string) { got = append(got, k) })
		for k := range all {
			if k >= lo && k < hi {
				want = append(want, k)
			}
		}
		sort.Strings(got)
		sort.Strings(want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after %d adds, [%s, %s): %v, want %v", i+1, lo, hi, got, want)
		}
	}
}

// An Update that looks up more than loadAfterWriteGets keys of a bucket
// reads it whole: later Gets and Scans (its own writes included) are right,
// and the whole bucket is guarded, so a change to a key it never read still
// makes it run again.
func TestUpdateLoadsBucketAfterManyLookups(t *testing.T) {
	c := etcdtest.Shared(t)
	prefix := c.Prefix(t)
	a := openEngine(t, c.Members[0].ClientURL, prefix, Options{})
	b := openEngine(t, c.Members[0].ClientURL, prefix, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.Update(ctx, func(tx kv.Tx) error {
		for i := 0; i < 100; i++ {
			if err := tx.Put("a", fmt.Appendf(nil, "k%04d", 2*i), []byte("old")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	runs := 0
	err := a.Update(ctx, func(tx kv.Tx) error {
		runs++
		for i := 0; i < loadAfterWriteGets; i++ { // absent keys: each a round trip until loaded
			if v, err := tx.Get("a", fmt.Appendf(nil, "m%04d", i)); err != nil || v != nil {
				return fmt.Errorf("lookup %d: %q, %v", i, v, err)
			}
		}
		if !loadedIn(tx, "a") {
			return fmt.Errorf("bucket not loaded after %d lookups", loadAfterWriteGets)
		}
		for i := 0; i < 200; i++ {
			v, err := tx.Get("a", fmt.Appendf(nil, "k%04d", i))
			if err != nil {
				return err
			}
			if want := i%2 == 0; (v != nil) != want {
				return fmt.Errorf("lookup k%04d: %q", i, v)
			}
		}
		if err := tx.Put("a", []byte("k0001"), []byte("new")); err != nil {
			return err
		}
		if err := tx.Delete("a", []byte("k0002")); err != nil {
			return err
		}
		var keys []string
		if err := tx.Scan("a", kv.Range{Prefix: []byte("k000"), Reverse: true}, func(k, v []byte) error {
			keys = append(keys, string(k)+"="+string(v))
			return nil
		}); err != nil {
			return err
		}
		if got, want := fmt.Sprint(keys), "[k0008=old k0006=old k0004=old k0001=new k0000=old]"; got != want {
			return fmt.Errorf("scan %s, want %s", got, want)
		}
		if runs == 1 { // a change to a key this run never read
			return b.Update(ctx, func(tx kv.Tx) error { return tx.Put("a", []byte("zzz"), []byte("x")) })
		}
		return nil
	})
	if err != nil || runs != 2 {
		t.Fatalf("Update: %v after %d runs, want success after 2", err, runs)
	}
}

func loadedIn(t kv.Tx, b kv.Bucket) bool { return t.(*tx).loaded[b] }
