// Package kv is the transactional key-value contract keydesk's domain code runs
// on. bbolt (store/kv/bolt) is the zero-configuration engine; etcd
// (store/kv/etcd) lets several servers share one organization. The contract is
// the smallest thing both can honour with serializable transactions:
// buckets of ordered byte keys, read and write transactions whose function may
// run more than once, and callbacks that run only after a commit is durable.
//
// Design notes and the figures behind them: docs/SCALE-OUT.md.
package kv

import (
	"context"
	"errors"
	"io"
)

// Bucket names one ordered keyspace (bbolt: a bucket; etcd: a key prefix).
// The set of buckets is fixed when an engine is opened.
type Bucket string

// Range selects the keys a Scan visits. The zero Range visits every key of the
// bucket in ascending order.
type Range struct {
	// Prefix, when set, limits the scan to keys that start with it.
	Prefix []byte
	// After, when set, starts strictly after this key (ascending scans) and
	// Before ends strictly before it; both apply in either direction, so a
	// descending page "older than X" is Range{Before: X, Reverse: true}.
	After, Before []byte
	// Reverse visits keys in descending order.
	Reverse bool
	// Limit stops after this many keys (0: no limit). Engines that fetch in
	// pages use it to read no more than the caller wants.
	Limit int
}

// Engine is an open key-value store.
type Engine interface {
	// View runs fn in a read-only transaction that sees one consistent state.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction and commits it durably when fn
	// returns nil. fn may run more than once (an engine with optimistic
	// concurrency re-runs it on conflict), so it must change nothing outside the
	// transaction except through Tx.OnCommit.
	Update(ctx context.Context, fn func(Tx) error) error
	// Changes delivers commits made by other processes sharing this store, in
	// commit order. It is nil for engines no other process can write (bbolt).
	Changes() <-chan Change
	// Export writes a consistent copy of everything, taken at one point in time,
	// in keydesk's backup file format (a bbolt file), and returns the bytes written.
	Export(ctx context.Context, w io.Writer) (int64, error)
	// Check reports structural damage the engine can see (pages, revisions)
	// through add, one line per problem; a nil return with no lines means clean.
	Check(ctx context.Context, add func(format string, args ...any)) error
	// Limits says how big one transaction may be, so bulk work can be split.
	Limits() Limits
	// Close releases the engine. It is safe to call twice.
	Close() error
}

// Tx is one transaction. Values returned by Get and passed to Scan's fn are
// valid only until the transaction ends (bbolt hands out its mapped pages
// without copying); copy what must outlive it.
type Tx interface {
	// Get returns the value of k, or nil (and no error) when k is absent.
	Get(b Bucket, k []byte) ([]byte, error)
	// Scan calls fn for each key in r, in order. fn returning ErrStop ends the
	// scan early with a nil error; any other error ends it and is returned.
	Scan(b Bucket, r Range, fn func(k, v []byte) error) error
	// Put sets k to v. An empty v is stored as an empty, present value. The
	// engine may keep k and v until the transaction ends (bbolt references
	// them until commit), so the caller must not change them meanwhile.
	Put(b Bucket, k, v []byte) error
	// Delete removes k; deleting an absent key is not an error.
	Delete(b Bucket, k []byte) error
	// NextSequence returns the bucket's next number, starting at 1. Numbers are
	// dense and in commit order: a transaction that does not commit uses none.
	NextSequence(b Bucket) (uint64, error)
	// OnCommit runs f after the transaction has committed durably (never if it
	// rolls back, and once only even when fn is re-run).
	OnCommit(f func())
	// Writable reports whether this is an Update transaction.
	Writable() bool
}

// Packer is implemented by the transactions of engines that keep keys in
// pages (bbolt). Pack(b) asks this transaction to fill the pages of b it
// writes completely instead of splitting them in half: right for a bulk load
// or a rewrite that puts keys in increasing order (nothing will be inserted
// between them soon), wasteful for keys that keep arriving at random places.
// Engines without pages (etcd) do not implement it; callers type-assert and
// go on without.
type Packer interface {
	Pack(b Bucket)
}

