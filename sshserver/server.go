// Package sshserver serves keydesk over SSH with wish: the console for a PTY
// session, the cobra command tree for a session with a command. Each person
// is identified by the public key their session authenticated with; what they
// may do is decided by the store, never here.
package sshserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/charmbracelet/log"
	"github.com/charmbracelet/ssh"
	"github.com/charmbracelet/wish"
	"github.com/keydesk/keydesk/internal/connlimit"
	"github.com/keydesk/keydesk/store"
	gossh "golang.org/x/crypto/ssh"
)

// Defaults for Options fields left zero. They are on unless a caller turns
// them up: an SSH port on the internet is probed within minutes.
const (
	DefaultAddr             = ":23234"
	DefaultIdleTimeout      = 10 * time.Minute
	DefaultMaxTimeout       = 12 * time.Hour
	DefaultHandshakeTimeout = 20 * time.Second
	DefaultMaxAuthTries     = 6
	DefaultMaxConnsPerIP    = 32
	DefaultSessionsPerMin   = 120
	DefaultShutdownTimeout  = 10 * time.Second
	// HostKeyName is the host key's file name inside the store's secrets dir.
	HostKeyName = "ssh_host_ed25519"
	// Goodbye is what an open console sees when the server stops.
	Goodbye = "keydesk is shutting down; bye"
)

// Options configure a Server. Zero values take the defaults above.
type Options struct {
	Addr  string
	Store *store.Store // required
	// IdleTimeout closes a connection with no traffic for this long.
	IdleTimeout time.Duration
	// MaxTimeout closes every connection this long after it was opened;
	// negative disables it.
	MaxTimeout time.Duration
	// HandshakeTimeout closes a connection that has not authenticated in time,
	// so idle TCP connections cannot hold slots open.
	HandshakeTimeout time.Duration
	// MaxAuthTries bounds authentication attempts per connection.
	MaxAuthTries int
	// MaxConnsPerIP bounds concurrent connections from one address, checked at
	// accept, before any cryptography runs.
	MaxConnsPerIP int
	// MaxConns bounds concurrent connections from everyone together (default:
	// 40% of the process's open-file limit, so that a flood from many
	// addresses cannot take the descriptors HTTP and the store need).
	MaxConns int
	// SessionsPerMin bounds how many sessions one address may open per minute
	// (burst of a tenth of it, at least 10).
	SessionsPerMin int
	// MaxChannelsPerConn bounds session channels open at once on one
	// connection.
	MaxChannelsPerConn int
	// WriteTimeout closes a connection whose client accepts no output for
	// this long.
	WriteTimeout time.Duration
	Logger       *log.Logger
	Version      string
}

// Server is a keydesk SSH server.
type Server struct {
	opts    Options
	store   *store.Store
	ssh     *ssh.Server
	log     *log.Logger
	hostKey gossh.PublicKey
	refused *refusalLimiter
	rate    *sessionLimiter

	mu       sync.Mutex
	closing  bool
	active   int           // sessions running
	drained  chan struct{} // closed when active reaches 0 during shutdown
	consoles map[*console]struct{}
	windows  map[ssh.Context]*windowBox // per session channel, see window.go
	ln       net.Listener
	keys     keyWatch // sessions by person, see keywatch.go
}

