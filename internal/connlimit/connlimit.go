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
// connection whose key already holds its share, or that would take the
// listener past its total.
type Listener struct {
	net.Listener
	max, total int
	// key names who a connection's remote address belongs to; counted false
	// lets the connection through uncounted by key (a trusted proxy carries
	// many clients); the total counts it all the same.
	key func(net.Addr) (key string, counted bool)
	// refused is told of each refused connection: key is "" when the total
	// was reached. first is true for the first refusal since key (or the
	// total) last had a free slot, so a flood is logged once.
	refused func(key string, first bool)

	mu        sync.Mutex
	open      map[string]int
	full      map[string]bool
	all       int
	totalFull bool
}

// New wraps ln: at most max connections per key, and at most total in all
// (0: no total). key and refused are as Listener's fields say; refused may
// be nil.
func New(ln net.Listener, max, total int, key func(net.Addr) (string, bool), refused func(key string, first bool)) *Listener {
	return &Listener{Listener: ln, max: max, total: total, key: key, refused: refused,
		open: map[string]int{}, full: map[string]bool{}}
}

// Accept returns the next connection within its key's cap and the total.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, counted := l.key(c.RemoteAddr())
		if !counted {
			key = ""
		}
		if refusedKey, first, ok := l.take(key); !ok {
			_ = c.Close()
			if l.refused != nil {
				l.refused(refusedKey, first)
			}
			continue
		}
		return &conn{Conn: c, release: func() { l.release(key) }}, nil
	}
}

// take reserves a slot for key ("": counted only in the total). When there
// is none, it says whose cap was reached ("" for the total) and whether this
// is the first refusal since that cap last had room.
func (l *Listener) take(key string) (refused string, first, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total > 0 && l.all >= l.total {
		first = !l.totalFull
		l.totalFull = true
		return "", first, false
	}
	if key != "" && l.open[key] >= l.max {
		first = !l.full[key]
		l.full[key] = true
		return key, first, false
	}
	l.all++
	if key != "" {
		l.open[key]++
	}
	return "", false, true
}

func (l *Listener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all--
	l.totalFull = false
	if key == "" {
		return
	}
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

// FileShare is the total a listener may hold so that it can never use more
// than its share (a fraction such as 0.4) of the process's open files: two
// doors flooded at once still leave descriptors for the store, the secrets
// and a backup. With the limit unknown it is 4096.
func FileShare(frac float64) int {
	n := openFileLimit()
	if n == 0 {
		return 4096
	}
	return max(int(float64(n)*frac), 16)
}
