// Package api is keydesk's HTTP token service (README.md, HTTP API): it exchanges refresh
// tokens for short-lived EdDSA access tokens in the shape clients of the
// original product already parse, speaks OAuth 2.0 (RFC 6749 refresh grant,
// RFC 7009 revocation, RFC 7662 introspection) with JWKS for offline
// verification, and serves role-restricted /v3 routes.
//
// Handlers decide nothing about permissions: every request is authenticated by
// verifying the access token and asking store.CheckAccess, in memory, whether
// the refresh token behind it is still active and with which role; what that
// credential may do is then asked of store.Scoped. A revoke or a demotion
// therefore applies to the very next request.
package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keydesk/keydesk/internal/connlimit"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// Options tune a Server. The zero value is what `keydesk serve` runs with.
type Options struct {
	// AccessTTL is the access tokens' lifetime (default 1h, `--access-ttl`).
	AccessTTL time.Duration
	// Issuer is the tokens' iss claim (default "keydesk").
	Issuer string
	// Registry receives the server's metrics. Nil gives the server a registry
	// of its own (with Go and process metrics); the global default registry is
	// never used implicitly, so many servers can live in one test binary.
	Registry prometheus.Registerer
	// Logger receives request and error logs; nil discards them. Secrets,
	// tokens and their hashes are never logged.
	Logger *log.Logger
	// MaxAuthFailures is how many authentication failures one address may
	// make per minute before its further failures get 429 (default 20;
	// negative disables). Valid credentials are never refused.
	MaxAuthFailures int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the
	// client (`serve --trusted-proxy CIDR`); none by default.
	TrustedProxies []netip.Prefix
	// NoMetricsRoute leaves GET /metrics off Handler, for a server whose
	// metrics are served on their own address (MetricsHandler).
	NoMetricsRoute bool
	// MaxConnsPerAddr bounds the connections one client address holds open
	// at once on a Listener (default DefaultMaxConnsPerAddr; negative
	// disables).
	MaxConnsPerAddr int
	// MaxConns bounds the connections all clients together hold open on a
	// Listener (default: 40% of the process's open-file limit, so that many
	// addresses at once cannot take the descriptors SSH and the store need;
	// negative disables).
	MaxConns int
}

// Server is the HTTP token service over one store.
type Server struct {
	store   *store.Store
	opts    Options
	log     *log.Logger
	keys    *signer
	limit   *failLimiter
	metrics *metrics
	handler http.Handler
	// observers holds each route's latency histogram; read-only once built.
	observers map[string]prometheus.Observer
}

// Request limits. Refresh tokens are 53 bytes and access tokens ~400, so these
// leave ample room for real clients and none for abuse.
const (
	maxBodyBytes   = 64 << 10
	maxHeaderBytes = 16 << 10
)

// New builds a server over s, loading (or creating on first use) the Ed25519
// signing key in s.SecretsDir().
func New(s *store.Store, opts Options) (*Server, error) {
	if s == nil {
		return nil, errors.New("api: no store")
	}
	if opts.AccessTTL <= 0 {
		opts.AccessTTL = time.Hour
	}
	if opts.Issuer == "" {
		opts.Issuer = "keydesk"
	}
	if opts.MaxAuthFailures == 0 {
		opts.MaxAuthFailures = 20
	}
	if opts.MaxConnsPerAddr == 0 {
		opts.MaxConnsPerAddr = DefaultMaxConnsPerAddr
	}
	if opts.MaxConns == 0 {
		opts.MaxConns = connlimit.FileShare(0.4)
	}
	logger := opts.Logger
	if logger == nil {
		logger = log.New(io.Discard)
	}
	keys, err := newSigner(s.ServerKey, opts.Issuer, opts.AccessTTL, s.Now)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registry, s.Health)
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	srv := &Server{store: s, opts: opts, log: logger, keys: keys, metrics: m}
	if opts.MaxAuthFailures > 0 {
		srv.limit = newFailLimiter(opts.MaxAuthFailures, time.Minute, s.Now)
	}
	srv.handler = srv.routes()
	return srv, nil
}

// MetricsHandler serves the Prometheus metrics, for `serve --metrics-addr`.
func (srv *Server) MetricsHandler() http.Handler { return srv.metrics.handler() }

// Handler returns the service's handler, with panic recovery, metrics, request
// logging and the body limit around every route.
func (srv *Server) Handler() http.Handler { return srv.handler }

