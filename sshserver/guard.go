package sshserver

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/charmbracelet/ssh"
	"github.com/keydesk/keydesk/models"
	gossh "golang.org/x/crypto/ssh"
)

// Request caps. An authenticated client of any role (a stakeholder, with no
// shell started) could otherwise make the server hold whatever it sends:
// 20,000 env requests of 32 kB each are 600 MB; 50,000 idle session channels
// on one connection ~460 MB. Each cap is far above what OpenSSH clients send.
const (
	// MaxEnvVars is how many env requests one session channel may set;
	// OpenSSH sends one per SendEnv/SetEnv variable (LANG, LC_*, TERM…).
	MaxEnvVars = 64
	// MaxEnvBytes bounds one variable (name plus value).
	MaxEnvBytes = 1024
	// DefaultMaxChannelsPerConn bounds session channels open at once on one
	// connection (OpenSSH's MaxSessions default is 10 too).
	DefaultMaxChannelsPerConn = 10
	// maxChannelRequests bounds the requests of one session channel other
	// than window changes (which coalesce): past it the channel is closed.
	maxChannelRequests = 256
	// Global requests (keepalive@openssh.com and friends) are answered false;
	// a connection that sends more than globalBurst of them faster than
	// globalPerSec is closed. A client keepalive every few seconds passes.
	globalBurst  = 32
	globalPerSec = 2.0
	// DefaultWriteTimeout closes a connection whose client has not accepted
	// output for this long (its SSH window stays shut): a client that never
	// reads must not hold a session, or anything it holds, open.
	DefaultWriteTimeout = 30 * time.Second
)

// connState is what the server tracks per connection, kept in the
// connection's context from ConnCallback on.
type connState struct {
	mu       sync.Mutex
	channels int
	tokens   float64
	at       time.Time
}

type connStateKey struct{}

func stateOf(ctx ssh.Context) *connState {
	st, _ := ctx.Value(connStateKey{}).(*connState)
	return st
}

// closeConn ends the whole connection ctx belongs to.
func closeConn(ctx ssh.Context) {
	if c, ok := ctx.Value(ssh.ContextKeyConn).(gossh.Conn); ok {
		_ = c.Close()
	}
}

// takeChannel reserves one of the connection's channel slots; release gives
// it back. False when the connection already has max channels open.
func (st *connState) takeChannel(max int) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.channels >= max {
		return false
	}
	st.channels++
	return true
}

func (st *connState) releaseChannel() {
	st.mu.Lock()
	st.channels--
	st.mu.Unlock()
}

// allowGlobal is a token bucket per connection for global requests.
func (st *connState) allowGlobal(now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.at.IsZero() {
		st.tokens, st.at = globalBurst, now
	}
	st.tokens = min(globalBurst, st.tokens+now.Sub(st.at).Seconds()*globalPerSec)
	st.at = now
	if st.tokens < 1 {
		return false
	}
	st.tokens--
	return true
}

// globalRequest answers every global request false (keydesk forwards
// nothing) and closes a connection that floods them.
func (s *Server) globalRequest(ctx ssh.Context, _ *ssh.Server, req *gossh.Request) (bool, []byte) {
	if st := stateOf(ctx); st != nil && !st.allowGlobal(time.Now()) {
		s.log.Warn("global request flood; connection closed", "remote", hostOf(ctx.RemoteAddr()), "type", truncateType(req.Type))
		closeConn(ctx)
	}
	return false, nil
}

func truncateType(t string) string {
	if len(t) > 40 {
		return t[:40]
	}
	return t
}

// envAllowed reports whether an env request fits the caps, counting it.
func envAllowed(payload []byte, count *int) bool {
	var kv struct{ Key, Value string }
	if err := gossh.Unmarshal(payload, &kv); err != nil {
		return false
	}
	if *count >= MaxEnvVars || len(kv.Key)+len(kv.Value) > MaxEnvBytes || kv.Key == "" {
		return false
	}
	*count++
	return true
}

// errWriteTimeout is what a write returns once the client stopped reading.
var errWriteTimeout = errors.New("ssh: the client accepted no output for too long; connection closed")

