package sshserver

import (
	"context"
	"fmt"
	"strings"
	"sync"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/ssh"
	"github.com/keydesk/keydesk/cli"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/tui"
	"github.com/lucasb-eyer/go-colorful"
	"github.com/muesli/termenv"
	gossh "golang.org/x/crypto/ssh"
)

// noSCP is the answer to scp and sftp.
const noSCP = "keydesk does not support scp or sftp; use `ssh HOST backup > FILE` for a copy of the database"

// dispatch runs what the session asked for as the resolved user: a command
// if one was given, otherwise the console (which needs a PTY).
func (s *Server) dispatch(raw ssh.Session, u models.User) {
	sess := s.withDeadlines(raw)
	args, err := splitCommand(sess.RawCommand())
	if err != nil {
		fmt.Fprintln(sess.Stderr(), "keydesk: "+err.Error())
		_ = sess.Exit(2) // a usage mistake, like cobra's
		return
	}
	if len(args) > 0 && args[0] == "scp" {
		// Legacy scp (-O) runs "scp -t|-f PATH" and then speaks its own
		// protocol on stdin; without this line it would get cobra's
		// unknown-command text, which scp shows as a protocol error.
		deny(sess, noSCP)
		return
	}
	if len(args) > 0 || sess.RawCommand() != "" {
		s.runCommand(sess, u, args)
		return
	}
	pty, _, ok := sess.Pty()
	if !ok {
		deny(sess, "keydesk: the console needs a terminal; use ssh -t, or give a command such as `token list`")
		return
	}
	s.runConsole(sess, u, pty)
}

// runCommand runs the same cobra tree as the local CLI, as u, on the
// server's store. Commands that must not run remotely (serve, init, demo,
// --data, --as) do not exist in remote mode; cli decides that. args is the
// session's command line split by splitCommand, never by sess.Command(),
// which drops quoted empty arguments.
func (s *Server) runCommand(sess ssh.Session, u models.User, args []string) {
	env := sessionEnv(sess.Environ())
	_, _, isPty := sess.Pty()
	code := cli.Run(args, cli.Env{
		Stdin:  sess,
		Stdout: sess,
		Stderr: sess.Stderr(),
		Getenv: env.Getenv, // the client's environment, never the server's
		Session: &cli.Session{
			Store:  s.store,
			UserID: u.ID,
			Via:    via(sess.RemoteAddr()),
			Key:    sessionKey(sess),
			Addr:   sess.LocalAddr().String(),
			Pty:    isPty,
		},
		Interactive: isPty,
	})
	_ = sess.Exit(code)
}

// console is one running console program, known to Shutdown and to the key
// watch.
type console struct {
	program *tea.Program
	once    sync.Once
	stopped chan struct{} // closed by stop or revoke
	bye     string        // what runConsole prints once the program ended
	fp      string        // the session's key
}

// stop asks the program to quit; runConsole then prints the goodbye line.
func (c *console) stop() { c.end(Goodbye) }

// revoke asks the program to quit because the session's key no longer logs
// in (keywatch.go); runConsole then says so.
func (c *console) revoke() { c.end(keyGoneMessage(c.fp)) }

func (c *console) end(bye string) {
	c.once.Do(func() {
		c.bye = bye
		close(c.stopped)
		c.program.Quit()
	})
}

