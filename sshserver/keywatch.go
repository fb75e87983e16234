package sshserver

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/charmbracelet/ssh"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// A session acts as the person its key belonged to when it opened, and the
// store checks that person's rights on every action, so a demotion or a
// removal applies at once. A removed key did not: an admin who removed a
// stolen key still left the thief's open console acting as its owner,
// generating tokens, for as long as the connection lasted (up to 12 h). The
// key watch closes, after every change that touches a person, each session of
// theirs whose key no longer logs in as them: removed from them, or their
// account removed. A console is stopped first, so the terminal is given back
// in order and told why.

// watchedSession is one running session and the key it logged in with.
type watchedSession struct {
	userID, fp string
	sess       ssh.Session
	ctx        ssh.Context

	mu      sync.Mutex
	console *console // set while the session runs the console
	ended   bool
}

// keyWatch holds the running sessions by person.
type keyWatch struct {
	mu     sync.Mutex
	byUser map[string]map[*watchedSession]struct{}
	bySess map[ssh.Context]*watchedSession // per session channel (window.go's identity)
}

func (k *keyWatch) add(userID, fp string, sess ssh.Session) *watchedSession {
	w := &watchedSession{userID: userID, fp: fp, sess: sess, ctx: sess.Context()}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.byUser == nil {
		k.byUser = map[string]map[*watchedSession]struct{}{}
		k.bySess = map[ssh.Context]*watchedSession{}
	}
	k.bySess[w.ctx] = w
	if k.byUser[userID] == nil {
		k.byUser[userID] = map[*watchedSession]struct{}{}
	}
	k.byUser[userID][w] = struct{}{}
	return w
}

func (k *keyWatch) remove(w *watchedSession) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.bySess, w.ctx)
	delete(k.byUser[w.userID], w)
	if len(k.byUser[w.userID]) == 0 {
		delete(k.byUser, w.userID)
	}
}

// of returns the sessions of userID now.
func (k *keyWatch) of(userID string) []*watchedSession {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]*watchedSession, 0, len(k.byUser[userID]))
	for w := range k.byUser[userID] {
		out = append(out, w)
	}
	return out
}

// session returns the watched session running on ctx, if any.
func (k *keyWatch) session(ctx ssh.Context) *watchedSession {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.bySess[ctx]
}

// keyGone reports whether fp definitely no longer logs in as userID. A store
// that cannot answer is no verdict: the session stays.
func (s *Server) keyGone(userID, fp string) bool {
	u, err := s.store.UserByKey(fp)
	if err != nil {
		return errors.Is(err, models.ErrNotFound) // unregistered, pending, or the account removed
	}
	return u.ID != userID
}

// watchKeys rechecks the sessions of every person a change touched, until
// events closes (the subscription ended).
func (s *Server) watchKeys(events <-chan store.Event) {
	for e := range events {
		for _, id := range e.UserIDs {
			for _, w := range s.keys.of(id) {
				if s.keyGone(w.userID, w.fp) {
					s.endSession(w)
				}
			}
		}
	}
}

// keyGoneMessage is what a session whose key was removed is told.
func keyGoneMessage(fp string) string {
	return "keydesk: the key this session logged in with (" + fp + ") no longer logs in as you (it, or your account, was removed); the session was closed"
}

// endSession ends w: a console is asked to quit (runConsole prints the
// reason once the screen is restored, then closes); a command is told why on
// stderr, as far as the client reads it within a second, and its connection
// is closed.
func (s *Server) endSession(w *watchedSession) {
	w.mu.Lock()
	if w.ended {
		w.mu.Unlock()
		return
	}
	w.ended = true
	c := w.console
	w.mu.Unlock()
	s.log.Info("session key no longer logs in; session closed", "remote", hostOf(w.ctx.RemoteAddr()), "fingerprint", w.fp)
	if c != nil {
		c.revoke()
		// A console that does not quit in time is cut off all the same.
		time.AfterFunc(5*time.Second, func() { closeConn(w.ctx) })
		return
	}
	go func() {
		done := make(chan struct{})
		go func() { fmt.Fprintln(w.sess.Stderr(), keyGoneMessage(w.fp)); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Second):
		}
		closeConn(w.ctx)
	}()
}

// attachConsole tells w's watch that it runs console c; false when the key
// was already found gone (the console must not start).
func (w *watchedSession) attachConsole(c *console) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return false
	}
	w.console = c
	return true
}
