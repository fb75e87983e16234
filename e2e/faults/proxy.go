package faults

import (
	"net"
	"sync"
	"time"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of one address, for the faults a
// network has between a keydesk server and etcd (or between etcd members):
// a black hole (bytes held in both directions, connections kept open, as a
// partition looks to both ends until a timeout), a delay on every chunk, and
// a reset of every open connection. Held bytes flow again when the hole
// closes, so a healed partition also delivers late requests, as a real one
// does.
type Proxy struct {
	l      net.Listener
	target string

	mu     sync.Mutex
	cond   *sync.Cond
	hole   bool
	delay  time.Duration
	conns  map[net.Conn]bool
	closed bool
}

// NewProxy listens on 127.0.0.1:0 and forwards every connection to target
// ("host:port").
func NewProxy(target string) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{l: l, target: target, conns: map[net.Conn]bool{}}
	p.cond = sync.NewCond(&p.mu)
	go p.accept()
	return p, nil
}

// Addr is the proxy's "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.l.Addr().String() }

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

// Reset closes every open connection through the proxy (a connection reset
// or a crashed middlebox); new connections are accepted as before.
func (p *Proxy) Reset() {
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
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
		u, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			c.Close() // the target is down: the client sees a refused-then-closed connection
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
		go p.pipe(c, u)
		go p.pipe(u, c)
	}
}

// pipe copies from → to, chunk by chunk, honouring the hole and the delay.
// Either side closing (or a Reset) closes both.
func (p *Proxy) pipe(from, to net.Conn) {
	defer func() {
		from.Close()
		to.Close()
		p.mu.Lock()
		delete(p.conns, from)
		delete(p.conns, to)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32*1024)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.hole && !p.closed && p.conns[from] {
				p.cond.Wait()
			}
			live := !p.closed && p.conns[from]
			d := p.delay
			p.mu.Unlock()
			if !live {
				return
			}
			if d > 0 {
				time.Sleep(d) // the pipe's own latency; order within a direction is kept
			}
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
