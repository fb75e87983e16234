package store

import (
	"context"
	"fmt"
	"io"
	"os"

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
	// The engine exports inside a read transaction. Writing that straight to
	// w (an SSH channel) would let a client that stops reading hold the
	// transaction, and with it the engine's writes, open. So the copy goes to
	// a private temporary file beside the store's other copies (BackupDir;
	// Open: the data directory) first, the transaction closes, and only then
	// does the file go to w.
	dir := s.opts.BackupDir
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		dir = "" // an engine that lives elsewhere: the system's temporary directory
	}
	tmp, err := os.CreateTemp(dir, ".backup-*.tmp")
	if err != nil {
		return 0, fmt.Errorf("write backup: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := tmp.Chmod(0o600); err != nil {
		return 0, fmt.Errorf("write backup: %w", err)
	}
	if _, err := s.engine.Export(context.Background(), tmp); err != nil {
		return 0, fmt.Errorf("write backup: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("write backup: %w", err)
	}
	n, err := io.Copy(w, tmp)
	if err != nil {
		return n, fmt.Errorf("write backup: %w", err)
	}
	return n, nil
}
