package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/log"
	"github.com/charmbracelet/ssh"
	"github.com/charmbracelet/wish"
	"github.com/keydesk/keydesk/sshserver"
	gossh "golang.org/x/crypto/ssh"
)

// helloText is what the bare server's only frame says; the client stops its
// clock when it arrives.
const helloText = "Hello from a bare wish + Bubble Tea server"

// consoleMarkers are what keydesk's first full frame holds: the owner's
// loaded profile (not a "Loading…" placeholder) down to the help bar on the
// last line. The active tab's title ("My Profile") is styled letter by
// letter, so it is not matched in the raw output.
var consoleMarkers = []string{ownerEmail, "API Refresh Token", "quit"}

// helloModel is the smallest Bubble Tea program: one frame, quit on q.
type helloModel struct{}

func (helloModel) Init() tea.Cmd { return nil }
func (m helloModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyMsg); ok && (k.String() == "q" || k.String() == "ctrl+c") {
		return m, tea.Quit
	}
	return m, nil
}
func (helloModel) View() string { return helloText + "\n\npress q to quit\n" }

// newHelloServer is the baseline for SSH: wish with public-key auth that
// accepts any key and one middleware running helloModel in the alt screen
// over the session. It is what wish's bubbletea.Middleware does for a PTY
// session (program over the channel, window changes forwarded), written out
// because that package pulls in a module keydesk does not otherwise need.
func newHelloServer(addr string) (*ssh.Server, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, err
	}
	return wish.NewServer(
		wish.WithAddress(addr),
		wish.WithHostKeyPEM(pem.EncodeToMemory(block)),
		wish.WithPublicKeyAuth(func(ssh.Context, ssh.PublicKey) bool { return true }),
		wish.WithMiddleware(helloMiddleware),
	)
}

func helloMiddleware(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		_, windows, ok := sess.Pty()
		if !ok {
			wish.Fatalln(sess, "no active terminal")
			return
		}
		ctx, cancel := context.WithCancel(sess.Context())
		defer cancel()
		p := tea.NewProgram(helloModel{}, tea.WithInput(sess), tea.WithOutput(sess), tea.WithContext(ctx),
			tea.WithAltScreen(), tea.WithoutSignalHandler())
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case w := <-windows:
					p.Send(tea.WindowSizeMsg{Width: w.Width, Height: w.Height})
				}
			}
		}()
		_, _ = p.Run()
		next(sess)
	}
}

// markerWriter collects a session's output and closes found once every
// marker has appeared in it.
type markerWriter struct {
	want  [][]byte
	mu    sync.Mutex
	buf   bytes.Buffer
	found chan struct{}
	done  bool
}

func newMarkerWriter(want ...string) *markerWriter {
	w := &markerWriter{found: make(chan struct{})}
	for _, s := range want {
		w.want = append(w.want, []byte(s))
	}
	return w
}

func (w *markerWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return len(p), nil // an idle console's later frames are not kept
	}
	w.buf.Write(p)
	for _, m := range w.want {
		if !bytes.Contains(w.buf.Bytes(), m) {
			return len(p), nil
		}
	}
	w.done = true
	w.buf = bytes.Buffer{}
	close(w.found)
	return len(p), nil
}

func (w *markerWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.buf.Bytes()
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return fmt.Sprintf("%q", b)
}

// consoleConn is one SSH connection with a PTY session showing a console.
type consoleConn struct {
	client *gossh.Client
	sess   *gossh.Session
	out    *switchWriter
	in     io.WriteCloser // keys typed into the console
}

// setOutput sends the session's further output to w.
func (c *consoleConn) setOutput(w io.Writer) { c.out.set(w) }

// switchWriter lets the session's output go somewhere new after the
// session started (x/crypto/ssh fixes Stdout at Shell).
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	w := s.w
	s.mu.Unlock()
	return w.Write(p)
}

func (c *consoleConn) close() {
	if c.sess != nil {
		_ = c.sess.Close()
	}
	_ = c.client.Close()
}

