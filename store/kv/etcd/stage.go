package etcd

// Staged commits: an Update whose writes do not fit one etcd Txn (128
// operations, ~1.5 MiB) still commits all or nothing, so the domain code
// (a 20,000-row import) needs no engine-specific splitting.
//
//  1. Stage. The writes are cut into chunks that each fit one Txn and put
//     under P g/<stage>/w/<n>, outside the data keys, while a live key
//     P g/<stage>/l on a short, kept-alive lease says the stager is working.
//  2. Commit. One Txn compares everything the transaction read (merged per
//     bucket when there are more guards than fit), that no other staged
//     commit is being applied, that the live key still exists, and that the
//     nonce is absent; it puts the applying marker P x/apply = <stage>, the
//     stage's committed key (P g/<stage>/k = number of chunks) and the nonce.
//     An ambiguous outcome is settled by the nonce fence, like any commit.
//  3. Apply. Each chunk is written into place by a Txn that requires the
//     marker to still name this stage; the last one also deletes the marker
//     and the stage. While the marker exists nobody sees the half-applied
//     state: every transaction's first read is a Txn that also reads the
//     marker and waits while it is present (so the revision a transaction
//     reads at never has one), every commit requires it absent, and the
//     watch holds the applied changes back and delivers them as one commit
//     when the marker goes. If the applier dies (its live key vanishes with
//     its lease), whoever waits on the marker applies the staged chunks
//     itself: applying is idempotent, and a chunk written after the marker
//     is gone is refused by its compare.
//
// A stage that was never committed (its stager died or lost) has neither a
// live key nor a committed key; Open and every staged commit delete such
// stages.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keydesk/keydesk/store/kv"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	// MaxStagedBytes bounds the writes of one staged commit: they land twice
	// in etcd (stage, then data) and stay in its history until compaction,
	// against a default backend quota of 2 GiB.
	MaxStagedBytes = 192 << 20
	// stageTTL is how long a stager's live key outlives the stager (seconds):
	// how long readers wait before applying a dead applier's chunks.
	stageTTL = 10
	// stageWaitMax bounds how long a read waits for a staged commit that is
	// being applied before it reports the store unavailable.
	stageWaitMax = 2 * time.Minute
)

// applyHook, when set (tests), runs before an applier writes chunk i; an
// error stops the applier there as if its process died.
var applyHook func(i int) error

// swrite is one write of a staged commit.
type swrite struct {
	op     byte // 'p' put, 'd' delete, 's' set a bucket's sequence (val: 8 bytes)
	bucket kv.Bucket
	key    []byte
	val    []byte
}

func (e *Engine) markerKey() string { return string(e.prefix) + nsApply + "apply" }

func (e *Engine) stageKey(id, part string) string {
	return string(e.prefix) + nsStage + id + "/" + part
}

func chunkName(i int) string { return fmt.Sprintf("w/%08d", i) }

// stageOrigin is the engine that committed a stage (stage IDs are "<engine>.<random>").
func stageOrigin(id string) string {
	origin, _, _ := strings.Cut(id, ".")
	return origin
}

// writeOps are the etcd operations that make one write (a key, its mirror,
// a tombstone on lease, a sequence) and the bytes they carry.
func (e *Engine) writeOps(w swrite, lease clientv3.LeaseID) (ops []clientv3.Op, size int) {
	if w.op == 's' {
		sk := string(e.seqKey(w.bucket))
		return []clientv3.Op{clientv3.OpPut(sk, string(w.val))}, len(sk) + len(w.val)
	}
	k := string(e.key(nsData, w.bucket, w.key))
	var mk string
	if e.reversed[w.bucket] {
		mk = string(e.key(nsMirror, w.bucket, revKey(w.key)))
	}
	if w.op == 'd' {
		ops = append(ops, clientv3.OpPut(k, string([]byte{tagTombstone}), clientv3.WithLease(lease)))
		size += len(k) + 1
		if mk != "" {
			ops = append(ops, clientv3.OpDelete(mk))
			size += len(mk)
		}
		return ops, size
	}
	v := string(append([]byte{tagValue}, w.val...))
	ops = append(ops, clientv3.OpPut(k, v))
	size += len(k) + len(v)
	if mk != "" {
		ops = append(ops, clientv3.OpPut(mk, v))
		size += len(mk) + len(v)
	}
	return ops, size
}

