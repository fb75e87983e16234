package store

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/keydesk/keydesk/models"
)

// MaxImportBytes bounds a CSV import (about 100k rows of generous width).
const MaxImportBytes = 32 << 20

// ImportUsers adds every row of a CSV (name,email,role[,key]; an optional header
// row) in one transaction: all rows or none. Errors name the line, e.g.
// "line 3: invalid input: "x" is not a valid email address".
func (s *Store) ImportUsers(a Actor, r io.Reader) (int, error) {
	rows, err := readImport(r)
	if err != nil {
		return 0, err
	}
	var ids []string
	err = s.change(func(t *txn) (Event, error) {
		ids = ids[:0]
		me, err := t.actor(a)
		if err != nil {
			return Event{}, err
		}
		if err := models.Authorize(me.Subject(), models.ActUserAdd, nil); err != nil {
			return Event{}, err
		}
		for _, row := range rows {
			u, err := t.addUser(a, row.user)
			if err != nil {
				return Event{}, fmt.Errorf("line %d: %w", row.line, err)
			}
			ids = append(ids, u.ID)
		}
		e := entry(models.AuditUsersImported, a, me, models.User{})
		e.Detail = fmt.Sprintf("%d users", len(ids))
		return Event{Type: models.AuditUsersImported, UserIDs: ids}, t.audit(e)
	})
	if err != nil {
		return 0, err
	}
	return len(ids), nil
}

type importRow struct {
	line int
	user NewUser
}

// readImport parses the CSV fully before any write, so a syntax error on the
// last line still imports nothing.
func readImport(r io.Reader) ([]importRow, error) {
	lr := &io.LimitedReader{R: r, N: MaxImportBytes + 1}
	cr := csv.NewReader(lr)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	var rows []importRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%w: line %d: %v", models.ErrInvalid, pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("%w: read csv: %v", models.ErrInvalid, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rows) == 0 && line == 1 && len(rec) >= 3 && strings.EqualFold(strings.TrimSpace(rec[0]), "name") &&
			strings.EqualFold(strings.TrimSpace(rec[1]), "email") {
			continue // header
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) < 3 || len(rec) > 4 {
			return nil, fmt.Errorf("%w: line %d: want name,email,role[,key], got %d fields", models.ErrInvalid, line, len(rec))
		}
		role, err := models.ParseRole(rec[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		nu := NewUser{Name: rec[0], Email: rec[1], Role: role}
		if len(rec) == 4 && strings.TrimSpace(rec[3]) != "" {
			nu.Keys = []string{rec[3]}
		}
		rows = append(rows, importRow{line: line, user: nu})
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("%w: the file is larger than %d MiB; split it", models.ErrInvalid, MaxImportBytes>>20)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: the file has no rows; expected name,email,role[,key]", models.ErrInvalid)
	}
	return rows, nil
}
