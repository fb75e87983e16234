package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/keydesk/keydesk/cli"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/tui"
	"github.com/muesli/termenv"
)

// hostileText is the table of text no door may let through raw. Invalid
// UTF-8 may also arrive already repaired: the SSH command line and JSON
// decoding turn bad bytes into U+FFFD, which is then stored, sanitized.
var hostileText = []struct{ name, s string }{
	{"OSC 52 clipboard write", "evil\x1b]52;c;ZXZpbA==\x07name"},
	{"OSC 8 hyperlink", "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"},
	{"CSI clear screen", "a\x1b[2J\x1b[Hb"},
	{"DCS", "a\x1bPq#0;2;0;0;0\x1b\\b"},
	{"8-bit C1 CSI U+009B", "a\u009b31mred"},
	{"ESC c full reset", "reset\x1bcme"},
	{"bidi override", "abc\u202edcba\u2066x\u2069"},
	{"NUL", "nul\x00byte"},
	{"10 kB name", strings.Repeat("x", 10<<10)},
	{"invalid UTF-8", "bad\xff\xfeutf8"},
}

// rawMarkers are byte sequences that must never reach a terminal or a record.
var rawMarkers = []string{"\x1b", "\u009b", "\u202e", "\u2066", "\x00", "\xff\xfe"}