// Fitter is implemented by the transactions of engines with Limits (etcd).
// Fits reports, without committing, whether the writes so far fit one
// transaction: nil, or the ErrTooLarge a commit would return. A dry run uses
// it to refuse what the real change would.
type Fitter interface {
	Fits() error
}

// Prefetcher is implemented by the transactions of engines where each read
// is a round trip to a server (etcd). Prefetch announces reads the function
// is about to make, so the engine fetches them together in one round trip at
// the transaction's revision (a prefetch that is a transaction's first read
// fixes that revision, as any first read does). It changes nothing the
// transaction sees or guards: Get, Scan and NextSequence return what they
// would have returned without it, and only what they then actually read is
// guarded at commit, so a prefetched key the function never reads may change
// meanwhile without a conflict. An engine may ignore any part of a hint.
// Engines that read locally (bbolt) do not implement it; callers use the
// Prefetch function, which does nothing for them.
type Prefetcher interface {
	Prefetch(reads ...Read) error
}

// Read is one read announced to Prefetch; make it with GetOf, ScanOf or
// SequenceOf.
type Read struct {
	Bucket Bucket
	Key    []byte // GetOf: the key
	Range  Range  // ScanOf: the range (only its first page is fetched)
	Kind   ReadKind
}

// ReadKind says which call a Read announces.
type ReadKind uint8

// The reads Prefetch can announce.
const (
	ReadGet      ReadKind = iota // Get(Bucket, Key)
	ReadScan                     // Scan(Bucket, Range, …)
	ReadSequence                 // NextSequence(Bucket)
)

// GetOf announces Get(b, k).
func GetOf(b Bucket, k []byte) Read { return Read{Bucket: b, Key: k, Kind: ReadGet} }

// ScanOf announces Scan(b, r, …).
func ScanOf(b Bucket, r Range) Read { return Read{Bucket: b, Range: r, Kind: ReadScan} }

// SequenceOf announces NextSequence(b).
func SequenceOf(b Bucket) Read { return Read{Bucket: b, Kind: ReadSequence} }

// Prefetch passes reads to tx's engine when it batches reads (Prefetcher)
// and does nothing otherwise.
func Prefetch(tx Tx, reads ...Read) error {
	if p, ok := tx.(Prefetcher); ok && len(reads) > 0 {
		return p.Prefetch(reads...)
	}
	return nil
}

// Change is one key changed by another process's commit.
type Change struct {
	Bucket   Bucket
	Key      []byte
	Value    []byte // nil when Deleted
	Deleted  bool
	Revision int64 // the engine's commit revision, increasing
	// More says further changes of the same commit follow at once: a
	// consumer that applies what has arrived should wait for the rest, so
	// nobody sees part of a commit.
	More bool
}

// Limits bound one transaction. Zero means no limit.
type Limits struct {
	MaxOps   int // writes (puts and deletes) per transaction
	MaxBytes int // bytes of keys and values written per transaction
	// MaxStagedBytes, when positive, says a transaction over MaxOps or
	// MaxBytes still commits, all or nothing, up to this many bytes written
	// in all (etcd stages it: several round trips, and other transactions
	// wait while it is applied). Bulk work that need not be atomic should
	// still split at MaxOps and MaxBytes. Zero: over them is ErrTooLarge.
	MaxStagedBytes int
}

var (
	// ErrStop, returned by a Scan callback, ends the scan without an error.
	ErrStop = errors.New("kv: stop scan")
	// ErrConflict means a transaction kept losing to concurrent writers and
	// gave up; nothing was committed.
	ErrConflict = errors.New("kv: transaction conflicts with concurrent changes; try again")
	// ErrAmbiguous means the engine could not learn whether a commit landed
	// (the connection failed while it was in flight).
	ErrAmbiguous = errors.New("kv: the store did not confirm the change; check before retrying")
	// ErrTooLarge means a transaction exceeds Limits.
	ErrTooLarge = errors.New("kv: transaction too large for the store")
	// ErrUnavailable means the engine cannot reach its data right now.
	ErrUnavailable = errors.New("kv: store unavailable")
	// ErrReadOnly is returned by writes inside View.
	ErrReadOnly = errors.New("kv: write in a read-only transaction")
	// ErrUnknownBucket is returned for a bucket the engine was not opened with.
	ErrUnknownBucket = errors.New("kv: unknown bucket")
)
