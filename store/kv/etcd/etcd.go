// Package etcd is the kv.Engine on an etcd cluster (go.etcd.io/etcd/client/v3),
// so several keydesk servers can share one organization.
//
// Transactions are optimistic and serializable. The first read of a
// transaction is linearizable and fixes revision R; every later read is at R.
// The commit is one etcd Txn whose compares say that nothing the function saw
// has changed since R: ModRevision < R+1 for every key read (absent keys too)
// and for the part of every range it scanned. Deletes are written as
// tombstones (on a short lease), so a range compare sees a deletion as a
// change; without them a key deleted from a scanned range would slip past the
// guard. A losing commit re-runs the function (bounded, with jittered backoff).
//
// A commit whose outcome is unknown (timeout, lost connection) is settled
// before anything is retried: each transaction also creates a nonce key, and
// after an ambiguous failure a fence transaction creates that nonce itself if
// it is still absent. If the fence wins, the original can never commit and it
// is safe to retry; if the nonce is there, the original committed.
//
// Buckets read newest first (Options.Reversed) keep a mirror whose keys sort
// in reverse (revKey), because etcd sorts a descending range in memory after
// reading all of it, ignoring the limit; with the mirror a newest-first page
// is an ascending range read that stops after the page.
//
// See docs/SCALE-OUT.md for the design and the prototype's figures.
package etcd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keydesk/keydesk/store/kv"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Server limits etcd applies to one request by default (--max-txn-ops,
// --max-request-bytes).
const (
	DefaultMaxTxnOps       = 128
	DefaultMaxRequestBytes = 1536 * 1024
)

// Options tune Open.
type Options struct {
	// Prefix is the organization's key prefix (default "/keydesk/"); it gets
	// a trailing "/" if it lacks one.
	Prefix string
	// Buckets are the keyspaces the engine serves.
	Buckets []kv.Bucket
	// Reversed are the buckets paged newest first; they keep a mirror.
	Reversed []kv.Bucket
	// Numbered are buckets paged newest first whose keys are 8-byte
	// big-endian numbers (an audit log keyed by its sequence): a descending
	// page is read as ascending windows of numbers below the last, so they
	// need no mirror (half the writes of a Reversed bucket).
	Numbered []kv.Bucket
	// MaxTxnOps and MaxRequestBytes are the server's limits (defaults above).
	MaxTxnOps, MaxRequestBytes int
	// MaxAttempts bounds how often Update runs fn when commits conflict
	// (default 64).
	MaxAttempts int
	// RequestTimeout bounds each round trip (default 5 s).
	RequestTimeout time.Duration
	// CommitTimeout bounds a commit's round trip (default 2 s; each re-run
	// of the change doubles it, up to RequestTimeout), shorter than
	// RequestTimeout because an unanswered commit is never left to wait: a commit in flight when the leader is cut off from the others
	// can never be applied, and etcd answers it only after its own request
	// timeout (5 s + two election timeouts), which held every writer of a
	// server that long. Past CommitTimeout the fence settles the commit
	// through the majority and the change is retried or reported landed.
	// A slow commit that hits it is settled the same way, so the cost of a
	// low value is a fence round trip, never a lost or doubled change.
	CommitTimeout time.Duration
	// ReadTimeout bounds the first attempt of a transaction's read (default
	// 1 s); an unanswered attempt is sent again, to the next member, with
	// twice the time, until RequestTimeout. A read the cut-off leader took in before it stepped
	// down is never answered: etcd drops the reads waiting on a leader when
	// that member sees a new leader, not when it loses one (etcdserver's
	// leaderChanged, v3.7.3), so the member left alone held them for the
	// whole request timeout (TestCommitOnAnIsolatedLeader…, 5.0 s stalls).
	ReadTimeout time.Duration
	// FreshEvery is how often the engine reads a linearizable revision to
	// prove its watch has caught up (default 50 ms); see Fresh.
	FreshEvery time.Duration
	// CompactRetention, when positive, makes the engine compact etcd's history
	// to what it was this long ago, checked every CompactRetention/4 (several
	// servers doing it is harmless). Zero leaves compaction to the cluster.
	CompactRetention time.Duration
	// Logger receives what background work cannot return (default slog.Default()).
	Logger *slog.Logger
	// OwnClient makes Close close the client too.
	OwnClient bool
}

