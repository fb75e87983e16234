package models

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every layer wraps them with context; callers match with
// errors.Is and map them to exit codes or HTTP statuses, never by string.
var (
	// ErrNotFound: the user, token or key does not exist (or is not visible to the actor).
	ErrNotFound = errors.New("not found")
	// ErrKeyPending: an SSH key is registered but waits for its holder's
	// approval (SPEC §9), so it cannot log in. It wraps ErrNotFound: every
	// caller that only asks "may this key log in?" gets no, unchanged; the SSH
	// server tells the key's holder why once they proved they hold it.
	ErrKeyPending = fmt.Errorf("%w: key waits for approval", ErrNotFound)
	// ErrPermission: the actor's role does not allow the action.
	ErrPermission = errors.New("permission denied")
	// ErrInvalid: user-supplied input failed validation.
	ErrInvalid = errors.New("invalid input")
	// ErrConflict: the change collides with existing state (duplicate email or key).
	ErrConflict = errors.New("conflict")
	// ErrLimit: a quota such as active tokens per holder is reached.
	ErrLimit = errors.New("limit reached")
	// ErrAlreadyRevealed: an assigned token's secret was already shown once.
	ErrAlreadyRevealed = errors.New("already revealed")
	// ErrTokenInactive: a token is revoked, expired, rotated past its grace period
	// or awaiting reveal, so it cannot be used or changed.
	ErrTokenInactive = errors.New("token is not active")
	// ErrUnauthenticated: a presented credential is unknown, malformed, expired or
	// revoked. Callers must not tell these apart to the presenter.
	ErrUnauthenticated = errors.New("invalid or revoked token")
	// ErrInUse: the data directory is held by another process.
	ErrInUse = errors.New("data directory in use")
	// ErrSchemaTooNew: the database was written by a newer keydesk.
	ErrSchemaTooNew = errors.New("database schema is newer than this keydesk")
	// ErrNotInitialized: the data directory holds no organization yet.
	ErrNotInitialized = errors.New("no organization yet")
)