func holdsRaw(s string) bool {
	for _, m := range rawMarkers {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// snapshot is everything a rejected input must leave as it was. Session
// bookkeeping (an SSH login is audited) is not a change made by the input.
type snapshot struct {
	users, tokens string
	audit         int
}

func snap(t *testing.T, s *store.Store, owner string) snapshot {
	t.Helper()
	a := store.Actor{UserID: owner, Via: "test"}
	users, err := s.ListUsers(a)
	if err != nil {
		t.Fatal(err)
	}
	var toks []store.TokenView
	if err := s.EachToken(a, store.TokenQuery{All: true}, func(v store.TokenView) error { toks = append(toks, v); return nil }); err != nil {
		t.Fatal(err)
	}
	entries, err := s.Audit(a, store.AuditQuery{Limit: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Type != models.AuditSSHSessionOpened && e.Type != models.AuditSSHAuthRefused {
			n++
		}
	}
	ub, _ := json.Marshal(users)
	tb, _ := json.Marshal(toks)
	return snapshot{users: string(ub), tokens: string(tb), audit: n}
}

// checkAllClean fails if any stored name, email or key comment is unsafe.
func checkAllClean(t *testing.T, s *store.Store, owner string) {
	t.Helper()
	a := store.Actor{UserID: owner, Via: "test"}
	users, _ := s.ListUsers(a)
	for _, u := range users {
		for _, f := range []string{u.Name, u.Email} {
			if models.HasUnsafe(f) || !utf8.ValidString(f) || utf8.RuneCountInString(f) > models.MaxEmailLen {
				t.Errorf("stored user field %q is not clean", f)
			}
		}
		for _, k := range u.Keys {
			if models.HasUnsafe(k.Comment) {
				t.Errorf("stored key comment %q is not clean", k.Comment)
			}
		}
	}
	_ = s.EachToken(a, store.TokenQuery{All: true}, func(v store.TokenView) error {
		if models.HasUnsafe(v.Name) || utf8.RuneCountInString(v.Name) > models.MaxNameLen {
			t.Errorf("stored token name %q is not clean", v.Name)
		}
		return nil
	})
}

func sameState(t *testing.T, what string, before, after snapshot) {
	t.Helper()
	if after != before {
		t.Errorf("%s: refused input changed state: audit %d → %d; users changed %v; tokens changed %v",
			what, before.audit, after.audit, before.users != after.users, before.tokens != after.tokens)
	}
}

// oneCleanLine checks that an error message is exactly one printable line.
// importErrors checks an import's refusal: one clean "keydesk: " line per bad
// row (an import names every bad line, up to 50) and a last line saying what to do.
func importErrors(t *testing.T, door, what, msg string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(msg, "\n"), "\n")
	if len(lines) < 2 || !strings.Contains(lines[len(lines)-1], "nothing imported") {
		t.Errorf("%s, %s: import refusal does not end with what to do: %q", door, what, trunc(msg))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "keydesk: ") || models.HasUnsafe(l) || holdsRaw(l) {
			t.Errorf("%s, %s: import error line is not clean: %q", door, what, trunc(l))
		}
	}
}

func oneCleanLine(t *testing.T, door, what, msg string) {
	t.Helper()
	msg = strings.TrimSuffix(msg, "\n")
	if msg == "" || strings.Contains(msg, "\n") || models.HasUnsafe(msg) || holdsRaw(msg) {
		t.Errorf("%s, %s: error is not one clean line: %q", door, what, trunc(msg))
	}
}

// TestHostileInputThroughEveryDoor feeds the table through the local CLI,
// SSH commands, the console's form, HTTP and CSV import. Each input is either
// refused with one clean line and no change at all, or (console paste, key
// comments) stored sanitized; nothing unsafe is ever stored or echoed.
func TestHostileInputThroughEveryDoor(t *testing.T) {
	t.Run("cli", testHostileCLI)
	t.Run("ssh", testHostileSSH)
	t.Run("console", testHostileConsole)
	t.Run("http", testHostileHTTP)
}

// hostileCommands are the command lines each table entry is tried in, plus
// key and email cases, for the CLI and SSH doors.
func hostileCommands(otherKey string) []struct {
	what string
	args []string
} {
	type c = struct {
		what string
		args []string
	}
	var out []c
	for _, h := range hostileText {
		out = append(out,
			c{"token name: " + h.name, []string{"token", "create", "--name", h.s}},
			c{"user name: " + h.name, []string{"user", "add", "--name", h.s, "--email", "new@example.com", "--role", "user"}},
			c{"email: " + h.name, []string{"user", "add", "--name", "New", "--email", h.s + "@example.com", "--role", "user"}},
			c{"key: " + h.name, []string{"user", "add-key", "ada@example.com", "ssh-ed25519 " + h.s}},
		)
	}
	return append(out,
		c{"invalid ssh key", []string{"user", "add", "--name", "New", "--email", "new@example.com", "--role", "user", "--key", "ssh-ed25519 AAAAnot-base64!"}},
		c{"duplicate ssh key", []string{"user", "add", "--name", "New", "--email", "new@example.com", "--role", "user", "--key", otherKey}},
		c{"duplicate key on add-key", []string{"user", "add-key", "ada@example.com", otherKey}},
		c{"duplicate email", []string{"user", "add", "--name", "Ada Again", "--email", "ada@example.com", "--role", "user"}},
		c{"duplicate email, other case", []string{"user", "add", "--name", "Ada Again", "--email", "ADA@Example.com", "--role", "user"}},
		c{"second owner", []string{"user", "add", "--name", "Owen", "--email", "owen@example.com", "--role", "owner"}},
	)
}

func hostileCSV(otherKey string) map[string]string {
	m := map[string]string{}
	for _, h := range hostileText {
		m["name "+h.name] = "name,email,role\nFine,fine@example.com,user\n\"" + strings.ReplaceAll(h.s, "\"", "") + "\",x@example.com,user\n"
		m["email "+h.name] = "Fine,fine@example.com,user\nX," + h.s + "@example.com,user\n"
	}
	m["duplicate email in file"] = "A,dup@example.com,user\nB,DUP@example.com,user\n"
	m["existing email"] = "A,ada@example.com,user\n"
	m["invalid key"] = "A,a1@example.com,user,ssh-ed25519 AAAA!!\n"
	m["duplicate key"] = "A,a2@example.com,user," + otherKey + "\n"
	return m
}

func testHostileCLI(t *testing.T) {
	dir := t.TempDir()
	run := func(stdin io.Reader, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := cli.Run(append([]string{"--data", dir}, args...), cli.Env{Stdin: stdin, Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
		return code, out.String(), errb.String()
	}
	adaKey := authorizedKey(newSigner(t))
	if code, _, e := run(nil, "init", "--owner-name", "Olive Owner", "--owner-email", "olive@example.com"); code != 0 {
		t.Fatal(e)
	}
	if code, _, e := run(nil, "user", "add", "--name", "Ada Admin", "--email", "ada@example.com", "--role", "admin", "--key", adaKey); code != 0 {
		t.Fatal(e)
	}
	state := func() snapshot {
		s, err := store.Open(dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		o, _ := s.Owner()
		checkAllClean(t, s, o.ID)
		return snap(t, s, o.ID)
	}
	before := state()
	for _, c := range hostileCommands(adaKey) {
		code, _, stderr := run(nil, c.args...)
		if code != 1 {
			t.Errorf("cli %s: exit %d, want 1 (stderr %q)", c.what, code, trunc(stderr))
		}
		oneCleanLine(t, "cli", c.what, stderr)
	}
	for what, csv := range hostileCSV(adaKey) {
		f := filepath.Join(t.TempDir(), "users.csv")
		if err := os.WriteFile(f, []byte(csv), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := run(nil, "user", "import", f)
		if code != 1 {
			t.Errorf("csv %s: exit %d, want 1 (stderr %q)", what, code, trunc(stderr))
		}
		importErrors(t, "csv", what, stderr)
		if !strings.Contains(stderr, "line ") {
			t.Errorf("csv %s: error does not name the line: %q", what, trunc(stderr))
		}
	}
	if after := state(); after != before {
		t.Errorf("cli: refused input changed state: audit %d → %d; users changed %v; tokens changed %v",
			before.audit, after.audit, before.users != after.users, before.tokens != after.tokens)
	}
}

// shellQuote quotes one argument for the SSH command line.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func testHostileSSH(t *testing.T) {
	w := newWorld(t, worldOpts{users: 1, strictLimits: true})
	adaKey := authorizedKey(w.keys[w.admins[0].ID])
	for _, c := range hostileCommands(adaKey) {
		q := make([]string, len(c.args))
		for i, a := range c.args {
			q[i] = shellQuote(a)
		}
		before := snap(t, w.s, w.owner.ID)
		res := w.ssh(w.owner, strings.Join(q, " "))
		after := snap(t, w.s, w.owner.ID)
		if res.err == nil && res.code == 0 && strings.HasSuffix(c.what, "invalid UTF-8") {
			checkAllClean(t, w.s, w.owner.ID) // repaired to U+FFFD on the way in, stored sanitized
			continue
		}
		if res.err != nil || res.code == 0 {
			t.Errorf("ssh %s: %v, want a refusal", c.what, res)
			continue
		}
		oneCleanLine(t, "ssh", c.what, res.stderr)
		sameState(t, "ssh "+c.what, before, after)
	}
	for what, csv := range hostileCSV(adaKey) {
		before := snap(t, w.s, w.owner.ID)
		res := sshRun(w.sshAddr, w.ownerKey, "user import -", strings.NewReader(csv))
		if res.code == 0 || res.err != nil {
			t.Errorf("ssh csv %s: %v, want a refusal", what, res)
			continue
		}
		importErrors(t, "ssh csv", what, res.stderr)
		sameState(t, "ssh csv "+what, before, snap(t, w.s, w.owner.ID))
	}
	checkAllClean(t, w.s, w.owner.ID)

	// A key comment with escapes is stored sanitized, not refused.
	k := strings.TrimSpace(authorizedKey(newSigner(t))) + " evil\x1b]52;c;ZXZpbA==\x07\u202ecomment"
	if res := w.ssh(w.owner, "user add-key ada@example.com "+shellQuote(k)); res.code != 0 {
		t.Fatalf("add-key with an escaped comment: %v", res)
	}
	checkAllClean(t, w.s, w.owner.ID)
}

func testHostileConsole(t *testing.T) {
	w := newWorld(t, worldOpts{users: 1})
	for _, h := range hostileText {
		t.Run(h.name, func(t *testing.T) {
			before := snap(t, w.s, w.owner.ID)
			r := lipgloss.NewRenderer(io.Discard, termenv.WithProfile(termenv.Ascii))
			tm := teatest.NewTestModel(t, tui.New(tui.Options{Backend: w.s, UserID: w.owner.ID, Via: "console", Renderer: r}),
				teatest.WithInitialTermSize(100, 30))
			seen := &bytes.Buffer{}
			waitOut := func(what string, cond func(string) bool) {
				t.Helper()
				teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
					seen.Write(b)
					return cond(seen.String())
				}, teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
			}
			waitOut("profile", func(s string) bool { return strings.Contains(s, "Olive Owner") })
			tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("n")})
			waitOut("form", func(s string) bool { return strings.Contains(strings.ToLower(s), "generate new token") })
			tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(h.s), Paste: true})
			tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
			tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
			waitOut("an answer", func(s string) bool {
				return strings.Contains(s, "as safe as your Password") || strings.Contains(s, "invalid input")
			})
			tm.Send(tea.KeyMsg{Type: tea.KeyCtrlC})
			tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
			for _, raw := range []string{"\x1b]52;c;ZXZpbA", "\x1b]8;;https://evil", "a\x1b[2J", "\x1bPq#0", "\u009b31m", "\x1bcme", "\u202e", "\u2066", "\x00", "\xff\xfe"} {
				if strings.Contains(seen.String(), raw) {
					t.Errorf("console echoed %q from the input", raw)
				}
			}
			after := snap(t, w.s, w.owner.ID)
			if after.users != before.users {
				t.Error("users changed")
			}
			if d := after.audit - before.audit; d > 1 {
				t.Errorf("%d audit entries for one form", d)
			}
			checkAllClean(t, w.s, w.owner.ID)
		})
	}
}

