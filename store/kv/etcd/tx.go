package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/keydesk/keydesk/internal/faultinject"
	"github.com/keydesk/keydesk/store/kv"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// tx is one attempt of a View or Update.
type tx struct {
	ctx      context.Context
	e        *Engine
	writable bool
	rev      int64 // fixed by the first read; 0 before it

	read     map[string]bool   // keys Get read from the server (guarded at commit)
	cache    map[string][]byte // their values (nil: absent)
	guards   [][2][]byte       // scanned ranges [lo, hi) (guarded at commit)
	writes   map[string]*write // by full key
	seqs     map[kv.Bucket]uint64
	onCommit []func()
	gets     map[kv.Bucket]int  // View: lookups per bucket …
	loaded   map[kv.Bucket]bool // … and the buckets read whole after loadAfterGets
	restart  error              // a read hit a compacted revision: run fn again

	scans map[span]*clientv3.GetResponse // Prefetch: first pages of scans, at R
	seqAt map[kv.Bucket]uint64           // Prefetch: sequences at R (not yet taken)

	inBucket map[kv.Bucket]*keyIndex // the keys written, per bucket (Scan's overlay)
	keysOf   map[kv.Bucket][][]byte  // a loaded bucket's live keys, in order
}

type write struct {
	bucket kv.Bucket
	key    []byte
	val    []byte
	del    bool
}

func (t *tx) setWrite(fk []byte, w *write) {
	if _, ok := t.writes[string(fk)]; !ok {
		t.written(w.bucket).add(string(fk))
	}
	t.writes[string(fk)] = w
}

func newTx(ctx context.Context, e *Engine, writable bool) *tx {
	return &tx{ctx: ctx, e: e, writable: writable, read: map[string]bool{},
		cache: map[string][]byte{}, writes: map[string]*write{}}
}

func (t *tx) Writable() bool { return t.writable }

func (t *tx) OnCommit(f func()) { t.onCommit = append(t.onCommit, f) }

func (t *tx) check(b kv.Bucket) error {
	if !t.e.buckets[b] {
		return fmt.Errorf("%w: %q", kv.ErrUnknownBucket, b)
	}
	return nil
}

// get reads at the transaction's revision; the first read of a transaction
// is linearizable and fixes that revision.
func (t *tx) get(key []byte, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if t.restart != nil {
		return nil, t.restart
	}
	if t.rev != 0 {
		opts = append(opts, clientv3.WithRev(t.rev))
	}
	// Reads at R stay linearizable (ReadIndex through the leader). A
	// serializable read at a fixed revision would save that round, but an
	// embedded member being HardStopped can serve one from a closing
	// backend and take the whole process down (etcd v3.7.3), which the
	// fault tests do on purpose.
	get := t.e.cli.Get
	if t.rev == 0 {
		get = t.firstGet // waits out a staged commit being applied (stage.go)
	}
	r, err := t.e.read(t.ctx, func(c context.Context) (*clientv3.GetResponse, error) { return get(c, string(key), opts...) })
	if err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			t.restart = fmt.Errorf("%w: etcd compacted revision %d during the transaction", kv.ErrConflict, t.rev)
			return nil, t.restart
		}
		return nil, unavailable(err)
	}
	if t.rev == 0 {
		t.rev = r.Header.Revision
		t.e.noteLinearizable(t.rev)
	}
	return r, nil
}