// HTTPServer returns an *http.Server for addr with every limit set, so a slow
// or hostile client cannot hold connections or memory: header and body read
// timeouts, a write timeout, an idle timeout and a header size limit.
func (srv *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:    addr,
		Handler: srv.handler,
		// Each connection remembers the access token verified on it last
		// (lastVerified), found again through the request's context.
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, connTokenKey{}, &lastVerified{})
		},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          srv.log.StandardLog(log.StandardLogOptions{ForceLevel: log.WarnLevel}),
	}
}

func (srv *Server) routes() http.Handler {
	mux := http.NewServeMux()
	allowed := map[string][]string{} // path → methods, for 405 answers
	var patterns []string
	handle := func(method, path string, h http.HandlerFunc) {
		mux.HandleFunc(method+" "+path, h)
		patterns = append(patterns, method+" "+path)
		if !strings.Contains(path, "{") {
			allowed[path] = append(allowed[path], method)
		}
	}
	handle("GET", "/oauth/access-token", srv.handleAccessToken)
	handle("GET", "/v3/oauth/access-token", srv.handleAccessToken)
	handle("POST", "/oauth/token", srv.handleToken)
	handle("POST", "/oauth/revoke", srv.handleRevoke)
	handle("POST", "/oauth/introspect", srv.handleIntrospect)
	handle("GET", "/.well-known/jwks.json", srv.handleJWKS)
	handle("GET", "/v3/users/me", srv.authed(srv.handleMe))
	handle("GET", "/v3/users", srv.authed(srv.handleListUsers))
	handle("POST", "/v3/users", srv.authed(srv.handleAddUser))
	handle("GET", "/v3/tokens", srv.authed(srv.handleListTokens))
	handle("DELETE", "/v3/tokens/{id}", srv.authed(srv.handleRevokeToken))
	handle("GET", "/healthz", srv.handleHealth)
	if !srv.opts.NoMetricsRoute {
		mux.Handle("GET /metrics", srv.metrics.handler())
		allowed["/metrics"] = []string{"GET"}
	}
	patterns = append(patterns, "GET /metrics", "unmatched")
	// Resolve each route's histogram once, not per request.
	srv.observers = make(map[string]prometheus.Observer, len(patterns))
	for _, p := range patterns {
		srv.observers[p] = srv.metrics.duration.WithLabelValues(p)
	}
	// Everything else gets a JSON error in the house shape rather than
	// ServeMux's plain-text one: 405 with Allow for a known path, else 404.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if methods, ok := allowed[r.URL.Path]; ok {
			if slices.Contains(methods, "GET") {
				methods = append(methods, "HEAD")
			}
			w.Header().Set("Allow", strings.Join(methods, ", "))
			writeError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		if strings.HasPrefix(r.URL.Path, "/v3/tokens/") {
			w.Header().Set("Allow", "DELETE")
			writeError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		writeError(w, http.StatusNotFound, "no such endpoint")
	})
	return srv.wrap(mux)
}

// statusWriter remembers the status for metrics and logs.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap is the outermost layer. Order matters: metrics and the log see the
// final status, including the 500 that recovery writes for a panic.
func (srv *Server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		srv.metrics.inFlight.Inc()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				srv.log.Error("panic serving request", "route", r.Pattern, "panic", p)
				if sw.status == 0 {
					writeError(sw, http.StatusInternalServerError, "internal error; the server log has details")
				}
			}
			srv.metrics.inFlight.Dec()
			route := r.Pattern
			if route == "" || route == "/" {
				route = "unmatched"
			}
			d := time.Since(start)
			if obs, ok := srv.observers[route]; ok {
				obs.Observe(d.Seconds())
			}
			if srv.log.GetLevel() <= log.DebugLevel {
				// Only the pattern is logged: query strings and headers may hold secrets.
				srv.log.Debug("http", "route", route, "status", sw.status, "dur", d, "remote", srv.clientIP(r))
			}
		}()
		if r.Body != http.NoBody { // a GET's: nothing to limit, and one allocation fewer
			r.Body = http.MaxBytesReader(sw, r.Body, maxBodyBytes)
		}
		next.ServeHTTP(sw, r)
	})
}

// clientIP is the address the request came from, used as the "last used"
// source, in audit entries and as the rate-limit key. X-Forwarded-For is
// believed only from a peer inside Options.TrustedProxies, and then only up to
// the first address that is not itself a trusted proxy (reading from the
// right: the entries to its left were written by the client and prove
// nothing). Without trusted proxies, nobody's header counts.
func (srv *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(srv.opts.TrustedProxies) == 0 || !srv.trusted(host) {
		return host
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return host // a malformed hop: stop at the last address we know
			}
			host = a.Unmap().String()
			if !srv.trusted(host) {
				return host
			}
		}
	}
	return host
}

