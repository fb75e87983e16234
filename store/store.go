// Package store keeps keydesk's state and is the one place where "may this
// actor do this?" is asked and answered. Every change and its audit entry
// commit in the same transaction; subscribers hear about a change only after it
// is durable. The domain code runs on the transactional key-value contract of
// store/kv, so the engine under it (a bbolt file today, etcd next) changes no
// rule; its exported API carries no engine types.
package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keydesk/keydesk/internal/keyfile"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
	"github.com/keydesk/keydesk/store/kv/bolt"
)

// SchemaVersion is the layout this code reads and writes.
const SchemaVersion = 3

const (
	bucketMeta         kv.Bucket = "meta"
	bucketUsers        kv.Bucket = "users"
	bucketUsersByEmail kv.Bucket = "users_by_email"
	bucketUsersByKey   kv.Bucket = "users_by_key"
	bucketTokens       kv.Bucket = "tokens"
	bucketTokensByHash kv.Bucket = "tokens_by_digest"
	bucketTokensByUser kv.Bucket = "tokens_by_holder"
	bucketSealed       kv.Bucket = "sealed"
	bucketAudit        kv.Bucket = "audit"
)

var (
	allBuckets = []kv.Bucket{bucketMeta, bucketUsers, bucketUsersByEmail, bucketUsersByKey,
		bucketTokens, bucketTokensByHash, bucketTokensByUser, bucketSealed, bucketAudit}

	keySchema = []byte("schema_version")
	keyOwner  = []byte("owner_id")
)

// fillPercent packs the time-ordered buckets' pages (bolt.Options): audit
// keys are sequence numbers, token ids start with their creation time. Tokens
// keep a tenth free for records that grow when revoked, rotated or used.
var fillPercent = map[kv.Bucket]float64{bucketAudit: 1.0, bucketTokens: 0.9, bucketUsers: 0.9}

// Buckets lists the keyspaces the store uses; an engine is opened with them.
func Buckets() []kv.Bucket { return append([]kv.Bucket(nil), allBuckets...) }

// Options tune a store. The zero value is what keydesk runs with.
type Options struct {
	// OpenTimeout bounds Open's wait for another process that holds the
	// organization (default 1 s).
	OpenTimeout time.Duration
	// RotationGrace is how long a rotated token keeps working (default 10 min).
	RotationGrace time.Duration
	// LastUsedFlush is how often recorded token uses are written (default 5 s).
	LastUsedFlush time.Duration
	// Now replaces the clock in tests.
	Now func() time.Time
	// Logger receives what background work cannot return to a caller (a failed
	// last-used flush or reuse audit). Default: slog.Default().
	Logger *slog.Logger
	// Location names the store in messages ("no organization in …"); Open sets
	// it to the data directory.
	Location string
	// BackupDir is where a copy of the data is written before a schema
	// migration; Open sets it to the data directory. Empty: an older schema is
	// refused instead of migrated.
	BackupDir string
}

// Store is an open organization.
type Store struct {
	engine  kv.Engine
	opts    Options
	secrets Secrets
	macs    sync.Pool // HMAC states keyed with secrets.Pepper (see digest)

	wq   writeQueue // changes waiting for a group commit
	quit chan struct{}
	wg   sync.WaitGroup

	events eventHub
	access accessCache
	list   listIndex        // sorted and filtered token pages (listindex.go)
	hints  liveHints        // holders' live tokens, announced to etcd reads (hints.go)
	remote <-chan kv.Change // other processes' commits (nil: no one else writes)
	fresh  fresher          // proves the cache caught up with them (nil: never trusted)
	// schemaAhead is the schema another server moved the data to, when newer
	// than SchemaVersion (0: not); writes are then refused.
	schemaAhead atomic.Uint64
	usage       usageBuffer

	closeOnce sync.Once
	closeErr  error
}

