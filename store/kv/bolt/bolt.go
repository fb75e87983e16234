// Package bolt is keydesk's zero-configuration kv.Engine: one bbolt file in
// the data directory, held by one process at a time through bbolt's file lock.
// Reads are zero-copy (values point into the memory-mapped file and are valid
// until the transaction ends), writes are fsynced before Update returns.
package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/keydesk/keydesk/store/kv"
	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// File is the database's name inside a data directory.
const File = "keydesk.db"

// ErrLocked means another process holds the file's lock.
var ErrLocked = errors.New("held by another keydesk process")

// lockedError names the file another process holds, and that process when
// the system says (see holder).
type lockedError struct{ path, holder, port string }

func (e lockedError) Error() string {
	if e.holder == "" {
		return e.path + " is held by another keydesk process (a console or `keydesk serve`); quit it, or if it is `keydesk serve`, run the command over SSH: ssh -p 23234 localhost COMMAND"
	}
	what := "quit it first"
	if e.port != "" {
		what = "run the command over SSH instead: ssh -p " + e.port + " localhost COMMAND"
	}
	return e.path + " is held by " + e.holder + "; " + what
}

// sshPort is the port of the --ssh-addr in a server's arguments, else
// serve's default, so the hint is a command that reaches that server.
func sshPort(args []string) string {
	for i, a := range args {
		addr, ok := strings.CutPrefix(a, "--ssh-addr=")
		if !ok && a == "--ssh-addr" && i+1 < len(args) {
			addr, ok = args[i+1], true
		}
		if _, port, err := net.SplitHostPort(addr); ok && err == nil && port != "" {
			return port
		}
	}
	return "23234"
}
func (e lockedError) Unwrap() error { return ErrLocked }

// Options tune Open. The zero value waits one second for the lock.
type Options struct {
	// Timeout bounds the wait for another process's lock (default 1 s).
	Timeout time.Duration
	// ReadOnly opens the file with a shared lock and refuses writes.
	ReadOnly bool
	// FillPercent sets how full a page of a bucket is packed before it
	// splits (bbolt's default 0.5 suits keys that arrive in random order).
	// Buckets whose keys mostly arrive in increasing order (time-ordered ids,
	// sequence numbers) waste half of every page at 0.5; give them 0.9–1.0.
	FillPercent map[kv.Bucket]float64
}

// Engine is an open bbolt file. It implements kv.Engine.
type Engine struct {
	db        *bbolt.DB
	path      string
	names     map[kv.Bucket][]byte
	fill      map[kv.Bucket]float64
	closeOnce sync.Once
	closeErr  error
}

var _ kv.Engine = (*Engine)(nil)

// Open opens (creating if needed, mode 0600) the file at path and creates any
// of buckets it lacks. A file held by another process fails within
// opts.Timeout with an error that wraps ErrLocked.
func Open(path string, buckets []kv.Bucket, opts Options) (*Engine, error) {
	if opts.Timeout == 0 {
		opts.Timeout = time.Second
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.Timeout, ReadOnly: opts.ReadOnly})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			h, port := holderAndPort(path)
			return nil, lockedError{path: path, holder: h, port: port}
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// Grow the file 1 MiB at a time, not bbolt's 16 MiB: the end of a file
	// is otherwise up to 16 MiB nobody uses. A commit grows it at most once.
	db.AllocSize = 1 << 20
	e := &Engine{db: db, path: path, names: make(map[kv.Bucket][]byte, len(buckets)), fill: opts.FillPercent}
	for _, b := range buckets {
		e.names[b] = []byte(b)
	}
	missing := false
	_ = db.View(func(tx *bbolt.Tx) error {
		for _, name := range e.names {
			missing = missing || tx.Bucket(name) == nil
		}
		return nil
	})
	// Only a file that lacks a bucket is written at open: opening a current
	// file (or one a newer keydesk wrote, to refuse it) leaves it untouched.
	if missing && !opts.ReadOnly {
		err = db.Update(func(tx *bbolt.Tx) error {
			for _, name := range e.names {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return fmt.Errorf("create bucket %s: %w", name, err)
				}
			}
			return nil
		})
		if err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("prepare database %s: %w", path, err)
		}
	}
	return e, nil
}

// Path is the file's path.
func (e *Engine) Path() string { return e.path }

// DB is the underlying bbolt handle, for tests and tools that read the file
// format on purpose. Domain code goes through kv.Engine.
func (e *Engine) DB() *bbolt.DB { return e.db }