// writeCost is how many operations and bytes writeOps makes of w, without
// making them.
func (e *Engine) writeCost(w swrite) (ops, size int) {
	if w.op == 's' {
		return 1, len(e.prefix) + len(nsSeq) + len(w.bucket) + len(w.val)
	}
	k := len(e.prefix) + len(nsData) + len(w.bucket) + 1 + len(w.key)
	v := 1 + len(w.val) // the tag and the value; a tombstone is the tag
	ops, size = 1, k+v
	if e.reversed[w.bucket] {
		mk := len(e.prefix) + len(nsMirror) + len(w.bucket) + 1 + len(w.key) + 2 + zeros(w.key)
		ops++
		if w.op == 'd' {
			size += mk
		} else {
			size += mk + v
		}
	}
	return ops, size
}

// zeros counts the 0x00 bytes of k: each is one more byte in its mirror key.
func zeros(k []byte) int { return bytes.Count(k, []byte{0}) }

// tooManyOps says t certainly does not fit one Txn, without building it.
func (t *tx) tooManyOps() bool { return len(t.writes)+len(t.seqs) >= t.e.opts.MaxTxnOps }

// stagedWrites lists t's writes in key order, then its sequences.
func (t *tx) stagedWrites() []swrite {
	keys := make([]string, 0, len(t.writes))
	for k := range t.writes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]swrite, 0, len(keys)+len(t.seqs))
	for _, k := range keys {
		w := t.writes[k]
		sw := swrite{op: 'p', bucket: w.bucket, key: w.key, val: w.val}
		if w.del {
			sw.op, sw.val = 'd', nil
		}
		out = append(out, sw)
	}
	bs := make([]string, 0, len(t.seqs))
	for b := range t.seqs {
		bs = append(bs, string(b))
	}
	sort.Strings(bs)
	for _, b := range bs {
		out = append(out, swrite{op: 's', bucket: kv.Bucket(b), val: u64(t.seqs[kv.Bucket(b)])})
	}
	return out
}

// chunkLimits are what one applying Txn may carry besides the marker's and
// the stage's deletes and a nonce.
func (e *Engine) chunkLimits() (ops, bytes int) {
	return e.opts.MaxTxnOps - 4, e.opts.MaxRequestBytes - 64*1024
}

// chunk cuts ws into pieces that each fit one Txn, and returns the bytes
// written in all.
func (e *Engine) chunk(ws []swrite) (chunks [][]swrite, total int, err error) {
	maxOps, maxBytes := e.chunkLimits()
	var cur []swrite
	nops, nbytes := 0, 0
	for _, w := range ws {
		ops, size := e.writeCost(w)
		size = max(size, encodedSize(w))
		if size > maxBytes {
			return nil, 0, fmt.Errorf("%w: one value of %d bytes (etcd allows %d per request)", kv.ErrTooLarge, size, e.opts.MaxRequestBytes)
		}
		if nops+ops > maxOps || nbytes+size > maxBytes {
			chunks, cur, nops, nbytes = append(chunks, cur), nil, 0, 0
		}
		cur = append(cur, w)
		nops += ops
		nbytes += size
		total += size
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks, total, nil
}

func encodedSize(w swrite) int {
	return 1 + 3*binary.MaxVarintLen32 + len(w.bucket) + len(w.key) + len(w.val)
}

func encodeChunk(ws []swrite) []byte {
	var b []byte
	for _, w := range ws {
		b = append(b, w.op)
		b = binary.AppendUvarint(b, uint64(len(w.bucket)))
		b = append(b, w.bucket...)
		b = binary.AppendUvarint(b, uint64(len(w.key)))
		b = append(b, w.key...)
		b = binary.AppendUvarint(b, uint64(len(w.val)))
		b = append(b, w.val...)
	}
	return b
}

var errBadChunk = errors.New("etcd engine: malformed staged chunk")

func decodeChunk(b []byte) ([]swrite, error) {
	var out []swrite
	field := func() ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return nil, errBadChunk
		}
		f := b[k : k+int(n)]
		b = b[k+int(n):]
		return f, nil
	}
	for len(b) > 0 {
		w := swrite{op: b[0]}
		b = b[1:]
		if w.op != 'p' && w.op != 'd' && w.op != 's' {
			return nil, errBadChunk
		}
		bk, err := field()
		if err != nil {
			return nil, err
		}
		if w.key, err = field(); err != nil {
			return nil, err
		}
		if w.val, err = field(); err != nil {
			return nil, err
		}
		w.bucket = kv.Bucket(bk)
		out = append(out, w)
	}
	return out, nil
}

