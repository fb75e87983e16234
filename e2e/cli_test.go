package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/wire"
	"github.com/keydesk/keydesk/wire/wiretest"
	gossh "golang.org/x/crypto/ssh"
)

// The command line over SSH (issue 14), with a real SSH client against the
// real wish server and the real HTTP API beside it.

// v3 calls the HTTP API with a fresh access token of secret and returns the
// body's "data".
func v3(t *testing.T, base, method, path, secret string) json.RawMessage {
	t.Helper()
	c := httpClient()
	access, status, err := exchange(c, base, secret)
	if err != nil || status != 200 {
		t.Fatalf("exchange: %d %v", status, err)
	}
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+access)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var b struct {
		Data json.RawMessage `json:"data"`
	}
	if res.StatusCode/100 != 2 || json.Unmarshal(body, &b) != nil {
		t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, body)
	}
	return b.Data
}

func firstOf(t *testing.T, raw []byte) json.RawMessage {
	t.Helper()
	var arr []json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil || len(arr) == 0 {
		t.Fatalf("want a non-empty JSON array (%v): %s", err, raw)
	}
	return arr[0]
}

// The same object read over SSH with --json and over HTTP from /v3 has the
// same field names and the same values.
func TestCLIJSONMatchesV3OverSSH(t *testing.T) {
	w := newWorld(t, worldOpts{users: 1})
	u := w.users[0]
	created := w.ssh(u, "token create --name laptop --expires 30d --json")
	var sec wire.Secret
	if created.code != 0 || json.Unmarshal([]byte(created.stdout), &sec) != nil || sec.HolderEmail != u.Email || sec.Status != "active" || sec.Masked == "" {
		t.Fatalf("token create --json over SSH: %v", created)
	}
	owner := w.ssh(w.owner, "token create --name owner --json")
	var osec wire.Secret
	if owner.code != 0 || json.Unmarshal([]byte(owner.stdout), &osec) != nil {
		t.Fatalf("%v", owner)
	}

	pairs := []struct {
		what     string
		ssh      func() []byte
		http     func() []byte
		sameJSON bool
	}{
		{"token list", func() []byte { return firstOf(t, []byte(w.ssh(u, "token list --json").stdout)) },
			func() []byte { return firstOf(t, v3(t, w.base, "GET", "/v3/tokens", sec.RefreshToken)) }, false},
		{"user list", func() []byte { return firstOf(t, []byte(w.ssh(w.owner, "user list --json").stdout)) },
			func() []byte { return firstOf(t, v3(t, w.base, "GET", "/v3/users", osec.RefreshToken)) }, true},
		{"whoami vs users/me", func() []byte { return []byte(w.ssh(u, "whoami --json").stdout) },
			func() []byte {
				var me map[string]json.RawMessage
				_ = json.Unmarshal(v3(t, w.base, "GET", "/v3/users/me", sec.RefreshToken), &me)
				delete(me, "token") // what the credential may do: HTTP only
				b, _ := json.Marshal(me)
				return b
			}, true},
	}
	for _, p := range pairs {
		s, h := p.ssh(), p.http()
		if ks, kh := wiretest.Keys(t, s), wiretest.Keys(t, h); !slices.Equal(ks, kh) {
			t.Fatalf("%s: SSH --json keys %v, /v3 keys %v", p.what, ks, kh)
		}
		if p.sameJSON {
			var a, b any
			_ = json.Unmarshal(s, &a)
			_ = json.Unmarshal(h, &b)
			as, _ := json.Marshal(a)
			bs, _ := json.Marshal(b)
			if string(as) != string(bs) {
				t.Fatalf("%s: SSH %s\n/v3 %s", p.what, as, bs)
			}
		}
	}
	// A revoke answers with the same token shape both ways.
	rev := w.ssh(u, "token revoke "+sec.ID+" --json")
	if rev.code != 0 {
		t.Fatalf("%v", rev)
	}
	other := w.ssh(u, "token create --name other --json")
	var osec2 wire.Secret
	_ = json.Unmarshal([]byte(other.stdout), &osec2)
	h := v3(t, w.base, "DELETE", "/v3/tokens/"+osec2.ID, osec2.RefreshToken)
	if ks, kh := wiretest.Keys(t, []byte(rev.stdout)), wiretest.Keys(t, h); !slices.Equal(ks, kh) {
		t.Fatalf("revoke: SSH keys %v, /v3 keys %v", ks, kh)
	}
	var got wire.Token
	if err := json.Unmarshal([]byte(rev.stdout), &got); err != nil || got.Status != "revoked" || got.RevokedAt.IsZero() {
		t.Fatalf("revoke --json: %v %s", err, rev.stdout)
	}
}

