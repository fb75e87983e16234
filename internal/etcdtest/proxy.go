package etcdtest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of one member, for faults a
// real network has: a black hole (bytes held, connections kept), and a
// connection cut right after (or instead of) forwarding a request, which
// leaves the client not knowing whether the request landed.
type Proxy struct {
	l      net.Listener
	target string

	mu      sync.Mutex
	cond    *sync.Cond
	hole    bool
	cut     int // 1: cut after forwarding the next client chunk; 2: drop it and cut
	conns   map[net.Conn]bool
	closed  bool
	Dropped int // client chunks dropped by DropNext
}

// NewProxy listens on 127.0.0.1:0 and forwards to target ("127.0.0.1:port"
// or a member's client URL); it is closed when t ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	if len(target) > 7 && target[:7] == "http://" {
		target = target[7:]
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{l: l, target: target, conns: map[net.Conn]bool{}}
	p.cond = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// URL is the proxy's client URL.
func (p *Proxy) URL() string { return "http://" + p.l.Addr().String() }

// Blackhole holds all traffic (both ways) while on; connections stay open.
func (p *Proxy) Blackhole(on bool) {
	p.mu.Lock()
	p.hole = on
	p.cond.Broadcast()
	p.mu.Unlock()
}

// minRequestChunk is the size below which a client chunk is not taken for a
// request by CutAfterNext and DropNext.
const minRequestChunk = 64

// CutAfterNext forwards the next request-sized chunk the client sends, then closes the
// client's connection (the member still gets the request and answers into
// the void): the client cannot tell whether it landed.
func (p *Proxy) CutAfterNext() { p.setCut(1) }

// DropNext discards the next request-sized chunk the client sends and closes the client's
// connection: the request never arrives, but the client cannot tell.
func (p *Proxy) DropNext() { p.setCut(2) }

func (p *Proxy) setCut(n int) {
	p.mu.Lock()
	p.cut = n
	p.mu.Unlock()
}

// Close stops the proxy and every connection through it.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	p.l.Close()
}

func (p *Proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			u.Close()
			return
		}
		p.conns[c], p.conns[u] = true, true
		p.mu.Unlock()
		l := &link{}
		go p.pipe(c, u, true, l)
		go p.pipe(u, c, false, l)
	}
}

func (p *Proxy) forget(cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		delete(p.conns, c)
	}
	p.mu.Unlock()
}

// link is one proxied connection's state shared by its two directions.
type link struct{ mute atomic.Bool } // drop the member's replies

func (p *Proxy) pipe(from, to net.Conn, fromClient bool, l *link) {
	late := false // close the member's side a little later
	defer func() {
		from.Close()
		if late {
			time.AfterFunc(500*time.Millisecond, func() { to.Close(); p.forget(to) })
		} else {
			to.Close()
		}
		p.forget(from)
	}()
	buf := make([]byte, 32*1024)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.hole && !p.closed {
				p.cond.Wait()
			}
			cut := 0
			// Small chunks are HTTP/2 housekeeping (window updates, pings,
			// acks), not requests: let them through unharmed.
			if fromClient && n >= minRequestChunk {
				cut, p.cut = p.cut, 0
				if cut == 2 {
					p.Dropped++
				}
			}
			closed := p.closed
			p.mu.Unlock()
			if closed {
				return
			}
			if cut == 2 {
				return // dropped: the client's connection closes below
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
				// muted, then close the client's side, and the member's a
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
