package store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
)

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	Limit  int    // 0: 100
	User   string // entries whose actor or target has this ID or email, or else whose name or email contains it
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
		var ids map[string]bool
		if ref != "" {
			if ids, err = t.auditPeople(ref); err != nil {
				return err
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
			if ids != nil && !ids[e.ActorID] && !ids[e.TargetID] {
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

// auditPeople resolves an audit filter (an email or a user ID) to the IDs of
// everyone it has named: the current holder of an email and every removed
// person who had it, so a removed person's history stays findable by their
// email. A reference that never named anyone is not found: an empty ID never
// matches, so no unrelated entry is returned.
func (t *txn) auditPeople(ref string) (map[string]bool, error) {
	ids := map[string]bool{}
	if u, err := t.userRef(ref); err == nil {
		ids[u.ID] = true
		if u.ID == ref {
			return ids, nil // an ID names one person
		}
	} else if !errors.Is(err, models.ErrNotFound) {
		return nil, err
	}
	email := strings.ToLower(ref)
	var partial map[string]bool // people whose name or email contains ref
	err := t.Scan(bucketUsers, kv.Range{}, func(_, v []byte) error {
		u, err := decodeUser(v)
		if err != nil {
			return err
		}
		switch {
		case u.Removed && (u.Email == email || u.ID == ref):
			ids[u.ID] = true
		case len(ids) == 0 && (strings.Contains(u.Email, email) || strings.Contains(strings.ToLower(u.Name), email)):
			if partial == nil {
				partial = map[string]bool{}
			}
			partial[u.ID] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		ids = partial // no one by that exact email or ID: everyone it is part of
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: no such user %q, now or removed", models.ErrNotFound, models.Sanitize(ref))
	}
	return ids, nil
}
