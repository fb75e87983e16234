// Package demo seeds a demonstration organization: an owner, admins, users
// and a stakeholder, tokens in every status, and months of audit history, so
// `keydesk demo` shows every screen with something worth looking at.
//
// It uses only the store's exported API. To give history realistic dates it
// opens the store with a clock it winds forward from four months ago, then
// closes it; the caller reopens the directory with the real clock.
package demo

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"golang.org/x/crypto/ssh"
)

// Via is how seeded changes are attributed in the audit log.
const Via = "demo"

// Seed fills the empty data directory dir with the demo organization, dated
// up to now, and returns the owner's email. The store is closed again on
// return.
func Seed(dir string) (ownerEmail string, err error) { return SeedAt(dir, time.Now()) }

// SeedAt is Seed with "now" chosen by the caller, so tests and screenshots
// get the same dates on every run.
func SeedAt(dir string, now time.Time) (ownerEmail string, err error) {
	var clock atomic.Int64
	at := func(days float64) {
		clock.Store(now.Add(time.Duration(days * float64(24*time.Hour))).UnixNano())
	}
	at(-120)
	s, err := store.Open(dir, store.Options{Now: func() time.Time { return time.Unix(0, clock.Load()).UTC() }})
	if err != nil {
		return "", fmt.Errorf("open demo store: %w", err)
	}
	defer func() {
		if cerr := s.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close demo store: %w", cerr)
		}
	}()
	if ok, err := s.Initialized(); err != nil {
		return "", err
	} else if ok {
		return "", fmt.Errorf("%w: %s already holds an organization; seed the demo into an empty directory", models.ErrConflict, dir)
	}
	sd := &seeder{s: s}
	sd.run(at)
	if sd.err != nil {
		return "", fmt.Errorf("seed demo: %w", sd.err)
	}
	return sd.owner.Email, nil
}

// seeder keeps the first error so the script below reads as a story.
type seeder struct {
	s     *store.Store
	err   error
	owner models.User
}

func (d *seeder) fail(err error) {
	if d.err == nil && err != nil {
		d.err = err
	}
}

func (d *seeder) act(u models.User) store.Actor { return store.Actor{UserID: u.ID, Via: Via} }

func (d *seeder) add(by models.User, name, email string, role models.Role, withKey bool) models.User {
	if d.err != nil {
		return models.User{}
	}
	nu := store.NewUser{Name: name, Email: email, Role: role}
	if withKey {
		k, err := newKey(strings.SplitN(email, "@", 2)[0] + "@laptop")
		d.fail(err)
		nu.Keys = []string{k}
	}
	u, err := d.s.AddUser(d.act(by), nu)
	d.fail(err)
	return u
}

func (d *seeder) create(u models.User, name string, exp time.Duration) (models.Token, string) {
	if d.err != nil {
		return models.Token{}, ""
	}
	nextMilli()
	t, secret, err := d.s.CreateToken(d.act(u), store.TokenSpec{Name: name, Expires: exp})
	d.fail(err)
	return t, secret
}

func (d *seeder) use(secret, from string) {
	if d.err != nil {
		return
	}
	_, err := d.s.Exchange(secret, from)
	d.fail(err)
	d.s.FlushUsage()
}

const day = 24 * time.Hour

func (d *seeder) run(at func(days float64)) {
	owner, err := d.s.Init(store.NewUser{Name: "Ada Park", Email: "ada@northwind.example"}, Via)
	d.fail(err)
	if d.err != nil {
		return
	}
	d.owner = owner
	at(-119)
	grace := d.add(owner, "Grace Okafor", "grace@northwind.example", models.RoleAdmin, true)
	alan := d.add(owner, "Alan Moreau", "alan@northwind.example", models.RoleAdmin, false)
	maya := d.add(owner, "Maya Chen", "maya@northwind.example", models.RoleUser, true)
	diego := d.add(grace, "Diego Ramos", "diego@northwind.example", models.RoleUser, false)
	priya := d.add(grace, "Priya Nair", "priya@northwind.example", models.RoleUser, true)
	tom := d.add(alan, "Tom Becker", "tom@northwind.example", models.RoleUser, false)
	d.add(alan, "Victor Stone", "victor@northwind.example", models.RoleStakeholder, false)

	// A token the owner made and forgot: the banner's "unused for 90 days".
	at(-118)
	d.create(owner, "terraform", 0)

	// Expired: thirty days of life that ended long ago.
	at(-100)
	_, ci := d.create(maya, "ci pipeline", 30*day)
	at(-99)
	d.use(ci, "198.51.100.23")

	// Active and in use (its last use is recorded near the end).
	at(-60)
	_, rep := d.create(diego, "reporting", 0)

	// Assigned: Priya revealed hers, Tom's still awaits reveal.
	at(-40)
	nextMilli()
	toks, err := d.s.AssignTokens(d.act(owner), []string{priya.ID, tom.ID}, store.TokenSpec{Name: "pagerduty sync", Expires: 365 * day})
	d.fail(err)
	at(-39)
	if d.err == nil {
		var secret string
		secret, err = d.s.RevealToken(d.act(priya), toks[0].ID)
		d.fail(err)
		d.use(secret, "10.20.0.4")
	}

	// Revoked later by the owner, after the laptop it lived on went missing.
	at(-30)
	lap, _ := d.create(diego, "laptop script", 0)

	// Expiring soon: the owner's banner shows it.
	at(-25)
	_, bk := d.create(owner, "backup job", 30*day)

	// Rotated later: the old secret was replaced; the new one is active.
	at(-20)
	bot, botSecret := d.create(maya, "deploy bot", 90*day)
	d.use(botSecret, "192.0.2.44")

	at(-10)
	if d.err == nil {
		_, err = d.s.RevokeToken(d.act(owner), lap.ID)
		d.fail(err)
	}
	at(-5)
	if d.err == nil {
		_, newSecret, err := d.s.RotateToken(d.act(maya), bot.ID)
		d.fail(err)
		at(-4.9)
		d.use(newSecret, "192.0.2.44")
	}

	// Recent people changes for the audit log.
	at(-3)
	sara := d.add(grace, "Sara Holm", "sara@northwind.example", models.RoleUser, false)
	at(-2.5)
	if d.err == nil {
		_, err = d.s.SetRole(d.act(owner), sara.ID, models.RoleAdmin)
		d.fail(err)
	}
	at(-2)
	d.use(rep, "203.0.113.7")
	at(-1)
	d.use(bk, "10.0.0.5")
	at(-0.5)
	d.create(grace, "grafana", 90*day)
}

// nextMilli waits for the wall clock's next millisecond. Token IDs sort by the
// millisecond they were made in (the store pages by ID), and the seeding runs
// faster than one token per millisecond; this keeps "newest first" true to the
// story the demo tells, on every run.
func nextMilli() {
	for t0 := time.Now().UnixMilli(); time.Now().UnixMilli() == t0; {
	}
}

// newKey makes a fresh ed25519 public key in authorized_keys form. Demo people
// get real keys so the Users screen has fingerprints to show; nobody holds
// the private halves.
func newKey(comment string) (string, error) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate demo key: %w", err)
	}
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " " + comment, nil
}
