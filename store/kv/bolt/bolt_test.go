package bolt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/store/kv"
	"github.com/keydesk/keydesk/store/kv/bolt"
	bbolt "go.etcd.io/bbolt"
)

const b kv.Bucket = "b"

func open(t *testing.T) *bolt.Engine {
	t.Helper()
	e, err := bolt.Open(filepath.Join(t.TempDir(), bolt.File), []kv.Bucket{b, "other"}, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func scan(t *testing.T, e *bolt.Engine, r kv.Range) string {
	t.Helper()
	var out []string
	err := e.View(context.Background(), func(tx kv.Tx) error {
		return tx.Scan(b, r, func(k, _ []byte) error { out = append(out, string(k)); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, " ")
}

func TestScanRanges(t *testing.T) {
	e := open(t)
	ctx := context.Background()
	err := e.Update(ctx, func(tx kv.Tx) error {
		for _, k := range []string{"a/1", "a/2", "a/3", "b/1", "b/2", "c", "\xff\xff"} {
			if err := tx.Put(b, []byte(k), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		r    kv.Range
		want string
	}{
		{kv.Range{}, "a/1 a/2 a/3 b/1 b/2 c \xff\xff"},
		{kv.Range{Reverse: true, Limit: 3}, "\xff\xff c b/2"},
		{kv.Range{Prefix: []byte("a/")}, "a/1 a/2 a/3"},
		{kv.Range{Prefix: []byte("a/"), Reverse: true}, "a/3 a/2 a/1"},
		{kv.Range{Prefix: []byte("a/"), After: []byte("a/1")}, "a/2 a/3"},
		{kv.Range{Prefix: []byte("a/"), Before: []byte("a/3"), Reverse: true}, "a/2 a/1"},
		{kv.Range{Prefix: []byte("b/"), After: []byte("a/9")}, "b/1 b/2"},
		{kv.Range{Prefix: []byte("b/"), Before: []byte("z"), Reverse: true}, "b/2 b/1"},
		{kv.Range{After: []byte("a/2"), Before: []byte("b/2")}, "a/3 b/1"},
		{kv.Range{After: []byte("a/2"), Before: []byte("b/2"), Reverse: true}, "b/1 a/3"},
		{kv.Range{After: []byte("a/25"), Limit: 2}, "a/3 b/1"},
		{kv.Range{Before: []byte("a/25"), Reverse: true}, "a/2 a/1"},
		{kv.Range{Before: []byte("a/1"), Reverse: true}, ""},
		{kv.Range{Prefix: []byte("\xff")}, "\xff\xff"},
		{kv.Range{Prefix: []byte("\xff"), Reverse: true}, "\xff\xff"},
		{kv.Range{Prefix: []byte("d")}, ""},
	} {
		if got := scan(t, e, c.r); got != c.want {
			t.Errorf("%+v: got %q, want %q", c.r, got, c.want)
		}
	}
}

func TestEmptyValuePresentAndStop(t *testing.T) {
	e := open(t)
	ctx := context.Background()
	err := e.Update(ctx, func(tx kv.Tx) error {
		if err := tx.Put(b, []byte("k"), nil); err != nil {
			return err
		}
		if v, err := tx.Get(b, []byte("k")); err != nil || v == nil {
			return fmt.Errorf("empty value read back in its tx as %v %v", v, err)
		}
		if v, _ := tx.Get(b, []byte("absent")); v != nil {
			return errors.New("absent key has a value")
		}
		_ = tx.Put(b, []byte("l"), []byte("x"))
		n := 0
		if err := tx.Scan(b, kv.Range{}, func(k, v []byte) error { n++; return kv.ErrStop }); err != nil || n != 1 {
			return fmt.Errorf("stop: %d %v", n, err)
		}
		if _, err := tx.Get("nope", []byte("k")); !errors.Is(err, kv.ErrUnknownBucket) {
			return fmt.Errorf("unknown bucket: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = e.View(ctx, func(tx kv.Tx) error {
		if v, _ := tx.Get(b, []byte("k")); v == nil {
			return errors.New("empty value lost after commit")
		}
		if err := tx.Put(b, []byte("x"), nil); !errors.Is(err, kv.ErrReadOnly) {
			return fmt.Errorf("put in view: %v", err)
		}
		if _, err := tx.NextSequence(b); !errors.Is(err, kv.ErrReadOnly) {
			return fmt.Errorf("sequence in view: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOnCommitOnlyAfterCommit(t *testing.T) {
	e := open(t)
	ctx := context.Background()
	ran := 0
	boom := errors.New("boom")
	err := e.Update(ctx, func(tx kv.Tx) error {
		tx.OnCommit(func() { ran++ })
		_ = tx.Put(b, []byte("k"), []byte("v"))
		return boom
	})
	if !errors.Is(err, boom) || ran != 0 {
		t.Fatalf("rolled back: %v, hooks run %d", err, ran)
	}
	var seq []uint64
	for range 3 {
		err = e.Update(ctx, func(tx kv.Tx) error {
			tx.OnCommit(func() { ran++ })
			n, err := tx.NextSequence(b)
			seq = append(seq, n)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if ran != 3 || fmt.Sprint(seq) != "[1 2 3]" {
		t.Fatalf("hooks %d, sequence %v", ran, seq)
	}
}

func TestSecondOpenSaysWhoHoldsIt(t *testing.T) {
	e := open(t)
	start := time.Now()
	_, err := bolt.Open(e.Path(), nil, bolt.Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, bolt.ErrLocked) || !strings.Contains(err.Error(), "held by another keydesk process") {
		t.Fatalf("second open: %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("second open did not give up at its timeout")
	}
}

func TestExportIsAConsistentFile(t *testing.T) {
	e := open(t)
	ctx := context.Background()
	if err := e.Update(ctx, func(tx kv.Tx) error { return tx.Put(b, []byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := e.Export(ctx, &buf)
	if err != nil || n != int64(buf.Len()) || n == 0 {
		t.Fatalf("export %d %v", n, err)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := writeFile(path, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	c, err := bolt.Open(path, []kv.Bucket{b}, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var problems []string
	if err := c.Check(ctx, func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) }); err != nil || len(problems) > 0 {
		t.Fatalf("check of the copy: %v %v", err, problems)
	}
	err = c.View(ctx, func(tx kv.Tx) error {
		if v, _ := tx.Get(b, []byte("k")); string(v) != "v" {
			return fmt.Errorf("copy has %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCheckBesideWriter: the page check runs in its own (rolled-back)
// writable transaction, so it waits for a writer instead of racing it.
func TestCheckBesideWriter(t *testing.T) {
	e := open(t)
	ctx := context.Background()
	done := make(chan error)
	go func() {
		var err error
		for i := 0; i < 200 && err == nil; i++ {
			err = e.Update(ctx, func(tx kv.Tx) error {
				return tx.Put(b, fmt.Appendf(nil, "key%06d", i), bytes.Repeat([]byte("v"), 500))
			})
		}
		done <- err
	}()
	for range 20 {
		var problems []string
		if err := e.Check(ctx, func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) }); err != nil || len(problems) != 0 {
			t.Fatalf("check: %v %v", err, problems)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func writeFile(path string, data []byte) error {
	return os.WriteFile(path, data, 0o600)
}

// TestFillPercentPacksAppendOnlyBuckets: keys written in increasing order fill
// about half of each page at bbolt's default and nearly all of it with
// FillPercent 1.0.
func TestFillPercentPacksAppendOnlyBuckets(t *testing.T) {
	leafPages := func(fill map[kv.Bucket]float64) int {
		e, err := bolt.Open(filepath.Join(t.TempDir(), bolt.File), []kv.Bucket{b}, bolt.Options{FillPercent: fill})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		for batch := range 20 {
			err := e.Update(context.Background(), func(tx kv.Tx) error {
				for i := range 100 {
					if err := tx.Put(b, fmt.Appendf(nil, "key%06d", batch*100+i), bytes.Repeat([]byte("v"), 80)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		var n int
		_ = e.DB().View(func(tx *bbolt.Tx) error { n = tx.Bucket([]byte(b)).Stats().LeafPageN; return nil })
		return n
	}
	def, packed := leafPages(nil), leafPages(map[kv.Bucket]float64{b: 1.0})
	if packed*10 > def*6 {
		t.Fatalf("leaf pages: %d packed vs %d at the default, want at most 60%%", packed, def)
	}
}

func TestCompactFilePacksAndKeepsTheOriginal(t *testing.T) {
	e := open(t)
	ctx := context.Background()
	// Random-order keys, then half of them deleted: pages half empty and free
	// pages the file never gives back.
	for batch := range 10 {
		err := e.Update(ctx, func(tx kv.Tx) error {
			for i := range 500 {
				k := fmt.Appendf(nil, "%08x", uint32((batch*500+i)*2654435761))
				if err := tx.Put(b, k, bytes.Repeat([]byte("v"), 100)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var keep [][]byte
	err := e.Update(ctx, func(tx kv.Tx) error {
		var del [][]byte
		i := 0
		if err := tx.Scan(b, kv.Range{}, func(k, _ []byte) error {
			if i%2 == 0 {
				del = append(del, bytes.Clone(k))
			} else {
				keep = append(keep, bytes.Clone(k))
			}
			i++
			return nil
		}); err != nil {
			return err
		}
		for _, k := range del {
			if err := tx.Delete(b, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	path := e.Path()
	if _, err := bolt.CompactFile(path, bolt.Options{Timeout: 50 * time.Millisecond}); !errors.Is(err, bolt.ErrLocked) {
		t.Fatalf("compacting a file another engine holds: %v", err)
	}
	e.Close()
	res, err := bolt.CompactFile(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.After*10 > res.Before*7 {
		t.Fatalf("compacted %d → %d bytes, want at most 70%%", res.Before, res.After)
	}
	if fi, err := os.Stat(res.Original); err != nil || fi.Size() != res.Before {
		t.Fatalf("original kept at %s: %v", res.Original, err)
	}
	c, err := bolt.Open(path, []kv.Bucket{b, "other"}, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got [][]byte
	err = c.View(ctx, func(tx kv.Tx) error {
		return tx.Scan(b, kv.Range{}, func(k, _ []byte) error { got = append(got, bytes.Clone(k)); return nil })
	})
	if err != nil || len(got) != len(keep) {
		t.Fatalf("compacted file has %d keys, want %d (%v)", len(got), len(keep), err)
	}
	for i := range got {
		if !bytes.Equal(got[i], keep[i]) {
			t.Fatalf("key %d: %q, want %q", i, got[i], keep[i])
		}
	}
	if _, err := os.Stat(path + ".compact-tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary copy left behind: %v", err)
	}
}

// TestBackupFileRoundTrip: what a BackupFile is filled with, ReadBackup reads
// back (buckets in name order, sequences, keys in order), and the file opens
// as an engine too.
func TestBackupFileRoundTrip(t *testing.T) {
	f, err := bolt.NewBackup()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = f.Fill(func(bb bolt.BackupBuilder) error {
		if err := bb.SetSequence("z", 0); err != nil {
			return err
		}
		if err := bb.SetSequence(b, 7); err != nil {
			return err
		}
		for _, k := range []string{"a", "b", "c"} {
			if err := bb.Put(b, []byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteTo(out); err != nil {
		t.Fatal(err)
	}
	out.Close()
	var got []string
	err = bolt.ReadBackup(path, func(bk kv.Bucket, seq uint64, keys int, each func(func(k, v []byte) error) error) error {
		got = append(got, fmt.Sprintf("%s:%d:%d", bk, seq, keys))
		return each(func(k, v []byte) error { got = append(got, string(k)+"="+string(v)); return nil })
	})
	if err != nil || strings.Join(got, " ") != "b:7:3 a=va b=vb c=vc z:0:0" {
		t.Fatalf("read back %q, %v", got, err)
	}
	e, err := bolt.Open(path, []kv.Bucket{b, "z"}, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.View(context.Background(), func(tx kv.Tx) error {
		v, err := tx.Get(b, []byte("b"))
		if string(v) != "vb" {
			return fmt.Errorf("b=%q %v", v, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
