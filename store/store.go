// Package store keeps keydesk's state in one bbolt file and is the one place where
// "may this actor do this?" is asked and answered. Every change and its audit entry
// commit in the same transaction; subscribers hear about a change only after it is
// durable. Its exported API carries no bbolt types so another backend can slot in.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/keydesk/keydesk/models"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout this code reads and writes.
const SchemaVersion = 1

// DBFile is the database's name inside the data directory.
const DBFile = "keydesk.db"

var (
	bucketMeta         = []byte("meta")
	bucketUsers        = []byte("users")
	bucketUsersByEmail = []byte("users_by_email")
	bucketUsersByKey   = []byte("users_by_key")
	bucketTokens       = []byte("tokens")
	bucketTokensByHash = []byte("tokens_by_digest")
	bucketTokensByUser = []byte("tokens_by_holder")
	bucketSealed       = []byte("sealed")
	bucketAudit        = []byte("audit")

	allBuckets = [][]byte{bucketMeta, bucketUsers, bucketUsersByEmail, bucketUsersByKey,
		bucketTokens, bucketTokensByHash, bucketTokensByUser, bucketSealed, bucketAudit}

	keySchema = []byte("schema_version")
	keyOwner  = []byte("owner_id")
)

// Options tune a store. The zero value is what keydesk runs with.
type Options struct {
	// LockTimeout bounds the wait for another process's lock (default 1 s).
	LockTimeout time.Duration
	// RotationGrace is how long a rotated token keeps working (default 10 min).
	RotationGrace time.Duration
	// LastUsedFlush is how often recorded token uses reach disk (default 5 s).
	LastUsedFlush time.Duration
	// Now replaces the clock in tests.
	Now func() time.Time
}

// Store is an open organization.
type Store struct {
	db      *bolt.DB
	dir     string
	opts    Options
	secrets secrets

	writes  chan *writeReq
	quit    chan struct{}
	stopped chan struct{} // closed when the write loop has exited
	wg      sync.WaitGroup

	events eventHub
	access accessCache
	usage  usageBuffer

	closeOnce sync.Once
	closeErr  error

	// faultHook, when set by tests, runs inside every write transaction after the
	// change and its audit entry and before commit; an error aborts the whole tx.
	faultHook func(op string) error
}

// Actor is who asks for a change and through which door ("cli", "ssh 10.0.0.5",
// "console", "http 127.0.0.1"). Only the user ID is trusted; the store reloads
// the user inside each transaction so a role change applies at once.
type Actor struct {
	UserID string
	Via    string
	// Cap, when set, bounds the actor's role: a request made with a refresh
	// token acts with the lower of the holder's current role and the role the
	// token was created with (SPEC §1, "role restricted").
	Cap models.Role
}

// Open opens (creating if needed) the organization in dir. A database held by
// another process fails within LockTimeout with models.ErrInUse.
func Open(dir string, opts Options) (*Store, error) {
	if opts.LockTimeout == 0 {
		opts.LockTimeout = time.Second
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
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, DBFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s is held by another keydesk process (is `keydesk serve` running?); run the command over SSH instead: ssh -p 23234 localhost <command>", models.ErrInUse, path)
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s := &Store{db: db, dir: dir, opts: opts, writes: make(chan *writeReq, 256),
		quit: make(chan struct{}), stopped: make(chan struct{})}
	if err := s.prepare(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if s.secrets, err = loadSecrets(filepath.Join(dir, "secrets")); err != nil {
		_ = db.Close()
		return nil, err
	}
	s.access.init()
	s.usage.init()
	s.wg.Add(2)
	go s.writeLoop()
	go s.flushLoop()
	return s, nil
}

// prepare creates the buckets once and checks the schema version.
func (s *Store) prepare() error {
	if err := s.migrate(); err != nil { // older files: backup, then upgrade (migrate.go)
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		v := meta.Get(keySchema)
		if v == nil {
			return meta.Put(keySchema, u64(SchemaVersion))
		}
		if len(v) != 8 {
			return fmt.Errorf("database schema version is unreadable; restore from a backup")
		}
		if got := binary.BigEndian.Uint64(v); got > SchemaVersion {
			return fmt.Errorf("%w: the file has schema %d, this keydesk reads up to %d; upgrade keydesk", models.ErrSchemaTooNew, got, SchemaVersion)
		}
		return nil
	})
}

// Dir is the data directory.
func (s *Store) Dir() string { return s.dir }

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.opts.Now() }