// stageFits is Fits for a transaction too big for one Txn: whether it may be
// staged.
func (e *Engine) stageFits(t *tx) error {
	_, total, err := e.chunk(t.stagedWrites())
	if err != nil {
		return err
	}
	if total > MaxStagedBytes {
		return fmt.Errorf("%w: %d MiB of changes (one staged commit takes at most %d MiB); split the work",
			kv.ErrTooLarge, total>>20, MaxStagedBytes>>20)
	}
	return nil
}

// stage is one staged commit in progress on this engine.
type stage struct {
	id    string
	lease clientv3.LeaseID
	stop  context.CancelFunc
}

// commitStaged commits t, too big for one Txn, through a stage (see the top
// of this file). ok is false when a guard failed (re-run fn).
func (e *Engine) commitStaged(ctx context.Context, t *tx) (ok bool, err error) {
	chunks, total, err := e.chunk(t.stagedWrites())
	if err != nil {
		return false, err
	}
	if total > MaxStagedBytes {
		return false, e.stageFits(t)
	}
	e.cleanStages(ctx)
	st, err := e.newStage(ctx)
	if err != nil {
		return false, err
	}
	defer e.endStage(st)
	if err := e.putChunks(ctx, st, chunks); err != nil {
		e.dropStage(ctx, st.id)
		return false, err
	}
	ok, err = e.commitStage(ctx, t, st, len(chunks))
	if ok {
		e.stats.Staged.Add(1)
	}
	if err != nil || !ok {
		if !errors.Is(err, kv.ErrAmbiguous) {
			e.dropStage(ctx, st.id) // certainly not committed
		}
		return false, err
	}
	return e.applyStage(ctx, st.id, len(chunks), func(i int) ([]swrite, error) {
		if applyHook != nil {
			if err := applyHook(i); err != nil {
				return nil, err
			}
		}
		return chunks[i], nil
	})
}

// newStage grants the stage's lease and writes its live key.
func (e *Engine) newStage(ctx context.Context) (*stage, error) {
	c, cancel := e.rpc(ctx)
	defer cancel()
	g, err := e.cli.Grant(c, stageTTL)
	if err != nil {
		return nil, unavailable(err)
	}
	st := &stage{id: e.id + "." + randomID(8), lease: g.ID}
	if _, err := e.cli.Put(c, e.stageKey(st.id, "l"), "", clientv3.WithLease(g.ID)); err != nil {
		return nil, unavailable(err)
	}
	kctx, stop := context.WithCancel(e.ctx)
	st.stop = stop
	ka, err := e.cli.KeepAlive(kctx, g.ID)
	if err != nil {
		stop()
		return nil, unavailable(err)
	}
	go func() {
		for range ka { // drain: the client warns when nobody reads
		}
	}()
	return st, nil
}

// endStage stops keeping the stage alive and revokes its lease, so that, if
// the stage was committed but not applied, readers apply it at once.
func (e *Engine) endStage(st *stage) {
	st.stop()
	c, cancel := e.rpc(context.Background())
	defer cancel()
	_, _ = e.cli.Revoke(c, st.lease)
}

// putChunks writes the chunks under the stage, several per Txn.
func (e *Engine) putChunks(ctx context.Context, st *stage, chunks [][]swrite) error {
	maxOps, maxBytes := e.chunkLimits()
	var ops []clientv3.Op
	size := 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		c, cancel := e.rpc(ctx)
		defer cancel()
		_, err := e.cli.Txn(c).Then(ops...).Commit()
		ops, size = ops[:0], 0
		if err != nil {
			return unavailable(err)
		}
		return nil
	}
	for i, ws := range chunks {
		v := encodeChunk(ws)
		k := e.stageKey(st.id, chunkName(i))
		if len(ops) >= maxOps || size+len(k)+len(v) > maxBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		ops = append(ops, clientv3.OpPut(k, string(v)))
		size += len(k) + len(v)
	}
	return flush()
}

