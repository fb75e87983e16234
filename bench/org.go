package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"strings"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	gossh "golang.org/x/crypto/ssh"
)

// org is an organization on a real store in a directory of its own: an
// owner with an SSH key, as `keydesk init` or a first `serve` makes it.
type org struct {
	dir    string
	s      *store.Store
	owner  models.User
	ownerA store.Actor
	key    gossh.Signer
}

const (
	ownerName  = "Olive Owner"
	ownerEmail = "olive@example.com"
)

// newOrg creates an organization in a fresh temporary directory.
func newOrg() (*org, error) {
	dir, err := os.MkdirTemp("", "keydesk-bench-")
	if err != nil {
		return nil, err
	}
	key, err := newSigner()
	if err != nil {
		return nil, err
	}
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		return nil, err
	}
	owner, err := s.Init(store.NewUser{Name: ownerName, Email: ownerEmail, Role: models.RoleOwner, Keys: []string{authorizedKey(key)}}, "bench")
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("init organization: %w", err)
	}
	return &org{dir: dir, s: s, owner: owner, ownerA: store.Actor{UserID: owner.ID, Via: "bench"}, key: key}, nil
}

// close closes the store and removes the directory.
func (o *org) close() {
	_ = o.s.Close()
	_ = os.RemoveAll(o.dir)
}

// holders bulk-loads n people and returns them as actors, so creators can
// spread their tokens below the 25-per-holder limit.
func (o *org) holders(n int) ([]store.Actor, error) {
	if err := o.s.BulkLoad(o.ownerA, store.BulkSpec{Users: n}); err != nil {
		return nil, fmt.Errorf("bulk load: %w", err)
	}
	us, err := o.s.Assignees(o.ownerA)
	if err != nil {
		return nil, err
	}
	out := make([]store.Actor, 0, len(us))
	for _, u := range us {
		out = append(out, store.Actor{UserID: u.ID, Via: "bench"})
	}
	return out, nil
}

func newSigner() (gossh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return gossh.NewSignerFromKey(priv)
}

func authorizedKey(k gossh.Signer) string {
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k.PublicKey())))
}