// Close flushes recorded token uses and closes the database. It is safe to call twice.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.quit)
		s.wg.Wait()
		s.events.closeAll()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// writeReq is one change waiting for the group-commit loop.
type writeReq struct {
	fn   func(tx *bolt.Tx) error
	done chan error
}

// update runs fn in a write transaction. Concurrent callers are committed
// together (one fsync for many changes), which is how eight creators outrun one;
// a lone caller is committed at once, with no batching delay.
func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	req := &writeReq{fn: fn, done: make(chan error, 1)}
	select {
	case s.writes <- req:
	case <-s.quit:
		return errClosed
	}
	select {
	case err := <-req.done:
		return err
	case <-s.stopped:
		// The loop stopped; it either answered us while draining or never saw us.
		select {
		case err := <-req.done:
			return err
		default:
			return errClosed
		}
	}
}

var errClosed = errors.New("store is closed")

func (s *Store) writeLoop() {
	defer s.wg.Done()
	defer close(s.stopped)
	const maxGroup = 128
	for {
		var first *writeReq
		select {
		case first = <-s.writes:
		case <-s.quit:
			// Drain anything already queued so no caller waits forever.
			for {
				select {
				case r := <-s.writes:
					r.done <- errClosed
				default:
					return
				}
			}
		}
		// Writers woken by the previous commit are usually a moment from
		// queueing their next change; letting them run first turns a 1-then-7
		// rhythm into groups of 8, without any timed wait for a lone writer.
		runtime.Gosched()
		group := []*writeReq{first}
	drain:
		for len(group) < maxGroup {
			select {
			case r := <-s.writes:
				group = append(group, r)
			default:
				break drain
			}
		}
		s.commitGroup(group)
	}
}

// commitGroup commits a group in one transaction. If any member fails, the whole
// transaction rolls back and each member runs again alone, so one caller's error
// never becomes another's. Members must therefore be safe to run twice; they are,
// because they change nothing outside the transaction except via tx.OnCommit.
func (s *Store) commitGroup(group []*writeReq) {
	if len(group) == 1 {
		group[0].done <- s.db.Update(group[0].fn)
		return
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, r := range group {
			if err := r.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		for _, r := range group {
			r.done <- nil
		}
		return
	}
	for _, r := range group {
		r.done <- s.db.Update(r.fn)
	}
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(tx *bolt.Tx) error) error { return s.db.View(fn) }

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put(key, data)
}

// decodeUser and decodeToken return an error for a damaged record: a bad record
// is reported, never a panic.
func decodeUser(data []byte) (models.User, error) {
	var u models.User
	if err := json.Unmarshal(data, &u); err != nil {
		return u, fmt.Errorf("damaged user record: %w", err)
	}
	if u.ID == "" || !u.Role.Valid() {
		return u, fmt.Errorf("damaged user record: missing id or role")
	}
	return u, nil
}

func decodeToken(data []byte) (models.Token, error) {
	var t models.Token
	if err := json.Unmarshal(data, &t); err != nil {
		return t, fmt.Errorf("damaged token record: %w", err)
	}
	if t.ID == "" || t.HolderID == "" {
		return t, fmt.Errorf("damaged token record: missing id or holder")
	}
	return t, nil
}

func decodeAudit(data []byte) (models.AuditEntry, error) {
	var e models.AuditEntry
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("damaged audit record: %w", err)
	}
	return e, nil
}
