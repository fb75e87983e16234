package store

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keydesk/keydesk/store/kv"
	"github.com/keydesk/keydesk/store/kv/bolt"
	bbolt "go.etcd.io/bbolt"
)

// BenchmarkGroupCommit is why the store has its own group-commit loop instead
// of bbolt's DB.Batch: with one writer, Batch waits MaxBatchDelay (10 ms) for
// company before each commit, where the loop commits at once; with eight,
// both share fsyncs. The loop also works on any kv.Engine (etcd: one Txn per
// group), Batch only on bbolt. Compare ns/op of the sub-benchmarks.
func BenchmarkGroupCommit(b *testing.B) {
	val := make([]byte, 300)
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("loop/writers=%d", writers), func(b *testing.B) {
			s := benchStore(b)
			parallelWrites(b, writers, func(i int64) error {
				return s.update(func(tx kv.Tx) error {
					return tx.Put(bucketMeta, fmt.Appendf(nil, "bench%012d", i), val)
				})
			})
		})
		b.Run(fmt.Sprintf("bbolt-batch/writers=%d", writers), func(b *testing.B) {
			db := benchStore(b).engine.(*bolt.Engine).DB()
			parallelWrites(b, writers, func(i int64) error {
				return db.Batch(func(tx *bbolt.Tx) error {
					return tx.Bucket([]byte(bucketMeta)).Put(fmt.Appendf(nil, "bench%012d", i), val)
				})
			})
		})
	}
}

func benchStore(b *testing.B) *Store {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// parallelWrites runs b.N writes split over n goroutines.
func parallelWrites(b *testing.B, n int, write func(i int64) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if err := write(i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