// decode strips the value tag; ok is false for a tombstone.
func decode(v []byte) (val []byte, ok bool, err error) {
	if len(v) == 0 {
		return nil, false, errors.New("etcd engine: untagged value")
	}
	switch v[0] {
	case tagValue:
		return v[1:], true, nil
	case tagTombstone:
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("etcd engine: unknown value tag %q", v[0])
}

func (t *tx) Get(b kv.Bucket, k []byte) ([]byte, error) {
	if err := t.check(b); err != nil {
		return nil, err
	}
	fk := t.e.key(nsData, b, k)
	if w, ok := t.writes[string(fk)]; ok {
		if w.del {
			return nil, nil
		}
		return w.val, nil
	}
	if v, ok := t.cache[string(fk)]; ok {
		t.read[string(fk)] = true // a prefetched key becomes a guarded read
		return v, nil
	}
	if t.loaded[b] {
		t.read[string(fk)] = true
		return nil, nil // the whole bucket is in the cache: absent
	}
	if loaded, err := t.lookup(b); err != nil || loaded {
		return t.cache[string(fk)], err // read whole after many lookups (loaded.go)
	}
	// Read the key and the few after it in one round trip: records are
	// often read in key order (a holder's tokens, a check), and a prefetched
	// key is only guarded at commit if Get returns it (all are at revision R).
	base := t.e.key(nsData, b, nil)
	r, err := t.get(fk, clientv3.WithRange(string(prefixEnd(base))), clientv3.WithLimit(prefetch))
	if err != nil {
		return nil, err
	}
	var v []byte
	for i, kvp := range r.Kvs {
		val, live, err := decode(kvp.Value)
		if err != nil {
			if i == 0 && bytes.Equal(kvp.Key, fk) {
				return nil, err
			}
			continue
		}
		if !live {
			val = nil
		} else if val == nil {
			val = []byte{}
		}
		if i == 0 && bytes.Equal(kvp.Key, fk) {
			v = val
			continue
		}
		if _, written := t.writes[string(kvp.Key)]; !written {
			if _, seen := t.cache[string(kvp.Key)]; !seen {
				t.cache[string(kvp.Key)] = val
			}
		}
	}
	t.cache[string(fk)] = v
	t.read[string(fk)] = true
	return v, nil
}

// prefetch is how many keys a Get reads (the key and those after it).
const prefetch = 8

func (t *tx) Put(b kv.Bucket, k, v []byte) error {
	if err := t.check(b); err != nil {
		return err
	}
	if !t.writable {
		return kv.ErrReadOnly
	}
	if len(k) == 0 {
		return errors.New("kv: empty key")
	}
	if t.e.numbered[b] && len(k) != 8 {
		return fmt.Errorf("etcd engine: bucket %s takes 8-byte numbers as keys, not %q", b, k)
	}
	fk := t.e.key(nsData, b, k)
	val := make([]byte, len(v)) // never nil: an empty value is present
	copy(val, v)
	t.setWrite(fk, &write{bucket: b, key: bytes.Clone(k), val: val})
	return nil
}

func (t *tx) Delete(b kv.Bucket, k []byte) error {
	if err := t.check(b); err != nil {
		return err
	}
	if !t.writable {
		return kv.ErrReadOnly
	}
	fk := t.e.key(nsData, b, k)
	if _, written := t.writes[string(fk)]; !written {
		// Deleting what is absent at R needs no tombstone (an operation
		// out of etcd's 128): the read guards it instead.
		v, err := t.Get(b, k)
		if err != nil {
			return err
		}
		if v == nil {
			return nil
		}
	}
	t.setWrite(fk, &write{bucket: b, key: bytes.Clone(k), del: true})
	return nil
}

func (t *tx) NextSequence(b kv.Bucket) (uint64, error) {
	if err := t.check(b); err != nil {
		return 0, err
	}
	if !t.writable {
		return 0, kv.ErrReadOnly
	}
	if t.seqs == nil {
		t.seqs = map[kv.Bucket]uint64{}
	}
	n, ok := t.seqs[b]
	if !ok {
		sk := t.e.seqKey(b)
		if n, ok = t.seqAt[b]; !ok {
			r, err := t.get(sk)
			if err != nil {
				return 0, err
			}
			if len(r.Kvs) == 1 {
				if n, err = parseU64(r.Kvs[0].Value); err != nil {
					return 0, fmt.Errorf("etcd engine: %s: %w", sk, err)
				}
			}
		}
		t.read[string(sk)] = true // compared-and-set: numbers stay dense
	}
	n++
	t.seqs[b] = n
	return n, nil
}

// Sequence returns the bucket's last number as of this transaction without
// taking one (the store's check compares it with the last audit key).
func (t *tx) Sequence(b kv.Bucket) (uint64, error) { return t.sequence(b) }

func (t *tx) sequence(b kv.Bucket) (uint64, error) {
	if n, ok := t.seqs[b]; ok {
		return n, nil
	}
	if n, ok := t.seqAt[b]; ok {
		return n, nil
	}
	r, err := t.get(t.e.seqKey(b))
	if err != nil || len(r.Kvs) == 0 {
		return 0, err
	}
	return parseU64(r.Kvs[0].Value)
}

// bounds turns a Range into [lo, hi) within the bucket (hi nil: no end).
func bounds(r kv.Range) (lo, hi []byte) {
	lo = []byte{}
	if r.Prefix != nil {
		lo, hi = bytes.Clone(r.Prefix), prefixEnd(r.Prefix)
	}
	if r.After != nil && bytes.Compare(succ(r.After), lo) > 0 {
		lo = succ(r.After)
	}
	if r.Before != nil && (hi == nil || bytes.Compare(r.Before, hi) < 0) {
		hi = bytes.Clone(r.Before)
	}
	return lo, hi
}

type entry struct {
	key []byte
	val []byte
	ok  bool // false: a tombstone, or an overlay delete
}

func (t *tx) Scan(b kv.Bucket, r kv.Range, fn func(k, v []byte) error) error {
	if err := t.check(b); err != nil {
		return err
	}
	lo, hi := bounds(r)
	if hi != nil && bytes.Compare(lo, hi) >= 0 {
		return nil
	}
	base := t.e.key(nsData, b, nil)
	flo := cat(base, lo)
	fhi := prefixEnd(base)
	if hi != nil {
		fhi = cat(base, hi)
	}
	less := func(a, b []byte) bool { return bytes.Compare(a, b) < 0 }
	if r.Reverse {
		less = func(a, b []byte) bool { return bytes.Compare(a, b) > 0 }
	}
	// This transaction's own writes in range, in scan order.
	var overlay []entry
	t.written(b).each(string(flo), string(fhi), func(fk string) {
		w := t.writes[fk]
		overlay = append(overlay, entry{key: w.key, val: w.val, ok: !w.del})
	})
	sort.Slice(overlay, func(i, j int) bool { return less(overlay[i].key, overlay[j].key) })

	var (
		last    []byte // the last key visited, in scan order
		emitted int
		stop    bool
		cbErr   error
	)
	emit := func(k, v []byte) {
		last = k
		if err := fn(k, v); err != nil {
			stop = true
			if !errors.Is(err, kv.ErrStop) {
				cbErr = err
			}
			return
		}
		emitted++
		if r.Limit > 0 && emitted >= r.Limit {
			stop = true
		}
	}
	oi := 0
	visit := func(s entry) {
		for oi < len(overlay) && less(overlay[oi].key, s.key) && !stop {
			if o := overlay[oi]; o.ok {
				emit(o.key, o.val)
			}
			oi++
		}
		if stop {
			return
		}
		if oi < len(overlay) && bytes.Equal(overlay[oi].key, s.key) {
			if o := overlay[oi]; o.ok {
				emit(o.key, o.val)
			}
			oi++
			return
		}
		if s.ok {
			emit(s.key, s.val)
		} else {
			last = s.key
		}
	}
	scan := t.serverScan
	if loaded, err := t.lookup(b); err != nil {
		return err
	} else if loaded {
		scan = t.cacheScan // read whole after many lookups (loaded.go)
	}
	err := scan(b, lo, hi, r, visit, func() bool { return stop })
	if err != nil {
		return err
	}
	for ; oi < len(overlay) && !stop; oi++ {
		if o := overlay[oi]; o.ok {
			emit(o.key, o.val)
		}
	}
	if t.writable {
		// Guard what was read: all of [lo, hi) if the scan ran to its end,
		// else up to (and including) the last key visited.
		glo, ghi := flo, fhi
		if stop && last != nil {
			if r.Reverse {
				glo = cat(base, last)
			} else {
				ghi = succ(cat(base, last))
			}
		}
		t.guards = append(t.guards, [2][]byte{glo, ghi})
	}
	return cbErr
}

// serverScan visits the server's keys of [lo, hi) in the range's order at the
// transaction's revision, page by page, until done() says stop.
// number reads a bound of a numbered bucket: "" is 0, an 8-byte key its
// number, a key followed by 0x00 (the bound after it) its number plus one.
func number(k []byte) (uint64, bool) {
	switch {
	case len(k) == 0:
		return 0, true
	case len(k) == 8:
		n, _ := parseU64(k)
		return n, true
	case len(k) == 9 && k[8] == 0:
		n, _ := parseU64(k[:8])
		return n + 1, true
	}
	return 0, false
}

// numberedDescending visits a numbered bucket's keys of [lo, hi) newest
// first: ascending range reads of windows of numbers below the last one
// read, each window twice as wide as the one before.
func (t *tx) numberedDescending(b kv.Bucket, lo, hi []byte, page int, visit func(entry), done func() bool) (bool, error) {
	low, ok1 := number(lo)
	var high uint64
	ok2 := true
	if hi == nil {
		n, err := t.sequence(b)
		if err != nil {
			return true, err
		}
		high = n + 1
		// Keys above the sequence would be missed: look once for any.
		r, err := t.get(t.e.key(nsData, b, u64(high)), clientv3.WithRange(string(prefixEnd(t.e.key(nsData, b, nil)))), clientv3.WithCountOnly())
		if err != nil {
			return true, err
		}
		if r.Count > 0 {
			return false, nil
		}
	} else {
		high, ok2 = number(hi)
	}
	if !ok1 || !ok2 {
		return false, nil // not numeric bounds: the general path
	}
	base := t.e.key(nsData, b, nil)
	w := uint64(page)
	for high > low {
		from := low
		if high-low > w {
			from = high - w
		}
		resp, err := t.get(cat(base, u64(from)), clientv3.WithRange(string(cat(base, u64(high)))))
		if err != nil {
			return true, err
		}
		for i := len(resp.Kvs) - 1; i >= 0; i-- {
			kvp := resp.Kvs[i]
			val, ok, err := decode(kvp.Value)
			if err != nil {
				return true, fmt.Errorf("etcd engine: %q: %w", kvp.Key, err)
			}
			visit(entry{key: kvp.Key[len(base):], val: val, ok: ok})
			if done() {
				return true, nil
			}
		}
		high = from
		if w < 4096 {
			w *= 2
		}
	}
	return true, nil
}

func (t *tx) serverScan(b kv.Bucket, lo, hi []byte, r kv.Range, visit func(entry), done func() bool) error {
	page := 64
	if r.Reverse && t.e.numbered[b] && r.Prefix == nil {
		if handled, err := t.numberedDescending(b, lo, hi, max(page, r.Limit+8), visit, done); handled || err != nil {
			return err
		}
	}
	if r.Limit > 0 && r.Limit+8 < page {
		page = r.Limit + 8 // a few spare for tombstones
	}
	var start, end []byte
	var decodeKey func(k []byte) ([]byte, error)
	opts := func() []clientv3.OpOption { return nil }
	switch {
	case !r.Reverse:
		base := t.e.key(nsData, b, nil)
		start, end = cat(base, lo), prefixEnd(base)
		if hi != nil {
			end = cat(base, hi)
		}
		decodeKey = func(k []byte) ([]byte, error) { return k[len(base):], nil }
	case t.e.reversed[b]:
		// Descending over keys is ascending over their mirror keys:
		// k < hi ⇔ rev(k) > rev(hi), k ≥ lo ⇔ rev(k) ≤ rev(lo).
		mbase := t.e.key(nsMirror, b, nil)
		start = mbase
		if hi != nil {
			start = succ(cat(mbase, revKey(hi)))
		}
		end = succ(cat(mbase, revKey(lo)))
		decodeKey = func(k []byte) ([]byte, error) { return unrevKey(k[len(mbase):]) }
	default:
		// No mirror: etcd sorts descending ranges in memory after reading
		// all of them, so this costs the whole range per page. Correct, and
		// fine for small buckets; page newest-first buckets via Reversed.
		base := t.e.key(nsData, b, nil)
		start, end = cat(base, lo), prefixEnd(base)
		if hi != nil {
			end = cat(base, hi)
		}
		decodeKey = func(k []byte) ([]byte, error) { return k[len(base):], nil }
		opts = func() []clientv3.OpOption {
			return []clientv3.OpOption{clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)}
		}
	}
	descending := r.Reverse && !t.e.reversed[b]
	prefetched := !r.Reverse // an ascending first page may be in t.scans
	for {
		var resp *clientv3.GetResponse
		if prefetched {
			resp, prefetched = t.scans[span{string(start), string(end)}], false
		}
		if resp == nil {
			o := append(opts(), clientv3.WithRange(string(end)), clientv3.WithLimit(int64(page)))
			var err error
			if resp, err = t.get(start, o...); err != nil {
				return err
			}
		}
		for _, kvp := range resp.Kvs {
			k, err := decodeKey(kvp.Key)
			if err != nil {
				return fmt.Errorf("etcd engine: %q: %w", kvp.Key, err)
			}
			val, ok, err := decode(kvp.Value)
			if err != nil {
				return fmt.Errorf("etcd engine: %q: %w", kvp.Key, err)
			}
			visit(entry{key: k, val: val, ok: ok})
			if done() {
				return nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		lastKey := resp.Kvs[len(resp.Kvs)-1].Key
		if descending {
			end = lastKey
		} else {
			start = succ(lastKey)
		}
		if page < 512 {
			page *= 2
		}
	}
}

// compares are the commit's guards: nothing read may have changed since the
// transaction's revision. Too many for one request (a transaction that read
// hundreds of keys) are merged per bucket into one range each, which may
// conflict more often but never misses a change.
func (t *tx) compares() []clientv3.Cmp {
	if t.rev == 0 || faultinject.SkipGuards.Load() {
		return nil
	}
	type rng struct{ lo, hi []byte }
	var rs []rng
	covered := coverOf(t.guards)
	for k := range t.read {
		if covered([]byte(k)) {
			continue
		}
		rs = append(rs, rng{[]byte(k), nil})
	}
	for _, g := range t.guards {
		rs = append(rs, rng{g[0], g[1]})
	}
	if len(rs) > t.e.opts.MaxTxnOps-4 { // room for the nonce's, marker's and a stage's compares
		// Merge into one range per namespace/bucket: [min lo, max hi).
		groups := map[string]*rng{}
		for _, r := range rs {
			g := t.groupOf(r.lo)
			hi := r.hi
			if hi == nil {
				hi = succ(r.lo)
			}
			if cur, ok := groups[g]; ok {
				if bytes.Compare(r.lo, cur.lo) < 0 {
					cur.lo = r.lo
				}
				if bytes.Compare(hi, cur.hi) > 0 {
					cur.hi = hi
				}
			} else {
				groups[g] = &rng{r.lo, hi}
			}
		}
		rs = rs[:0]
		for _, r := range groups {
			rs = append(rs, *r)
		}
	}
	cmps := make([]clientv3.Cmp, 0, len(rs)+1)
	for _, r := range rs {
		c := clientv3.Compare(clientv3.ModRevision(string(r.lo)), "<", t.rev+1)
		if r.hi != nil {
			c = c.WithRange(string(r.hi))
		}
		cmps = append(cmps, c)
	}
	return cmps
}

// coverOf returns whether a key lies in one of the guards: merged into
// disjoint sorted ranges once, then a binary search per key (a bulk
// transaction has thousands of each).
func coverOf(guards [][2][]byte) func(k []byte) bool {
	gs := append([][2][]byte(nil), guards...)
	sort.Slice(gs, func(i, j int) bool { return bytes.Compare(gs[i][0], gs[j][0]) < 0 })
	merged := gs[:0]
	for _, g := range gs {
		if n := len(merged); n > 0 && bytes.Compare(g[0], merged[n-1][1]) <= 0 {
			if bytes.Compare(g[1], merged[n-1][1]) > 0 {
				merged[n-1][1] = g[1]
			}
			continue
		}
		merged = append(merged, g)
	}
	return func(k []byte) bool {
		i := sort.Search(len(merged), func(i int) bool { return bytes.Compare(merged[i][1], k) > 0 })
		return i < len(merged) && bytes.Compare(k, merged[i][0]) >= 0
	}
}

// groupOf names the namespace and bucket a full key belongs to ("d/users/").
func (t *tx) groupOf(k []byte) string {
	rest := k[len(t.e.prefix):]
	if i := bytes.IndexByte(rest[min(2, len(rest)):], '/'); i >= 0 {
		return string(rest[:2+i+1])
	}
	return string(rest)
}

// A View reads a bucket whole once it has looked up this many of its keys,
// if the bucket holds at most loadMaxKeys; an Update once it has looked up
// loadAfterWriteGets (loaded.go).
const (
	loadAfterGets      = 32
	loadAfterWriteGets = 512
	loadMaxKeys        = 50_000
)

func (t *tx) loadBucket(b kv.Bucket) error {
	base := t.e.key(nsData, b, nil)
	r, err := t.get(base, clientv3.WithRange(string(prefixEnd(base))), clientv3.WithCountOnly())
	if err != nil {
		return err
	}
	if r.Count > loadMaxKeys {
		return nil
	}
	damaged := false
	var keys [][]byte
	err = t.rawScan(base, func(k, v []byte) {
		val, live, err := decode(v)
		damaged = damaged || err != nil
		if err != nil || !live {
			return
		}
		if val == nil {
			val = []byte{}
		}
		t.cache[string(cat(base, k))] = val
		keys = append(keys, bytes.Clone(k))
	})
	if err != nil || damaged {
		return err // damaged: leave Get to read (and report) each key itself
	}
	if t.loaded == nil {
		t.loaded = map[kv.Bucket]bool{}
	}
	t.loaded[b] = true
	t.noteLoaded(b, base, keys)
	return nil
}

// Fits reports, without committing, whether t's writes so far fit one etcd
// Txn: nil, or the ErrTooLarge its commit would return. A dry run calls it so
// that it refuses what the real change would (kv.Fitter).
func (t *tx) Fits() error {
	if t.tooManyOps() {
		return t.e.stageFits(t)
	}
	_, _, err := t.e.build(t, t.e.nonceKey(randomID(8)), 0)
	if errors.Is(err, kv.ErrTooLarge) {
		return t.e.stageFits(t) // committed through a stage (stage.go)
	}
	return err
}