// openConsole does what `ssh -t host` does — TCP connect from localIP (nil:
// any), key exchange, public-key auth, a session with an 80×24 xterm PTY and
// a shell — and returns once the output holds every marker, with the time
// all of that took.
func openConsole(addr string, localIP net.IP, key gossh.Signer, timeout time.Duration, markers ...string) (*consoleConn, time.Duration, error) {
	start := time.Now()
	d := net.Dialer{Timeout: timeout}
	if localIP != nil {
		d.LocalAddr = &net.TCPAddr{IP: localIP}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, 0, err
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	cc, chans, reqs, err := gossh.NewClientConn(conn, addr, &gossh.ClientConfig{
		User:            "bench",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(key)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
	})
	if err != nil {
		conn.Close()
		return nil, 0, err
	}
	_ = conn.SetDeadline(time.Time{})
	c := &consoleConn{client: gossh.NewClient(cc, chans, reqs)}
	if c.sess, err = c.client.NewSession(); err != nil {
		c.close()
		return nil, 0, err
	}
	w := newMarkerWriter(markers...)
	c.out = &switchWriter{w: w}
	c.sess.Stdout, c.sess.Stderr = c.out, io.Discard
	if c.in, err = c.sess.StdinPipe(); err != nil {
		c.close()
		return nil, 0, err
	}
	if err := c.sess.RequestPty("xterm-256color", 24, 80, gossh.TerminalModes{}); err != nil {
		c.close()
		return nil, 0, err
	}
	if err := c.sess.Shell(); err != nil {
		c.close()
		return nil, 0, err
	}
	select {
	case <-w.found:
		return c, time.Since(start), nil
	case <-time.After(timeout):
		c.close()
		return nil, 0, fmt.Errorf("no first frame within %v; got %s", timeout, w.tail())
	}
}

// benchSSH times connect → first full frame against keydesk's SSH server
// and the bare hello server, both in this process on 127.0.0.1:0, measured
// by the same x/crypto/ssh client with a PTY, alternating so drift in the
// machine's load hits both alike.
func benchSSH(cfg *config, rep *report) error {
	o, err := newOrg()
	if err != nil {
		return err
	}
	defer o.close()
	// The per-address limits are raised: every sample comes from
	// 127.0.0.1, faster than any person would connect.
	kd, err := sshserver.New(sshserver.Options{Addr: "127.0.0.1:0", Store: o.s, Logger: log.NewWithOptions(io.Discard, log.Options{}),
		MaxConnsPerIP: 10_000, SessionsPerMin: 1_000_000})
	if err != nil {
		return err
	}
	kdAddr, err := kd.Listen()
	if err != nil {
		return err
	}
	go func() { _ = kd.Serve() }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = kd.Shutdown(ctx)
	}()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hello, err := newHelloServer(ln.Addr().String())
	if err != nil {
		ln.Close()
		return err
	}
	go func() { _ = hello.Serve(ln) }()
	defer hello.Close()

	// Samples alternate (keydesk, hello, keydesk, …); every perRound pairs
	// make a round whose ratio is its keydesk median ÷ its hello median.
	const perRound = 5
	var (
		kdLat, helloLat latencies
		rs              rounds
	)
	for i := range cfg.sshRounds + 2 {
		c, d, err := openConsole(kdAddr.String(), nil, o.key, 10*time.Second, consoleMarkers...)
		if err != nil {
			return fmt.Errorf("keydesk console: %w", err)
		}
		c.close()
		h, hd, err := openConsole(ln.Addr().String(), nil, o.key, 10*time.Second, helloText)
		if err != nil {
			return fmt.Errorf("hello console: %w", err)
		}
		h.close()
		if i < 2 { // the first rounds warm code paths and caches
			continue
		}
		kdLat, helloLat = append(kdLat, d), append(helloLat, hd)
		if len(kdLat)%perRound == 0 {
			k, h := kdLat[len(kdLat)-perRound:].sorted(), helloLat[len(helloLat)-perRound:].sorted()
			rs = append(rs, ratio(float64(k.pct(0.5)), float64(h.pct(0.5))))
		}
	}
	kdLat, helloLat = kdLat.sorted(), helloLat.sorted()
	rep.addRounds("SSH connect → first full console frame (median)",
		fmtDur(kdLat.pct(0.5)), fmtDur(helloLat.pct(0.5))+" bare wish + Bubble Tea hello", rs,
		"≤ 1.0×", func(r float64) bool { return r <= 1.0 })
	rep.note("SSH first frame: %d samples each, alternating keydesk and hello, in rounds of %d pairs; keydesk's frame counts once it shows the owner's loaded profile and the help bar (%q); p90 keydesk %s, hello %s.",
		len(kdLat), perRound, consoleMarkers, fmtDur(kdLat.pct(0.9)), fmtDur(helloLat.pct(0.9)))
	return nil
}