func (s *Server) runConsole(sess ssh.Session, u models.User, pty ssh.Pty) {
	// Key notices go on the terminal before the console takes the screen and
	// again once it gives it back, where they stay readable.
	if k := sess.PublicKey(); k != nil {
		if notes := s.keyNotices(u, gossh.FingerprintSHA256(k), cli.SSHProg(sess.LocalAddr().String())); notes != "" {
			fmt.Fprint(sess, notes)
			defer fmt.Fprint(sess, notes)
		}
	}
	r := newRenderer(sess, pty)
	// The console reads NO_COLOR and COLORFGBG from the client's environment,
	// and its change subscription ends with the session.
	model := tui.New(tui.Options{Backend: s.store, UserID: u.ID, Via: via(sess.RemoteAddr()), Key: sessionKey(sess), Renderer: r,
		Environ: append(sess.Environ(), "TERM="+pty.Term), Context: sess.Context()})
	// The quit keys end the model's store subscription; a dropped connection
	// or a shutdown does not press them.
	defer tui.Close(model)
	ctx, cancel := context.WithCancel(sess.Context())
	defer cancel()
	first := clampWindow(pty.Window)
	// The console is drawn by display, not Bubble Tea's renderer (see
	// render.go): frames go out the moment they exist, and an idle console
	// costs no ticker, no wake-ups and no garbage. The mouse mode that
	// WithMouseCellMotion would set is display's too; the option still tells
	// the program it may see mouse input.
	scr := newDisplay(sess)
	p := tea.NewProgram(&drawn{Model: model, scr: scr},
		tea.WithInput(sess),
		tea.WithOutput(sess),
		tea.WithContext(ctx),
		tea.WithEnvironment(sess.Environ()),
		tea.WithoutRenderer(),
		tea.WithMouseCellMotion(),
		tea.WithoutSignalHandler(),
	)
	c := &console{program: p, stopped: make(chan struct{})}
	if k := sess.PublicKey(); k != nil {
		c.fp = gossh.FingerprintSHA256(k)
	}
	if w := s.keys.session(sess.Context()); w != nil && !w.attachConsole(c) {
		deny(sess, keyGoneMessage(c.fp))
		return
	}

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		deny(sess, "keydesk: "+Goodbye)
		return
	}
	s.consoles[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.consoles, c)
		s.mu.Unlock()
	}()

	// Sizes: the pty-req's first, then every change, clamped. The program's
	// Send blocks until its loop runs, so this lives in its own goroutine,
	// which ends with the session.
	box := s.windowsOf(sess)
	go func() {
		p.Send(tea.WindowSizeMsg{Width: first.Width, Height: first.Height})
		if box == nil {
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case w := <-box.C():
				p.Send(tea.WindowSizeMsg{Width: w.Width, Height: w.Height})
			}
		}
	}()

	if err := scr.start(); err != nil {
		return // the session is gone
	}
	_, err := p.Run()
	scr.stop()
	if err != nil && ctx.Err() == nil {
		s.log.Error("console ended with an error", "remote", hostOf(sess.RemoteAddr()), "err", err)
	}
	select {
	case <-c.stopped:
		fmt.Fprint(sess, c.bye+"\r\n")
		if c.bye != Goodbye {
			_ = sess.Exit(1)
			closeConn(sess.Context())
			return
		}
	default:
	}
	_ = sess.Exit(0)
}

// newRenderer builds the session's lipgloss renderer without asking the
// terminal anything. wish's bubbletea.MakeRenderer queries the background
// colour and waits up to two seconds for a reply some clients never send;
// here the colour profile comes from the PTY's TERM and the client's
// COLORTERM, and the background is dark unless COLORFGBG says otherwise.
func newRenderer(sess ssh.Session, pty ssh.Pty) *lipgloss.Renderer {
	env := sessionEnv(append(sess.Environ(), "TERM="+pty.Term))
	r := lipgloss.NewRenderer(sess, termenv.WithEnvironment(env), termenv.WithProfile(profileFor(env)))
	// Setting both explicitly means lipgloss never queries the terminal.
	r.SetColorProfile(profileFor(env))
	r.SetHasDarkBackground(darkBackground(env))
	return r
}

// profileFor reads the colour depth from the environment alone.
func profileFor(env sessionEnv) termenv.Profile {
	term := env.Getenv("TERM")
	if term == "" || term == "dumb" || env.Getenv("NO_COLOR") != "" {
		return termenv.Ascii
	}
	// WithTTY makes termenv trust the environment instead of checking
	// whether the writer is a terminal (an SSH channel never is).
	return termenv.NewOutput(nil, termenv.WithEnvironment(env), termenv.WithTTY(true)).EnvColorProfile()
}

// darkBackground guesses from COLORFGBG ("15;0": light text on black), which
// several terminals export; without it, dark, the common case for SSH users.
func darkBackground(env sessionEnv) bool {
	v := env.Getenv("COLORFGBG")
	if v == "" {
		return true
	}
	parts := strings.Split(v, ";")
	bg := parts[len(parts)-1]
	switch bg {
	case "7", "15":
		return false
	case "":
		return true
	}
	if c, err := colorful.Hex(bg); err == nil {
		_, _, l := c.Hsl()
		return l < 0.5
	}
	return true
}

// sessionEnv is the client's environment as sent with "env" requests.
type sessionEnv []string

func (e sessionEnv) Environ() []string { return e }

// Getenv returns the last value set for k, as a shell would.
func (e sessionEnv) Getenv(k string) string {
	for i := len(e) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(e[i], k+"="); ok {
			return v
		}
	}
	return ""
}

// sessionKey is the fingerprint of the key sess logged in with, which the
// store checks on every transaction of the session (store.Actor.Key).
func sessionKey(sess ssh.Session) string {
	if k := sess.PublicKey(); k != nil {
		return gossh.FingerprintSHA256(k)
	}
	return ""
}