// Engine is an organization kept in etcd. It implements kv.Engine.
type Engine struct {
	cli      *clientv3.Client
	opts     Options
	prefix   []byte
	id       string // this engine's name in nonce keys
	buckets  map[kv.Bucket]bool
	reversed map[kv.Bucket]bool
	numbered map[kv.Bucket]bool
	log      *slog.Logger

	lease struct {
		sync.Mutex
		id  clientv3.LeaseID
		at  time.Time
		ttl time.Duration
	}

	watch struct {
		once    sync.Once
		ch      chan kv.Change
		mu      sync.Mutex
		openRev int64 // the revision Open read: the watch starts after it
		watched int64 // every event up to here has been seen (sent or skipped)
		sent    int64 // the newest change sent on ch
		applied int64 // the newest change the consumer said it applied
		lin     int64 // a linearizable revision …
		linAt   time.Time
	}
	stats Stats
	// unreachable is set while the freshness loop's reads go unanswered
	// (etcd cut off from this server): a read then gets one ReadTimeout
	// attempt instead of the whole RequestTimeout, so an access check that
	// must fail closed says so in about a second, not five.
	unreachable atomic.Bool

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Stats count what the engine did, for metrics and tests.
type Stats struct {
	Commits    atomic.Int64 // transactions committed
	Conflicts  atomic.Int64 // commits that lost to a concurrent writer and re-ran
	Ambiguous  atomic.Int64 // commits whose outcome had to be settled by a fence
	Landed     atomic.Int64 // … of which had in fact committed
	CommitNano atomic.Int64 // total time spent in commit round trips
	Resets     atomic.Int64 // watch restarts that dropped caches (compaction)
	Staged     atomic.Int64 // commits too big for one Txn, made through a stage
	StageWaits atomic.Int64 // first reads that waited for a staged commit being applied
}

var _ kv.Engine = (*Engine)(nil)

// Open serves the organization under opts.Prefix through cli. It reads once,
// linearizably, so an unreachable cluster fails here with kv.ErrUnavailable.
func Open(ctx context.Context, cli *clientv3.Client, opts Options) (*Engine, error) {
	if opts.Prefix == "" {
		opts.Prefix = "/keydesk/"
	}
	if opts.Prefix[len(opts.Prefix)-1] != '/' {
		opts.Prefix += "/"
	}
	if opts.MaxTxnOps == 0 {
		opts.MaxTxnOps = DefaultMaxTxnOps
	}
	if opts.MaxRequestBytes == 0 {
		opts.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = 64
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = 5 * time.Second
	}
	if opts.CommitTimeout == 0 {
		opts.CommitTimeout = min(2*time.Second, opts.RequestTimeout)
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = min(time.Second, opts.RequestTimeout)
	}
	if opts.FreshEvery == 0 {
		opts.FreshEvery = 50 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Engine{cli: cli, opts: opts, prefix: []byte(opts.Prefix), id: randomID(8),
		buckets: map[kv.Bucket]bool{}, reversed: map[kv.Bucket]bool{}, numbered: map[kv.Bucket]bool{}, log: opts.Logger}
	for _, b := range opts.Buckets {
		if b == "" || containsSlash(string(b)) {
			return nil, fmt.Errorf("etcd engine: bucket name %q must be non-empty and without '/'", b)
		}
		e.buckets[b] = true
	}
	for _, b := range opts.Reversed {
		if !e.buckets[b] {
			return nil, fmt.Errorf("etcd engine: reversed bucket %q is not among the buckets", b)
		}
		e.reversed[b] = true
	}
	for _, b := range opts.Numbered {
		if !e.buckets[b] || e.reversed[b] {
			return nil, fmt.Errorf("etcd engine: numbered bucket %q must be a bucket and not reversed", b)
		}
		e.numbered[b] = true
	}
	e.lease.ttl = 2 * time.Minute
	e.ctx, e.cancel = context.WithCancel(context.Background())
	if _, err := e.linearizableRev(ctx); err != nil {
		e.cancel()
		return nil, err
	}
	e.cleanStages(ctx)
	if opts.CompactRetention > 0 {
		e.wg.Add(1)
		go e.compactLoop()
	}
	return e, nil
}

func containsSlash(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return true
		}
	}
	return false
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Client is the etcd client the engine uses.
func (e *Engine) Client() *clientv3.Client { return e.cli }

// Prefix is the organization's key prefix.
func (e *Engine) Prefix() string { return string(e.prefix) }

// Stats are the engine's counters.
func (e *Engine) Stats() *Stats { return &e.stats }

// Limits are what a caller may write in one etcd Txn: the server's limits
// less the engine's own keys (nonce, sequences), halved because a write to a
// reversed bucket is two (the key and its mirror). A bigger Update is staged
// (stage.go) up to MaxStagedBytes.
func (e *Engine) Limits() kv.Limits {
	ops := e.opts.MaxTxnOps - 4
	bytes := e.opts.MaxRequestBytes - 64*1024
	if len(e.reversed) > 0 {
		ops /= 2
		bytes /= 2
	}
	return kv.Limits{MaxOps: ops, MaxBytes: bytes, MaxStagedBytes: MaxStagedBytes}
}

// Close stops the watch and background work; with Options.OwnClient it closes
// the client. Safe to call twice.
func (e *Engine) Close() error {
	var err error
	e.closeOnce.Do(func() {
		e.cancel()
		e.wg.Wait()
		if e.opts.OwnClient {
			err = e.cli.Close()
		}
	})
	return err
}

func (e *Engine) key(ns string, b kv.Bucket, k []byte) []byte {
	return cat(e.prefix, []byte(ns), []byte(b), []byte{'/'}, k)
}

func (e *Engine) seqKey(b kv.Bucket) []byte { return cat(e.prefix, []byte(nsSeq), []byte(b)) }

func (e *Engine) nonceKey(n string) []byte {
	return cat(e.prefix, []byte(nsNonce), []byte(e.id), []byte{'/'}, []byte(n))
}

// rpc returns a context for one round trip. It requires a leader: a member
// cut off from the others (it has no leader) refuses at once instead of
// holding the request until the timeout, so reads fail over to another
// member at once and a commit is settled by its fence there. Without it one
// isolated member of three stalled most requests for the whole timeout
// (e2e/faults).
func (e *Engine) rpc(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(clientv3.WithRequireLeader(ctx), e.opts.RequestTimeout)
}

// read runs a read (any number of times: it changes nothing), each attempt
// with a context from rpc bounded by ReadTimeout, then twice that, and so
// on (a slow cluster's reads still get through), until one is answered or
// RequestTimeout has passed. An attempt that fails for any other reason
// than its own deadline returns that error (clientv3 has already retried
// what it can).
//
// While the freshness loop knows etcd does not answer (unreachable), a read
// gets a single ReadTimeout attempt: the loop's own reads already tried
// every member for the whole timeout, and a read that succeeds once etcd is
// back needs no more than that.
func (e *Engine) read(ctx context.Context, f func(context.Context) (*clientv3.GetResponse, error)) (*clientv3.GetResponse, error) {
	budget := e.opts.RequestTimeout
	if e.unreachable.Load() {
		budget = e.opts.ReadTimeout
	}
	deadline := time.Now().Add(budget)
	for attempt := 1; ; attempt++ {
		c, cancel := e.rpc(ctx)
		at := time.Now().Add(growing(e.opts.ReadTimeout, attempt, e.opts.RequestTimeout))
		if at.After(deadline) {
			at = deadline
		}
		c, cancelAttempt := context.WithDeadline(c, at)
		r, err := f(c)
		unanswered := err != nil && c.Err() != nil && ctx.Err() == nil
		cancelAttempt()
		cancel()
		if !unanswered || !time.Now().Before(deadline) {
			return r, err
		}
	}
}

// growing is base doubled for each attempt after the first, at most ceil.
func growing(base time.Duration, attempt int, ceil time.Duration) time.Duration {
	d := base << min(attempt-1, 8)
	if d <= 0 || d > ceil {
		return ceil
	}
	return d
}

// linearizableRev reads the cluster's current revision through the leader.
func (e *Engine) linearizableRev(ctx context.Context) (int64, error) {
	c, cancel := e.rpc(ctx)
	defer cancel()
	r, err := e.cli.Get(c, string(e.prefix)+nsSeq, clientv3.WithCountOnly())
	if err != nil {
		return 0, unavailable(err)
	}
	e.noteLinearizable(r.Header.Revision)
	return r.Header.Revision, nil
}

// unavailable wraps a failed read: nothing was changed, the store could not
// be reached or answered with an error.
func unavailable(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, kv.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: etcd: %v", kv.ErrUnavailable, err)
}

// View runs fn against one revision; its first read is linearizable, so it
// sees every commit acknowledged before View was called.
func (e *Engine) View(ctx context.Context, fn func(kv.Tx) error) error {
	for attempt := 0; ; attempt++ {
		t := newTx(ctx, e, false)
		err := fn(t)
		if t.restart != nil && attempt < 3 {
			continue // the revision was compacted under a long read: read anew
		}
		if err != nil {
			return err
		}
		if t.restart != nil {
			return t.restart
		}
		for _, f := range t.onCommit {
			f()
		}
		return nil
	}
}

// Update runs fn and commits what it wrote if nothing it read changed since
// its first read; otherwise it runs fn again, up to Options.MaxAttempts.
func (e *Engine) Update(ctx context.Context, fn func(kv.Tx) error) error {
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := newTx(ctx, e, true)
		err := fn(t)
		if t.restart != nil {
			if attempt >= e.opts.MaxAttempts {
				return t.restart
			}
			continue
		}
		if err != nil {
			return err
		}
		ok, err := e.commit(ctx, t, attempt)
		if err != nil {
			return err
		}
		if ok {
			e.stats.Commits.Add(1)
			for _, f := range t.onCommit {
				f()
			}
			return nil
		}
		e.stats.Conflicts.Add(1)
		if attempt >= e.opts.MaxAttempts {
			return fmt.Errorf("%w (%d attempts)", kv.ErrConflict, attempt)
		}
		backoff(ctx, attempt)
	}
}

