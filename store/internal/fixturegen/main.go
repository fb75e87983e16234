// Command fixturegen writes store/testdata/v1: a small organization written by
// keydesk's store, with the secrets it needs and a manifest of what is in it,
// so that store tests can prove a file written by an earlier release still
// opens and works. The secrets in it are test-only: they protect nothing.
//
//	go run ./store/internal/fixturegen -out store/testdata/v1
//
// Regenerating replaces the fixture; do it only when the release that wrote
// the committed one is no longer supported (the point is an old file).
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"golang.org/x/crypto/ssh"
)

// Manifest says what the fixture holds; store tests read it.
type Manifest struct {
	WrittenAt time.Time               `json:"written_at"`
	Schema    uint64                  `json:"schema"`
	Owner     string                  `json:"owner"`     // email
	Admin     string                  `json:"admin"`     // email
	User      string                  `json:"user"`      // email
	Stake     string                  `json:"stake"`     // email
	Removed   string                  `json:"removed"`   // user id of the removed person
	KeyFP     string                  `json:"key_fp"`    // the user's SSH key fingerprint
	Tokens    map[string]FixtureToken `json:"tokens"`    // by what it demonstrates
	AuditMin  int                     `json:"audit_min"` // entries at least
}

// FixtureToken is one token and, where a test needs it, its secret.
type FixtureToken struct {
	ID     string             `json:"id"`
	Secret string             `json:"secret,omitempty"`
	Status models.TokenStatus `json:"status"` // at WrittenAt + 30 days
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func main() {
	out := flag.String("out", "store/testdata/v1", "directory to (re)write")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "fixturegen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	c := &clock{now: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)}
	s, err := store.Open(out, store.Options{Now: c.Now})
	if err != nil {
		return err
	}
	defer s.Close()
	m := Manifest{WrittenAt: c.Now(), Schema: store.SchemaVersion, Tokens: map[string]FixtureToken{},
		Owner: "olive@example.com", Admin: "ada@example.com", User: "uma@example.com", Stake: "sam@example.com"}
	owner, err := s.Init(store.NewUser{Name: "Olive Owner", Email: m.Owner}, "fixture")
	if err != nil {
		return err
	}
	oa := store.Actor{UserID: owner.ID, Via: "fixture"}
	key, err := newKey()
	if err != nil {
		return err
	}
	add := func(name, email string, role models.Role, keys ...string) (models.User, store.Actor, error) {
		u, err := s.AddUser(oa, store.NewUser{Name: name, Email: email, Role: role, Keys: keys})
		return u, store.Actor{UserID: u.ID, Via: "fixture"}, err
	}
	admin, adminA, err := add("Ada Admin", m.Admin, models.RoleAdmin)
	if err != nil {
		return err
	}
	user, userA, err := add("Uma User", m.User, models.RoleUser, key)
	if err != nil {
		return err
	}
	if _, _, err := add("Sam Stake", m.Stake, models.RoleStakeholder); err != nil {
		return err
	}
	gone, goneA, err := add("Rex Removed", "rex@example.com", models.RoleUser)
	if err != nil {
		return err
	}
	m.Removed = gone.ID
	m.KeyFP = user.Keys[0].Fingerprint
	_ = admin

	put := func(what string, tok models.Token, secret string, st models.TokenStatus) {
		m.Tokens[what] = FixtureToken{ID: tok.ID, Secret: secret, Status: st}
	}
	tok, sec, err := s.CreateToken(userA, store.TokenSpec{Name: "ci deploy"})
	if err != nil {
		return err
	}
	put("active", tok, sec, models.StatusActive)
	if _, err := s.Exchange(sec, "192.0.2.7"); err != nil { // last used, flushed on close
		return err
	}
	tok, sec, err = s.CreateToken(userA, store.TokenSpec{Name: "short lived", Expires: 24 * time.Hour})
	if err != nil {
		return err
	}
	put("expired", tok, sec, models.StatusExpired)
	tok, sec, err = s.CreateToken(userA, store.TokenSpec{Name: "long lived", Expires: 365 * 24 * time.Hour})
	if err != nil {
		return err
	}
	put("expiring", tok, sec, models.StatusActive)
	tok, sec, err = s.CreateToken(adminA, store.TokenSpec{Name: "old laptop"})
	if err != nil {
		return err
	}
	if _, err := s.RevokeToken(adminA, tok.ID); err != nil {
		return err
	}
	put("revoked", tok, sec, models.StatusRevoked)
	old, oldSec, err := s.CreateToken(adminA, store.TokenSpec{Name: "rotated"})
	if err != nil {
		return err
	}
	nt, newSec, err := s.RotateToken(adminA, old.ID)
	if err != nil {
		return err
	}
	put("rotated_old", old, oldSec, models.StatusRotated)
	put("rotated_new", nt, newSec, models.StatusActive)
	as, err := s.AssignTokens(oa, []string{m.User, m.Admin}, store.TokenSpec{Name: "assigned"})
	if err != nil {
		return err
	}
	put("sealed", as[0], "", models.StatusAwaitingReveal)
	revealedSec, err := s.RevealToken(adminA, as[1].ID)
	if err != nil {
		return err
	}
	put("revealed", as[1], revealedSec, models.StatusActive)
	tok, sec, err = s.CreateToken(goneA, store.TokenSpec{Name: "leaver"})
	if err != nil {
		return err
	}
	put("removed_holder", tok, sec, models.StatusRevoked)
	if _, err := s.RemoveUser(oa, gone.ID); err != nil {
		return err
	}
	if err := s.RecordSession(models.AuditSSHSessionOpened, user.ID, "fixture session", "ssh 192.0.2.7"); err != nil {
		return err
	}
	c.add(time.Hour)
	entries, err := s.Audit(oa, store.AuditQuery{Limit: 1000})
	if err != nil {
		return err
	}
	m.AuditMin = len(entries)
	if err := s.Close(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "manifest.json"), append(data, '\n'), 0o644)
}

func newKey() (string, error) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " uma@laptop", nil
}