// New builds a server. It fails rather than serve without public-key
// authentication: charmbracelet/ssh lets everyone in when no auth handler is set.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("sshserver: a store is required")
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxTimeout == 0 {
		opts.MaxTimeout = DefaultMaxTimeout
	}
	if opts.MaxTimeout < 0 {
		opts.MaxTimeout = 0
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if opts.MaxAuthTries <= 0 {
		opts.MaxAuthTries = DefaultMaxAuthTries
	}
	if opts.MaxConnsPerIP <= 0 {
		opts.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = connlimit.FileShare(0.4)
	}
	if opts.SessionsPerMin <= 0 {
		opts.SessionsPerMin = DefaultSessionsPerMin
	}
	if opts.MaxChannelsPerConn <= 0 {
		opts.MaxChannelsPerConn = DefaultMaxChannelsPerConn
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.Logger == nil {
		opts.Logger = log.Default()
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	pemBytes, err := loadHostKey(opts.Store.ServerKey)
	if err != nil {
		return nil, err
	}
	signer, err := gossh.ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("sshserver: read host key: %w", err)
	}
	s := &Server{
		opts:     opts,
		store:    opts.Store,
		log:      opts.Logger.WithPrefix("ssh"),
		hostKey:  signer.PublicKey(),
		refused:  newRefusalLimiter(time.Minute, 60),
		rate:     newSessionLimiter(opts.SessionsPerMin),
		consoles: map[*console]struct{}{},
		windows:  map[ssh.Context]*windowBox{},
	}
	srv, err := wish.NewServer(
		wish.WithAddress(opts.Addr),
		wish.WithVersion("keydesk_"+opts.Version),
		wish.WithHostKeyPEM(pemBytes),
		wish.WithPublicKeyAuth(s.publicKeyHandler),
		wish.WithIdleTimeout(opts.IdleTimeout),
		wish.WithMaxTimeout(opts.MaxTimeout),
		func(srv *ssh.Server) error {
			srv.ServerConfigCallback = s.serverConfig
			srv.ConnCallback = s.connCallback
			// Global requests: none is served; floods close the connection.
			srv.RequestHandlers = map[string]ssh.RequestHandler{"default": s.globalRequest}
			// Today's scp speaks SFTP: say what keydesk is instead of
			// "subsystem request failed". No other subsystem exists.
			srv.SubsystemHandlers = map[string]ssh.SubsystemHandler{"sftp": func(sess ssh.Session) { deny(sess, noSCP) }}
			// Every session channel goes through our request filter first:
			// see window.go for the bug it works around.
			srv.ChannelHandlers = map[string]ssh.ChannelHandler{"session": s.sessionChannelHandler}
			return nil
		},
		// Composed first to last: the last listed runs first.
		wish.WithMiddleware(
			// who is this? from the key the session authenticated with; then
			// the console or the command, as that user
			s.identityMiddleware(s.dispatch),
			s.limitMiddleware,   // sessions per address per minute; refuse while closing
			s.loggingMiddleware, // one line per session, no secrets
			s.recoverMiddleware, // a panic ends one session, never the server
			s.trackMiddleware,   // count sessions so Shutdown knows when they are done
		),
	)
	if err != nil {
		return nil, fmt.Errorf("sshserver: %w", err)
	}
	if err := checkAuthConfig(srv); err != nil {
		return nil, err
	}
	s.ssh = srv
	return s, nil
}

// checkAuthConfig refuses a server that would authenticate anything other
// than registered public keys. charmbracelet/ssh sets NoClientAuth when no
// handler exists, which would let every client in as nobody.
func checkAuthConfig(srv *ssh.Server) error {
	switch {
	case srv.PublicKeyHandler == nil:
		return errors.New("sshserver: refusing to start without a public-key handler (the server would accept everyone)")
	case srv.PasswordHandler != nil:
		return errors.New("sshserver: refusing to start with password authentication")
	case srv.KeyboardInteractiveHandler != nil:
		return errors.New("sshserver: refusing to start with keyboard-interactive authentication")
	}
	return nil
}

// HostKey is the server's public host key, e.g. for known_hosts.
func (s *Server) HostKey() gossh.PublicKey { return s.hostKey }

// Listen binds the configured address and wraps the listener with the
// per-address connection limit. Serve must be called next.
func (s *Server) Listen() (net.Addr, error) {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.opts.Addr, err)
	}
	s.mu.Lock()
	s.ln = newLimitListener(ln, s.opts.MaxConnsPerIP, s.opts.MaxConns, s.log)
	s.mu.Unlock()
	return ln.Addr(), nil
}

// Serve accepts connections until Shutdown; it returns nil after a shutdown.
func (s *Server) Serve() error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		if _, err := s.Listen(); err != nil {
			return err
		}
		s.mu.Lock()
		ln = s.ln
		s.mu.Unlock()
	}
	// Sessions whose key stops logging in are closed (keywatch.go) for as
	// long as this serves.
	events, unwatch := s.store.Subscribe()
	go s.watchKeys(events)
	defer unwatch()
	s.log.Info("listening", "addr", ln.Addr().String(), "host_key", gossh.FingerprintSHA256(s.hostKey))
	err := s.ssh.Serve(ln)
	if errors.Is(err, ssh.ErrServerClosed) || s.isClosing() && errors.Is(err, net.ErrClosed) {
		return nil // Shutdown closed the listener
	}
	return err
}

// Shutdown stops accepting connections, says goodbye to every open console,
// lets running commands finish until ctx is done, then closes every
// connection, including ones a client keeps open with no session in them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	consoles := make([]*console, 0, len(s.consoles))
	for c := range s.consoles {
		consoles = append(consoles, c)
	}
	var drained chan struct{}
	if s.active > 0 {
		drained = make(chan struct{})
		s.drained = drained
	}
	ln := s.ln
	s.mu.Unlock()

	// Stop accepting by closing the listener here (Serve then returns nil),
	// not with charmbracelet/ssh's Shutdown: that starts a goroutine waiting
	// on the WaitGroup of its connections, and a connection whose handshake
	// finishes after that Wait adds to the group from zero, which races the
	// Wait (the race detector fails tests on it; sync.WaitGroup may panic).
	if ln != nil {
		_ = ln.Close()
	}

	for _, c := range consoles {
		c.stop()
	}
	var err error
	if drained != nil {
		select {
		case <-drained:
		case <-ctx.Done():
			s.log.Warn("shutdown deadline reached; closing sessions still running")
			err = nil
		}
	}
	if cerr := s.ssh.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	return err
}

// sessionStarted and sessionEnded count running sessions so Shutdown knows
// when the last one has ended.
func (s *Server) sessionStarted() {
	s.mu.Lock()
	s.active++
	s.mu.Unlock()
}

func (s *Server) sessionEnded() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	if s.active == 0 && s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// via names the door for the audit log: "ssh" and the client's address.
func via(addr net.Addr) string {
	return "ssh " + hostOf(addr)
}

func hostOf(addr net.Addr) string {
	if addr == nil {
		return "unknown"
	}
	if host, _, err := net.SplitHostPort(addr.String()); err == nil {
		return host
	}
	return addr.String()
}

// ActiveSessions is how many sessions are running now, for metrics.
func (s *Server) ActiveSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}
