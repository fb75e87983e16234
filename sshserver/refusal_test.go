package sshserver

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/keydesk/keydesk/cli"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	gossh "golang.org/x/crypto/ssh"
)

// kiSeen records what a client's keyboard-interactive callback and banner
// callback were sent.
type kiSeen struct {
	mu           sync.Mutex
	instructions []string
	questions    int
	banners      []string
}

func (k *kiSeen) method(fail error) gossh.AuthMethod {
	return gossh.KeyboardInteractive(func(name, instruction string, questions []string, _ []bool) ([]string, error) {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.instructions = append(k.instructions, name+instruction)
		k.questions += len(questions)
		// The only well-formed answer to zero questions is none; a client
		// may also give up with an error.
		return nil, fail
	})
}

func (k *kiSeen) got() ([]string, int, []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.instructions...), k.questions, append([]string(nil), k.banners...)
}

// dialSeen dials like an OpenSSH client without BatchMode: the given
// methods, then keyboard-interactive, with a banner callback.
func dialSeen(t *testing.T, addr string, seen *kiSeen, auth ...gossh.AuthMethod) (*gossh.Client, error) {
	t.Helper()
	return gossh.Dial("tcp", addr, &gossh.ClientConfig{
		User:            "anyone",
		Auth:            append(auth, seen.method(nil)),
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		BannerCallback: func(msg string) error {
			seen.mu.Lock()
			seen.banners = append(seen.banners, msg)
			seen.mu.Unlock()
			return nil
		},
	})
}

// addPending registers k for Uma by the owner: Uma already has a key, so it
// waits for her approval (SPEC §9).
func addPending(t *testing.T, o *org, k gossh.Signer) {
	t.Helper()
	added, err := o.s.AddKey(store.Actor{UserID: o.owner.ID, Via: "test"}, "uma@example.com", authorized(k))
	if err != nil {
		t.Fatal(err)
	}
	if !added.Pending {
		t.Fatalf("the owner's key for Uma is not pending: %+v", added)
	}
}

// noAccount fails if text names anyone of the organization.
func noAccount(t *testing.T, o *org, text string) {
	t.Helper()
	for _, s := range []string{o.owner.Email, o.user.Email, o.owner.Name, o.user.Name, "uma", "olive"} {
		if strings.Contains(strings.ToLower(text), strings.ToLower(s)) {
			t.Fatalf("the explanation names %q: %q", s, text)
		}
	}
}

func TestUnregisteredKeyIsToldItsFingerprintAndWhatToDo(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	stranger := newKey(t)
	seen := &kiSeen{}
	c, err := dialSeen(t, r.addr, seen, gossh.PublicKeys(stranger))
	if err == nil {
		_ = c.Close()
		t.Fatal("an unregistered key logged in")
	}
	ins, q, banners := seen.got()
	fp := gossh.FingerprintSHA256(stranger.PublicKey())
	want := "keydesk: key " + fp + " is not registered here; ask the organization's owner or an admin to add it: keydesk user add-key YOUR_EMAIL \"$(cat KEY.pub)\""
	if len(ins) != 1 || ins[0] != want || q != 0 {
		t.Fatalf("want one challenge with no questions saying\n%s\ngot %d questions and %q", want, q, ins)
	}
	if len(banners) != 0 {
		t.Fatalf("want no banner, got %q", banners)
	}
	noAccount(t, o, ins[0])
}

