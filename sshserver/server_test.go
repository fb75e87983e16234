package sshserver

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/ssh"
	"github.com/charmbracelet/wish"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	bolt "go.etcd.io/bbolt"
	gossh "golang.org/x/crypto/ssh"
)

func TestOwnerKeyOpensOwnersConsole(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	c := mustDial(t, r.addr, o.ownerKey)
	_, scr := openConsole(t, c, 120, 40)
	scr.waitFor(t, "Olive Owner", 3*time.Second)
	scr.waitFor(t, "API Tokens", 3*time.Second) // the owner's tab row
}

func TestUserKeyOpensMyProfile(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	c := mustDial(t, r.addr, o.userKey)
	_, scr := openConsole(t, c, 120, 40)
	scr.waitFor(t, "My Profile", 3*time.Second)
	scr.waitFor(t, "Uma Userton", 3*time.Second)

	// The session was audited with the key's fingerprint and address.
	entries, err := o.s.Audit(store.Actor{UserID: o.owner.ID, Via: "test"}, store.AuditQuery{Type: models.AuditSSHSessionOpened})
	if err != nil {
		t.Fatal(err)
	}
	fp := gossh.FingerprintSHA256(o.userKey.PublicKey())
	if len(entries) != 1 || entries[0].ActorID != o.user.ID || !strings.Contains(entries[0].Detail, fp) || !strings.Contains(entries[0].Detail, "127.0.0.1") {
		t.Fatalf("want one ssh_session_opened entry for the user with %s, got %+v", fp, entries)
	}
}

func TestUnknownKeyRefusedAndAudited(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	stranger := newKey(t)
	_, err := dial(t, r.addr, gossh.PublicKeys(stranger))
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("want authentication failure, got %v", err)
	}
	// A second attempt within the minute is not audited again.
	_, _ = dial(t, r.addr, gossh.PublicKeys(stranger))
	entries, err := o.s.Audit(store.Actor{UserID: o.owner.ID, Via: "test"}, store.AuditQuery{Type: models.AuditSSHAuthRefused})
	if err != nil {
		t.Fatal(err)
	}
	fp := gossh.FingerprintSHA256(stranger.PublicKey())
	if len(entries) != 1 || !strings.Contains(entries[0].Detail, fp) || !strings.Contains(entries[0].Detail, "127.0.0.1") {
		t.Fatalf("want one ssh_auth_refused entry naming %s, got %+v", fp, entries)
	}
}

// Password authentication is not offered; keyboard-interactive is, only to
// explain a refusal (refusal.go), and never authenticates.
func TestPasswordNotOfferedKeyboardInteractiveNeverAuthenticates(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	_, err := dial(t, r.addr,
		gossh.Password("hunter2"),
		gossh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) { return nil, nil }))
	if err == nil {
		t.Fatal("password/keyboard-interactive must not authenticate")
	}
	if !strings.Contains(err.Error(), "attempted methods [none keyboard-interactive]") {
		t.Fatalf("want password skipped (not offered) and keyboard-interactive refused, got %v", err)
	}
}

func TestConstructionRefusesServerWithoutKeyAuth(t *testing.T) {
	for name, opt := range map[string]ssh.Option{
		"none":     func(*ssh.Server) error { return nil },
		"password": wish.WithPasswordAuth(func(ssh.Context, string) bool { return true }),
		"keyboard": wish.WithKeyboardInteractiveAuth(func(ssh.Context, gossh.KeyboardInteractiveChallenge) bool { return true }),
	} {
		// A host key is given so wish does not write a generated one into the
		// package directory.
		srv, err := wish.NewServer(wish.WithHostKeyPEM(mustHostKey(t)), opt)
		if err != nil {
			t.Fatal(err)
		}
		if name != "none" {
			srv.PublicKeyHandler = func(ssh.Context, ssh.PublicKey) bool { return true }
		}
		if err := checkAuthConfig(srv); err == nil {
			t.Errorf("%s: checkAuthConfig accepted a server that is not public-key only", name)
		}
	}
}

