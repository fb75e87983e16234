package sshserver

import (
	"context"
	"fmt"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/log"
	"github.com/charmbracelet/ssh"
	"github.com/keydesk/keydesk/internal/connlimit"
)

// newLimitListener refuses a connection at accept when its client (an IPv4
// address, an IPv6 /64: connlimit.Client) already holds max connections, or
// when everyone together holds total. It runs before the SSH handshake, so a
// flood of connections costs a close each, not a key exchange each; keyed by
// the whole IPv6 address, one host with a /64 could open as many as it liked.
func newLimitListener(ln net.Listener, max, total int, logger *log.Logger) net.Listener {
	return connlimit.New(ln, max, total, func(a net.Addr) (string, bool) { return clientOf(a), true },
		func(host string, first bool) {
			switch {
			case !first:
			case host == "":
				logger.Warn("too many connections in all; refusing more until some close", "limit", total)
			default:
				logger.Warn("too many connections; refusing more until some close", "remote", host, "limit", max)
			}
		})
}

// clientOf is the key of addr's client in the per-client limits.
func clientOf(addr net.Addr) string { return connlimit.Client(hostOf(addr)) }

// connCallback closes a connection that has not finished authenticating
// within HandshakeTimeout. charmbracelet/ssh's idle timeout (minutes, for
// people reading a screen) would otherwise let a silent TCP connection hold
// a slot that long.
func (s *Server) connCallback(ctx ssh.Context, conn net.Conn) net.Conn {
	ctx.SetValue(connStateKey{}, &connState{})
	t := time.AfterFunc(s.opts.HandshakeTimeout, func() {
		// ContextKeyConn is set once the handshake and authentication succeed.
		if ctx.Value(ssh.ContextKeyConn) == nil {
			_ = conn.Close()
		}
	})
	// No goroutine per connection just to stop a timer.
	context.AfterFunc(ctx, func() { t.Stop() })
	return conn
}

// sessionLimiter is a token bucket per client (clientOf): perMin sessions a minute
// with a burst, so scripts running many commands still pass while a loop
// hammering the store with audited sessions does not.
type sessionLimiter struct {
	mu      sync.Mutex
	rate    float64 // tokens per second
	burst   float64
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newSessionLimiter(perMin int) *sessionLimiter {
	burst := float64(perMin) / 10
	if burst < 10 {
		burst = 10
	}
	return &sessionLimiter{rate: float64(perMin) / 60, burst: burst, buckets: map[string]*bucket{}}
}

func (l *sessionLimiter) allow(host string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.swept) > time.Minute {
		// Drop full buckets: they are indistinguishable from new ones.
		for h, b := range l.buckets {
			if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
				delete(l.buckets, h)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[host]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[host] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// limitMiddleware refuses sessions over the per-address rate and any new
// session once shutdown has begun.
func (s *Server) limitMiddleware(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		if s.isClosing() {
			deny(sess, "keydesk: "+Goodbye)
			return
		}
		if !s.rate.allow(clientOf(sess.RemoteAddr())) {
			deny(sess, "keydesk: too many sessions from your address; wait a minute and try again")
			return
		}
		next(sess)
	}
}

// recoverMiddleware turns a panic into a one-line error for that session and
// a logged stack for us.
func (s *Server) recoverMiddleware(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("panic in session", "remote", hostOf(sess.RemoteAddr()), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				deny(sess, "keydesk: internal error; the session was closed")
			}
		}()
		next(sess)
	}
}

// loggingMiddleware writes one line when a session starts and one when it
// ends. It logs the command's name but never its arguments, which may carry
// names, emails or keys, and never anything typed into the console.
func (s *Server) loggingMiddleware(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		start := time.Now()
		kind := "console"
		if cmd, err := splitCommand(sess.RawCommand()); err == nil && len(cmd) > 0 {
			kind = "command " + commandName(cmd)
		}
		pty, _, isPty := sess.Pty()
		s.log.Info("session start", "remote", hostOf(sess.RemoteAddr()), "kind", kind, "pty", isPty, "term", pty.Term, "client", sess.Context().ClientVersion())
		defer func() {
			s.log.Info("session end", "remote", hostOf(sess.RemoteAddr()), "kind", kind, "duration", time.Since(start).Round(time.Millisecond))
		}()
		next(sess)
	}
}

// commandName is the command path without flags or arguments, e.g. "token
// list": at most two words of lower-case letters and dashes, so a secret
// pasted as an argument never reaches the log.
func commandName(args []string) string {
	var words []string
	for _, a := range args {
		if len(words) == 2 || !isCommandWord(a) {
			break
		}
		words = append(words, a)
	}
	if len(words) == 0 {
		return "?"
	}
	return strings.Join(words, " ")
}

func isCommandWord(w string) bool {
	if w == "" || len(w) > 24 || w[0] == '-' {
		return false
	}
	for _, r := range w {
		if (r < 'a' || r > 'z') && r != '-' {
			return false
		}
	}
	return true
}