// commitStage is the one Txn that commits a staged transaction.
func (e *Engine) commitStage(ctx context.Context, t *tx, st *stage, chunks int) (bool, error) {
	lease, err := e.currentLease(ctx)
	if err != nil {
		return false, err
	}
	nonce := string(e.nonceKey(randomID(8)))
	cmps := append(t.compares(),
		clientv3.Compare(clientv3.CreateRevision(e.markerKey()), "=", 0),
		clientv3.Compare(clientv3.CreateRevision(nonce), "=", 0),
		clientv3.Compare(clientv3.CreateRevision(e.stageKey(st.id, "l")), ">", 0))
	if len(cmps) > e.opts.MaxTxnOps {
		return false, fmt.Errorf("%w: %d guards (etcd allows %d); split the work", kv.ErrTooLarge, len(cmps), e.opts.MaxTxnOps)
	}
	ops := []clientv3.Op{
		clientv3.OpPut(e.markerKey(), st.id),
		clientv3.OpPut(e.stageKey(st.id, "k"), strconv.Itoa(chunks)),
		clientv3.OpPut(nonce, "c", clientv3.WithLease(lease)),
	}
	c, cancel := e.rpc(ctx)
	start := time.Now()
	resp, err := e.cli.Txn(c).If(cmps...).Then(ops...).Commit()
	e.stats.CommitNano.Add(int64(time.Since(start)))
	cancel()
	if err == nil {
		return resp.Succeeded, nil
	}
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		e.dropLease(lease)
		return false, nil
	}
	e.stats.Ambiguous.Add(1)
	landed, ferr := e.fence(ctx, []byte(nonce), lease)
	if ferr != nil {
		return false, fmt.Errorf("%w: %v (then, checking: %v)", kv.ErrAmbiguous, err, ferr)
	}
	if landed {
		e.stats.Landed.Add(1)
	}
	return landed, nil
}

// applyParallel is how many chunks an applier writes at once: etcd commits
// concurrent requests in one raft batch, and readers wait while it applies.
const applyParallel = 4

