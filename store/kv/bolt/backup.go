package bolt

import (
	"fmt"
	"io"
	"os"

	"github.com/keydesk/keydesk/store/kv"
	bbolt "go.etcd.io/bbolt"
)

// keydesk's backup format is a bbolt file with one bucket per kv.Bucket,
// holding its keys and values and its sequence. Every engine's Export writes
// it, so a backup of any engine opens as a bbolt store and doubles as the way
// to move an organization between engines. BackupFile and ReadBackup build and
// read one for engines that are not bbolt, so that only this package speaks
// bbolt's API.

// BackupFile is a backup being built in a private temporary file.
type BackupFile struct {
	db   *bbolt.DB
	path string
}

// NewBackup starts a backup in a temporary file (0600, no fsync: it is a
// staging copy). Close removes it.
func NewBackup() (*BackupFile, error) {
	f, err := os.CreateTemp("", "keydesk-export-*.db")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	path := f.Name()
	f.Close()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{NoSync: true})
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("export: %w", err)
	}
	return &BackupFile{db: db, path: path}, nil
}

// BackupBuilder writes into a BackupFile within Fill.
type BackupBuilder struct{ tx *bbolt.Tx }

func (b BackupBuilder) bucket(name kv.Bucket) (*bbolt.Bucket, error) {
	bk, err := b.tx.CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return nil, err
	}
	bk.FillPercent = 1 // exports write each bucket in key order
	return bk, nil
}

// Put adds one record (keys of a bucket in ascending order pack best).
func (b BackupBuilder) Put(name kv.Bucket, k, v []byte) error {
	bk, err := b.bucket(name)
	if err != nil {
		return err
	}
	if v == nil {
		v = []byte{}
	}
	return bk.Put(k, v)
}

// SetSequence records the bucket's sequence, creating the bucket if it has
// no records.
func (b BackupBuilder) SetSequence(name kv.Bucket, n uint64) error {
	bk, err := b.bucket(name)
	if err != nil {
		return err
	}
	return bk.SetSequence(n)
}

// Fill runs fn in one transaction of the backup file.
func (f *BackupFile) Fill(fn func(BackupBuilder) error) error {
	return f.db.Update(func(tx *bbolt.Tx) error { return fn(BackupBuilder{tx: tx}) })
}

// WriteTo writes the backup file to w.
func (f *BackupFile) WriteTo(w io.Writer) (int64, error) {
	var n int64
	err := f.db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Close removes the temporary file.
func (f *BackupFile) Close() error {
	err := f.db.Close()
	if rerr := os.Remove(f.path); err == nil {
		err = rerr
	}
	return err
}

// ReadBackup opens the backup file at path read-only and calls fn for each of
// its buckets in name order, with the bucket's sequence, its number of keys,
// and each, which walks its records in key order (values valid only during
// the call). A file that is not in the format (nested buckets) is an error.
func ReadBackup(path string, fn func(b kv.Bucket, seq uint64, keys int, each func(rec func(k, v []byte) error) error) error) error {
	db, err := bbolt.Open(path, 0o400, &bbolt.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("read backup %s: %w", path, err)
	}
	defer db.Close()
	return db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bbolt.Bucket) error {
			b := kv.Bucket(name)
			each := func(rec func(k, v []byte) error) error {
				return bk.ForEach(func(k, v []byte) error {
					if v == nil {
						return fmt.Errorf("bucket %s: nested bucket %q is not keydesk's backup format", b, k)
					}
					return rec(k, v)
				})
			}
			return fn(b, bk.Sequence(), bk.Stats().KeyN, each)
		})
	})
}
