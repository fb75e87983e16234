// Package connlimit caps how many connections one client holds open at once,
// checked at accept: a refused connection costs a close, never a TLS or SSH
// handshake. The SSH server and the HTTP server both sit behind one, since a
// single client holding thousands of idle connections would otherwise use up
// the file descriptors of the whole process.
package connlimit

import (
	"net"
	"net/netip"
	"sync"
)

// Client names the party an address belongs to, for every per-client limit:
// an IPv4 address itself, an IPv6 address its /64 (the block one customer
// usually holds, so one party cannot take a fresh slot with each of its 2^64
// addresses). An IPv4-mapped IPv6 address is its IPv4 address; a host that
// is not an IP address is its own key.
func Client(host string) string {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}

// Listener accepts from the listener it wraps and closes at once every
// connection whose key already holds Max open ones.
type Listener struct {
	net.Listener
	max int
	// key names who a connection's remote address belongs to; counted false
	// lets the connection through uncounted (a trusted proxy carries many
	// clients).
	key func(net.Addr) (key string, counted bool)
	// refused is told of each refused connection; first is true for the
	// first refusal since key last had a free slot, so a flood is logged once.
	refused func(key string, first bool)

	mu   sync.Mutex
	open map[string]int
	full map[string]bool
}

// New wraps ln. key and refused are as Listener's fields say; refused may be nil.
func New(ln net.Listener, max int, key func(net.Addr) (string, bool), refused func(key string, first bool)) *Listener {
	return &Listener{Listener: ln, max: max, key: key, refused: refused,
		open: map[string]int{}, full: map[string]bool{}}
}

// Accept returns the next connection within its key's cap.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, counted := l.key(c.RemoteAddr())
		if !counted {
			return c, nil
		}
		if first, ok := l.take(key); !ok {
			_ = c.Close()
			if l.refused != nil {
				l.refused(key, first)
			}
			continue
		}
		return &conn{Conn: c, release: func() { l.release(key) }}, nil
	}
}

// take reserves a slot for key. When there is none, first says whether this
// is the first refusal since key last had one.
func (l *Listener) take(key string) (first, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key] >= l.max {
		first = !l.full[key]
		l.full[key] = true
		return first, false
	}
	l.open[key]++
	return false, true
}

func (l *Listener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.full, key)
	if l.open[key] <= 1 {
		delete(l.open, key)
		return
	}
	l.open[key]--
}

// conn gives its slot back exactly once, however often it is closed (net/http
// and x/crypto close a connection from more than one place).
type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite passes a half-close through: net/http uses it to flush an answer
// before closing a connection whose request body it did not read.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
