package daemon

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/syncbuf"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	gossh "golang.org/x/crypto/ssh"
)

func newKey(t *testing.T) (gossh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sg, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return sg, strings.TrimSpace(string(gossh.MarshalAuthorizedKey(sg.PublicKey())))
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestEnsureOwnerWithoutKeySaysHowToInit(t *testing.T) {
	s, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = EnsureOwner(s, env(nil))
	if err == nil || !strings.Contains(err.Error(), "keydesk init") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("want a one-line hint to run keydesk init, got %v", err)
	}
}

func TestEnsureOwnerFromKeyTextOrFile(t *testing.T) {
	_, pub := newKey(t)
	for name, val := range map[string]string{"text": pub, "file": ""} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if val == "" {
				val = filepath.Join(dir, "owner.pub")
				if err := os.WriteFile(val, []byte(pub+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s, err := store.Open(filepath.Join(dir, "data"), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := EnsureOwner(s, env(map[string]string{EnvOwnerKey: val, EnvOwnerName: "Ada Owner"})); err != nil {
				t.Fatal(err)
			}
			o, err := s.Owner()
			if err != nil || o.Name != "Ada Owner" || o.Email != defaultOwnerEmail || o.Role != models.RoleOwner {
				t.Fatalf("owner %+v, %v", o, err)
			}
			fp := gossh.FingerprintSHA256(mustParse(t, pub))
			if u, err := s.UserByKey(fp); err != nil || u.ID != o.ID {
				t.Fatalf("owner key not registered: %v", err)
			}
			// A second start leaves the organization alone.
			if err := EnsureOwner(s, env(nil)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func mustParse(t *testing.T, line string) gossh.PublicKey {
	t.Helper()
	k, _, _, _, err := gossh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func eventually(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for state
	}
	return true
}

// TestServeEndToEnd builds the real binary and runs `keydesk serve` on an
// empty data directory with KEYDESK_INITIAL_OWNER_KEY: the owner can run
// commands over SSH, HTTP answers, an open console says goodbye on SIGTERM,
// and the process exits 0 leaving the store closed (it opens again at once).
func TestServeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "keydesk")
	build := exec.Command("go", "build", "-o", bin, "github.com/keydesk/keydesk")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := t.TempDir()
	signer, pub := newKey(t)

	// Without the variable, serve refuses with one line.
	cmd := exec.Command(bin, "serve", "--data", data, "--ssh-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), EnvOwnerKey+"=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "keydesk init") {
		t.Fatalf("serve on an empty dir without %s: %v %q", EnvOwnerKey, err, out)
	}

	cmd = exec.Command(bin, "serve", "--data", data, "--ssh-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), EnvOwnerKey+"="+pub, EnvOwnerEmail+"=boss@example.com")
	logs := &syncbuf.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})

	addrRe := regexp.MustCompile(`(SSH|HTTP) listening addr=(127\.0\.0\.1:\d+)`)
	var sshAddr, httpAddr string
	if !eventually(10*time.Second, func() bool {
		for _, m := range addrRe.FindAllStringSubmatch(logs.String(), -1) {
			if m[1] == "SSH" {
				sshAddr = m[2]
			} else {
				httpAddr = m[2]
			}
		}
		return sshAddr != "" && httpAddr != ""
	}) {
		t.Fatalf("serve never logged its addresses:\n%s", logs.String())
	}

	resp, err := http.Get("http://" + httpAddr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	client, err := gossh.Dial("tcp", sshAddr, &gossh.ClientConfig{
		User: "owner", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("owner dial: %v", err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	whoami, err := sess.Output("whoami")
	if err != nil || !strings.Contains(string(whoami), "boss@example.com") {
		t.Fatalf("whoami over SSH: %v %q", err, whoami)
	}

	// An open console when SIGTERM arrives.
	console, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	screen := &syncbuf.Buffer{}
	console.Stdout = screen
	if err := console.RequestPty("xterm", 40, 100, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := console.Shell(); err != nil {
		t.Fatal(err)
	}
	if !eventually(5*time.Second, func() bool { return strings.Contains(screen.String(), "Account Owner") }) {
		t.Fatalf("console never drew:\n%q", screen.String())
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve exited with %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not exit after SIGTERM:\n%s", logs.String())
	}
	// The goodbye was sent before the server exited, but the client copies
	// it into screen on its own goroutine: wait for the session to drain
	// (Wait returns once its output is copied) rather than read too early.
	drained := make(chan error, 1)
	go func() { drained <- console.Wait() }()
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("the console session never ended after the server exited")
	}
	if !strings.Contains(screen.String(), "keydesk is shutting down; bye") {
		t.Fatalf("console got no goodbye:\n%q", screen.String())
	}
	// The store was closed: it opens again without waiting for a lock.
	s, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatalf("store after shutdown: %v", err)
	}
	s.Close()
	// No secret ever reached the log.
	if strings.Contains(logs.String(), "kdr_") {
		t.Fatal("a refresh token reached the log")
	}
	var lines int
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		lines++
	}
	if lines == 0 {
		t.Fatal("no logs")
	}
}
