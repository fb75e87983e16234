package cli

import (
	"io"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// TEMPORARY until the store-side previews land (issue 14, items 3 and 6).

func previewRemoveUser(s *store.Store, a store.Actor, ref string) (models.User, int, error) {
	n, err := s.LiveTokenCount(a, ref)
	if err != nil {
		return models.User{}, 0, err
	}
	u, err := s.User(ref)
	return u, n, err
}

func importUsers(s *store.Store, a store.Actor, r io.Reader, dry bool) ([]models.User, error) {
	if dry {
		return nil, usagef("--dry-run is not available yet")
	}
	n, err := s.ImportUsers(a, r)
	return make([]models.User, n), err
}
