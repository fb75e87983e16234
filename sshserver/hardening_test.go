package sshserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/ssh"
	"github.com/charmbracelet/wish"
	gossh "golang.org/x/crypto/ssh"
)

// sendEarlyResizes does what tmux and tiling window managers do: pty-req,
// then two window changes, then shell, without waiting in between.
func sendEarlyResizes(t *testing.T, c *gossh.Client) (*gossh.Session, *screen, chan error) {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	scr := &screen{}
	sess.Stdout, sess.Stderr = scr, scr
	if err := sess.RequestPty("xterm", 24, 80, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	for _, w := range [][2]uint32{{100, 30}, {120, 40}} {
		if _, err := sess.SendRequest("window-change", false, windowChange(w[0], w[1])); err != nil {
			t.Fatal(err)
		}
	}
	shell := make(chan error, 1)
	go func() { shell <- sess.Shell() }()
	return sess, scr, shell
}

// TestEarlyWindowChangeBlocksPlainWish reproduces the bug in the pinned
// charmbracelet/ssh: on a bare wish server the shell request is never
// answered once two window changes came first.
func TestEarlyWindowChangeBlocksPlainWish(t *testing.T) {
	addr := startBareHello(t)
	c, err := dial(t, addr, gossh.PublicKeys(newKey(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _, shell := sendEarlyResizes(t, c)
	select {
	case err := <-shell:
		t.Skipf("the pinned charmbracelet/ssh no longer blocks (shell answered: %v); keydesk's guard stays harmless", err)
	case <-time.After(time.Second):
		// Still waiting after a second on loopback: the session is wedged.
	}
}

func TestEarlyWindowChangeDoesNotBlockKeydesk(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	c := mustDial(t, r.addr, o.userKey)
	_, scr, shell := sendEarlyResizes(t, c)
	select {
	case err := <-shell:
		if err != nil {
			t.Fatalf("shell: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shell request never answered: the session is wedged")
	}
	scr.waitFor(t, "Uma Userton", 3*time.Second)
	// The last early size won: the rule under the tab row is 120 wide.
	scr.waitFor(t, strings.Repeat("─", 120), 3*time.Second)
}

func TestExtremeWindowSizesDoNotPanic(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	c := mustDial(t, r.addr, o.userKey)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	scr := &screen{}
	sess.Stdout, sess.Stderr = scr, scr
	if err := sess.RequestPty("xterm", 0, 0, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	for _, w := range [][2]uint32{{1<<32 - 1, 1<<32 - 1}, {0, 0}, {1, 1}, {1 << 31, 3}, {80, 24}} {
		if _, err := sess.SendRequest("window-change", false, windowChange(w[0], w[1])); err != nil {
			t.Fatal(err)
		}
	}
	// After the storm the console is alive and draws at 80×24.
	scr.waitFor(t, "Uma Userton", 5*time.Second)
	scr.waitFor(t, strings.Repeat("─", 80), 5*time.Second)
	// And it still answers commands on a new session.
	if _, errOut, code := run(t, c, "whoami"); code != 0 {
		t.Fatalf("server unhealthy after extreme sizes: %d %q", code, errOut)
	}
}

func TestClampWindow(t *testing.T) {
	for _, tc := range []struct{ in, want ssh.Window }{
		{ssh.Window{Width: 0, Height: -5}, ssh.Window{Width: 1, Height: 1}},
		{ssh.Window{Width: 1 << 40, Height: 1001}, ssh.Window{Width: 1000, Height: 1000}},
		{ssh.Window{Width: 80, Height: 24}, ssh.Window{Width: 80, Height: 24}},
	} {
		if got := clampWindow(tc.in); got.Width != tc.want.Width || got.Height != tc.want.Height {
			t.Errorf("clampWindow(%+v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// TestIdlePreAuthConnectionClosed: a TCP connection that never speaks SSH is
// closed within the handshake deadline, not the ten-minute idle timeout.
func TestIdlePreAuthConnectionClosed(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{HandshakeTimeout: 300 * time.Millisecond})
	conn := rawTCP(t, r.addr)
	began := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, conn) // the server's banner, then EOF
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("idle pre-auth connection still open after 5s")
		}
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("closed after %v, want about 300ms", d)
	}
}

func TestPerIPConnectionLimitAtAccept(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{MaxConnsPerIP: 2})
	a, b := rawTCP(t, r.addr), rawTCP(t, r.addr)
	// Both held connections got the server's banner.
	for _, c := range []net.Conn{a, b} {
		buf := make([]byte, 8)
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "SSH-2.0-" {
			t.Fatalf("held connection: %q %v", buf, err)
		}
	}
	// The third is closed at accept, before any banner.
	third := rawTCP(t, r.addr)
	_ = third.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := third.Read(make([]byte, 8))
	if n != 0 || err == nil {
		t.Fatalf("third connection from the same address was served (%d bytes, %v)", n, err)
	}
	// Closing one frees its slot.
	a.Close()
	if !eventually(3*time.Second, func() bool {
		c, err := dial(t, r.addr, gossh.PublicKeys(o.userKey))
		if err != nil {
			return false
		}
		c.Close()
		return true
	}) {
		t.Fatal("slot never freed after a connection closed")
	}
}

func TestSessionRateLimit(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{SessionsPerMin: 1}) // burst of 10
	c := mustDial(t, r.addr, o.userKey)
	var refused string
	for i := 0; i < 12 && refused == ""; i++ {
		if _, errOut, code := run(t, c, "whoami"); code != 0 {
			refused = errOut
		}
	}
	if !strings.Contains(refused, "too many sessions") {
		t.Fatalf("12 sessions at 1/min with a burst of 10 were all served (last stderr %q)", refused)
	}
}

// TestRevokeShowsInHoldersConsole: two real SSH clients. The holder has a
// console open; the owner revokes the holder's token with a command; the
// holder's console shows it revoked within a second, without a key press.
func TestRevokeShowsInHoldersConsole(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	holder := mustDial(t, r.addr, o.userKey)
	out, errOut, code := run(t, holder, "token create --name deploy --json")
	if code != 0 {
		t.Fatalf("token create: %d %q", code, errOut)
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ID == "" {
		t.Fatalf("token create --json: %v %q", err, out)
	}
	_, scr := openConsole(t, holder, 120, 40)
	scr.waitFor(t, "deploy", 3*time.Second)
	if strings.Contains(scr.Text(), "revoked") {
		t.Fatal("token shown revoked before the revoke")
	}

	owner := mustDial(t, r.addr, o.ownerKey)
	if _, errOut, code := run(t, owner, "token revoke "+created.ID); code != 0 {
		t.Fatalf("owner revoke: %d %q", code, errOut)
	}
	scr.waitFor(t, "revoked", time.Second)
}

func TestShutdownSaysGoodbye(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	c := mustDial(t, r.addr, o.userKey)
	sess, scr := openConsole(t, c, 100, 30)
	scr.waitFor(t, "Uma Userton", 3*time.Second)
	ended := make(chan error, 1)
	go func() { ended <- sess.Wait() }()

	r.stop(t)
	scr.waitFor(t, Goodbye, 3*time.Second)
	select {
	case <-ended:
	case <-time.After(3 * time.Second):
		t.Fatal("console session still open after shutdown")
	}
	if _, err := dial(t, r.addr, gossh.PublicKeys(o.userKey)); err == nil {
		t.Fatal("server accepted a connection after shutdown")
	}
}

// TestShutdownDuringLogins: clients logging in while the server shuts down.
// A connection whose handshake finishes after Shutdown began is tracked by
// charmbracelet/ssh with a WaitGroup Add from zero; if Shutdown had started
// a Wait on that group (ssh.Server.Shutdown does), that Add races it: the
// race detector fails the test (CI once saw it after a test's last login),
// and without it sync.WaitGroup may panic. Shutdown must stop accepting
// without such a Wait and still return, and Serve must return nil.
func TestShutdownDuringLogins(t *testing.T) {
	o := newOrg(t)
	for round := 0; round < 5; round++ {
		r := start(t, o.s, Options{})
		var logins atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					c, err := dial(t, r.addr, gossh.PublicKeys(o.userKey))
					if err != nil {
						return // the listener is closed: the server is down
					}
					logins.Add(1)
					_ = c.Close()
				}
			}()
		}
		if !eventually(10*time.Second, func() bool { return logins.Load() >= 8 }) {
			t.Fatalf("round %d: only %d logins in 10 s", round, logins.Load())
		}
		r.stop(t) // fails the test if Shutdown or Serve returned an error
		wg.Wait()
	}
}

// TestPanicEndsOnlyThatSession: the recover middleware turns a panic into
// an error line for that session; the server keeps serving.
func TestPanicEndsOnlyThatSession(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	h := r.srv.recoverMiddleware(func(ssh.Session) { panic("boom") })
	c := mustDial(t, r.addr, o.userKey)
	r.srv.ssh.Handler = h // only for sessions opened from here on
	_, errOut, code := run(t, c, "whoami")
	if code != 1 || !strings.Contains(errOut, "internal error") {
		t.Fatalf("panicking session: %d %q", code, errOut)
	}
}

// hello is the bare Bubble Tea program the benchmarks compare against.
type hello struct{}

func (hello) Init() tea.Cmd                       { return nil }
func (hello) Update(tea.Msg) (tea.Model, tea.Cmd) { return hello{}, nil }
func (hello) View() string                        { return "hello" }

// startBareHello runs a bare wish + Bubble Tea "hello" server that accepts
// any key: the baseline for the first-frame benchmark and the window-change
// reproduction. Its middleware is what wish/bubbletea.Middleware does for a
// model that never calls MakeRenderer (inlined: that package pulls in
// charmbracelet/x/input, which go.mod does not carry).
func startBareHello(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := wish.NewServer(
		wish.WithHostKeyPEM(mustHostKey(t)),
		wish.WithPublicKeyAuth(func(ssh.Context, ssh.PublicKey) bool { return true }),
		wish.WithMiddleware(func(next ssh.Handler) ssh.Handler {
			return func(sess ssh.Session) {
				_, winch, ok := sess.Pty()
				if !ok {
					next(sess)
					return
				}
				p := tea.NewProgram(hello{}, tea.WithInput(sess), tea.WithOutput(sess), tea.WithAltScreen())
				ctx, cancel := context.WithCancel(sess.Context())
				go func() {
					for {
						select {
						case <-ctx.Done():
							p.Quit()
							return
						case w := <-winch:
							p.Send(tea.WindowSizeMsg{Width: w.Width, Height: w.Height})
						}
					}
				}()
				_, _ = p.Run()
				p.Kill()
				cancel()
				next(sess)
			}
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
	})
	return ln.Addr().String()
}

func mustHostKey(t testing.TB) []byte {
	t.Helper()
	b, err := LoadOrCreateHostKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConsoleKeysReachTheProgram: keys typed over SSH drive the console;
// q quits and the session ends with status 0.
func TestConsoleKeysReachTheProgram(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	c := mustDial(t, r.addr, o.userKey)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	scr := &screen{}
	sess.Stdout = scr
	in, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm", 30, 100, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	scr.waitFor(t, "q quit", 3*time.Second)
	if _, err := in.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("session ended with %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("q did not end the console")
	}
}

// TestIPv6ClientIsItsSlash64: the per-address connection cap and session
// rate count an IPv6 client by its /64, as the HTTP limits do; keyed by the
// whole address, one host holding a /64 could open a fresh slot from each of
// its addresses and the cap would hold nothing back.
func TestIPv6ClientIsItsSlash64(t *testing.T) {
	a := &net.TCPAddr{IP: net.ParseIP("2001:db8:0:7::1"), Port: 50000}
	b := &net.TCPAddr{IP: net.ParseIP("2001:db8:0:7:ffff::2"), Port: 50001}
	other := &net.TCPAddr{IP: net.ParseIP("2001:db8:0:8::1"), Port: 50000}
	if clientOf(a) != clientOf(b) {
		t.Fatalf("two addresses of one /64 are keyed %q and %q; want one client", clientOf(a), clientOf(b))
	}
	if clientOf(a) == clientOf(other) {
		t.Fatalf("two /64s share the key %q", clientOf(a))
	}
	v4 := &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 1}
	if clientOf(v4) != "192.0.2.1" {
		t.Fatalf("an IPv4 client is keyed %q", clientOf(v4))
	}
}

// TestTotalConnectionLimitAtAccept: however many addresses a flood comes
// from, the server holds at most MaxConns connections, so it cannot take
// the file descriptors the HTTP server and the store need; a closed one
// frees its slot for anyone.
func TestTotalConnectionLimitAtAccept(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{MaxConnsPerIP: 2, MaxConns: 3})
	from := func(ip string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 3 * time.Second}
		c, err := d.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	banner := func(c net.Conn) bool {
		buf := make([]byte, 8)
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err := io.ReadFull(c, buf)
		return err == nil && string(buf) == "SSH-2.0-"
	}
	// Three addresses on loopback, each under its own cap of 2.
	a, b, c := from("127.0.0.1"), from("127.0.0.1"), from("127.0.0.2")
	for _, held := range []net.Conn{a, b, c} {
		if !banner(held) {
			t.Fatal("a connection within the caps was not served")
		}
	}
	if banner(from("127.0.0.3")) {
		t.Fatal("a 4th connection, from a fresh address, was served past MaxConns 3")
	}
	a.Close()
	if !eventually(3*time.Second, func() bool { return banner(from("127.0.0.3")) }) {
		t.Fatal("the total's slot was never freed after a connection closed")
	}
}
