package store

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
)

// MaxImportBytes bounds a CSV import (about 100k rows of generous width).
const MaxImportBytes = 32 << 20

// MaxImportErrors is how many bad lines an import reports before it stops
// looking: enough to fix a file in one pass, few enough to read.
const MaxImportErrors = 50

// LineError is one bad line of an import.
type LineError struct {
	Line int
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// ImportError lists every bad line of an import (up to MaxImportErrors, More
// set when there were further ones). Nothing was imported.
type ImportError struct {
	Lines []LineError
	More  bool
}

func (e *ImportError) Error() string {
	parts := make([]string, len(e.Lines))
	for i, l := range e.Lines {
		parts[i] = l.Error()
	}
	more := ""
	if e.More {
		more = " (and more)"
	}
	return fmt.Sprintf("%d bad lines%s, nothing imported: %s", len(e.Lines), more, strings.Join(parts, "; "))
}

// Unwrap makes an ImportError an ErrInvalid.
func (e *ImportError) Unwrap() error { return models.ErrInvalid }

// ImportUsers adds every row of a CSV (name,email,role[,key]; an optional header
// row) in one transaction: all rows or none. It returns how many were added.
func (s *Store) ImportUsers(a Actor, r io.Reader) (int, error) {
	users, err := s.Import(a, r, false)
	return len(users), err
}

// Import adds every row of a CSV (name,email,role[,key]; an optional header
// row) in one transaction: all rows or none, and returns the people added.
// On etcd an import bigger than one etcd Txn is staged and made visible at
// once by the engine (store/kv/etcd/stage.go); nothing here splits it.
// The actor's right to add people is checked before the file is read. Every
// bad line is reported (up to MaxImportErrors) as an *ImportError, e.g.
// "line 3: invalid input: "x" is not a valid email address". With dry set
// the rows are checked exactly as a real import checks them (the same
// transaction, rolled back) and the people who would be added are returned.
func (s *Store) Import(a Actor, r io.Reader, dry bool) ([]models.User, error) {
	err := s.view(func(tx kv.Tx) error {
		me, err := s.txn(tx).actor(a)
		if err != nil {
			return err
		}
		return models.Authorize(me.Subject(), models.ActUserAdd, nil)
	})
	if err != nil {
		return nil, err
	}
	rows, bad, err := parseImport(r)
	if err != nil {
		return nil, err
	}
	var added []models.User
	err = s.changeOrPreview(dry, func(t *txn) (Event, error) {
		added = added[:0]
		errs := append([]LineError(nil), bad...)
		me, err := t.actor(a)
		if err != nil {
			return Event{}, err
		}
		if err := models.Authorize(me.Subject(), models.ActUserAdd, nil); err != nil {
			return Event{}, err
		}
		ids := make([]string, 0, len(rows))
		for _, row := range rows {
			if len(errs) > MaxImportErrors {
				break
			}
			u, err := t.addUser(a, row.user)
			if err != nil {
				if errors.Is(err, models.ErrPermission) {
					return Event{}, fmt.Errorf("line %d: %w", row.line, err)
				}
				errs = append(errs, LineError{Line: row.line, Err: err})
				continue
			}
			added = append(added, u)
			ids = append(ids, u.ID)
		}
		if len(errs) > 0 {
			return Event{}, importError(errs)
		}
		e := entry(models.AuditUsersImported, a, me, models.User{})
		e.Detail = fmt.Sprintf("%d users", len(ids))
		if err := t.audit(e); err != nil {
			return Event{}, err
		}
		// A dry run must refuse what the commit would: ask the engine now.
		if f, ok := t.Tx.(kv.Fitter); ok {
			if err := f.Fits(); err != nil {
				return Event{}, err
			}
		}
		return Event{Type: models.AuditUsersImported, UserIDs: ids}, nil
	})
	if errors.Is(err, kv.ErrTooLarge) {
		return nil, importTooLarge(len(rows), err)
	}
	if err != nil {
		return nil, err
	}
	return added, nil
}

// importTooLarge says, in one line, that an import is more than the engine
// commits at once (etcd stages a big transaction, up to Limits().MaxStagedBytes
// of changes). Nothing was imported.
func importTooLarge(rows int, err error) error {
	return fmt.Errorf("%w: %d people are too many for one import on this store, nothing imported; split the file (%w)",
		models.ErrInvalid, rows, err)
}

func importError(errs []LineError) *ImportError {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	ie := &ImportError{Lines: errs}
	if len(errs) > MaxImportErrors {
		ie.Lines, ie.More = errs[:MaxImportErrors], true
	}
	return ie
}

type importRow struct {
	line int
	user NewUser
}

// readImport parses the CSV fully before any write, so a syntax error on the
// last line still imports nothing.
func readImport(r io.Reader) ([]importRow, error) {
	rows, bad, err := parseImport(r)
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, importError(bad)
	}
	return rows, nil
}

// parseImport reads every row, collecting the bad lines (up to one past
// MaxImportErrors) instead of stopping at the first. err is for a file that
// cannot be read at all: too large, unreadable, or without a single row.
func parseImport(r io.Reader) (rows []importRow, bad []LineError, err error) {
	lr := &io.LimitedReader{R: r, N: MaxImportBytes + 1}
	cr := csv.NewReader(lr)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	seen := 0
	for len(bad) <= MaxImportErrors {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, nil, fmt.Errorf("%w: read csv: %v", models.ErrInvalid, err)
			}
			bad = append(bad, LineError{Line: pe.Line, Err: fmt.Errorf("%w: %v", models.ErrInvalid, pe.Err)})
			if pe.Err == csv.ErrQuote {
				break // an unterminated quote swallows the rest of the file
			}
			continue
		}
		seen++
		line, _ := cr.FieldPos(0)
		if seen == 1 && line == 1 && len(rec) >= 3 && strings.EqualFold(strings.TrimSpace(rec[0]), "name") &&
			strings.EqualFold(strings.TrimSpace(rec[1]), "email") {
			continue // header
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) < 3 || len(rec) > 4 {
			bad = append(bad, LineError{Line: line, Err: fmt.Errorf("%w: want name,email,role[,key], got %d fields", models.ErrInvalid, len(rec))})
			continue
		}
		role, err := models.ParseRole(rec[2])
		if err != nil {
			bad = append(bad, LineError{Line: line, Err: err})
			continue
		}
		nu := NewUser{Name: rec[0], Email: rec[1], Role: role}
		if len(rec) == 4 && strings.TrimSpace(rec[3]) != "" {
			nu.Keys = []string{rec[3]}
		}
		rows = append(rows, importRow{line: line, user: nu})
	}
	if lr.N <= 0 {
		return nil, nil, fmt.Errorf("%w: the file is larger than %d MiB; split it", models.ErrInvalid, MaxImportBytes>>20)
	}
	if len(rows) == 0 && len(bad) == 0 {
		return nil, nil, fmt.Errorf("%w: the file has no rows; expected name,email,role[,key]", models.ErrInvalid)
	}
	return rows, bad, nil
}