func TestCommandsOverSSH(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	owner := mustDial(t, r.addr, o.ownerKey)

	out, errOut, code := run(t, owner, "token create --name ci")
	if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "kdr_") {
		t.Fatalf("token create: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := models.ParseRefreshToken(strings.TrimSpace(out)); err != nil {
		t.Fatalf("token create printed a malformed token: %v", err)
	}

	out, errOut, code = run(t, owner, "token list --json")
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 {
		t.Fatalf("token list --json: code %d, stdout %q, stderr %q", code, out, errOut)
	}

	user := mustDial(t, r.addr, o.userKey)
	out, errOut, code = run(t, user, "token list --all")
	lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
	if code != 1 || out != "" || len(lines) != 1 || !strings.Contains(lines[0], "permission denied") {
		t.Fatalf("user token list --all: want exit 1 and one permission-denied line, got code %d stdout %q stderr %q", code, out, errOut)
	}

	// Commands that only make sense locally do not exist remotely.
	_, errOut, code = run(t, owner, "serve")
	if code != 2 {
		t.Fatalf("serve over SSH: want usage error 2, got %d (%q)", code, errOut)
	}
	_, _, code = run(t, owner, "whoami --data /tmp")
	if code != 2 {
		t.Fatalf("--data over SSH: want usage error 2, got %d", code)
	}
}

func TestBackupOverSSH(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})

	owner := mustDial(t, r.addr, o.ownerKey)
	sess, err := owner.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var db bytes.Buffer
	sess.Stdout = &db
	if err := sess.Run("backup"); err != nil {
		t.Fatalf("owner backup: %v", err)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, db.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("backup is not a bbolt file: %v", err)
	}
	defer bdb.Close()
	err = bdb.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("backup fails bbolt's check: %v", err)
	}

	user := mustDial(t, r.addr, o.userKey)
	out, errOut, code := run(t, user, "backup")
	if code != 1 || out != "" || !strings.Contains(errOut, "permission denied") {
		t.Fatalf("user backup: want exit 1 and permission denied, got %d, %d bytes, %q", code, len(out), errOut)
	}
}

func TestHostKeyStableAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	o := newOrgIn(t, dir)
	fingerprint := func(s *store.Store) string {
		r := start(t, s, Options{})
		var seen string
		c, err := gossh.Dial("tcp", r.addr, &gossh.ClientConfig{
			User: "x", Auth: []gossh.AuthMethod{gossh.PublicKeys(o.ownerKey)},
			HostKeyCallback: func(_ string, _ net.Addr, k gossh.PublicKey) error {
				seen = gossh.FingerprintSHA256(k)
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		r.stop(t)
		return seen
	}
	first := fingerprint(o.s)
	if err := o.s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	second := fingerprint(s2)
	if first == "" || first != second {
		t.Fatalf("host key changed across restarts: %q then %q", first, second)
	}
	fi, err := os.Stat(filepath.Join(s2.SecretsDir(), HostKeyName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key mode %v, want 0600", fi.Mode().Perm())
	}
}

// forgedSigner offers a public key it holds no private key for. The server
// accepts the key in the query phase (it is registered); the "signature" then
// names an algorithm that does not match the key, which x/crypto rejects
// without dropping the connection, so the client goes on to its next key
// within the same connection, exactly the sequence of the soft-serve bypass.
type forgedSigner struct{ pub gossh.PublicKey }

func (f forgedSigner) PublicKey() gossh.PublicKey { return f.pub }
func (f forgedSigner) Sign(io.Reader, []byte) (*gossh.Signature, error) {
	return &gossh.Signature{Format: gossh.KeyAlgoRSASHA256, Blob: make([]byte, 64)}, nil
}

// TestAuthenticationBypass ports soft-serve's test of the same name: the
// client offers the owner's public key (which the server says it would
// accept) without holding its private key, then authenticates with the
// user's key. The session must be the user's.
func TestAuthenticationBypass(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	c, err := dial(t, r.addr, gossh.PublicKeys(forgedSigner{o.ownerKey.PublicKey()}, o.userKey))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	out, errOut, code := run(t, c, "whoami --json")
	if code != 0 {
		t.Fatalf("whoami: %d %q", code, errOut)
	}
	var who map[string]any
	if err := json.Unmarshal([]byte(out), &who); err != nil {
		t.Fatalf("whoami --json: %v: %q", err, out)
	}
	if who["email"] != o.user.Email {
		t.Fatalf("session resolved to %v, want the user %s", who["email"], o.user.Email)
	}
	// And the owner's powers are not there.
	_, errOut, code = run(t, c, "token list --all")
	if code != 1 || !strings.Contains(errOut, "permission denied") {
		t.Fatalf("bypass session could list all tokens: %d %q", code, errOut)
	}
	// The forged attempt alone gets nobody in.
	if _, err := dial(t, r.addr, gossh.PublicKeys(forgedSigner{o.ownerKey.PublicKey()})); err == nil {
		t.Fatal("a forged signature authenticated")
	}
}