// Actor is who asks for a change and through which door ("cli", "ssh 10.0.0.5",
// "console", "http 127.0.0.1"). Only the user ID is trusted; the store reloads
// the user inside each transaction so a role change applies at once.
type Actor struct {
	UserID string
	Via    string
	// Cap, when set, bounds the actor's role: a request made with a refresh
	// token acts with the lower of the holder's current role and the role the
	// token was created with (docs/roles.md, "role-restricted tokens").
	Cap models.Role
	// Key is the fingerprint of the SSH key a session logged in with (empty
	// for the local command line and for refresh tokens). Every transaction
	// then refuses once that key is no longer one of the actor's active keys:
	// a session opened with a key that was removed meanwhile can change and
	// read nothing, even in the moment before the SSH server ends it.
	Key string
}

// Open opens (creating if needed) the organization in the data directory dir:
// the bbolt file keydesk.db and the keys in dir/secrets. A directory held by
// another process fails within OpenTimeout with models.ErrInUse.
func Open(dir string, opts Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if err := keyfile.CheckOwnDir(dir); err != nil {
		return nil, err
	}
	e, err := bolt.Open(filepath.Join(dir, bolt.File), allBuckets, bolt.Options{Timeout: opts.OpenTimeout, FillPercent: fillPercent})
	if err != nil {
		if errors.Is(err, bolt.ErrLocked) {
			// err says what to do: quit a console, or reach a server over SSH.
			return nil, fmt.Errorf("%w: %v", models.ErrInUse, err)
		}
		return nil, err
	}
	// A new organization gets new keys; existing data must find its own.
	fresh := true
	if err := e.View(context.Background(), func(tx kv.Tx) error {
		for _, k := range [][]byte{keySecretsCheck, keyOwner} {
			v, err := tx.Get(bucketMeta, k)
			if err != nil {
				return err
			}
			if v != nil {
				fresh = false
			}
		}
		return nil
	}); err != nil {
		_ = e.Close()
		return nil, err
	}
	sec, err := openSecrets(filepath.Join(dir, "secrets"), fresh)
	if err != nil {
		_ = e.Close()
		return nil, err
	}
	if opts.Location == "" {
		opts.Location = dir
	}
	if opts.BackupDir == "" {
		opts.BackupDir = dir
	}
	s, err := OpenEngine(e, sec, opts)
	if err != nil {
		_ = e.Close()
		return nil, err
	}
	return s, nil
}

