package sshserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/syncbuf"

	"github.com/charmbracelet/log"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	gossh "golang.org/x/crypto/ssh"
)

// org is an organization on a real store in t.TempDir(): an owner and a user,
// each with their own SSH key.
type org struct {
	dir               string
	s                 *store.Store
	owner, user       models.User
	ownerKey, userKey gossh.Signer
}

func newKey(t testing.TB) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sg, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return sg
}

func authorized(k gossh.Signer) string {
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k.PublicKey())))
}

func newOrgIn(t testing.TB, dir string) *org {
	t.Helper()
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := &org{dir: dir, s: s, ownerKey: newKey(t), userKey: newKey(t)}
	o.owner, err = s.Init(store.NewUser{Name: "Olive Owner", Email: "olive@example.com", Role: models.RoleOwner, Keys: []string{authorized(o.ownerKey)}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	o.user, err = s.AddUser(store.Actor{UserID: o.owner.ID, Via: "test"}, store.NewUser{Name: "Uma Userton", Email: "uma@example.com", Role: models.RoleUser, Keys: []string{authorized(o.userKey)}})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func newOrg(t testing.TB) *org {
	t.Helper()
	o := newOrgIn(t, t.TempDir())
	t.Cleanup(func() { _ = o.s.Close() })
	return o
}

// running is a server listening on 127.0.0.1:0.
type running struct {
	srv  *Server
	addr string
	done chan error
}

func quietLogger() *log.Logger { return log.NewWithOptions(io.Discard, log.Options{}) }

func start(t testing.TB, s *store.Store, opts Options) *running {
	t.Helper()
	opts.Store = s
	opts.Addr = "127.0.0.1:0"
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	r := &running{srv: srv, addr: addr.String(), done: make(chan error, 1)}
	go func() { r.done <- srv.Serve() }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t testing.TB) {
	t.Helper()
	if r.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if err := <-r.done; err != nil {
		t.Errorf("serve: %v", err)
	}
	r.srv = nil
}

func dial(t testing.TB, addr string, auth ...gossh.AuthMethod) (*gossh.Client, error) {
	t.Helper()
	return gossh.Dial("tcp", addr, &gossh.ClientConfig{
		User:            "anyone",
		Auth:            auth,
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         5 * time.Second,
	})
}

func mustDial(t testing.TB, addr string, k gossh.Signer) *gossh.Client {
	t.Helper()
	c, err := dial(t, addr, gossh.PublicKeys(k))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// run executes one command over SSH and returns stdout, stderr and the exit status.
func run(t testing.TB, c *gossh.Client, cmd string) (string, string, int) {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var out, errb bytes.Buffer
	sess.Stdout, sess.Stderr = &out, &errb
	err = sess.Run(cmd)
	code := 0
	var ee *gossh.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitStatus()
	case err != nil:
		t.Fatalf("run %q: %v", cmd, err)
	}
	return out.String(), errb.String(), code
}

// screen collects a console's output for polling.
type screen struct{ syncbuf.Buffer }

var ansiSeq = regexp.MustCompile(`\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78])`)

// Text is what the screen shows with escape sequences removed.
func (s *screen) Text() string { return ansiSeq.ReplaceAllString(s.String(), "") }

// waitFor polls until the screen's text contains want or the deadline passes.
func (s *screen) waitFor(t testing.TB, want string, within time.Duration) {
	t.Helper()
	if !eventually(within, func() bool { return strings.Contains(s.Text(), want) }) {
		t.Fatalf("screen never showed %q within %v; got:\n%s", want, within, tail(s.Text(), 4000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// eventually polls cond every few milliseconds until it holds or within passes.
func eventually(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
}

// openConsole starts a PTY shell session and returns its screen.
func openConsole(t testing.TB, c *gossh.Client, cols, rows int) (*gossh.Session, *screen) {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	scr := &screen{}
	sess.Stdout = scr
	sess.Stderr = scr
	if err := sess.RequestPty("xterm-256color", rows, cols, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	return sess, scr
}

// windowChange is a window-change request body (RFC 4254 §6.7).
func windowChange(cols, rows uint32) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint32(b[0:], cols)
	binary.BigEndian.PutUint32(b[4:], rows)
	return b
}

// rawTCP opens a plain TCP connection that speaks no SSH.
func rawTCP(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
