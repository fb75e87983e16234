package sshserver

import (
	"encoding/binary"
	"fmt"

	"github.com/charmbracelet/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// Window sizes outside these bounds are clamped: a client may claim a
// 4-billion-column terminal, and a console that allocates per column would
// fall over. 1000 is far beyond any real screen.
const (
	minWindow = 1
	maxWindow = 1000
)

func clampWindow(w ssh.Window) ssh.Window {
	w.Width = clamp(w.Width)
	w.Height = clamp(w.Height)
	return w
}

func clamp(n int) int {
	if n < minWindow {
		return minWindow
	}
	if n > maxWindow {
		return maxWindow
	}
	return n
}

// The charmbracelet/ssh session pinned by wish v1.4.7 puts the pty-req's size
// into a one-slot channel and then, for every window-change request, blocks
// its request loop on a send into that same channel. Nothing reads the
// channel until the session handler runs, and the handler only runs once the
// request loop has seen "shell" or "exec". So a client that resizes between
// pty-req and shell (tmux, a tiling window manager, a scripted client) wedges
// the session forever: the loop waits on the channel, the shell request waits
// on the loop. The same code also writes the session's Pty().Window without a
// lock while handlers read it: a data race on every resize.
//
// keydesk therefore never lets a window-change request reach that loop.
// sessionChannelHandler filters each session channel's requests: window
// changes are answered here and land in the channel's own coalescing mailbox
// (windowBox); everything else passes through in order. The loop only ever
// sees the pty-req's size, which fits its one slot.
//
// The mailbox reaches the session's handler through the session's context:
// each channel runs with its own channelContext (the connection's context
// under a new identity), and the server keeps a map from that identity to the
// mailbox for as long as the channel lives.

// channelContext is the connection's ssh.Context with an identity of its own
// per session channel.
type channelContext struct{ ssh.Context }

// sessionChannelHandler runs charmbracelet/ssh's session handler with window
// changes diverted into a mailbox.
func (s *Server) sessionChannelHandler(srv *ssh.Server, conn *gossh.ServerConn, newChan gossh.NewChannel, ctx ssh.Context) {
	if st := stateOf(ctx); st != nil {
		if !st.takeChannel(s.opts.MaxChannelsPerConn) {
			_ = newChan.Reject(gossh.ResourceShortage, fmt.Sprintf("keydesk allows %d sessions per connection", s.opts.MaxChannelsPerConn))
			return
		}
		defer st.releaseChannel()
	}
	chCtx := &channelContext{Context: ctx}
	box := newWindowBox()
	s.mu.Lock()
	s.windows[chCtx] = box
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.windows, chCtx)
		s.mu.Unlock()
	}()
	// Returns when the channel's requests end, i.e. the channel is closed.
	ssh.DefaultSessionHandler(srv, conn, filteredChannel{NewChannel: newChan, box: box}, chCtx)
}

type filteredChannel struct {
	gossh.NewChannel
	box *windowBox
}

func (c filteredChannel) Accept() (gossh.Channel, <-chan *gossh.Request, error) {
	ch, reqs, err := c.NewChannel.Accept()
	if err != nil {
		return ch, reqs, err
	}
	return ch, filterRequests(ch, reqs, c.box), nil
}

// filterRequests passes requests through in order, except window changes,
// which it answers itself and posts to box. It never blocks on a resize.
// It also enforces the request caps (guard.go): env requests past the
// count or size limits are refused, agent forwarding is refused (keydesk
// never uses an agent, and saying yes would make clients expose theirs),
// and a channel that sends more than maxChannelRequests other requests is
// closed.
func filterRequests(ch gossh.Channel, in <-chan *gossh.Request, box *windowBox) <-chan *gossh.Request {
	out := make(chan *gossh.Request)
	go func() {
		defer close(out)
		pty := false
		envs, n := 0, 0
		for req := range in {
			if req.Type != "window-change" {
				if n++; n > maxChannelRequests {
					_ = req.Reply(false, nil)
					_ = ch.Close()
					continue
				}
			}
			switch req.Type {
			case "env":
				if !envAllowed(req.Payload, &envs) {
					_ = req.Reply(false, nil)
					continue
				}
			case "auth-agent-req@openssh.com", "x11-req":
				_ = req.Reply(false, nil)
				continue
			case "pty-req":
				pty = true
			case "window-change":
				w, ok := parseWindowChange(req.Payload)
				ok = ok && pty
				if ok {
					box.put(w)
				}
				_ = req.Reply(ok, nil)
				continue
			}
			out <- req
		}
	}()
	return out
}

// parseWindowChange reads columns and rows from a window-change body
// (RFC 4254 §6.7); the pixel sizes are ignored.
func parseWindowChange(p []byte) (ssh.Window, bool) {
	if len(p) < 16 {
		return ssh.Window{}, false
	}
	cols := binary.BigEndian.Uint32(p[0:4])
	rows := binary.BigEndian.Uint32(p[4:8])
	return ssh.Window{Width: int(min(cols, 1<<20)), Height: int(min(rows, 1<<20))}, true
}

// windowBox holds the latest window size not yet consumed: a resize storm
// collapses to the size that matters, and the writer never waits.
type windowBox struct {
	ch chan ssh.Window
}

func newWindowBox() *windowBox { return &windowBox{ch: make(chan ssh.Window, 1)} }

// put replaces any unread size with w. Only the channel's filter calls it.
func (b *windowBox) put(w ssh.Window) {
	w = clampWindow(w)
	for {
		select {
		case b.ch <- w:
			return
		default:
		}
		select {
		case <-b.ch:
		default:
		}
	}
}

// C delivers window sizes, latest only.
func (b *windowBox) C() <-chan ssh.Window { return b.ch }

// windowsOf returns the mailbox of the channel sess runs on.
func (s *Server) windowsOf(sess ssh.Session) *windowBox {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.windows[sess.Context()]
}

// trackMiddleware counts running sessions for Shutdown. It is outermost so
// every session, however it ends, is counted out.
func (s *Server) trackMiddleware(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		s.sessionStarted()
		defer s.sessionEnded()
		next(sess)
	}
}