// OpenEngine opens the organization kept in e (opened with Buckets()), its
// digests and sealed secrets keyed by sec. Older schemas are migrated after a
// copy is written to opts.BackupDir. The store owns e from here: Close closes it.
func OpenEngine(e kv.Engine, sec Secrets, opts Options) (*Store, error) {
	if err := sec.valid(); err != nil {
		return nil, err
	}
	if opts.RotationGrace == 0 {
		opts.RotationGrace = 10 * time.Minute
	}
	if opts.LastUsedFlush == 0 {
		opts.LastUsedFlush = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Location == "" {
		opts.Location = "this store"
	}
	s := &Store{engine: e, opts: opts, secrets: sec, quit: make(chan struct{})}
	s.macs.New = s.newMAC
	if err := s.prepare(); err != nil {
		return nil, err
	}
	s.access.init()
	s.usage.init()
	s.wg.Add(1)
	go s.flushLoop()
	if ch := e.Changes(); ch != nil {
		// Other processes write this store: follow their commits (remote.go).
		s.remote = ch
		s.fresh, _ = e.(fresher)
		s.wg.Add(1)
		go s.followChanges(ch)
	}
	return s, nil
}

// prepare migrates an older layout and checks the schema version.
func (s *Store) prepare() error {
	if err := s.migrate(); err != nil { // older data: backup, then upgrade (migrate.go)
		return err
	}
	ctx := context.Background()
	var v []byte
	recorded := false
	if err := s.engine.View(ctx, func(tx kv.Tx) error {
		var err error
		if v, err = tx.Get(bucketMeta, keySchema); err != nil {
			return err
		}
		v = bytes.Clone(v)
		check, err := tx.Get(bucketMeta, keySecretsCheck)
		if err != nil || check == nil {
			return err
		}
		recorded = true
		return s.checkSecrets(tx) // read-only when a check value is recorded
	}); err != nil {
		return err
	}
	switch {
	case v != nil && len(v) != 8:
		return fmt.Errorf("database schema version is unreadable; restore from a backup")
	case v != nil && binary.BigEndian.Uint64(v) > SchemaVersion:
		return fmt.Errorf("%w: the data has schema %d, this keydesk reads up to %d; upgrade keydesk", models.ErrSchemaTooNew, binary.BigEndian.Uint64(v), SchemaVersion)
	case v == nil || !recorded: // a new store, or no check value yet: only then does opening write
		if err := s.engine.Update(ctx, func(tx kv.Tx) error {
			if err := s.checkSecrets(tx); err != nil {
				return err
			}
			if v == nil {
				return tx.Put(bucketMeta, keySchema, u64(SchemaVersion))
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if err := s.convertTokens(); err != nil { // finish (or resume) schema 2's token re-encoding
		return err
	}
	if err := s.foldLiveSet(); err != nil { // finish (or resume) schema 3's live-set fold (live.go)
		return err
	}
	if err := s.buildLiveIndex(); err != nil { // once, for data from before the live set (live.go)
		return err
	}
	return s.buildSkelIndex() // once, for data from before look-alike names were checked (lookalike.go)
}

// Location is where the organization is kept, as messages name it (Open: the
// data directory).
func (s *Store) Location() string { return s.opts.Location }

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.opts.Now() }

// Close flushes recorded token uses and closes the engine. It is safe to call twice.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.quit)
		s.closeWrites()
		s.wg.Wait()
		s.events.closeAll()
		s.closeErr = s.engine.Close()
	})
	return s.closeErr
}

// writeReq is one change waiting to be committed.
type writeReq struct {
	fn   func(tx kv.Tx) error
	done chan error // its result; or errLead, which makes its caller the committer
}

// errLead, sent on a waiting writer's done, hands it the committer's role:
// it commits the next group (its own change first) before it waits again.
var errLead = errors.New("store: lead the next group commit")

// maxGroup bounds one group commit (one transaction's worth of changes).
const maxGroup = 128

// writeQueue holds the changes waiting for a commit. At most one writer at a
// time, the committer, takes groups from it; every other writer waits on its
// own done.
type writeQueue struct {
	mu         sync.Mutex
	waiting    []*writeReq
	committing bool           // some writer is committing a group
	closed     bool           // Close has begun: no new changes
	inflight   sync.WaitGroup // queued or being committed
	lastGroup  atomic.Int32   // size of the group committed last
	groups     atomic.Int64   // groups committed, and the changes in them:
	changes    atomic.Int64   // how well writers share commits (benchmarks)
}

// update runs fn in a write transaction. Concurrent callers are committed
// together (one fsync for many changes), which is how eight creators outrun one;
// a lone caller is committed at once, with no batching delay.
//
// The caller whose change finds no commit under way commits it itself, on
// its own goroutine, together with whatever queued meanwhile; when it is done
// it hands the role to the longest-waiting writer, if any (leader–follower
// group commit, as LevelDB's write queue does). A lone writer therefore pays
// no goroutine hand-offs (a dedicated commit goroutine cost two wake-ups per
// change, ~60 µs of futex time per serial token create on this machine), and
// no one commits others' changes for long: one group, then the role moves on.
// The loop is the store's, not the engine's (bbolt's DB.Batch waits up to
// 10 ms for company and exists only for bbolt): see BenchmarkGroupCommit in
// group_bench_test.go.
func (s *Store) update(fn func(tx kv.Tx) error) error {
	if v := s.schemaAhead.Load(); v != 0 {
		// Another server migrated the shared data past what this one
		// writes (remote.go): never write an older layout into it.
		return fmt.Errorf("%w: another server moved the data to schema %d, this keydesk writes %d; upgrade keydesk", models.ErrSchemaTooNew, v, SchemaVersion)
	}
	q := &s.wq
	req := &writeReq{fn: fn, done: make(chan error, 1)}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return errClosed
	}
	q.inflight.Add(1)
	defer q.inflight.Done()
	q.waiting = append(q.waiting, req)
	lead := !q.committing
	q.committing = true
	q.mu.Unlock()
	if lead {
		s.commitNext()
	}
	for {
		err := <-req.done
		if err != errLead {
			return err
		}
		s.commitNext()
	}
}