func (srv *Server) trusted(host string) bool {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range srv.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// via names the door for audit entries made on a request's behalf.
func (srv *Server) via(r *http.Request) string { return "http " + srv.clientIP(r) }

// authed wraps a handler that needs a caller: it authenticates first and
// passes the principal on explicitly, never through the request context.
func (srv *Server) authed(h func(http.ResponseWriter, *http.Request, store.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := srv.authenticate(w, r)
		if !ok {
			return
		}
		h(w, r, p)
	}
}

// authenticate resolves the Bearer access token to a principal: signature
// (EdDSA only), then store.CheckAccess for the refresh token and holder as they
// are now. The principal's role is the one CheckAccess returns, never the
// token's role claim, so a demotion applies on the next request. Every
// failure gets the same 401 and counts against the address.
//
// A request with no Authorization header at all, or one of another scheme
// (Basic), brings no token and gets its own 401 text saying what to send (a
// new user's missing or misspelt header). Anything sent as a Bearer token,
// empty, malformed or a refresh token in the wrong place included, is a bad
// token and gets the one answer (SPEC §6).
func (srv *Server) authenticate(w http.ResponseWriter, r *http.Request) (store.Principal, bool) {
	if h := r.Header.Get("Authorization"); !isBearer(h) {
		msg := missingBearerMessage
		if h != "" {
			msg = notBearerMessage
		}
		writeUnauthorizedMessage(w, msg)
		return store.Principal{}, false
	}
	p, err := srv.checkBearer(r)
	if err != nil {
		srv.authFailed(w, limitKey(srv.clientIP(r)), writeTooMany, writeUnauthorized)
		return store.Principal{}, false
	}
	return p, true
}

// checkBearer resolves the request's Bearer access token, if it has a valid one.
func (srv *Server) checkBearer(r *http.Request) (store.Principal, error) {
	raw, ok := bearer(r)
	if !ok {
		return store.Principal{}, models.ErrUnauthenticated
	}
	conn, _ := r.Context().Value(connTokenKey{}).(*lastVerified)
	c, err := srv.keys.verifyOn(conn, raw)
	if err != nil {
		return store.Principal{}, models.ErrUnauthenticated
	}
	return srv.store.CheckAccess(c.RTID, c.Subject)
}

// connTokenKey is the context key of a connection's lastVerified.
type connTokenKey struct{}

// splitBearer splits an Authorization header value: isBearer when it names
// the Bearer scheme, token what follows (empty for an empty $TOKEN).
func splitBearer(h string) (token string, isBearer bool) {
	const scheme = "bearer"
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) || len(h) > len(scheme) && h[len(scheme)] != ' ' {
		return "", false
	}
	return strings.TrimSpace(h[len(scheme):]), true
}

// isBearer reports whether h names the Bearer scheme, whatever follows.
func isBearer(h string) bool { _, ok := splitBearer(h); return ok }

// bearer returns the request's Bearer token, if it carries a non-empty one.
func bearer(r *http.Request) (string, bool) {
	tok, ok := splitBearer(r.Header.Get("Authorization"))
	return tok, ok && tok != ""
}

// authFailed answers a bad credential: 429 once the address has failed too
// often (the limiter is asked only after the credential failed, so a valid
// one is never refused), else one 401 body for every kind of bad credential,
// so a prober learns nothing about which tokens exist or were revoked.
func (srv *Server) authFailed(w http.ResponseWriter, key string, tooMany func(http.ResponseWriter, time.Duration), unauthorized func(http.ResponseWriter)) {
	srv.metrics.authFailures.Inc()
	if wait, blocked := srv.limit.blocked(key); blocked {
		tooMany(w, wait)
		return
	}
	srv.limit.fail(key)
	unauthorized(w)
}

// storeError maps a store error to its status. Store errors are already
// sanitized, user-facing sentences, so 4xx answers carry them as they are;
// anything unexpected is logged and answered with a generic 500.
func (srv *Server) storeError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, models.ErrUnauthenticated):
		writeUnauthorized(w)
		return
	case errors.Is(err, models.ErrPermission):
		status = http.StatusForbidden
	case errors.Is(err, models.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, models.ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, models.ErrConflict), errors.Is(err, models.ErrLimit),
		errors.Is(err, models.ErrTokenInactive), errors.Is(err, models.ErrAlreadyRevealed):
		status = http.StatusConflict
	}
	if status == http.StatusInternalServerError {
		srv.log.Error("store call failed", "route", r.Pattern, "err", err)
		writeError(w, status, "internal error; the server log has details")
		return
	}
	writeError(w, status, err.Error())
}