// Help, hints and mistakes over SSH speak of ssh -p PORT HOST; bad input is
// refused with exit 2; completion prints the script for local use and
// __complete proposes emails.
func TestCLIOverSSH(t *testing.T) {
	w := newWorld(t, worldOpts{users: 1})
	_, port, _ := strings.Cut(w.sshAddr, ":")
	prog := "ssh -p " + port + " localhost"

	h := w.ssh(w.owner, "token create --help")
	if h.code != 0 || !strings.Contains(h.stdout, "Usage:\n  "+prog+" token create [flags]") || strings.Contains(h.stdout, "keydesk token") {
		t.Fatalf("--help over SSH: %v", h)
	}
	if r := w.ssh(w.owner, "tokn list"); r.code != 2 || r.stderr != "keydesk: unknown command \"tokn\"; did you mean \"token\"? (see '"+prog+" help')\n" {
		t.Fatalf("mistyped: %v", r)
	}
	for _, bad := range []string{"5d", "3h", "2w", "NEVER", "0"} {
		if r := w.ssh(w.users[0], "token create --name x --expires "+bad); r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "not one of 7d, 30d, 90d, 1y, never") {
			t.Errorf("--expires %s over SSH: %v", bad, r)
		}
	}
	if r := w.ssh(w.users[0], "token list --json"); r.stdout != "[]\n" {
		t.Fatalf("a refused --expires created a token: %v", r)
	}
	// (An empty last word does not survive the SSH command line; a prefix does.)
	r := w.ssh(w.admins[0], `__complete user remove a`)
	if r.code != 0 || !strings.Contains(r.stdout, "ada@example.com\t") || !strings.Contains(r.stdout, "abe@example.com\t") {
		t.Fatalf("__complete over SSH: %v", r)
	}
	r = w.ssh(w.admins[0], `__complete user remove user`)
	if r.code != 0 || !strings.Contains(r.stdout, w.users[0].Email+"\tUser 00 (user)") {
		t.Fatalf("__complete over SSH: %v", r)
	}
	if r := w.ssh(w.users[0], `__complete user remove u`); strings.Contains(r.stdout, "olive@example.com") || !strings.Contains(r.stdout, w.users[0].Email) {
		t.Fatalf("a user's completion offers others: %v", r)
	}
	// The script over SSH is for a local keydesk: it loads in bash.
	script := w.ssh(w.owner, "completion bash")
	if script.code != 0 || !strings.Contains(script.stdout, "__start_keydesk") {
		t.Fatalf("completion over SSH: %v", script)
	}
	f := filepath.Join(t.TempDir(), "keydesk.bash")
	if err := os.WriteFile(f, []byte(script.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", "-c", "source "+f+" && complete -p keydesk").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "complete -o default -F __start_keydesk keydesk" {
		t.Fatalf("bash: %v %s", err, out)
	}
	if r := w.ssh(w.owner, "user remove nobody@example.com"); r.code != 1 || !strings.Contains(r.stderr, "see `"+prog+" user list`") {
		t.Fatalf("a store hint over SSH: %v", r)
	}
	if r := w.ssh(w.owner, "audit --user nobody@example.com"); r.code != 1 || !strings.Contains(r.stderr, `no such user "nobody@example.com"`) {
		t.Fatalf("audit of an unknown email: %v", r)
	}
	if r := w.ssh(w.owner, "help roles"); r.code != 0 || !strings.Contains(r.stdout, "stakeholder") {
		t.Fatalf("help roles: %v", r)
	}
}

