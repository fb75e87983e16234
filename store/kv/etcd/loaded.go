package etcd

import (
	"bytes"
	"sort"

	"github.com/keydesk/keydesk/store/kv"
)

// A transaction that looks up many keys of one bucket reads the bucket
// whole, once, and serves every later Get and Scan of it from memory: a
// View after loadAfterGets lookups (Check walks every index), an Update
// after loadAfterWriteGets (an import of thousands of rows looks up each
// email and name; one round trip a row would make it minutes). An Update
// then guards the whole bucket instead of each key: it conflicts with any
// change to the bucket, which is right for bulk work and never misses one.

// lookup counts a Get or Scan of b and loads b when the count reaches the
// threshold; loaded reports that b is served from memory.
func (t *tx) lookup(b kv.Bucket) (loaded bool, err error) {
	if t.loaded[b] {
		return true, nil
	}
	after := loadAfterGets
	if t.writable {
		after = loadAfterWriteGets
	}
	if t.gets == nil {
		t.gets = map[kv.Bucket]int{}
	}
	if t.gets[b]++; t.gets[b] != after {
		return false, nil
	}
	if err := t.loadBucket(b); err != nil {
		return false, err
	}
	return t.loaded[b], nil
}

// noteLoaded records a loaded bucket's keys for Scan and, in an Update,
// guards the whole bucket (every later read of it is from memory).
func (t *tx) noteLoaded(b kv.Bucket, base []byte, keys [][]byte) {
	if t.keysOf == nil {
		t.keysOf = map[kv.Bucket][][]byte{}
	}
	t.keysOf[b] = keys
	if t.writable {
		t.guards = append(t.guards, [2][]byte{base, prefixEnd(base)})
	}
}

// cacheScan is serverScan for a loaded bucket.
func (t *tx) cacheScan(b kv.Bucket, lo, hi []byte, r kv.Range, visit func(entry), done func() bool) error {
	keys := t.keysOf[b]
	base := t.e.key(nsData, b, nil)
	from := sort.Search(len(keys), func(i int) bool { return bytes.Compare(keys[i], lo) >= 0 })
	to := len(keys)
	if hi != nil {
		to = sort.Search(len(keys), func(i int) bool { return bytes.Compare(keys[i], hi) >= 0 })
	}
	step := func(i int) bool {
		visit(entry{key: keys[i], val: t.cache[string(cat(base, keys[i]))], ok: true})
		return done()
	}
	if r.Reverse {
		for i := to - 1; i >= from; i-- {
			if step(i) {
				return nil
			}
		}
		return nil
	}
	for i := from; i < to; i++ {
		if step(i) {
			return nil
		}
	}
	return nil
}

// keyIndex finds the keys a transaction wrote within a range without
// visiting all of them (an import writes tens of thousands and scans once a
// row): a sorted part, and the newest keys unsorted until a scan finds
// enough of them to be worth merging in (a bucket never scanned is never
// sorted).
type keyIndex struct {
	sorted []string
	recent []string
}

func (t *tx) written(b kv.Bucket) *keyIndex {
	if t.inBucket == nil {
		t.inBucket = map[kv.Bucket]*keyIndex{}
	}
	ix := t.inBucket[b]
	if ix == nil {
		ix = &keyIndex{}
		t.inBucket[b] = ix
	}
	return ix
}

// add records a key not added before.
func (ix *keyIndex) add(k string) { ix.recent = append(ix.recent, k) }

func (ix *keyIndex) merge() {
	sort.Strings(ix.recent)
	merged := make([]string, 0, len(ix.sorted)+len(ix.recent))
	i, j := 0, 0
	for i < len(ix.sorted) && j < len(ix.recent) {
		if ix.sorted[i] < ix.recent[j] {
			merged, i = append(merged, ix.sorted[i]), i+1
		} else {
			merged, j = append(merged, ix.recent[j]), j+1
		}
	}
	merged = append(append(merged, ix.sorted[i:]...), ix.recent[j:]...)
	ix.sorted, ix.recent = merged, ix.recent[:0]
}

// each calls fn for every key in [lo, hi), in no particular order.
func (ix *keyIndex) each(lo, hi string, fn func(k string)) {
	if len(ix.recent) > 256 {
		ix.merge()
	}
	for i := sort.SearchStrings(ix.sorted, lo); i < len(ix.sorted) && ix.sorted[i] < hi; i++ {
		fn(ix.sorted[i])
	}
	for _, k := range ix.recent {
		if k >= lo && k < hi {
			fn(k)
		}
	}
}
