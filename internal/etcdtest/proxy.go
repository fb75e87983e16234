package etcdtest

import (
	"net"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of one address (an etcd
// member's client or peer listener), for the faults a real network has:
//
//   - a black hole (Blackhole): bytes held both ways, connections kept open,
//     as a partition looks to both ends until a timeout; held bytes flow
//     again when it closes, so a healed partition delivers late requests;
//   - a delay on every chunk (Delay), a reset of every open connection (Reset);
//   - a connection cut right after (CutAfterNext) or instead of (DropNext)
//     forwarding a request, which leaves the client not knowing whether it
//     landed;
//   - per-sender cuts (Sniff, Block): each connection is tagged with a header
//     of the first HTTP request on it that has one (etcd peers send
//     X-Server-From on every raft request, and a connection carries one
//     sender's requests), and a blocked tag's connections are closed and new
//     ones held.
//     One such proxy in front of each member's peer listener can cut one
//     directed link between two members, so one member can be isolated from
//     the others without network namespaces (Cluster.Isolate).
type Proxy struct {
	l      net.Listener
	target string

	mu      sync.Mutex
	sniff   string // header whose value tags a connection ("": none)
	cond    *sync.Cond
	hole    bool
	delay   time.Duration
	blocked map[string]bool
	cut     int // 1: cut after forwarding the next client chunk; 2: drop it and cut
	conns   map[net.Conn]*link
	closed  bool
	Dropped int // client chunks dropped by DropNext
}

// link is one proxied connection's state, shared by its two directions.
type link struct {
	tag  string
	mute atomic.Bool // drop the target's replies (after CutAfterNext)
}

// StartProxy listens on 127.0.0.1:0 and forwards every connection to target
// ("127.0.0.1:port" or a member's URL). Close stops it.
func StartProxy(target string) (*Proxy, error) {
	target = strings.TrimPrefix(target, "http://")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{l: l, target: target, conns: map[net.Conn]*link{}, blocked: map[string]bool{}}
	p.cond = sync.NewCond(&p.mu)
	go p.accept()
	return p, nil
}

// NewProxy is StartProxy for a test: it fails t on error and is closed when
// t ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := StartProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// URL is the proxy's client URL.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Blackhole holds all traffic, both ways, while on. New connections are
// accepted but nothing passes.
func (p *Proxy) Blackhole(on bool) {
	p.mu.Lock()
	p.hole = on
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Delay holds every chunk for d before forwarding it (0: none).
func (p *Proxy) Delay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// Sniff tags every connection with the value of header in the first HTTP
// request on it that has the header (read before the request is forwarded).
// Call it before any connection is made.
func (p *Proxy) Sniff(header string) {
	p.mu.Lock()
	p.sniff = textproto.CanonicalMIMEHeaderKey(header)
	p.mu.Unlock()
}

// Block cuts (or heals) the connections tagged tag: open ones are closed,
// new ones are held as in a black hole until the tag is unblocked.
func (p *Proxy) Block(tag string, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.blocked[tag] = true
		for c, l := range p.conns {
			if l.tag == tag {
				c.Close()
				delete(p.conns, c)
			}
		}
	} else {
		delete(p.blocked, tag)
	}
	p.cond.Broadcast()
}

// minRequestChunk is the size below which a client chunk is not taken for a
// request by CutAfterNext and DropNext.
const minRequestChunk = 64

// CutAfterNext forwards the next request-sized chunk the client sends, then
// closes the client's connection (the member still gets the request and
// answers into the void): the client cannot tell whether it landed.
func (p *Proxy) CutAfterNext() { p.setCut(1) }

// DropNext discards the next request-sized chunk the client sends and closes
// the client's connection: the request never arrives, but the client cannot
// tell.
func (p *Proxy) DropNext() { p.setCut(2) }

func (p *Proxy) setCut(n int) {
	p.mu.Lock()
	p.cut = n
	p.mu.Unlock()
}

// Reset closes every open connection through the proxy (a connection reset
// or a crashed middlebox); new connections are accepted as before.
func (p *Proxy) Reset() {
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]*link{}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Close stops the proxy and every connection through it.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.Reset()
	p.l.Close()
}

func (p *Proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

// serve proxies one connection: it dials the target and pipes both ways.
func (p *Proxy) serve(c net.Conn) {
	u, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		c.Close() // the target is down: the client sees a refused-then-closed connection
		return
	}
	l := &link{}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	p.conns[c], p.conns[u] = l, l
	p.mu.Unlock()
	go p.pipe(c, u, true, l)
	go p.pipe(u, c, false, l)
}

// headerValue finds "header: value" in a chunk of an HTTP/1 request.
func headerValue(chunk []byte, header string) string {
	for _, line := range strings.Split(string(chunk), "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k)) == header {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// pipe copies from → to, chunk by chunk, honouring the hole, blocked tags,
// the delay and cuts. Either side closing (or a Reset) closes both.
func (p *Proxy) pipe(from, to net.Conn, fromClient bool, l *link) {
	late := false // close the target's side a little later (CutAfterNext)
	defer func() {
		from.Close()
		if late {
			time.AfterFunc(500*time.Millisecond, func() { to.Close(); p.forget(to) })
		} else {
			to.Close()
			p.forget(to)
		}
		p.forget(from)
	}()
	buf := make([]byte, 32*1024)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			p.mu.Lock()
			if fromClient && l.tag == "" && p.sniff != "" {
				// Until a request names its sender the connection is
				// untagged (a keep-alive connection may carry a probe
				// first); every request after that is from the same one.
				l.tag = headerValue(buf[:n], p.sniff)
			}
			for (p.hole || p.blocked[l.tag] && l.tag != "") && !p.closed && p.conns[from] != nil {
				p.cond.Wait()
			}
			live := !p.closed && p.conns[from] != nil
			cut := 0
			// Small chunks are HTTP/2 housekeeping (window updates, pings,
			// acks), not requests: let them through unharmed.
			if fromClient && n >= minRequestChunk {
				cut, p.cut = p.cut, 0
				if cut == 2 {
					p.Dropped++
				}
			}
			d := p.delay
			p.mu.Unlock()
			if !live || cut == 2 {
				return // dropped: the client's connection closes below
			}
			if d > 0 {
				time.Sleep(d) // the pipe's own latency; order within a direction is kept
			}
			if !fromClient && l.mute.Load() {
				continue // the reply is lost
			}
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
			if cut == 1 {
				// The request may span several chunks (headers, data): keep
				// forwarding the client's bytes for a moment with replies
				// muted, then close the client's side, and the target's a
				// little later so the request is not cancelled.
				l.mute.Store(true)
				client := from
				time.AfterFunc(50*time.Millisecond, func() { client.Close() })
				late = true
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) forget(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}