// An import piped over SSH with three bad lines names all three; a dry run
// lists who would be added; nothing is written by either.
func TestImportOverSSH(t *testing.T) {
	w := newWorld(t, worldOpts{})
	csv := "Ann,ann@example.com,user\nBob,bob-at-example,user\nCy,cy@example.com,wizard\nDee,dee@example.com\n"
	r := sshRun(w.sshAddr, w.ownerKey, "user import -", strings.NewReader(csv))
	if r.code != 1 {
		t.Fatalf("%v", r)
	}
	for _, want := range []string{"line 2:", "line 3:", "line 4:", "3 bad lines; nothing imported"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q: %q", want, r.stderr)
		}
	}
	good := "Ann,ann@example.com,user\nBea,bea@example.com,admin\n"
	r = sshRun(w.sshAddr, w.ownerKey, "user import - --dry-run --json", strings.NewReader(good))
	var im wire.Import
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &im) != nil || !im.DryRun || len(im.Users) != 2 || im.Users[1].Email != "bea@example.com" {
		t.Fatalf("dry run: %v", r)
	}
	if l := w.ssh(w.owner, "user list"); strings.Contains(l.stdout, "ann@example.com") {
		t.Fatal("a failed or dry-run import wrote")
	}
	if r := sshRun(w.sshAddr, w.ownerKey, "user import people.csv", nil); r.code != 2 || !strings.Contains(r.stderr, "over SSH, pipe the file in") {
		t.Fatalf("a server path over SSH: %v", r)
	}
}

// Over ssh -t a destructive command asks, echoing the answer; no changes
// nothing. Without a terminal it goes ahead, as a script expects.
func TestConfirmationOverSSH(t *testing.T) {
	w := newWorld(t, worldOpts{users: 2})
	victim := w.users[0]
	r := sshRunPty(t, w.sshAddr, w.ownerKey, "user remove "+victim.Email, "n\r")
	if r.code != 1 || !strings.Contains(r.stderr, "Remove "+victim.Name+" <"+victim.Email+"> and revoke their 0 live tokens? [y/N] n\r\n") || !strings.Contains(r.stderr, "not confirmed") {
		t.Fatalf("no over ssh -t: %v", r)
	}
	if _, err := w.s.User(victim.Email); err != nil {
		t.Fatalf("removed after a no: %v", err)
	}
	r = sshRunPty(t, w.sshAddr, w.ownerKey, "user remove "+victim.Email, "yx\x7fes\r")
	if r.code != 0 || !strings.Contains(r.stdout, "Removed "+victim.Email) {
		t.Fatalf("yes over ssh -t: %v", r)
	}
	dry := w.ssh(w.owner, "user remove "+w.users[1].Email+" --dry-run")
	if dry.code != 0 || !strings.Contains(dry.stdout, "Would remove") {
		t.Fatalf("dry run: %v", dry)
	}
	if r := w.ssh(w.owner, "user remove "+w.users[1].Email); r.code != 0 {
		t.Fatalf("no terminal, no question: %v", r)
	}
}

// A FIDO key is key text at every door; over SSH a path is never read.
func TestSSHKeyArgOverSSH(t *testing.T) {
	w := newWorld(t, worldOpts{})
	fido := "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIBLf6f4hU5D3Yuo1WnKkxFZ/Eoa5q2s7OGrI0pGIh4YfAAAABHNzaDo= maya@yubikey"
	if r := w.ssh(w.admins[0], `user add --name Maya --email maya@example.com --key "`+fido+`"`); r.code != 0 {
		t.Fatalf("FIDO key over SSH: %v", r)
	}
	if r := w.ssh(w.admins[0], "user add-key maya@example.com /etc/ssh/ssh_host_ed25519_key.pub"); r.code != 1 || !strings.Contains(r.stderr, "give the key text") {
		t.Fatalf("a server path over SSH: %v", r)
	}
}

