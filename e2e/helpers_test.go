package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/log"
	"github.com/keydesk/keydesk/api"
	"github.com/keydesk/keydesk/internal/doortest"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/sshserver"
	"github.com/keydesk/keydesk/store"
	gossh "golang.org/x/crypto/ssh"
)

func newSigner(t testing.TB) gossh.Signer { return doortest.NewSigner(t) }

func authorizedKey(s gossh.Signer) string { return doortest.AuthorizedKey(s) }

func dialer() *net.Dialer { return doortest.Dialer() }

// sshResult is one command run over SSH. code is -1 when the connection or
// session failed before the command reported an exit status.
type sshResult struct {
	stdout, stderr string
	code           int
	err            error
}

func (r sshResult) String() string {
	return fmt.Sprintf("exit %d err %v stdout %q stderr %q", r.code, r.err, trunc(r.stdout), trunc(r.stderr))
}

func trunc(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// sshRun runs one command over a fresh SSH connection with a real
// golang.org/x/crypto/ssh client, as the user holding key.
func sshRun(addr string, key gossh.Signer, command string, stdin io.Reader) sshResult {
	conn, err := dialer().Dial("tcp", addr)
	if err != nil {
		return sshResult{code: -1, err: err}
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	defer conn.Close()
	cc, chans, reqs, err := gossh.NewClientConn(conn, addr, &gossh.ClientConfig{
		User:            "keydesk",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(key)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         5 * time.Second,
	})
	if err != nil {
		return sshResult{code: -1, err: err}
	}
	client := gossh.NewClient(cc, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return sshResult{code: -1, err: err}
	}
	defer sess.Close()
	var out, errb strings.Builder
	sess.Stdout, sess.Stderr = &out, &errb
	if stdin != nil {
		sess.Stdin = stdin
	}
	err = sess.Run(command)
	r := sshResult{stdout: out.String(), stderr: errb.String()}
	var exit *gossh.ExitError
	switch {
	case err == nil:
		r.code = 0
	case errors.As(err, &exit):
		r.code = exit.ExitStatus()
	default:
		r.code, r.err = -1, err
	}
	return r
}

func httpClient() *http.Client { return doortest.HTTPClient() }

// exchange trades a refresh token for an access token over HTTP.
func exchange(c *http.Client, base, secret string) (string, int, error) {
	return doortest.Exchange(c, base, secret)
}

// whoAmI calls GET /v3/users/me with an access token and returns the status.
func whoAmI(c *http.Client, base, access string) (int, error) {
	return doortest.WhoAmI(c, base, access)
}

// revokeOverHTTP revokes by presenting the secret (RFC 7009).
func revokeOverHTTP(c *http.Client, base, secret string) (int, error) {
	res, err := c.PostForm(base+"/oauth/revoke", map[string][]string{"token": {secret}})
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// world is an organization on a real store with both servers running in
// process on 127.0.0.1: an owner, two admins and some users, each person with
// their own SSH key.
type world struct {
	s        *store.Store
	dir      string
	sshAddr  string
	base     string // http://127.0.0.1:port
	owner    models.User
	ownerKey gossh.Signer
	admins   []models.User
	users    []models.User
	keys     map[string]gossh.Signer // user id → key
}

type worldOpts struct {
	users int
	// strictLimits keeps the servers' default abuse limits (hostile input);
	// otherwise they are raised so a test can be every client at once.
	strictLimits bool
}

func quietLogger() *log.Logger { return log.NewWithOptions(io.Discard, log.Options{}) }

func newWorld(t testing.TB, o worldOpts) *world {
	t.Helper()
	w := &world{dir: t.TempDir(), keys: map[string]gossh.Signer{}}
	s, err := store.Open(w.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.s = s
	t.Cleanup(func() { _ = s.Close() })
	w.ownerKey = newSigner(t)
	if w.owner, err = s.Init(store.NewUser{Name: "Olive Owner", Email: "olive@example.com", Keys: []string{authorizedKey(w.ownerKey)}}, "test"); err != nil {
		t.Fatal(err)
	}
	w.keys[w.owner.ID] = w.ownerKey
	add := func(name, email string, role models.Role) models.User {
		k := newSigner(t)
		u, err := s.AddUser(w.act(w.owner), store.NewUser{Name: name, Email: email, Role: role, Keys: []string{authorizedKey(k)}})
		if err != nil {
			t.Fatal(err)
		}
		w.keys[u.ID] = k
		return u
	}
	w.admins = []models.User{
		add("Ada Admin", "ada@example.com", models.RoleAdmin),
		add("Abe Admin", "abe@example.com", models.RoleAdmin),
	}
	for i := range o.users {
		w.users = append(w.users, add(fmt.Sprintf("User %02d", i), fmt.Sprintf("user%02d@example.com", i), models.RoleUser))
	}

	sshOpts := sshserver.Options{Addr: "127.0.0.1:0", Store: s, Logger: quietLogger()}
	apiOpts := api.Options{}
	if !o.strictLimits {
		sshOpts.SessionsPerMin = 1 << 20
		sshOpts.MaxConnsPerIP = 1 << 10
		apiOpts.MaxAuthFailures = -1
	}
	sshSrv, err := sshserver.New(sshOpts)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := sshSrv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	w.sshAddr = addr.String()
	sshDone := make(chan error, 1)
	go func() { sshDone <- sshSrv.Serve() }()

	apiSrv, err := api.New(s, apiOpts)
	if err != nil {
		t.Fatal(err)
	}
	hs := apiSrv.HTTPServer("127.0.0.1:0")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.base = "http://" + ln.Addr().String()
	httpDone := make(chan error, 1)
	go func() { httpDone <- hs.Serve(ln) }()

	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sshSrv.Shutdown(ctx); err != nil {
			t.Errorf("ssh shutdown: %v", err)
		}
		if err := <-sshDone; err != nil {
			t.Errorf("ssh serve: %v", err)
		}
		if err := hs.Shutdown(ctx); err != nil {
			t.Errorf("http shutdown: %v", err)
		}
		if err := <-httpDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("http serve: %v", err)
		}
	})
	return w
}

func (w *world) act(u models.User) store.Actor { return store.Actor{UserID: u.ID, Via: "test"} }

func (w *world) ssh(u models.User, command string) sshResult {
	return sshRun(w.sshAddr, w.keys[u.ID], command, nil)
}