func testHostileHTTP(t *testing.T) {
	w := newWorld(t, worldOpts{users: 1, strictLimits: true})
	c := httpClient()
	_, secret, err := w.s.CreateToken(w.act(w.owner), store.TokenSpec{Name: "api"})
	if err != nil {
		t.Fatal(err)
	}
	access, code, err := exchange(c, w.base, secret)
	if err != nil || code != 200 {
		t.Fatalf("exchange: %d %v", code, err)
	}
	// refused checks a 4xx answer with a one-line reason in the house shape
	// or, on the OAuth endpoints, the RFC 6749 §5.2 shape.
	refused := func(what string, status int, b []byte) {
		t.Helper()
		if status < 400 || status >= 500 {
			t.Errorf("http %s: status %d, want a 4xx refusal: %s", what, status, trunc(string(b)))
			return
		}
		var e struct {
			Meta struct {
				Status  int    `json:"status"`
				Message string `json:"error_message"`
			} `json:"meta"`
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if err := json.Unmarshal(b, &e); err != nil || (e.Meta.Status != status && e.Error == "") {
			t.Errorf("http %s: error body %q is neither the house nor the OAuth shape", what, trunc(string(b)))
			return
		}
		oneCleanLine(t, "http", what, e.Meta.Message+e.Description)
	}
	do := func(what, method, path string, hdr map[string]string, body io.Reader) {
		t.Helper()
		req, err := http.NewRequest(method, w.base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header[k] = []string{v}
		}
		before := snap(t, w.s, w.owner.ID)
		res, err := c.Do(req)
		if err != nil && strings.Contains(err.Error(), "invalid header field value") {
			return // Go's client will not send control bytes in a header; the fuzz target covers the handler
		}
		if err != nil {
			t.Errorf("http %s: %v", what, err)
			return
		}
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		if res.StatusCode == http.StatusCreated && strings.HasSuffix(what, "invalid UTF-8") {
			checkAllClean(t, w.s, w.owner.ID) // JSON decoding repaired it to U+FFFD; stored sanitized
			return
		}
		refused(what, res.StatusCode, b)
		sameState(t, "http "+what, before, snap(t, w.s, w.owner.ID))
	}
	// big sends a 10 MB body on a raw connection and reads the answer while
	// still writing: the server answers and closes early, which Go's client
	// reports as a write error instead of the answer.
	big := func(what, path string, hdr map[string]string, body string) {
		t.Helper()
		before := snap(t, w.s, w.owner.ID)
		conn, err := dialer().Dial("tcp", strings.TrimPrefix(w.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		var head strings.Builder
		fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: keydesk\r\nContent-Length: %d\r\nConnection: close\r\n", path, len(body))
		for k, v := range hdr {
			fmt.Fprintf(&head, "%s: %s\r\n", k, v)
		}
		head.WriteString("\r\n")
		go func() {
			_, _ = io.Copy(conn, io.MultiReader(strings.NewReader(head.String()), strings.NewReader(body)))
		}()
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Errorf("http %s: no answer: %v", what, err)
			return
		}
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("http %s: status %d, want 413", what, res.StatusCode)
		}
		refused(what, res.StatusCode, b)
		sameState(t, "http "+what, before, snap(t, w.s, w.owner.ID))
	}
	bearer := map[string]string{"Authorization": "Bearer " + access, "Content-Type": "application/json"}
	for _, h := range hostileText {
		name, _ := json.Marshal(h.s)
		email, _ := json.Marshal(h.s + "@example.com")
		do("user name: "+h.name, "POST", "/v3/users", bearer, strings.NewReader(fmt.Sprintf(`{"name":%s,"email":"new@example.com","role":"user"}`, name)))
		do("email: "+h.name, "POST", "/v3/users", bearer, strings.NewReader(fmt.Sprintf(`{"name":"New","email":%s,"role":"user"}`, email)))
		do("refresh header: "+h.name, "GET", "/oauth/access-token", map[string]string{"X-Refresh-Token": h.s}, nil)
		do("token form: "+h.name, "POST", "/oauth/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			strings.NewReader("grant_type=refresh_token&refresh_token="+strings.NewReplacer("%", "%25", "&", "%26").Replace(h.s)))
	}
	adaKey, _ := json.Marshal(authorizedKey(w.keys[w.admins[0].ID]))
	do("duplicate email", "POST", "/v3/users", bearer, strings.NewReader(`{"name":"Ada","email":"ADA@example.com","role":"user"}`))
	do("duplicate key", "POST", "/v3/users", bearer, strings.NewReader(`{"name":"K","email":"k@example.com","role":"user","keys":[`+string(adaKey)+`]}`))
	do("invalid key", "POST", "/v3/users", bearer, strings.NewReader(`{"name":"K","email":"k@example.com","role":"user","keys":["ssh-ed25519 AAAA!!"]}`))
	tenMB := strings.Repeat("a", 10<<20)
	big("10 MB JSON body", "/v3/users", bearer, `{"name":"`+tenMB+`","email":"big@example.com","role":"user"}`)
	big("10 MB form body", "/oauth/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "grant_type=refresh_token&refresh_token="+tenMB)
	big("10 MB introspection body", "/oauth/introspect", map[string]string{"Authorization": "Bearer " + access, "Content-Type": "application/x-www-form-urlencoded"}, "token="+tenMB)

	checkAllClean(t, w.s, w.owner.ID)
	// The server still answers after all that.
	if code, err := whoAmI(c, w.base, access); err != nil || code != 200 {
		t.Fatalf("after the hostile table: %d %v", code, err)
	}
}