// sshRunPty runs command with a terminal (ssh -t) and types input.
func sshRunPty(t *testing.T, addr string, key gossh.Signer, command, input string) sshResult {
	t.Helper()
	conn, err := dialer().Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	defer conn.Close()
	cc, chans, reqs, err := gossh.NewClientConn(conn, addr, &gossh.ClientConfig{
		User: "keydesk", Auth: []gossh.AuthMethod{gossh.PublicKeys(key)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	client := gossh.NewClient(cc, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.RequestPty("xterm", 24, 80, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	sess.Stdout, sess.Stderr, sess.Stdin = &out, &errb, strings.NewReader(input)
	err = sess.Run(command)
	res := sshResult{stdout: out.String(), stderr: errb.String()}
	var exit *gossh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitStatus()
	default:
		res.code, res.err = -1, err
	}
	return res
}

// Over SSH too, tables line up by display width, and an empty list's hint
// goes to stderr while stdout stays empty.
func TestTablesOverSSH(t *testing.T) {
	w := newWorld(t, worldOpts{users: 1})
	if r := w.ssh(w.owner, `user add --name "李小龍 🚀" --email li@example.com`); r.code != 0 {
		t.Fatalf("%v", r)
	}
	r := w.ssh(w.owner, "user list")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	col := -1
	for _, l := range lines {
		i := strings.Index(l, "  ")
		for i >= 0 && i < len(l) && l[i] == ' ' {
			i++
		}
		if c := models.CellWidth(l[:i]); col >= 0 && c != col {
			t.Fatalf("EMAIL starts at cell %d on %q, %d above:\n%s", c, l, col, r.stdout)
		} else {
			col = c
		}
	}
	if len(lines) != 6 || !strings.Contains(r.stdout, "李小龍 🚀") {
		t.Fatalf("%v", r)
	}
	empty := w.ssh(w.users[0], "token list")
	if empty.code != 0 || empty.stdout != "" || !strings.Contains(empty.stderr, "No tokens yet — create one with: ssh -p ") {
		t.Fatalf("empty list over SSH: %v", empty)
	}
}

// ssh joins its words with spaces, so the help's own example,
// `ssh … user add-key EMAIL "$(cat KEY.pub)"`, reaches the server as EMAIL
// and the key line's words: add-key takes them back together as that one
// line. An unquoted --key says how to quote it instead of naming --name.
func TestAddKeyUnquotedOverSSH(t *testing.T) {
	w := newWorld(t, worldOpts{users: 1})
	u := w.users[0]
	line := authorizedKey(newSigner(t)) + " laptop key"
	r := w.ssh(w.owner, "user add-key "+u.Email+" "+line)
	if r.code != 0 || !strings.Contains(r.stdout, "pending") {
		t.Fatalf("add-key with the key's words unquoted: %v", r)
	}
	got, err := w.s.User(u.Email)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Keys) != 2 || got.Keys[1].Comment != "laptop key" {
		t.Fatalf("keys after add-key: %+v", got.Keys)
	}
	r = w.ssh(w.owner, "user add-key "+u.Email+" not a key")
	if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "quote the whole command") {
		t.Fatalf("add-key with stray words: %v", r)
	}
	r = w.ssh(w.owner, "user add --name Kim --email kim@example.com --key "+authorizedKey(newSigner(t)))
	if r.code != 2 || !strings.Contains(r.stderr, `'user add --key "ssh-ed25519 AAAA… you@host"'`) {
		t.Fatalf("user add with an unquoted --key: %v", r)
	}
	if _, err := w.s.User("kim@example.com"); err == nil {
		t.Fatal("user add with an unquoted --key added Kim")
	}
}

// `ssh -t HOST backup` (a terminal) is refused in one line that says to send
// the copy to a file: it poured the database's bytes onto the screen, and a
// pty's newline translation would spoil any copy taken that way.
func TestBackupToTerminalOverSSH(t *testing.T) {
	w := newWorld(t, worldOpts{})
	r := sshRunPty(t, w.sshAddr, w.ownerKey, "backup", "")
	out := r.stdout + r.stderr
	if r.code != 2 || strings.ContainsRune(out, 0) || !strings.Contains(out, "send it to a file") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("backup to a terminal: %v", r)
	}
	if r := w.ssh(w.owner, "backup"); r.code != 0 || !strings.Contains(r.stdout, "\x00") {
		t.Fatalf("backup to a pipe: exit %d, %d bytes, stderr %q", r.code, len(r.stdout), r.stderr)
	}
}
