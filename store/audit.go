package store

import (
	"strings"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
)

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	Limit  int    // 0: 100
	User   string // entries whose actor or target has this ID or email
	Type   string // exact entry type
	Before uint64 // paging: entries with a smaller sequence number only
}

// Audit lists the audit log, newest first (owner and admins).
func (s *Store) Audit(a Actor, q AuditQuery) ([]models.AuditEntry, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	var out []models.AuditEntry
	err := s.view(func(tx kv.Tx) error {
		t := s.txn(tx)
		me, err := t.actor(a)
		if err != nil {
			return err
		}
		if err := models.Authorize(me.Subject(), models.ActAuditRead, nil); err != nil {
			return err
		}
		ref := strings.TrimSpace(q.User)
		user := strings.ToLower(ref) // emails compare lower-cased, ids as written
		userID := ""
		if user != "" {
			// A removed person's entries stay findable by their old ID.
			if u, err := t.userRef(ref); err == nil {
				userID = u.ID
			}
		}
		r := kv.Range{Reverse: true}
		if q.Before > 0 {
			r.Before = u64(q.Before)
		}
		return tx.Scan(bucketAudit, r, func(_, v []byte) error {
			e, err := decodeAudit(v)
			if err != nil {
				return err
			}
			if q.Type != "" && e.Type != q.Type {
				return nil
			}
			if user != "" && e.ActorID != userID && e.TargetID != userID &&
				e.ActorEmail != user && e.TargetEmail != user && e.ActorID != ref && e.TargetID != ref {
				return nil
			}
			out = append(out, e)
			if len(out) >= q.Limit {
				return kv.ErrStop
			}
			return nil
		})
	})
	return out, err
}

// RecordSession audits an event a server observed rather than a change it
// made, such as an SSH session opening or a refused key. user may be empty.
func (s *Store) RecordSession(typ, userID, detail, via string) error {
	return s.change(func(t *txn) (Event, error) {
		var u models.User
		if userID != "" {
			var err error
			if u, err = t.user(userID); err != nil {
				return Event{}, err
			}
		}
		e := entry(typ, Actor{UserID: u.ID, Via: via}, u, models.User{})
		e.Detail = models.Sanitize(detail)
		return Event{Type: typ}, t.audit(e)
	})
}