func TestPendingKeyIsToldOnlyAfterItSigned(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	pending := newKey(t)
	addPending(t, o, pending)
	fp := gossh.FingerprintSHA256(pending.PublicKey())

	seen := &kiSeen{}
	c, err := dialSeen(t, r.addr, seen, gossh.PublicKeys(pending))
	if err == nil {
		_ = c.Close()
		t.Fatal("a pending key logged in")
	}
	ins, q, _ := seen.got()
	prog := cli.SSHProg(r.addr)
	want := "keydesk: key " + fp + " is registered for you but waits for your approval; approve it from a key that already logs in: " + prog + " user approve-key " + fp
	if len(ins) != 1 || ins[0] != want || q != 0 {
		t.Fatalf("want one challenge saying\n%s\ngot %d questions and %q", want, q, ins)
	}
	noAccount(t, o, ins[0])

	// The refusal after its signature is audited as such.
	entries, err := o.s.Audit(store.Actor{UserID: o.owner.ID, Via: "test"}, store.AuditQuery{Type: models.AuditSSHAuthRefused})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || !strings.Contains(entries[0].Detail, fp) || !strings.Contains(entries[0].Detail, "pending approval") {
		t.Fatalf("want one ssh_auth_refused entry for pending %s, got %+v", fp, entries)
	}

	// Once Uma approves it from her first key, the same key logs in.
	uma := mustDial(t, r.addr, o.userKey)
	if out, errOut, code := run(t, uma, "user approve-key "+fp); code != 0 {
		t.Fatalf("approve: %d %q %q", code, out, errOut)
	}
	seen2 := &kiSeen{}
	c2, err := dialSeen(t, r.addr, seen2, gossh.PublicKeys(pending))
	if err != nil {
		t.Fatalf("the approved key does not log in: %v", err)
	}
	defer c2.Close()
	if out, errOut, code := run(t, c2, "whoami"); code != 0 || !strings.Contains(out, "uma@example.com") || errOut != "" {
		t.Fatalf("whoami with the approved key: %d %q %q", code, out, errOut)
	}
	if ins, _, banners := seen2.got(); len(ins) != 0 || len(banners) != 0 {
		t.Fatalf("a key that logs in was sent %q %q", ins, banners)
	}
}

// The explanation must not change who logs in: a person whose client holds a
// pending key before a registered one logs in with the registered one, as
// the registered one's user, and is told nothing.
func TestPendingKeyBeforeRegisteredKeyStillLogsInSilently(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	pending := newKey(t)
	addPending(t, o, pending)
	seen := &kiSeen{}
	c, err := dialSeen(t, r.addr, seen, gossh.PublicKeys(pending, o.userKey))
	if err != nil {
		t.Fatalf("the registered key after a pending one does not log in: %v", err)
	}
	defer c.Close()
	if out, errOut, code := run(t, c, "whoami"); code != 0 || !strings.Contains(out, "uma@example.com") || errOut != "" {
		t.Fatalf("whoami: %d %q %q", code, out, errOut)
	}
	if ins, _, banners := seen.got(); len(ins) != 0 || len(banners) != 0 {
		t.Fatalf("a client that logged in was sent %q %q", ins, banners)
	}
	// The session is audited under the key that authenticated, not the
	// pending one the public-key callback let through first.
	entries, err := o.s.Audit(store.Actor{UserID: o.owner.ID, Via: "test"}, store.AuditQuery{Type: models.AuditSSHSessionOpened})
	if err != nil {
		t.Fatal(err)
	}
	want := gossh.FingerprintSHA256(o.userKey.PublicKey())
	if len(entries) != 1 || !strings.Contains(entries[0].Detail, want) {
		t.Fatalf("want one session opened with %s, got %+v", want, entries)
	}
}

// Scripts (ssh host token list from CI) with a registered key see nothing
// new: no challenge, no banner, nothing on stderr.
func TestRegisteredKeyGetsNoExplanation(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	seen := &kiSeen{}
	c, err := dialSeen(t, r.addr, seen, gossh.PublicKeys(newKey(t), o.ownerKey))
	if err != nil {
		t.Fatalf("the owner's key does not log in: %v", err)
	}
	defer c.Close()
	if out, errOut, code := run(t, c, "whoami"); code != 0 || errOut != "" || !strings.Contains(out, "olive@example.com") {
		t.Fatalf("whoami: %d %q %q", code, out, errOut)
	}
	if ins, _, banners := seen.got(); len(ins) != 0 || len(banners) != 0 {
		t.Fatalf("a client that logged in was sent %q %q", ins, banners)
	}
}

