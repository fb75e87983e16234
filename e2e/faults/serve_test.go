package faults

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/doortest"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
	gossh "golang.org/x/crypto/ssh"
)

// The real binary, built once per test process on first use (tests that
// run no `keydesk serve` never build it).
var keydeskBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func binary(t testing.TB) string {
	t.Helper()
	keydeskBin.once.Do(func() {
		keydeskBin.dir, keydeskBin.err = os.MkdirTemp("", "keydesk-faults-bin-")
		if keydeskBin.err != nil {
			return
		}
		keydeskBin.path = filepath.Join(keydeskBin.dir, "keydesk")
		cmd := exec.Command("go", "build", "-o", keydeskBin.path, ".")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			keydeskBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if keydeskBin.err != nil {
		t.Fatal(keydeskBin.err)
	}
	return keydeskBin.path
}

// proc is a `keydesk serve --store etcd://… --kek-file …` process: a
// server of the rig reached over SSH and HTTP only, killed with SIGKILL and
// restarted on the same ports and data directory.
type proc struct {
	bin, data, sshAddr, httpAddr string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	kills  int
}

func freeAddr() (string, error) { return doortest.FreeAddr() }

// running reports whether the process is up.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// startProc starts s's process and waits until it answers on both doors
// with a fresh cache.
func (r *rig) startProc(s *server) error {
	p := s.proc
	cmd := exec.Command(p.bin, "--data", p.data, "--store", s.url, "--kek-file", r.kek,
		"serve", "--ssh-addr", p.sshAddr, "--http-addr", p.httpAddr)
	cmd.Env = append(os.Environ(), "KEYDESK_STORE=", "KEYDESK_DATA=")
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-exited:
			p.mu.Lock()
			p.cmd = nil
			p.mu.Unlock()
			return fmt.Errorf("server %d: keydesk serve exited while starting:\n%s", s.i, s.log.String())
		default:
		}
		if h, err := procHealth(p.httpAddr); err == nil && h == "fresh" {
			if c, err := net.DialTimeout("tcp", p.sshAddr, time.Second); err == nil {
				c.Close()
				return nil
			}
		}
		if time.Now().After(deadline) {
			r.killProc(s)
			return fmt.Errorf("server %d: keydesk serve not ready (healthy, cache fresh) in 90 s:\n%s", s.i, s.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procHealth is the cache state /healthz reports ("fresh", "reading
// through"), or an error when it does not answer 200.
func procHealth(addr string) (string, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	res, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var h struct {
		Store struct {
			Cache string `json:"cache"`
		} `json:"store"`
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("healthz %d", res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(&h); err != nil {
		return "", err
	}
	return h.Store.Cache, nil
}

// killProc SIGKILLs s's process and waits until it is gone.
func (r *rig) killProc(s *server) {
	p := s.proc
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.kills++
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// httpClient makes each request on a new connection from a new source
// address: a process keeps its default limit on failed exchanges per address.
var httpClient = doortest.HTTPClient()

// exchangeAt presents a refresh token at base and returns the access token
// (empty unless the server answered 200).
func exchangeAt(c *http.Client, base, secret string) string {
	access, _, _ := doortest.Exchange(c, base, secret)
	return access
}

// whoAmI is true when GET /v3/users/me accepts the access token (its
// refresh token is still active: every API request checks).
func whoAmI(base, access string) bool {
	code, err := doortest.WhoAmI(httpClient, base, access)
	return err == nil && code == http.StatusOK
}

// sshPool is one client's SSH connections, one per server and key, each
// carrying one session per command (as ssh's ControlMaster would).
type sshPool struct {
	src   net.IP
	conns map[string]*gossh.Client
}

func newSSHPool() *sshPool {
	return &sshPool{src: doortest.NextSource(), conns: map[string]*gossh.Client{}}
}

func (p *sshPool) close() {
	for _, c := range p.conns {
		c.Close()
	}
}

// errNotRun means the command never started (no connection, no session):
// nothing happened.
var errNotRun = errors.New("the SSH command did not start")

// errLost means the command started and the connection died (or it hung)
// before it said how it ended: it may or may not have taken effect.
var errLost = errors.New("the SSH connection died before the command's exit status")

// run runs command on addr as key's user and returns its stdout and stderr
// and an error: nil (exit 0), errNotRun, errLost, or one made from the
// one-line message of a failed command (see sshError).
func (p *sshPool) run(addr string, key gossh.Signer, command string) (string, string, error) {
	id := addr + " " + string(key.PublicKey().Marshal())
	c := p.conns[id]
	if c == nil {
		d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: p.src}}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			return "", "", errNotRun
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		cc, chans, reqs, err := gossh.NewClientConn(conn, addr, &gossh.ClientConfig{User: "keydesk",
			Auth: []gossh.AuthMethod{gossh.PublicKeys(key)}, HostKeyCallback: gossh.InsecureIgnoreHostKey()})
		if err != nil {
			conn.Close()
			return "", "", errNotRun
		}
		_ = conn.SetDeadline(time.Time{})
		c = gossh.NewClient(cc, chans, reqs)
		p.conns[id] = c
	}
	sess, err := c.NewSession()
	if err != nil {
		c.Close()
		delete(p.conns, id)
		return "", "", errNotRun
	}
	defer sess.Close()
	var out, errb strings.Builder
	sess.Stdout, sess.Stderr = &out, &errb
	// A command stuck on a server that cannot reach etcd ends within its
	// request timeouts; past this, take the connection for dead.
	hung := time.AfterFunc(45*time.Second, func() { c.Close() })
	err = sess.Run(command)
	hung.Stop()
	var exit *gossh.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), nil
	case errors.As(err, &exit):
		return out.String(), errb.String(), sshError(errb.String())
	}
	c.Close()
	delete(p.conns, id)
	return out.String(), errb.String(), errLost
}

// sshError maps a failed command's message to what it proves. The messages
// are the store's errors, which the CLI prints as "keydesk: <error>".
// Anything not known to be a definite refusal, or known to have changed
// nothing, is ambiguous (ErrAmbiguous).
func sshError(stderr string) error {
	msg := strings.TrimSpace(stderr)
	switch {
	case strings.Contains(msg, "cannot reach the store to check your key"),
		strings.Contains(msg, "cannot record the session"),
		strings.Contains(msg, "too many sessions from your address"):
		return errNotRun // refused at the door, before the command ran
	case strings.Contains(msg, kv.ErrConflict.Error()):
		return fmt.Errorf("%w: %s", kv.ErrConflict, msg) // gave up on conflicts: nothing committed
	case strings.Contains(msg, kv.ErrUnavailable.Error()):
		return fmt.Errorf("%w: %s", kv.ErrUnavailable, msg) // failed before committing
	case strings.Contains(msg, kv.ErrAmbiguous.Error()):
		return fmt.Errorf("%w: %s", kv.ErrAmbiguous, msg)
	case strings.Contains(msg, models.ErrLimit.Error()):
		return fmt.Errorf("%w: %s", models.ErrLimit, msg)
	case strings.Contains(msg, models.ErrTokenInactive.Error()):
		return fmt.Errorf("%w: %s", models.ErrTokenInactive, msg)
	case strings.Contains(msg, models.ErrAlreadyRevealed.Error()):
		return fmt.Errorf("%w: %s", models.ErrAlreadyRevealed, msg)
	case strings.Contains(msg, "keydesk: "+models.ErrConflict.Error()):
		return fmt.Errorf("%w: %s", models.ErrConflict, msg)
	case strings.Contains(msg, "keydesk: "+models.ErrNotFound.Error()):
		return fmt.Errorf("%w: %s", models.ErrNotFound, msg)
	}
	return fmt.Errorf("%w: %s", kv.ErrAmbiguous, msg)
}

var (
	createdRe = regexp.MustCompile(`Created (tok_[0-9A-Za-z]+) `)
	rotatedRe = regexp.MustCompile(`→ (tok_[0-9A-Za-z]+);`)
)

// The token operations over SSH. Create, rotate and reveal print the
// secret alone on stdout and the new id on stderr (no --json: its extra
// read after the commit could fail and report a committed change as failed).

func sshCreate(p *sshPool, addr string, key gossh.Signer) (id, secret string, err error) {
	out, errs, err := p.run(addr, key, "token create --name c")
	if err != nil {
		return "", "", err
	}
	m := createdRe.FindStringSubmatch(errs)
	secret = strings.TrimSpace(out)
	if m == nil || !strings.HasPrefix(secret, "kdr_") {
		return "", "", fmt.Errorf("%w: token create answered %q / %q", kv.ErrAmbiguous, out, errs)
	}
	return m[1], secret, nil
}

func sshAssign(p *sshPool, addr string, owner gossh.Signer, email string) (string, error) {
	out, errs, err := p.run(addr, owner, "token create --for "+email+" --name a --json")
	if err != nil {
		return "", err
	}
	var toks []models.Token
	if json.Unmarshal([]byte(out), &toks) != nil || len(toks) != 1 || toks[0].ID == "" {
		return "", fmt.Errorf("%w: token create --for answered %q / %q", kv.ErrAmbiguous, out, errs)
	}
	return toks[0].ID, nil
}

func sshReveal(p *sshPool, addr string, key gossh.Signer, id string) (string, error) {
	out, errs, err := p.run(addr, key, "token reveal "+id)
	if err != nil {
		return "", err
	}
	if secret := strings.TrimSpace(out); strings.HasPrefix(secret, "kdr_") {
		return secret, nil
	}
	return "", fmt.Errorf("%w: token reveal answered %q / %q", kv.ErrAmbiguous, out, errs)
}

func sshRotate(p *sshPool, addr string, key gossh.Signer, id string) (string, string, error) {
	out, errs, err := p.run(addr, key, "token rotate --yes "+id)
	if err != nil {
		return "", "", err
	}
	m := rotatedRe.FindStringSubmatch(errs)
	secret := strings.TrimSpace(out)
	if m == nil || !strings.HasPrefix(secret, "kdr_") {
		return "", "", fmt.Errorf("%w: token rotate answered %q / %q", kv.ErrAmbiguous, out, errs)
	}
	return m[1], secret, nil
}

func sshRevoke(p *sshPool, addr string, key gossh.Signer, id string) error {
	_, _, err := p.run(addr, key, "token revoke --yes "+id)
	return err
}