// deadlineWriter bounds every write to an SSH channel: x/crypto blocks a
// write until the client opens its window, forever if it never does. Past
// the timeout the connection is closed, which fails the blocked write.
type deadlineWriter struct {
	w       io.Writer
	timeout time.Duration
	expire  func()
}

func (d deadlineWriter) Write(p []byte) (int, error) {
	t := time.AfterFunc(d.timeout, d.expire)
	n, err := d.w.Write(p)
	if !t.Stop() {
		return n, errWriteTimeout
	}
	return n, err
}

// sessionIO is the session's input and output with deadlines on output.
type sessionIO struct {
	ssh.Session
	out, errOut io.Writer
}

func (s sessionIO) Write(p []byte) (int, error) { return s.out.Write(p) }
func (s sessionIO) Stderr() io.ReadWriter       { return stderrRW{s.Session.Stderr(), s.errOut} }

type stderrRW struct {
	io.Reader
	w io.Writer
}

func (s stderrRW) Write(p []byte) (int, error) { return s.w.Write(p) }

// withDeadlines wraps a session so every write to it, stdout or stderr,
// gives up (and closes the connection) after the server's write timeout.
func (s *Server) withDeadlines(sess ssh.Session) sessionIO {
	ctx := sess.Context()
	expire := func() {
		s.log.Warn("client stopped reading; connection closed", "remote", hostOf(sess.RemoteAddr()), "after", s.opts.WriteTimeout)
		closeConn(ctx)
	}
	return sessionIO{
		Session: sess,
		out:     deadlineWriter{w: sess, timeout: s.opts.WriteTimeout, expire: expire},
		errOut:  deadlineWriter{w: sess.Stderr(), timeout: s.opts.WriteTimeout, expire: expire},
	}
}

// keyAcceptable refuses what must never log in even if registered: SSH
// certificates, DSA and short RSA keys (models.CheckKeyStrength says why).
func keyAcceptable(key gossh.PublicKey) error { return models.CheckKeyStrength(key) }

// Algorithms keydesk's SSH server offers. No NIST-curve key exchange, no
// SHA-1 anywhere (key exchange, MACs, or ssh-rsa signatures from clients),
// no truncated (-96) MACs, MACs only in encrypt-then-MAC mode. Every
// OpenSSH since 8.5 (2021) negotiates these.
var (
	kexAlgorithms = []string{
		gossh.KeyExchangeMLKEM768X25519,
		gossh.KeyExchangeCurve25519,
		gossh.KeyExchangeDH16SHA512,
	}
	cipherAlgorithms = []string{
		gossh.CipherChaCha20Poly1305,
		gossh.CipherAES256GCM,
		gossh.CipherAES128GCM,
		gossh.CipherAES256CTR,
		gossh.CipherAES192CTR,
		gossh.CipherAES128CTR,
	}
	macAlgorithms = []string{
		gossh.HMACSHA256ETM,
		gossh.HMACSHA512ETM,
	}
	// Client signature algorithms: rsa-sha2-* only, never ssh-rsa (SHA-1).
	pubKeyAuthAlgorithms = []string{
		gossh.KeyAlgoED25519,
		gossh.KeyAlgoSKED25519,
		gossh.KeyAlgoSKECDSA256,
		gossh.KeyAlgoECDSA256,
		gossh.KeyAlgoECDSA384,
		gossh.KeyAlgoECDSA521,
		gossh.KeyAlgoRSASHA256,
		gossh.KeyAlgoRSASHA512,
	}
)

// serverConfig is the x/crypto configuration connection ctx gets.
func (s *Server) serverConfig(ctx ssh.Context) *gossh.ServerConfig {
	cfg := &gossh.ServerConfig{
		MaxAuthTries:            s.opts.MaxAuthTries,
		PublicKeyAuthAlgorithms: pubKeyAuthAlgorithms,
	}
	cfg.KeyExchanges = kexAlgorithms
	cfg.Ciphers = cipherAlgorithms
	cfg.MACs = macAlgorithms
	s.addRefusalExplainer(ctx, cfg) // refusal.go
	return cfg
}
