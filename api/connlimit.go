package api

import (
	"net"

	"github.com/keydesk/keydesk/internal/connlimit"
)

// DefaultMaxConnsPerAddr is how many HTTP connections one client address may
// hold open at once unless Options.MaxConnsPerAddr says otherwise. Far above
// what a client's connection pool opens (Go's keeps 2 idle per host), far
// below the process's file descriptors: without a cap, one address holding
// ~20,000 idle keep-alive connections (each stays up for IdleTimeout) used
// every descriptor, and the SSH server could accept no one ("too many open
// files").
const DefaultMaxConnsPerAddr = 128

// Listener wraps ln so that one client address holds at most
// Options.MaxConnsPerAddr connections at once, and all clients together at
// most Options.MaxConns. A connection over a cap is closed at accept, before
// any TLS handshake or request parsing. Addresses are grouped as the failure
// limiter groups them (an IPv6 /64 is one client); connections from a trusted
// proxy are not held to one client's cap, since they carry many clients, but
// count toward the total. Serve the returned listener (http.Server.Serve or
// ServeTLS).
func (srv *Server) Listener(ln net.Listener) net.Listener {
	perAddr, total := srv.opts.MaxConnsPerAddr, max(srv.opts.MaxConns, 0)
	if perAddr < 0 && total == 0 {
		return ln
	}
	key := func(a net.Addr) (string, bool) {
		host, _, err := net.SplitHostPort(a.String())
		if err != nil {
			host = a.String()
		}
		return limitKey(host), perAddr > 0 && !srv.trusted(host)
	}
	refused := func(key string, first bool) {
		srv.metrics.connsRefused.Inc()
		switch {
		case !first:
		case key == "":
			srv.log.Warn("too many HTTP connections in all; refusing more until some close", "limit", total)
		default:
			srv.log.Warn("too many HTTP connections from one address; refusing more until some close", "remote", key, "limit", perAddr)
		}
	}
	return connlimit.New(ln, perAddr, total, key, refused)
}