// backoff sleeps a random time that grows with the attempt (1 ms … 64 ms):
// writers that collided spread out instead of colliding again.
func backoff(ctx context.Context, attempt int) {
	ceil := time.Millisecond << min(attempt, 6)
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(ceil)))
	t := time.NewTimer(time.Duration(n.Int64()))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// build turns t into the one etcd Txn that commits it: guards and operations,
// or ErrTooLarge when they exceed the server's limits.
func (e *Engine) build(t *tx, nonce []byte, lease clientv3.LeaseID) (cmps []clientv3.Cmp, ops []clientv3.Op, err error) {
	cmps = t.compares()
	cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(string(nonce)), "=", 0),
		clientv3.Compare(clientv3.CreateRevision(e.markerKey()), "=", 0)) // no staged commit half applied
	size := len(nonce) + 1
	for _, w := range t.stagedWrites() {
		o, n := e.writeOps(w, lease)
		ops = append(ops, o...)
		size += n
	}
	ops = append(ops, clientv3.OpPut(string(nonce), "c", clientv3.WithLease(lease)))
	for _, c := range cmps {
		size += len(c.KeyBytes()) + len(c.GetCompare().GetRangeEnd()) + 16
	}
	if len(ops) > e.opts.MaxTxnOps || len(cmps) > e.opts.MaxTxnOps {
		return nil, nil, fmt.Errorf("%w: %d operations and %d guards (etcd allows %d each); split the work",
			kv.ErrTooLarge, len(ops), len(cmps), e.opts.MaxTxnOps)
	}
	if size > e.opts.MaxRequestBytes-4096 {
		return nil, nil, fmt.Errorf("%w: %d bytes (etcd allows %d per request); split the work",
			kv.ErrTooLarge, size, e.opts.MaxRequestBytes)
	}
	return cmps, ops, nil
}

