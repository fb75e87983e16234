package sshserver

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/ssh"
	"github.com/keydesk/keydesk/models"
	gossh "golang.org/x/crypto/ssh"
)

// publicKeyHandler answers one question: is this key registered? It stores
// nothing about who the key belongs to. A client may offer many keys, some it
// cannot sign with; whatever this handler saw last is not necessarily the key
// that authenticated (soft-serve ≤ v0.8.5 fell for exactly that). The user is
// resolved later, in identityMiddleware, from s.PublicKey().
//
// It notes each refusal in the connection's context so that explainRefusal
// can tell the person why (refusal.go). A pending key is the one key it lets
// through without logging it in: marked in its Permissions and in the notes,
// it is refused by verifiedKeyCallback once the client has signed with it,
// so that only the key's holder is told it is pending.
func (s *Server) publicKeyHandler(ctx ssh.Context, key ssh.PublicKey) bool {
	fp := gossh.FingerprintSHA256(key)
	notes := refusalsOf(ctx)
	if err := keyAcceptable(key); err != nil {
		notes.note(notedKey{fp: fp, typ: key.Type(), outcome: keyUnacceptable, why: err.Error()})
		s.log.Info("refused key", "fingerprint", fp, "remote", hostOf(ctx.RemoteAddr()), "why", err.Error())
		return false
	}
	_, err := s.store.UserByKey(fp)
	if err == nil {
		return true
	}
	if errors.Is(err, models.ErrKeyPending) {
		notes.note(notedKey{fp: fp, typ: key.Type(), outcome: keyPendingOffer})
		perms := ctx.Permissions()
		if perms.Permissions == nil {
			perms.Permissions = &gossh.Permissions{}
		}
		if perms.Extensions == nil {
			perms.Extensions = map[string]string{}
		}
		perms.Extensions[pendingExt] = "1"
		return true // to be refused after it signs: verifiedKeyCallback
	}
	if !errors.Is(err, models.ErrNotFound) {
		notes.note(notedKey{fp: fp, typ: key.Type(), outcome: keyUnchecked})
		s.log.Error("look up key", "fingerprint", fp, "err", err)
		return false
	}
	notes.note(notedKey{fp: fp, typ: key.Type(), outcome: keyUnregistered})
	host := hostOf(ctx.RemoteAddr())
	s.auditRefusal(host, fp, "")
	s.log.Info("refused key", "fingerprint", fp, "remote", host)
	return false
}

// auditRefusal records a refused key in the audit log, at most once per
// address and key a minute (refusalLimiter).
func (s *Server) auditRefusal(host, fp, why string) {
	if !s.refused.allow(host, fp) {
		return
	}
	if err := s.store.RecordSession(models.AuditSSHAuthRefused, "", "key "+fp+" from "+host+why, "ssh "+host); err != nil {
		s.log.Error("audit refused key", "err", err)
	}
}

// identityMiddleware resolves the session's user from the key the session
// actually authenticated with and hands it to use explicitly. charmbracelet/ssh
// derives s.PublicKey() from the permissions x/crypto returns for the
// successful authentication, not from the last key the callback saw.
func (s *Server) identityMiddleware(use func(ssh.Session, models.User)) func(ssh.Handler) ssh.Handler {
	return func(next ssh.Handler) ssh.Handler {
		return func(sess ssh.Session) {
			key := sess.PublicKey()
			if key == nil {
				deny(sess, "keydesk: permission denied: public-key authentication is required")
				return
			}
			fp := gossh.FingerprintSHA256(key)
			u, err := s.store.UserByKey(fp)
			if errors.Is(err, models.ErrNotFound) {
				// The key was removed between authentication and now.
				deny(sess, "keydesk: permission denied: this key is not registered")
				return
			}
			if err != nil {
				// The store did not answer (etcd unreachable): say so, not
				// that the key is unknown.
				s.log.Error("look up session key", "err", err)
				deny(sess, "keydesk: cannot reach the store to check your key; try again later")
				return
			}
			host := hostOf(sess.RemoteAddr())
			if err := s.store.RecordSession(models.AuditSSHSessionOpened, u.ID, "key "+fp+" from "+host, via(sess.RemoteAddr())); err != nil {
				s.log.Error("audit session", "err", err)
				deny(sess, "keydesk: cannot record the session; try again later")
				return
			}
			// Watched from now on, and checked once more: a key removed
			// between the lookup above and here was seen by no watch.
			w := s.keys.add(u.ID, fp, sess)
			defer s.keys.remove(w)
			if s.keyGone(u.ID, fp) {
				deny(sess, keyGoneMessage(fp))
				return
			}
			use(sess, u)
			next(sess)
		}
	}
}

func deny(sess ssh.Session, msg string) {
	fmt.Fprintln(sess.Stderr(), msg)
	_ = sess.Exit(1)
}

// refusalLimiter keeps a scan from filling the audit log: at most one entry
// per (address, key) per window, and at most max entries per window overall.
// Refusals past the limit are still logged, just not audited.
type refusalLimiter struct {
	mu     sync.Mutex
	window time.Duration
	max    int
	start  time.Time
	count  int
	seen   map[string]struct{}
}

func newRefusalLimiter(window time.Duration, max int) *refusalLimiter {
	return &refusalLimiter{window: window, max: max, seen: map[string]struct{}{}}
}

func (l *refusalLimiter) allow(host, fp string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.start) >= l.window {
		l.start, l.count = now, 0
		clear(l.seen)
	}
	k := host + " " + fp
	if _, dup := l.seen[k]; dup || l.count >= l.max {
		return false
	}
	l.seen[k] = struct{}{}
	l.count++
	return true
}

// keyNotices is what a person must know about their keys when they log in
// to the console: that someone else registered the key they logged in with
// (said once), and which keys others added for them wait for approval. Empty
// when there is nothing to say. Command sessions are not told: their stderr
// belongs to scripts.
//
// The commands in them are written as the person types them from their
// shell once the console is closed: prog is "ssh -p PORT HOST" (cli.SSHProg).
func (s *Server) keyNotices(u models.User, fp, prog string) string {
	n, err := s.store.LoginNotices(u.ID, fp)
	if err != nil {
		s.log.Error("key notices", "err", err)
		return ""
	}
	who := func(id string) string {
		by := n.Adders[id]
		return models.Sanitize(by.Name) + " <" + models.Sanitize(by.Email) + ">"
	}
	var b strings.Builder
	if n.AddedBy.ID != "" {
		fmt.Fprintf(&b, "keydesk: the key you logged in with (%s) was registered for you by %s. If it is not yours, remove it: %s user remove-key %s %s\r\n",
			fp, who(n.AddedBy.ID), prog, u.Email, fp)
	}
	for _, k := range n.Pending {
		fmt.Fprintf(&b, "keydesk: %s added key %s %s for you on %s; it cannot log in until you approve it: %s user approve-key %s (or remove it: %s user remove-key %s %s)\r\n",
			who(k.AddedBy), k.Type, k.Fingerprint, k.AddedAt.UTC().Format("2006-01-02"), prog, k.Fingerprint, prog, u.Email, k.Fingerprint)
	}
	return b.String()
}