// applyStage writes a committed stage's n chunks into place, chunk(i)
// giving each: all but the last at once (applyParallel at a time), then the
// last, which deletes the marker. It returns true once the stage is
// applied, by this engine or another.
func (e *Engine) applyStage(ctx context.Context, id string, n int, chunk func(i int) ([]swrite, error)) (bool, error) {
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if first != nil || next >= n-1 {
			return 0, false
		}
		next++
		return next - 1, true
	}
	apply := func(i int) error {
		ws, err := chunk(i)
		if err != nil {
			return err
		}
		gone, err := e.applyChunk(ctx, id, ws, i == n-1)
		if err == nil && gone {
			return errApplied
		}
		return err
	}
	for w := 0; w < min(applyParallel, n-1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, ok := take(); ok; i, ok = take() {
				if err := apply(i); err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	err := first
	if err == nil {
		err = apply(n - 1)
	}
	if err != nil && !errors.Is(err, errApplied) {
		return false, fmt.Errorf("%w: the change is committed but not yet applied (%v); the next server to read the store finishes it", kv.ErrAmbiguous, err)
	}
	return true, nil
}

var errApplied = errors.New("applied")

// applyChunk writes one chunk, if the marker still names the stage; gone
// reports that it no longer does (the stage was applied by someone).
func (e *Engine) applyChunk(ctx context.Context, id string, ws []swrite, last bool) (gone bool, err error) {
	ctx = context.WithoutCancel(ctx) // a committed change is finished, not abandoned
	deadline := time.Now().Add(4 * e.opts.RequestTimeout)
	for attempt := 1; ; attempt++ {
		lease, err := e.currentLease(ctx)
		if err == nil {
			var ops []clientv3.Op
			for _, w := range ws {
				o, _ := e.writeOps(w, lease)
				ops = append(ops, o...)
			}
			if last {
				ops = append(ops, clientv3.OpDelete(e.markerKey()),
					clientv3.OpDelete(e.stageKey(id, ""), clientv3.WithPrefix()),
					clientv3.OpPut(string(e.nonceKey(randomID(8))), "c", clientv3.WithLease(lease)))
			}
			c, cancel := e.rpc(ctx)
			var resp *clientv3.TxnResponse
			resp, err = e.cli.Txn(c).If(clientv3.Compare(clientv3.Value(e.markerKey()), "=", id)).Then(ops...).Commit()
			cancel()
			if err == nil {
				if resp.Succeeded {
					e.noteLinearizable(resp.Header.Revision)
				}
				return !resp.Succeeded, nil
			}
			if errors.Is(err, rpctypes.ErrLeaseNotFound) {
				e.dropLease(lease)
			}
		}
		if time.Now().After(deadline) || e.ctx.Err() != nil {
			return false, err
		}
		backoff(ctx, attempt)
	}
}

// completeStage applies a committed stage whose applier is gone, reading its
// chunks back from etcd.
func (e *Engine) completeStage(ctx context.Context, id string) error {
	c, cancel := e.rpc(ctx)
	r, err := e.cli.Get(c, e.stageKey(id, "k"))
	cancel()
	if err != nil {
		return unavailable(err)
	}
	if len(r.Kvs) == 0 {
		// Applied meanwhile (the last chunk deletes the marker with the
		// stage), unless the marker still names it: then the stage was
		// deleted by hand and nothing can finish it.
		c, cancel := e.rpc(ctx)
		m, err := e.cli.Get(c, e.markerKey())
		cancel()
		if err != nil {
			return unavailable(err)
		}
		if len(m.Kvs) == 1 && string(m.Kvs[0].Value) == id {
			return fmt.Errorf("etcd engine: %s names stage %s, which is gone: a big change cannot be finished; delete %s (etcdctl del) to let the store be used",
				e.markerKey(), id, e.markerKey())
		}
		return nil
	}
	n, err := strconv.Atoi(string(r.Kvs[0].Value))
	if err != nil || n < 1 {
		return fmt.Errorf("etcd engine: stage %s: bad chunk count %q", id, r.Kvs[0].Value)
	}
	e.log.Warn("applying a committed change whose server stopped while applying it", "stage", id, "chunks", n)
	_, err = e.applyStage(ctx, id, n, func(i int) ([]swrite, error) {
		c, cancel := e.rpc(ctx)
		r, err := e.cli.Get(c, e.stageKey(id, chunkName(i)))
		cancel()
		if err != nil {
			return nil, unavailable(err)
		}
		if len(r.Kvs) == 0 {
			return nil, errApplied // the stage is gone: applied by someone else
		}
		return decodeChunk(r.Kvs[0].Value)
	})
	return err
}

// dropStage deletes a stage that was not committed.
func (e *Engine) dropStage(ctx context.Context, id string) {
	c, cancel := e.rpc(context.WithoutCancel(ctx))
	defer cancel()
	_, _ = e.cli.Txn(c).If(clientv3.Compare(clientv3.CreateRevision(e.stageKey(id, "k")), "=", 0)).
		Then(clientv3.OpDelete(e.stageKey(id, ""), clientv3.WithPrefix())).Commit()
}

// cleanStages deletes abandoned stages: no live key (its stager is gone)
// and never committed. Best effort: a failure is logged and left for later.
func (e *Engine) cleanStages(ctx context.Context) {
	base := string(e.prefix) + nsStage
	c, cancel := e.rpc(ctx)
	r, err := e.cli.Get(c, base, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	cancel()
	if err != nil {
		return
	}
	type state struct{ live, committed bool }
	stages := map[string]*state{}
	for _, kvp := range r.Kvs {
		id, part, ok := strings.Cut(string(kvp.Key[len(base):]), "/")
		if !ok {
			continue
		}
		s := stages[id]
		if s == nil {
			s = &state{}
			stages[id] = s
		}
		s.live = s.live || part == "l"
		s.committed = s.committed || part == "k"
	}
	for id, s := range stages {
		if s.live || s.committed {
			continue
		}
		c, cancel := e.rpc(ctx)
		_, err := e.cli.Txn(c).If(
			clientv3.Compare(clientv3.CreateRevision(e.stageKey(id, "l")), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(e.stageKey(id, "k")), "=", 0)).
			Then(clientv3.OpDelete(e.stageKey(id, ""), clientv3.WithPrefix())).Commit()
		cancel()
		if err != nil {
			e.log.Warn("etcd engine: could not delete an abandoned stage", "stage", id, "err", err)
		} else {
			e.log.Info("etcd engine: deleted an abandoned stage (a big change that never committed)", "stage", id)
		}
	}
}

// firstGet is a transaction's first read: ops (a Get of key) in one Txn with
// the applying marker, so the revision it fixes is one where no staged
// commit is half applied. While one is, it waits (and applies the stage
// itself when its applier is gone), then reads again.
func (t *tx) firstGet(c context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	resp, err := t.firstTxn(c, clientv3.OpGet(key, opts...))
	if err != nil {
		return nil, err
	}
	r := (*clientv3.GetResponse)(resp.Responses[0].GetResponseRange())
	r.Header = resp.Header
	return r, nil
}

// firstTxn runs the read-only ops as a transaction's first read, waiting out
// a staged commit being applied (see firstGet). The marker's read is removed
// from the responses.
func (t *tx) firstTxn(c context.Context, ops ...clientv3.Op) (*clientv3.TxnResponse, error) {
	ops = append(ops[:len(ops):len(ops)], clientv3.OpGet(t.e.markerKey()))
	waitUntil := time.Now().Add(stageWaitMax)
	for {
		resp, err := t.e.readOnlyTxn(c, ops...)
		if err != nil {
			return nil, err
		}
		m := resp.Responses[len(ops)-1].GetResponseRange().Kvs
		if len(m) == 0 {
			resp.Responses = resp.Responses[:len(ops)-1]
			return resp, nil
		}
		t.e.stats.StageWaits.Add(1)
		if err := t.e.awaitStage(t.ctx, string(m[0].Value), waitUntil); err != nil {
			return nil, err
		}
		var cancel context.CancelFunc
		c, cancel = t.e.rpc(t.ctx)
		defer cancel()
	}
}

// awaitStage waits until the marker no longer names stage id, applying the
// stage itself if its applier's live key is gone.
func (e *Engine) awaitStage(ctx context.Context, id string, until time.Time) error {
	pause := time.Millisecond
	for {
		c, cancel := e.rpc(ctx)
		resp, err := e.readOnlyTxn(c, clientv3.OpGet(e.markerKey()), clientv3.OpGet(e.stageKey(id, "l")))
		cancel()
		if err != nil {
			return unavailable(err)
		}
		m := resp.Responses[0].GetResponseRange().Kvs
		if len(m) == 0 || string(m[0].Value) != id {
			return nil
		}
		if len(resp.Responses[1].GetResponseRange().Kvs) == 0 {
			if err := e.completeStage(ctx, id); err != nil {
				return err
			}
			continue
		}
		if time.Now().After(until) {
			return fmt.Errorf("%w: a big change (stage %s) has been applying for over %s", kv.ErrUnavailable, id, stageWaitMax)
		}
		tm := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			tm.Stop()
			return ctx.Err()
		case <-tm.C:
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// stageHold is the watch's view of a staged commit being applied: the
// changes seen since its marker appeared, delivered when it goes.
type stageHold struct {
	id      string
	changes []kv.Change
}

// holdAt starts h from the marker as of rev (where the watch begins).
func (e *Engine) holdAt(h *stageHold, rev int64) {
	*h = stageHold{}
	c, cancel := e.rpc(e.ctx)
	r, err := e.cli.Get(c, e.markerKey(), clientv3.WithRev(rev))
	cancel()
	if err == nil && len(r.Kvs) == 1 {
		h.id = string(r.Kvs[0].Value)
	}
}

// deliver sends one commit's changes (the events of one revision) to the
// consumer, except this engine's own commits; the changes of a staged commit
// are held until its marker goes and then sent as one commit at that
// revision. It returns false when the engine is closing.
func (e *Engine) deliver(h *stageHold, group []*clientv3.Event, mine bool, data []byte) bool {
	marker := e.markerKey()
	ended := false
	var cs []kv.Change
	for _, ev := range group {
		if string(ev.Kv.Key) == marker {
			if ev.Type == mvccpb.PUT {
				h.id, h.changes = string(ev.Kv.Value), nil
			} else {
				ended = true
			}
			continue
		}
		if c, ok := e.change(ev, data); ok {
			cs = append(cs, c)
		}
	}
	if h.id != "" {
		h.changes = append(h.changes, cs...)
		if !ended {
			return true
		}
		// Skip it only if this engine committed it and applied its end: then
		// its Update ran OnCommit. Otherwise this engine's caches learn it here.
		mine = mine && stageOrigin(h.id) == e.id
		cs = h.changes
		*h = stageHold{}
		for i := range cs {
			cs[i].Revision = group[0].Kv.ModRevision
		}
	}
	if mine {
		return true
	}
	for i := range cs {
		cs[i].More = i < len(cs)-1
		if !e.send(cs[i]) {
			return false
		}
	}
	return true
}