// errRetry means a commit definitely did not land and may run again at once
// (an expired lease was replaced).
var errRetry = errors.New("retry")

// commit sends t's writes as one Txn guarded by its reads. ok is false when
// a guard failed (a conflict: re-run fn).
//
// attempt is Update's: each attempt doubles the time a commit may take
// (CommitTimeout, 2×, 4×, … up to RequestTimeout), so a cluster slow enough
// that commits need longer than CommitTimeout still gets them through,
// fenced and retried a few times first, instead of refusing every change.
func (e *Engine) commit(ctx context.Context, t *tx, attempt int) (ok bool, err error) {
	if len(t.writes) == 0 && len(t.seqs) == 0 {
		return true, nil // read-only: its reads were one consistent revision
	}
	start := time.Now()
	for try := 0; ; try++ {
		ok, err = e.commitOnce(ctx, t, growing(e.opts.CommitTimeout, attempt, e.opts.RequestTimeout))
		switch {
		case errors.Is(err, errRetry) && try < 3:
			continue
		case errors.Is(err, errNoLeader) && time.Since(start) < e.opts.RequestTimeout:
			// The next round trip goes to the next member (the client
			// balances calls round robin), which may have a leader.
			backoff(ctx, try+1)
			continue
		}
		return ok, err
	}
}

// errNoLeader means the member a commit reached has no leader and refused
// it before proposing anything (clientv3.WithRequireLeader): it did not land.
var errNoLeader = fmt.Errorf("%w: the etcd member reached has no leader", kv.ErrUnavailable)

