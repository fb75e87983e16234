package store

import (
	"context"
	"errors"

	"github.com/keydesk/keydesk/store/kv"
)

// errPreview rolls a dry run back.
var errPreview = errors.New("dry run: rolled back")

// preview runs fn exactly as change would, in a write transaction, and rolls
// it back: a dry run says what the change would do because it is the change,
// checked by the same rules, and it commits nothing (no audit entry, no event).
func (s *Store) preview(fn func(t *txn) (Event, error)) error {
	err := s.engine.Update(context.Background(), func(tx kv.Tx) error {
		if _, err := fn(s.txn(tx)); err != nil {
			return err
		}
		return errPreview
	})
	if errors.Is(err, errPreview) {
		return nil
	}
	return err
}

// changeOrPreview is change, or with dry set its preview.
func (s *Store) changeOrPreview(dry bool, fn func(t *txn) (Event, error)) error {
	if dry {
		return s.preview(fn)
	}
	return s.change(fn)
}
