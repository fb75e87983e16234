package sshserver

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/charmbracelet/ssh"
	"github.com/keydesk/keydesk/cli"
	"github.com/keydesk/keydesk/models"
	gossh "golang.org/x/crypto/ssh"
)

// Telling a refused person why.
//
// OpenSSH prints only "Permission denied (publickey)" when every key fails,
// so a person whose key is unregistered, or registered for them but still
// pending, cannot tell a wrong server from a wrong key. keydesk explains at
// the SSH layer without letting anyone more in:
//
//   - publicKeyHandler notes, per connection, what it decided about each key
//     offered (refusals, below). It still decides alone which keys may log in
//     — registered, active keys — with one exception that changes nobody's
//     outcome: a pending key is answered "go on, sign" so that its holder can
//     prove they hold it.
//   - verifiedKeyCallback runs after x/crypto has checked a key's signature.
//     It refuses every key noted pending, always: a pending key never logs
//     in. Only now, with possession proved, is the key's holder told that the
//     key is pending; a stranger who merely offers the public part learns
//     nothing that the SSH protocol does not already show for every
//     registered key (that the server would accept a signature).
//   - explainRefusal is offered as keyboard-interactive authentication, which
//     OpenSSH tries only after every public key failed. It sends one
//     challenge with the explanation and no questions, then fails, whatever
//     the client answers: it never logs anyone in. A registered key logs in
//     before it is reached, so scripts see nothing new; ssh -o BatchMode=yes
//     skips it and sees OpenSSH's line alone.
//
// Failed attempts cost what they cost before: keyboard-interactive does no
// store lookup, explains once per connection, and each attempt counts
// against MaxAuthTries; refusals are audited through the same limiter.

// maxNoted bounds the keys remembered per connection (MaxAuthTries bounds
// real clients well below it).
const maxNoted = 8

// pendingExt marks, in the Permissions of a pending key's public-key
// callback, that the key must be refused once it has signed.
const pendingExt = "keydesk-key-pending"

type keyOutcome int

const (
	keyUnregistered  keyOutcome = iota // no one holds it
	keyUnacceptable                    // a certificate, DSA, a short RSA key
	keyUnchecked                       // the store did not answer
	keyPendingOffer                    // pending, not (yet) signed: says nothing
	keyPendingSigned                   // pending, and the client signed with it
)

type notedKey struct {
	fp, typ string
	outcome keyOutcome
	why     string // for keyUnacceptable
}

// refusals is what one connection's authentication learned about its keys.
type refusals struct {
	mu        sync.Mutex
	keys      []notedKey
	explained bool
}

type refusalsKey struct{}

// refusalsOf returns the connection's notes, creating them on first use.
// Authentication runs on one goroutine per connection, so first use never
// races; the mutex is for readers afterwards.
func refusalsOf(ctx ssh.Context) *refusals {
	if r, ok := ctx.Value(refusalsKey{}).(*refusals); ok {
		return r
	}
	r := &refusals{}
	ctx.SetValue(refusalsKey{}, r)
	return r
}

// note records what was decided about a key, once per fingerprint; a later
// decision (a pending key that then signed) replaces the earlier one.
func (r *refusals) note(k notedKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.keys {
		if r.keys[i].fp == k.fp {
			r.keys[i] = k
			return
		}
	}
	if len(r.keys) < maxNoted {
		r.keys = append(r.keys, k)
	}
}

func (r *refusals) outcome(fp string) (keyOutcome, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.keys {
		if k.fp == fp {
			return k.outcome, true
		}
	}
	return 0, false
}

// takeExplanation returns the notes the first time it is called on a
// connection and false afterwards: the person needs the text once.
func (r *refusals) takeExplanation() ([]notedKey, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.explained {
		return nil, false
	}
	r.explained = true
	return append([]notedKey(nil), r.keys...), true
}

// errPendingKey refuses a pending key after it signed.
var errPendingKey = errors.New("keydesk: key is pending approval")

// errExplainOnly is keyboard-interactive's only answer.
var errExplainOnly = errors.New("keydesk: keyboard-interactive only explains a refusal; it logs no one in")

// addRefusalExplainer installs, on one connection's config, the check after
// a key's signature and the keyboard-interactive explanation. Both are set
// on the x/crypto config directly (charmbracelet/ssh leaves them alone when
// its own KeyboardInteractiveHandler is nil, which checkAuthConfig insists
// on), so neither can be turned into a yes by a wrapper.
func (s *Server) addRefusalExplainer(ctx ssh.Context, cfg *gossh.ServerConfig) {
	cfg.VerifiedPublicKeyCallback = func(conn gossh.ConnMetadata, key gossh.PublicKey, perms *gossh.Permissions, _ string) (*gossh.Permissions, error) {
		return s.verifiedKeyCallback(ctx, conn, key, perms)
	}
	cfg.KeyboardInteractiveCallback = func(conn gossh.ConnMetadata, challenge gossh.KeyboardInteractiveChallenge) (*gossh.Permissions, error) {
		s.explainRefusal(ctx, conn, challenge)
		return nil, errExplainOnly
	}
}