var errClosed = errors.New("store is closed")

// commitNext, called by the committer, commits the next group (the committer's
// own change is first in the queue, so always in it) and then passes the role
// on to the next waiting writer, or leaves it free.
func (s *Store) commitNext() {
	q := &s.wq
	q.gather()
	q.mu.Lock()
	n := min(len(q.waiting), maxGroup)
	group := slices.Clone(q.waiting[:n])
	q.waiting = slices.Delete(q.waiting, 0, n)
	q.mu.Unlock()
	q.lastGroup.Store(int32(len(group)))
	q.groups.Add(1)
	q.changes.Add(int64(len(group)))
	defer q.passOn()
	defer func() {
		if p := recover(); p != nil {
			// A change panicked, on this caller's goroutine, which may
			// recover (net/http does): answer everyone else in the group,
			// whose changes may or may not have landed with it, so no one
			// waits forever and the role still passes on; then let the
			// panic go on up to its own caller.
			for _, r := range group {
				select {
				case r.done <- errGroupPanicked:
				default: // already answered
				}
			}
			panic(p)
		}
	}()
	s.commitGroup(group)
}

// errGroupPanicked answers the other members of a group in which one change
// panicked: the transaction may have been committed before the panic.
var errGroupPanicked = fmt.Errorf("%w (another change committed with it failed unexpectedly)", kv.ErrAmbiguous)

// passOn hands the committer's role to the longest-waiting writer, or leaves
// it free when no one waits.
func (q *writeQueue) passOn() {
	q.mu.Lock()
	if len(q.waiting) == 0 {
		q.committing = false
		q.mu.Unlock()
		return
	}
	next := q.waiting[0]
	q.mu.Unlock()
	next.done <- errLead // next is waiting, unanswered: its buffer is free
}

// gather lets the writers woken by the previous commit queue their next
// change before a group is taken: they are usually a moment from doing so,
// and letting them run first turns a 1-then-7 rhythm into full groups. It
// yields only while the queue grows and is short of the last group's size,
// so there is no timed wait; a lone writer (last group 1) skips it, since
// yielding then wakes an idle P for nothing (~35 µs of a serial create).
func (q *writeQueue) gather() {
	want := int(q.lastGroup.Load())
	if want <= 1 {
		return
	}
	seen := -1
	for range 2 * want {
		q.mu.Lock()
		n := len(q.waiting)
		q.mu.Unlock()
		if n >= want || n == seen {
			return
		}
		seen = n
		runtime.Gosched()
	}
}

// closeWrites refuses new changes and waits for the queued ones to commit.
func (s *Store) closeWrites() {
	s.wq.mu.Lock()
	s.wq.closed = true
	s.wq.mu.Unlock()
	s.wq.inflight.Wait()
}

// commitGroup commits a group in one transaction. If any member fails, the whole
// transaction rolls back and each member runs again alone, so one caller's error
// never becomes another's — except when the store could not be reached or did
// not confirm the commit: then every member gets that error. Members must therefore be safe to run twice; they are,
// because they change nothing outside the transaction except via tx.OnCommit
// (which the kv contract requires anyway: an engine may re-run fn on conflict).
func (s *Store) commitGroup(group []*writeReq) {
	ctx := context.Background()
	if len(group) == 1 {
		group[0].done <- s.engine.Update(ctx, group[0].fn)
		return
	}
	err := s.engine.Update(ctx, func(tx kv.Tx) error {
		for _, r := range group {
			if err := r.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || errors.Is(err, kv.ErrAmbiguous) || errors.Is(err, kv.ErrUnavailable) {
		// All or nothing: an ambiguous group may have landed, so running a
		// member again could apply it twice; an unreachable store would only
		// make each member wait out its timeout in turn, one after another
		// (e2e/faults: writers behind a group stalled for several timeouts).
		for _, r := range group {
			r.done <- err
		}
		return
	}
	for _, r := range group {
		r.done <- s.engine.Update(ctx, r.fn)
	}
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(tx kv.Tx) error) error {
	return s.engine.View(context.Background(), fn)
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}