// View runs fn in a read-only bbolt transaction.
func (e *Engine) View(ctx context.Context, fn func(kv.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return e.db.View(func(btx *bbolt.Tx) error { return fn(&tx{btx: btx, e: e}) })
}

// Update runs fn in bbolt's single writable transaction, once: bbolt
// serializes writers, so there is never a conflict to re-run for.
func (e *Engine) Update(ctx context.Context, fn func(kv.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := e.db.Update(func(btx *bbolt.Tx) error { return fn(&tx{btx: btx, e: e}) })
	if errors.Is(err, berrors.ErrDatabaseReadOnly) {
		return fmt.Errorf("%w: %s was opened read-only", kv.ErrReadOnly, e.path)
	}
	return err
}

// Changes is nil: no other process can write a file this process holds.
func (e *Engine) Changes() <-chan kv.Change { return nil }

// Export writes a consistent copy of the file from one read transaction;
// writers go on meanwhile.
func (e *Engine) Export(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := e.View(ctx, func(t kv.Tx) error {
		var err error
		n, err = t.(*tx).btx.WriteTo(w)
		return err
	})
	return n, err
}

// Check runs bbolt's page check. It does so in a writable transaction that is
// rolled back: Tx.Check reads the freelist, which is safe only while no other
// writer runs, so a read-only one would race a live server's commits.
func (e *Engine) Check(ctx context.Context, add func(format string, args ...any)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	btx, err := e.db.Begin(!e.db.IsReadOnly())
	if err != nil {
		return err
	}
	defer func() { _ = btx.Rollback() }()
	for err := range btx.Check() {
		add("file pages: %v", err)
	}
	return nil
}

// Limits are none: one bbolt transaction may be as large as memory allows.
func (e *Engine) Limits() kv.Limits { return kv.Limits{} }

// Close closes the file. It is safe to call twice.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() { e.closeErr = e.db.Close() })
	return e.closeErr
}

// tx is one bbolt transaction seen through kv.Tx.
type tx struct {
	btx    *bbolt.Tx
	e      *Engine
	packed map[kv.Bucket]bool // Pack: pages of these buckets are filled
}

var _ kv.Packer = (*tx)(nil)

// Pack fills the pages of b this transaction writes (FillPercent 1.0), for
// keys written in increasing order (kv.Packer).
func (t *tx) Pack(b kv.Bucket) {
	if !t.btx.Writable() {
		return
	}
	if t.packed == nil {
		t.packed = map[kv.Bucket]bool{}
	}
	t.packed[b] = true
	if bk, err := t.bucket(b); err == nil {
		bk.FillPercent = 1.0
	}
}

func (t *tx) bucket(b kv.Bucket) (*bbolt.Bucket, error) {
	name, ok := t.e.names[b]
	if !ok {
		return nil, fmt.Errorf("%w: %s", kv.ErrUnknownBucket, b)
	}
	bk := t.btx.Bucket(name)
	if bk == nil {
		return nil, fmt.Errorf("%w: %s is missing from the file", kv.ErrUnknownBucket, b)
	}
	if t.btx.Writable() {
		// Per transaction: bbolt does not keep it. The same *bbolt.Bucket is
		// returned for the whole transaction, and its value at commit is the
		// one its pages are split by.
		if t.packed[b] {
			bk.FillPercent = 1.0
		} else if f, ok := t.e.fill[b]; ok {
			bk.FillPercent = f
		}
	}
	return bk, nil
}

func (t *tx) Get(b kv.Bucket, k []byte) ([]byte, error) {
	bk, err := t.bucket(b)
	if err != nil {
		return nil, err
	}
	return bk.Get(k), nil
}

func (t *tx) Put(b kv.Bucket, k, v []byte) error {
	if !t.btx.Writable() {
		return kv.ErrReadOnly
	}
	bk, err := t.bucket(b)
	if err != nil {
		return err
	}
	if v == nil {
		v = []byte{} // bbolt would hand a nil value back as absent within this tx
	}
	return bk.Put(k, v)
}

func (t *tx) Delete(b kv.Bucket, k []byte) error {
	if !t.btx.Writable() {
		return kv.ErrReadOnly
	}
	bk, err := t.bucket(b)
	if err != nil {
		return err
	}
	return bk.Delete(k)
}

func (t *tx) NextSequence(b kv.Bucket) (uint64, error) {
	if !t.btx.Writable() {
		return 0, kv.ErrReadOnly
	}
	bk, err := t.bucket(b)
	if err != nil {
		return 0, err
	}
	return bk.NextSequence()
}

// Sequence returns the bucket's last number handed out by NextSequence, so a
// check can compare it with the keys (bbolt keeps it in the bucket header).
func (t *tx) Sequence(b kv.Bucket) (uint64, error) {
	bk, err := t.bucket(b)
	if err != nil {
		return 0, err
	}
	return bk.Sequence(), nil
}

func (t *tx) OnCommit(f func()) { t.btx.OnCommit(f) }

func (t *tx) Writable() bool { return t.btx.Writable() }

// Scan walks a bbolt cursor over r. Keys and values point into the file.
func (t *tx) Scan(b kv.Bucket, r kv.Range, fn func(k, v []byte) error) error {
	bk, err := t.bucket(b)
	if err != nil {
		return err
	}
	c := bk.Cursor()
	var k, v []byte
	if !r.Reverse {
		start := r.Prefix
		if r.After != nil && bytes.Compare(r.After, start) >= 0 {
			start = r.After
		}
		if len(start) == 0 {
			k, v = c.First()
		} else {
			k, v = c.Seek(start)
		}
		if k != nil && r.After != nil && bytes.Equal(k, r.After) {
			k, v = c.Next()
		}
	} else {
		end := prefixEnd(r.Prefix) // exclusive upper bound; nil: none
		if r.Before != nil && (end == nil || bytes.Compare(r.Before, end) < 0) {
			end = r.Before
		}
		if end == nil {
			k, v = c.Last()
		} else if sk, _ := c.Seek(end); sk == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	}
	n := 0
	for k != nil {
		if r.Prefix != nil && !bytes.HasPrefix(k, r.Prefix) {
			return nil
		}
		if r.Reverse {
			if r.After != nil && bytes.Compare(k, r.After) <= 0 {
				return nil
			}
		} else if r.Before != nil && bytes.Compare(k, r.Before) >= 0 {
			return nil
		}
		if err := fn(k, v); err != nil {
			if errors.Is(err, kv.ErrStop) {
				return nil
			}
			return err
		}
		n++
		if r.Limit > 0 && n >= r.Limit {
			return nil
		}
		if r.Reverse {
			k, v = c.Prev()
		} else {
			k, v = c.Next()
		}
	}
	return nil
}

// prefixEnd is the smallest key greater than every key starting with p, or nil
// when there is none (p empty or all 0xff).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Compacted is what CompactFile did.
type Compacted struct {
	Before, After int64  // file sizes in bytes
	Original      string // where the original file was kept
}

// CompactFile rewrites the file at path with every page packed: a file grows
// half-empty pages over time (keys inserted at random split pages in half;
// a migration that shrinks records leaves free pages behind), and bbolt never
// returns space to the file system by itself. It takes the file's lock (so no
// keydesk process may hold it), copies every bucket into path.compact-tmp,
// checks the copy's pages and key counts, then keeps the original as
// path.bak-compact-<UTC time> and puts the copy in its place.
func CompactFile(path string, opts Options) (Compacted, error) {
	var res Compacted
	if opts.Timeout == 0 {
		opts.Timeout = time.Second
	}
	src, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.Timeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return res, lockedError{path: path}
		}
		return res, fmt.Errorf("open database %s: %w", path, err)
	}
	defer src.Close()
	tmp := path + ".compact-tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, err
	}
	dst, err := bbolt.Open(tmp, 0o600, &bbolt.Options{Timeout: opts.Timeout})
	if err != nil {
		return res, fmt.Errorf("create %s: %w", tmp, err)
	}
	fail := func(err error) (Compacted, error) {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return res, err
	}
	// Grow the copy 1 MiB at a time: bbolt's default (16 MiB) can leave up to
	// that much unused at the end of a file whose point is to be small.
	dst.AllocSize = 1 << 20
	if err := bbolt.Compact(dst, src, 64<<20); err != nil {
		return fail(fmt.Errorf("compact %s: %w", path, err))
	}
	if err := sameContents(src, dst); err != nil {
		return fail(fmt.Errorf("compacted copy of %s differs from it (%v); the original is unchanged", path, err))
	}
	if err := dst.Sync(); err != nil {
		return fail(err)
	}
	if err := dst.Close(); err != nil {
		return fail(err)
	}
	if fi, err := os.Stat(path); err == nil {
		res.Before = fi.Size()
	}
	if fi, err := os.Stat(tmp); err == nil {
		res.After = fi.Size()
	}
	res.Original = fmt.Sprintf("%s.bak-compact-%s", path, time.Now().UTC().Format("20060102T150405.000000000Z"))
	if err := os.Link(path, res.Original); err != nil {
		_ = os.Remove(tmp)
		return res, fmt.Errorf("keep the original as %s: %w", res.Original, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		_ = os.Remove(res.Original)
		return res, fmt.Errorf("put the compacted file in place: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return res, nil
}

// sameContents checks that b has a's buckets with the same number of keys,
// and that b's pages are sound.
func sameContents(a, b *bbolt.DB) error {
	count := func(db *bbolt.DB) (map[string]int, error) {
		n := map[string]int{}
		err := db.View(func(tx *bbolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			return tx.ForEach(func(name []byte, bk *bbolt.Bucket) error {
				n[string(name)] = bk.Stats().KeyN
				return nil
			})
		})
		return n, err
	}
	na, err := count(a)
	if err != nil {
		return err
	}
	nb, err := count(b)
	if err != nil {
		return err
	}
	if len(na) != len(nb) {
		return fmt.Errorf("%d buckets, want %d", len(nb), len(na))
	}
	for name, k := range na {
		if nb[name] != k {
			return fmt.Errorf("bucket %s has %d keys, want %d", name, nb[name], k)
		}
	}
	return nil
}