func (e *Engine) commitOnce(ctx context.Context, t *tx, timeout time.Duration) (bool, error) {
	if t.tooManyOps() {
		return e.commitStaged(ctx, t) // bigger than one Txn: stage it (stage.go)
	}
	lease, err := e.currentLease(ctx)
	if err != nil {
		return false, err
	}
	nonce := e.nonceKey(randomID(8))
	cmps, ops, err := e.build(t, nonce, lease)
	if errors.Is(err, kv.ErrTooLarge) {
		return e.commitStaged(ctx, t) // bigger than one Txn: stage it (stage.go)
	}
	if err != nil {
		return false, err
	}
	c, cancel := e.rpc(ctx)
	c, cancelCommit := context.WithTimeout(c, timeout)
	start := time.Now()
	resp, err := e.cli.Txn(c).If(cmps...).Then(ops...).Commit()
	e.stats.CommitNano.Add(int64(time.Since(start)))
	cancelCommit()
	cancel()
	if err == nil {
		if resp.Succeeded {
			e.noteLinearizable(resp.Header.Revision)
		}
		return resp.Succeeded, nil
	}
	switch {
	case errors.Is(err, rpctypes.ErrTooManyOps), errors.Is(err, rpctypes.ErrRequestTooLarge),
		status.Code(err) == codes.ResourceExhausted:
		return false, fmt.Errorf("%w: %v", kv.ErrTooLarge, err)
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		e.dropLease(lease)
		return false, errRetry
	case errors.Is(err, rpctypes.ErrNoLeader):
		return false, errNoLeader
	case errors.Is(err, rpctypes.ErrNoSpace):
		return false, fmt.Errorf("%w: etcd is out of space (compact and defragment it): %v", kv.ErrUnavailable, err)
	case errors.Is(err, rpctypes.ErrPermissionDenied), errors.Is(err, rpctypes.ErrUserEmpty),
		errors.Is(err, rpctypes.ErrInvalidAuthToken), status.Code(err) == codes.InvalidArgument:
		return false, fmt.Errorf("etcd refused the change: %w", err)
	}
	// Anything else may have landed: settle it before retrying.
	e.stats.Ambiguous.Add(1)
	landed, ferr := e.fence(ctx, nonce, lease)
	if ferr != nil {
		return false, fmt.Errorf("%w: %v (then, checking: %v)", kv.ErrAmbiguous, err, ferr)
	}
	if landed {
		e.stats.Landed.Add(1)
		return true, nil
	}
	return false, nil // certainly not committed: re-run like a conflict
}

// fence settles an ambiguous commit: it creates the nonce if it is still
// absent, after which the original transaction (which requires it absent)
// can never commit. landed reports that the original had committed.
func (e *Engine) fence(ctx context.Context, nonce []byte, lease clientv3.LeaseID) (landed bool, err error) {
	ctx = context.WithoutCancel(ctx)
	deadline := time.Now().Add(2 * e.opts.RequestTimeout)
	for attempt := 1; ; attempt++ {
		c, cancel := e.rpc(ctx)
		resp, err := e.cli.Txn(c).
			If(clientv3.Compare(clientv3.CreateRevision(string(nonce)), "=", 0)).
			Then(clientv3.OpPut(string(nonce), "x", clientv3.WithLease(lease))).
			Else(clientv3.OpGet(string(nonce))).Commit()
		cancel()
		if err == nil {
			if resp.Succeeded {
				return false, nil
			}
			kvs := resp.Responses[0].GetResponseRange().GetKvs()
			return len(kvs) == 1 && string(kvs[0].Value) == "c", nil
		}
		// An expired lease would have taken the original's nonce with it, so
		// nothing can be learnt: the outcome stays unknown.
		if errors.Is(err, rpctypes.ErrLeaseNotFound) || time.Now().After(deadline) {
			return false, err
		}
		backoff(ctx, attempt)
	}
}

// currentLease is the lease tombstones and nonces are written on: granted
// for two minutes and replaced after one, so it never expires under a
// transaction in flight.
func (e *Engine) currentLease(ctx context.Context) (clientv3.LeaseID, error) {
	e.lease.Lock()
	defer e.lease.Unlock()
	if e.lease.id != clientv3.NoLease && time.Since(e.lease.at) < e.lease.ttl/2 {
		return e.lease.id, nil
	}
	c, cancel := e.rpc(ctx)
	defer cancel()
	at := time.Now()
	r, err := e.cli.Grant(c, int64(e.lease.ttl/time.Second))
	if err != nil {
		return 0, unavailable(err)
	}
	e.lease.id, e.lease.at = r.ID, at
	return r.ID, nil
}

func (e *Engine) dropLease(id clientv3.LeaseID) {
	e.lease.Lock()
	if e.lease.id == id {
		e.lease.id = clientv3.NoLease
	}
	e.lease.Unlock()
}

func u64(n uint64) []byte {
	return []byte{byte(n >> 56), byte(n >> 48), byte(n >> 40), byte(n >> 32),
		byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

func parseU64(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("sequence value of %d bytes, want 8", len(b))
	}
	var n uint64
	for _, x := range b {
		n = n<<8 | uint64(x)
	}
	return n, nil
}
