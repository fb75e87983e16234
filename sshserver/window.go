package sshserver

import (
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
// on the loop.
//
// keydesk is immune by two parts:
//
//  1. sessionChannelHandler filters a session's requests before the
//     charmbracelet loop sees them. Window changes that arrive before the
//     session starts are answered here and coalesced into the latest one,
//     which is passed on just after the shell/exec request, when a handler
//     exists to read it.
//  2. windowMiddleware, the first code every session runs, drains the
//     session's window channel into a coalescing mailbox for as long as the
//     channel lives. The request loop therefore never blocks on a resize,
//     even when the session ends early (refused key, rate limit) or runs a
//     command that never looks at its size.

// sessionChannelHandler is charmbracelet/ssh's default session handler fed
// through requestFilter.
func sessionChannelHandler(srv *ssh.Server, conn *gossh.ServerConn, newChan gossh.NewChannel, ctx ssh.Context) {
	ssh.DefaultSessionHandler(srv, conn, filteredChannel{newChan}, ctx)
}

type filteredChannel struct{ gossh.NewChannel }

func (c filteredChannel) Accept() (gossh.Channel, <-chan *gossh.Request, error) {
	ch, reqs, err := c.NewChannel.Accept()
	if err != nil {
		return ch, reqs, err
	}
	return ch, filterRequests(reqs), nil
}

// filterRequests passes requests through in order, except window changes
// received before the session started: those are answered at once and only
// the latest is forwarded, right after the request that starts the session.
func filterRequests(in <-chan *gossh.Request) <-chan *gossh.Request {
	out := make(chan *gossh.Request)
	go func() {
		defer close(out)
		started := false
		var pending *gossh.Request
		for req := range in {
			switch {
			case req.Type == "window-change" && !started:
				if len(req.Payload) < 16 {
					_ = req.Reply(false, nil)
					continue
				}
				_ = req.Reply(true, nil)
				// A request without want-reply needs no channel to answer on,
				// so this copy is safe to hand to the session's loop later.
				pending = &gossh.Request{Type: req.Type, Payload: req.Payload}
				continue
			case req.Type == "shell" || req.Type == "exec" || req.Type == "subsystem":
				out <- req
				started = true
				if pending != nil {
					out <- pending
					pending = nil
				}
				continue
			}
			out <- req
		}
	}()
	return out
}

// windowBox holds the latest window size not yet consumed: a resize storm
// collapses to the size that matters, and a writer never waits.
type windowBox struct {
	ch chan ssh.Window
}

func newWindowBox() *windowBox { return &windowBox{ch: make(chan ssh.Window, 1)} }

// put replaces any unread size with w. Only the drain goroutine calls it.
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

// C delivers window sizes, latest first-come.
func (b *windowBox) C() <-chan ssh.Window { return b.ch }

// windowMiddleware starts draining the session's window channel before any
// other middleware may return. The drain ends when charmbracelet/ssh closes
// the channel, which it does when the session's requests end.
func (s *Server) windowMiddleware(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		_, winch, ok := sess.Pty()
		if !ok || winch == nil {
			next(sess)
			return
		}
		box := newWindowBox()
		go func() {
			for w := range winch {
				box.put(w)
			}
		}()
		s.mu.Lock()
		s.windows[sess] = box
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			delete(s.windows, sess)
			s.mu.Unlock()
		}()
		next(sess)
	}
}

// windowsOf returns the session's window mailbox, or nil without a PTY.
func (s *Server) windowsOf(sess ssh.Session) *windowBox {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.windows[sess]
}