// verifiedKeyCallback refuses, after its signature verified, every key the
// public-key handler let through only so its holder could prove possession.
func (s *Server) verifiedKeyCallback(ctx ssh.Context, conn gossh.ConnMetadata, key gossh.PublicKey, perms *gossh.Permissions) (*gossh.Permissions, error) {
	fp := gossh.FingerprintSHA256(key)
	out, _ := refusalsOf(ctx).outcome(fp)
	marked := perms != nil && perms.Extensions[pendingExt] != ""
	if !marked && out != keyPendingOffer && out != keyPendingSigned {
		return perms, nil
	}
	refusalsOf(ctx).note(notedKey{fp: fp, typ: key.Type(), outcome: keyPendingSigned})
	host := hostOf(conn.RemoteAddr())
	s.auditRefusal(host, fp, " (pending approval)")
	s.log.Info("refused key", "fingerprint", fp, "remote", host, "why", "pending approval")
	return nil, errPendingKey
}

// explainRefusal sends the person a challenge whose instruction says why
// each key they offered did not log them in, and asks nothing. Only the
// first attempt on a connection carries the text: OpenSSH retries
// keyboard-interactive up to three times.
func (s *Server) explainRefusal(ctx ssh.Context, conn gossh.ConnMetadata, challenge gossh.KeyboardInteractiveChallenge) {
	// Every attempt gets a challenge (an empty one after the first): a client
	// such as x/crypto's treats a failure without one as a protocol error.
	msg := ""
	if keys, first := refusalsOf(ctx).takeExplanation(); first {
		msg = refusalText(keys, cli.SSHProg(conn.LocalAddr().String()))
	}
	// The answer, or an error from a client that went away, changes nothing.
	_, _ = challenge("", msg, nil, nil)
}

// refusalText is the explanation: one line per kind of refusal, each naming
// the keys' fingerprints and what to do. prog is "ssh -p PORT HOST". It names
// no account and no email: the pending line is only written for keys whose
// holder signed with them.
func refusalText(keys []notedKey, prog string) string {
	var unregistered, unchecked, pending []string
	var b strings.Builder
	for _, k := range keys {
		fp := models.Sanitize(k.fp)
		switch k.outcome {
		case keyUnregistered:
			unregistered = append(unregistered, fp)
		case keyUnchecked:
			unchecked = append(unchecked, fp)
		case keyPendingSigned:
			pending = append(pending, fp)
		case keyUnacceptable:
			fmt.Fprintf(&b, "keydesk: key %s cannot log in here: %s\n", fp, models.Sanitize(strings.TrimPrefix(k.why, models.ErrInvalid.Error()+": ")))
		}
	}
	switch len(pending) {
	case 0:
	case 1:
		fmt.Fprintf(&b, "keydesk: key %s is registered for you but waits for your approval; approve it from a key that already logs in: %s user approve-key %s\n", pending[0], prog, pending[0])
	default:
		fmt.Fprintf(&b, "keydesk: keys %s are registered for you but wait for your approval; approve each from a key that already logs in: %s user approve-key FINGERPRINT\n", strings.Join(pending, ", "), prog)
	}
	switch len(unregistered) {
	case 0:
	case 1:
		fmt.Fprintf(&b, "keydesk: key %s is not registered here; ask the organization's owner or an admin to add it: keydesk user add-key YOUR_EMAIL \"$(cat KEY.pub)\"\n", unregistered[0])
	default:
		fmt.Fprintf(&b, "keydesk: keys %s are not registered here; ask the organization's owner or an admin to add yours: keydesk user add-key YOUR_EMAIL \"$(cat KEY.pub)\"\n", strings.Join(unregistered, ", "))
	}
	if len(unchecked) > 0 {
		fmt.Fprintf(&b, "keydesk: could not check key %s: the server cannot reach its store; try again later\n", strings.Join(unchecked, ", "))
	}
	if b.Len() == 0 {
		// No key was offered, or none was signed with.
		b.WriteString("keydesk: your SSH client offered no key that could log in here (keydesk takes SSH keys only); make one (ssh-keygen -t ed25519) and ask the organization's owner or an admin to add it: keydesk user add-key YOUR_EMAIL \"$(cat ~/.ssh/id_ed25519.pub)\"\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}
