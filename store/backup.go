package store

import (
	"context"
	"fmt"
	"io"

	"github.com/keydesk/keydesk/models"
)

// Backup writes a consistent copy of the organization to w while writes go on
// (the engine exports one point in time, in keydesk's backup file format).
// Owner only: the copy holds every token digest and sealed secret. The secrets
// are not included; keep their own copy somewhere else.
func (s *Store) Backup(a Actor, w io.Writer) (int64, error) {
	// Audit first, in the transaction that checks the permission: a backup that
	// is taken must be on record, and the copy then includes its own entry.
	if err := s.change(func(t *txn) (Event, error) {
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
	n, err := s.engine.Export(context.Background(), w)
	if err != nil {
		return n, fmt.Errorf("write backup: %w", err)
	}
	return n, nil
}
