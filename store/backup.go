package store

import (
	"fmt"
	"io"

	"github.com/keydesk/keydesk/models"
	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the database to w while writes go on (a
// bbolt read transaction sees one snapshot). Owner only: the file holds every
// token digest and sealed secret. The secrets/ directory is not included; keep
// its own copy somewhere else.
func (s *Store) Backup(a Actor, w io.Writer) (int64, error) {
	// Audit first, in the transaction that checks the permission: a backup that
	// is taken must be on record, and the copy then includes its own entry.
	if err := s.change(models.AuditBackup, func(t *txn) (Event, error) {
		me, err := t.actor(a)
		if err != nil {
			return Event{}, err
		}
		if err := models.Authorize(me.Subject(), models.ActBackup, nil); err != nil {
			return Event{}, err
		}
		return Event{Type: models.AuditBackup}, t.audit(entry(models.AuditBackup, a, me, models.User{}))
	}); err != nil {
		return 0, err
	}
	var n int64
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("write backup: %w", err)
	}
	return n, nil
}