// Keyboard-interactive never logs anyone in, whatever the client answers and
// however often it retries; it explains once per connection and each attempt
// counts against MaxAuthTries, so the connection is closed.
func TestKeyboardInteractiveNeverLogsIn(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{MaxAuthTries: 4})
	stranger := newKey(t)
	for _, fail := range []error{nil, errors.New("the person pressed ctrl-c")} {
		seen := &kiSeen{}
		c, err := gossh.Dial("tcp", r.addr, &gossh.ClientConfig{
			User:            "olive@example.com",
			Auth:            []gossh.AuthMethod{gossh.PublicKeys(stranger), gossh.RetryableAuthMethod(seen.method(fail), 50)},
			HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		})
		if err == nil {
			_ = c.Close()
			t.Fatal("keyboard-interactive logged a stranger in")
		}
		ins, q, _ := seen.got()
		if len(ins) == 0 || !strings.Contains(ins[0], gossh.FingerprintSHA256(stranger.PublicKey())) || q != 0 {
			t.Fatalf("answering %v: want the explanation first, no questions; got %d questions, %q", fail, q, ins)
		}
		for _, later := range ins[1:] {
			if later != "" {
				t.Fatalf("the explanation was sent twice on one connection: %q", ins)
			}
		}
		// MaxAuthTries 4: the first failure is the public key (its query is
		// free), so keyboard-interactive gets at most 4 tries.
		if fail == nil && (len(ins) > 4 || !strings.Contains(err.Error(), "too many authentication failures")) {
			t.Fatalf("retrying keyboard-interactive 50 times: want the server to close at MaxAuthTries, got %d challenges and %v", len(ins), err)
		}
		if fail == nil && !strings.Contains(err.Error(), "too many authentication failures") {
			t.Fatalf("retrying keyboard-interactive 50 times: want the server to close at MaxAuthTries, got %v", err)
		}
	}
}

func TestNoKeyAtAllIsToldToMakeOne(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	seen := &kiSeen{}
	if c, err := dialSeen(t, r.addr, seen); err == nil {
		_ = c.Close()
		t.Fatal("a client with no key logged in")
	}
	ins, _, _ := seen.got()
	if len(ins) != 1 || !strings.Contains(ins[0], "offered no key that could log in here") || !strings.Contains(ins[0], "ssh-keygen -t ed25519") {
		t.Fatalf("want the make-a-key explanation, got %q", ins)
	}
}

func TestShortRSAKeyIsToldWhy(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	priv, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weak, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	seen := &kiSeen{}
	if c, err := dialSeen(t, r.addr, seen, gossh.PublicKeys(weak)); err == nil {
		_ = c.Close()
		t.Fatal("a 1024-bit RSA key logged in")
	}
	ins, _, _ := seen.got()
	fp := gossh.FingerprintSHA256(weak.PublicKey())
	want := "keydesk: key " + fp + " cannot log in here: this RSA key has 1024 bits; keydesk needs at least 2048 (or use ssh-keygen -t ed25519)"
	if len(ins) != 1 || ins[0] != want {
		t.Fatalf("want\n%s\ngot %q", want, ins)
	}
}

// Several keys: one line per kind, every fingerprint named once; a pending
// key offered but never signed with is not called pending.
func TestRefusalTextGroupsKeysAndSanitizes(t *testing.T) {
	got := refusalText([]notedKey{
		{fp: "SHA256:aaa", outcome: keyUnregistered},
		{fp: "SHA256:bbb\x1b]52;c;evil\x07", outcome: keyUnregistered},
		{fp: "SHA256:ccc", outcome: keyPendingOffer},
		{fp: "SHA256:ddd", outcome: keyPendingSigned},
	}, "ssh -p 23234 localhost")
	want := "keydesk: key SHA256:ddd is registered for you but waits for your approval; approve it from a key that already logs in: ssh -p 23234 localhost user approve-key SHA256:ddd\n" +
		"keydesk: keys SHA256:aaa, " + models.Sanitize("SHA256:bbb\x1b]52;c;evil\x07") + " are not registered here; ask the organization's owner or an admin to add yours: keydesk user add-key YOUR_EMAIL \"$(cat KEY.pub)\""
	if got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	if strings.ContainsAny(got, "\x1b\x07") {
		t.Fatalf("control characters reach the terminal: %q", got)
	}
	if strings.Contains(got, "SHA256:ccc") {
		t.Fatal("a pending key that never signed is named")
	}
}
