package store_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keydesk/keydesk/internal/keyfile"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/store/kv/bolt"
)

// Issue 15 items 4, 5 and 7 on real files: a data directory whose secrets
// were lost, replaced, loosened or planted is refused, never silently used
// or re-created.

// closedOrg makes an organization with one token in a fresh data directory
// and closes it, returning the directory and the token's secret.
func closedOrg(t *testing.T) (string, string) {
	t.Helper()
	o := newOrg(t)
	_, secret, err := o.s.CreateToken(o.userA, store.TokenSpec{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.s.Close(); err != nil {
		t.Fatal(err)
	}
	return o.dir, secret
}

func openErr(t *testing.T, dir string) error {
	t.Helper()
	s, err := store.Open(dir, store.Options{})
	if err == nil {
		s.Close()
	}
	return err
}

func TestMissingOrReplacedSecretsRefused(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, sec string){
		"pepper deleted":   func(t *testing.T, sec string) { rm(t, filepath.Join(sec, "pepper")) },
		"seal.key deleted": func(t *testing.T, sec string) { rm(t, filepath.Join(sec, "seal.key")) },
		"secrets/ deleted": func(t *testing.T, sec string) {
			if err := os.RemoveAll(sec); err != nil {
				t.Fatal(err)
			}
		},
		"pepper replaced": func(t *testing.T, sec string) { replace(t, filepath.Join(sec, "pepper")) },
		"seal replaced":   func(t *testing.T, sec string) { replace(t, filepath.Join(sec, "seal.key")) },
	} {
		t.Run(name, func(t *testing.T) {
			dir, secret := closedOrg(t)
			sec := filepath.Join(dir, "secrets")
			damage(t, sec)
			before, _ := os.ReadDir(sec)
			err := openErr(t, dir)
			if err == nil {
				t.Fatal("the store opened with lost or replaced secrets")
			}
			if msg := err.Error(); !strings.Contains(msg, "restore") && !strings.Contains(msg, "put back") || strings.Contains(msg, "\n") {
				t.Fatalf("not one line that says what to do: %q", msg)
			}
			after, _ := os.ReadDir(sec)
			if len(after) != len(before) {
				t.Fatalf("opening created secret files: %d → %d", len(before), len(after))
			}
			_ = secret
		})
	}
	// Undamaged, it opens and the token still works.
	dir, secret := closedOrg(t)
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Inspect(secret); err != nil {
		t.Fatalf("token after reopen: %v", err)
	}
	if problems, err := s.Check(); err != nil || len(problems) != 0 {
		t.Fatalf("check: %v %v", problems, err)
	}
}

func TestUnsafeSecretsRefused(t *testing.T) {
	cases := map[string]struct {
		damage func(t *testing.T, dir, sec string)
		hint   string
	}{
		"pepper 0666":   {func(t *testing.T, _, sec string) { chmod(t, filepath.Join(sec, "pepper"), 0o666) }, "chmod 600"},
		"seal 0644":     {func(t *testing.T, _, sec string) { chmod(t, filepath.Join(sec, "seal.key"), 0o644) }, "chmod 600"},
		"secrets/ 0777": {func(t *testing.T, _, sec string) { chmod(t, sec, 0o777) }, "chmod 700"},
		"data dir 0777": {func(t *testing.T, dir, _ string) { chmod(t, dir, 0o777) }, "chmod 700"},
		"pepper a symlink": {func(t *testing.T, dir, sec string) {
			p := filepath.Join(sec, "pepper")
			b, _ := os.ReadFile(p)
			other := filepath.Join(dir, "elsewhere")
			if err := os.WriteFile(other, b, 0o600); err != nil {
				t.Fatal(err)
			}
			rm(t, p)
			if err := os.Symlink(other, p); err != nil {
				t.Fatal(err)
			}
		}, "symbolic link"},
		"pepper a directory": {func(t *testing.T, _, sec string) {
			p := filepath.Join(sec, "pepper")
			rm(t, p)
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
	}
	if os.Geteuid() == 0 {
		cases["pepper owned by nobody"] = struct {
			damage func(t *testing.T, dir, sec string)
			hint   string
		}{func(t *testing.T, _, sec string) { chown(t, filepath.Join(sec, "pepper")) }, "chown"}
		cases["secrets/ owned by nobody"] = struct {
			damage func(t *testing.T, dir, sec string)
			hint   string
		}{func(t *testing.T, _, sec string) { chown(t, sec) }, "chown"}
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir, _ := closedOrg(t)
			c.damage(t, dir, filepath.Join(dir, "secrets"))
			err := openErr(t, dir)
			if err == nil || !strings.Contains(err.Error(), c.hint) {
				t.Fatalf("want a refusal saying %q, got %v", c.hint, err)
			}
			if !errors.Is(err, models.ErrInvalid) {
				t.Fatalf("not ErrInvalid: %v", err)
			}
		})
	}
	// A planted all-zero key (the review got an all-zero JWT seed served in
	// the JWKS) is refused wherever a secret is loaded.
	sec := t.TempDir()
	if err := os.WriteFile(filepath.Join(sec, "jwt_ed25519"), make([]byte, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keyfile.LoadOrCreate(sec, "jwt_ed25519", func() ([]byte, error) { return nil, errors.New("not called") }); err == nil || !strings.Contains(err.Error(), "not a key") {
		t.Fatalf("all-zero planted key: %v", err)
	}
}

// TestUnknownRevokeSecretWritesNothing is item 5's store half: an unknown or
// already revoked secret costs a read, not a durable write or an event.
func TestUnknownRevokeSecretWritesNothing(t *testing.T) {
	o := newOrg(t)
	_, live, err := o.s.CreateToken(o.userA, store.TokenSpec{Name: "live"})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.s.RevokeSecret(live, "test"); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(o.dir, bolt.File)
	before, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	events, stop := o.s.Subscribe()
	defer stop()
	for range 1000 {
		secret, err := models.NewRefreshToken()
		if err != nil {
			t.Fatal(err)
		}
		if err := o.s.RevokeSecret(secret, "test"); err != nil {
			t.Fatal(err)
		}
		if err := o.s.RevokeSecret(live, "test"); err != nil { // already revoked
			t.Fatal(err)
		}
	}
	select {
	case ev := <-events:
		t.Fatalf("event published: %+v", ev)
	default:
	}
	after, _ := os.Stat(db)
	if !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Fatal("keydesk.db was written by revokes of unknown or dead tokens")
	}
}

func rm(t *testing.T, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
}

func replace(t *testing.T, p string) {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	old, _ := os.ReadFile(p)
	if bytes.Equal(old, b) {
		t.Fatal("random collision")
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, p string, m os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, m); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, p string) {
	t.Helper()
	if err := os.Lchown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
}
