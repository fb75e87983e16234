package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keydesk/keydesk/cli"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/wire"
	"github.com/keydesk/keydesk/wire/wiretest"
)

// runWith runs the command line with a given stdin, environment and
// terminal-ness.
func runWith(t *testing.T, env cli.Env, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	env.Stdout, env.Stderr = &out, &errb
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	code := cli.Run(args, env)
	return result{code, out.String(), errb.String()}
}

var utcSecond = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$`)

// checkTimes fails on any string value under a key ending in _at (or "at")
// that is not RFC 3339 UTC at second precision.
func checkTimes(t *testing.T, what string, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && (k == "at" || strings.HasSuffix(k, "_at") || k == "grace_until") && !utcSecond.MatchString(s) {
				t.Errorf("%s: %s = %q is not RFC 3339 UTC at second precision", what, k, s)
			}
			checkTimes(t, what, val)
		}
	case []any:
		for _, e := range x {
			checkTimes(t, what, e)
		}
	}
}

const fidoKey = "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIBLf6f4hU5D3Yuo1WnKkxFZ/Eoa5q2s7OGrI0pGIh4YfAAAABHNzaDo= maya@yubikey"
const edKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl uma@laptop"

// Every command's --json parses and uses the wire type's field names (the
// same as /v3's, which api's tests hold to the same types); every time in
// it is RFC 3339 UTC at second precision.
func TestJSONOnEveryCommand(t *testing.T) {
	dir := initOrg(t)
	if r := run(t, dir, "user", "add", "--name", "Ann Admin", "--email", "ann@example.com", "--role", "admin"); r.code != 0 {
		t.Fatal(r)
	}
	secretOf := func(r result) wire.Secret {
		var s wire.Secret
		if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || !strings.HasPrefix(s.RefreshToken, "kdr_") {
			t.Fatalf("secret json %v: %+v", err, r)
		}
		return s
	}
	created := run(t, dir, "token", "create", "--name", "ci", "--expires", "30d", "--json")
	tok := secretOf(created)
	if tok.Status != models.StatusActive || tok.Masked != "kdr_…"+tok.RefreshToken[len(tok.RefreshToken)-6:] || tok.HolderEmail != "olive@example.com" || tok.ExpiresAt.IsZero() {
		t.Fatalf("token create --json lacks status, masked form or holder: %s", created.stdout)
	}
	assigned := run(t, dir, "token", "create", "--for", "uma@example.com", "--name", "deploy", "--json")
	var as []wire.Token
	if err := json.Unmarshal([]byte(assigned.stdout), &as); err != nil || len(as) != 1 || as[0].Status != models.StatusAwaitingReveal {
		t.Fatalf("assign json: %v %+v", err, assigned)
	}
	f := filepath.Join(t.TempDir(), "people.csv")
	if err := os.WriteFile(f, []byte("Bea,bea@example.com,user\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(t.TempDir(), "uma.pub")
	if err := os.WriteFile(pub, []byte(edKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fp := regexp.MustCompile(`SHA256:[A-Za-z0-9+/]+`)
	var keyFP string

	type step struct {
		args []string
		want any  // the wire type of the object (or of each element)
		list bool // a JSON array
		as   string
	}
	steps := []step{
		{args: []string{"whoami"}, want: wire.User{}},
		{args: []string{"user", "list"}, want: wire.User{}, list: true},
		{args: []string{"user", "add", "--name", "Cy", "--email", "cy@example.com"}, want: wire.User{}},
		{args: []string{"user", "add-key", "uma@example.com", pub}, want: wire.User{}},
		{args: []string{"user", "remove-key", "uma@example.com", "FP"}, want: wire.User{}},
		{args: []string{"user", "set-role", "cy@example.com", "admin"}, want: wire.UserChange{}},
		{args: []string{"user", "import", f, "--dry-run"}, want: wire.Import{}},
		{args: []string{"user", "import", f}, want: wire.Import{}},
		{args: []string{"user", "remove", "bea@example.com", "--dry-run"}, want: wire.UserChange{}},
		{args: []string{"user", "remove", "bea@example.com", "--yes"}, want: wire.UserChange{}},
		{args: []string{"token", "list"}, want: wire.Token{}, list: true},
		{args: []string{"token", "list", "--all"}, want: wire.Token{}, list: true},
		{args: []string{"token", "show", tok.ID}, want: wire.Token{}},
		{args: []string{"token", "reveal", as[0].ID}, want: wire.Secret{}, as: "uma@example.com"},
		{args: []string{"token", "rotate", tok.ID}, want: wire.Secret{}},
		{args: []string{"token", "revoke", as[0].ID, "--yes"}, want: wire.Token{}},
		{args: []string{"token", "revoke-all", "--user", "uma@example.com", "--dry-run"}, want: wire.UserChange{}},
		{args: []string{"token", "revoke-all", "--user", "uma@example.com", "--yes"}, want: wire.UserChange{}},
		{args: []string{"audit"}, want: wire.AuditEntry{}, list: true},
		{args: []string{"backup", filepath.Join(t.TempDir(), "b.db")}, want: wire.Backup{}},
		{args: []string{"check"}, want: wire.Check{}},
		{args: []string{"version"}, want: wire.Version{}},
		{args: []string{"user", "transfer-ownership", "ann@example.com", "--yes"}, want: wire.User{}},
	}
	for _, s := range steps {
		args := append([]string(nil), s.args...)
		for i, a := range args {
			if a == "FP" {
				args[i] = keyFP
			}
		}
		if s.as != "" {
			args = append([]string{"--as", s.as}, args...)
		}
		r := run(t, dir, append(args, "--json")...)
		if r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
		if keyFP == "" {
			keyFP = fp.FindString(r.stdout)
		}
		var v any
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Fatalf("%v: not JSON: %v\n%s", args, err, r.stdout)
		}
		checkTimes(t, strings.Join(args, " "), v)
		want := wiretest.TypeKeys(t, s.want)
		if s.list {
			var items []json.RawMessage
			if err := json.Unmarshal([]byte(r.stdout), &items); err != nil || len(items) == 0 {
				t.Fatalf("%v: want a non-empty array: %v %s", args, err, r.stdout)
			}
			for _, it := range items {
				if got := wiretest.Keys(t, it); !slices.Equal(got, want) {
					t.Fatalf("%v: element keys %v, want %v", args, got, want)
				}
			}
			continue
		}
		if got := wiretest.Keys(t, []byte(r.stdout)); !slices.Equal(got, want) {
			t.Fatalf("%v: keys %v, want %v", args, got, want)
		}
	}
	if keyFP == "" {
		t.Fatal("add-key --json showed no fingerprint")
	}
	r0 := run(t, dir, "compact", "--json")
	if got, want := wiretest.Keys(t, []byte(r0.stdout)), wiretest.TypeKeys(t, wire.Compact{}); r0.code != 0 || !slices.Equal(got, want) {
		t.Fatalf("compact --json: %+v", r0)
	}
	// init and demo, which make organizations.
	r := run(t, t.TempDir(), "init", "--owner-name", "O", "--owner-email", "o@example.com", "--json")
	if got, want := wiretest.Keys(t, []byte(r.stdout)), wiretest.TypeKeys(t, wire.User{}); r.code != 0 || !slices.Equal(got, want) {
		t.Fatalf("init --json: %+v", r)
	}
	r = run(t, filepath.Join(t.TempDir(), "demo"), "demo", "--seed-only", "--json")
	if got, want := wiretest.Keys(t, []byte(r.stdout)), wiretest.TypeKeys(t, wire.Demo{}); r.code != 0 || !slices.Equal(got, want) {
		t.Fatalf("demo --json: %+v", r)
	}
}

// Each --expires value outside the documented five is refused, exit 2, in one
// line, and creates nothing.
func TestBadExpiresRefused(t *testing.T) {
	dir := initOrg(t)
	for _, bad := range []string{"5d", "3h", "2w", "NEVER", "Never", "7D", "0", "", " 7d", "-1d", "12h", "20y", "soon", "7d\x1b[2J"} {
		r := run(t, dir, "token", "create", "--name", "x", "--expires", bad)
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "7d, 30d, 90d, 1y, never") || strings.ContainsRune(r.stderr, 0x1b) {
			t.Errorf("--expires %q: %+v", bad, r)
		}
	}
	if r := run(t, dir, "token", "list", "--json"); r.stdout != "[]\n" {
		t.Fatalf("a refused --expires created a token: %s", r.stdout)
	}
	for _, good := range models.Expiries {
		r := run(t, dir, "token", "create", "--name", "ok "+good, "--expires", good)
		if r.code != 0 {
			t.Errorf("--expires %s: %+v", good, r)
		}
		// The exact moment, not just a day.
		if good != "never" && !regexp.MustCompile(`expires [0-9-]{10}T[0-9:]{8}Z`).MatchString(r.stderr) {
			t.Errorf("--expires %s: %q", good, r.stderr)
		}
	}
}

// An import with three bad lines names all three, imports nothing, and a
// user is refused before the file is read.
func TestImportNamesEveryBadLine(t *testing.T) {
	dir := initOrg(t)
	f := filepath.Join(t.TempDir(), "people.csv")
	csv := "name,email,role\nAnn,ann@example.com,user\nBob,not-an-email,user\nCy,cy@example.com,root\nDee,dee@example.com,user\nEve,eve@example.com\n"
	if err := os.WriteFile(f, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, dir, "user", "import", f)
	if r.code != 1 {
		t.Fatalf("%+v", r)
	}
	for _, want := range []string{"line 3: invalid input: \"not-an-email\"", "line 4: invalid input: unknown role \"root\"", "line 6: invalid input: want name,email,role[,key], got 2 fields", "3 bad lines; nothing imported"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Count(r.stderr, "\n") != 4 {
		t.Errorf("want one line per bad line and a summary:\n%s", r.stderr)
	}
	if l := run(t, dir, "user", "list"); strings.Contains(l.stdout, "ann@example.com") {
		t.Fatal("partial import")
	}
	if r := run(t, dir, "--as", "uma@example.com", "user", "import", f); r.code != 1 || !strings.Contains(r.stderr, "permission denied") || strings.Contains(r.stderr, "line") {
		t.Fatalf("a user's import: %+v", r)
	}
	good := filepath.Join(t.TempDir(), "good.csv")
	if err := os.WriteFile(good, []byte("Ann,ann@example.com,user\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, dir, "user", "import", good, "--dry-run"); r.code != 0 || !strings.Contains(r.stdout, "Would import 1 person; nothing changed") || !strings.Contains(r.stdout, "ann@example.com") {
		t.Fatalf("dry run: %+v", r)
	}
	if l := run(t, dir, "user", "list"); strings.Contains(l.stdout, "ann@example.com") {
		t.Fatal("a dry run imported")
	}
	if r := run(t, dir, "user", "import", good); r.code != 0 || r.stdout != "Imported 1 person.\n" {
		t.Fatalf("import: %+v", r)
	}
}

// Errors are one line that says what to do; usage errors add no second line.
func TestErrorsAreOneLine(t *testing.T) {
	dir := initOrg(t)
	missing := filepath.Join(t.TempDir(), "x.csv")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"tokn", "list"}, 2, `unknown command "tokn"; did you mean "token"? (see 'keydesk --help')`},
		{[]string{"token", "lst"}, 2, `did you mean "list"?`},
		{[]string{"user", "remov", "x"}, 2, `did you mean "remove"?`},
		{[]string{"help", "rols"}, 2, `did you mean "roles"?`},
		{[]string{"token", "list", "--bogus"}, 2, "unknown flag: --bogus (see 'keydesk token list --help')"},
		{[]string{"token", "list", "--alll"}, 2, "unknown flag: --alll; did you mean --all? (see 'keydesk token list --help')"},
		{[]string{"token", "revoke-all"}, 2, `required flag(s) "user" not set`},
		{[]string{"user", "import", missing}, 1, "cannot read " + missing + ": no such file or directory"},
		{[]string{"backup", filepath.Join(t.TempDir(), "no", "b.db")}, 1, "cannot write backup"},
		{[]string{"--as", "uma@example.com", "token", "list", "--user", "olive@example.com"}, 1, "you may list only your own tokens"},
		{[]string{"--as", "uma@example.com", "token", "list", "--user", "nobody@example.com"}, 1, "you may list only your own tokens"},
		{[]string{"user", "set-role", "olive@example.com", "admin"}, 1, "you may not change your own role"},
		{[]string{"audit", "--user", "nobody@example.com"}, 1, `no such user "nobody@example.com"`},
	}
	for _, c := range cases {
		r := run(t, dir, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and one line containing %q", c.args, r.code, r.stdout, r.stderr, c.code, c.want)
		}
		if strings.Contains(r.stderr, "open "+missing+": open") || strings.Contains(r.stderr, ".keydesk-backup-") {
			t.Errorf("%v: %q", c.args, r.stderr)
		}
	}
	r := run(t, dir, "--as", "uma@example.com", "user", "add-key", "olive@example.com", edKey)
	if r.code != 1 || strings.Contains(r.stderr, "a an") {
		t.Errorf("add-key for the owner: %+v", r)
	}
}

// A removed person's history stays findable by email; an unknown email is
// not found instead of matching every entry without an actor.
func TestAuditByUser(t *testing.T) {
	dir := initOrg(t)
	if r := run(t, dir, "--as", "uma@example.com", "token", "create", "--name", "x"); r.code != 0 {
		t.Fatal(r)
	}
	if r := run(t, dir, "user", "remove", "uma@example.com", "--yes"); r.code != 0 {
		t.Fatal(r)
	}
	r := run(t, dir, "audit", "--user", "uma@example.com", "--json")
	var es []wire.AuditEntry
	if err := json.Unmarshal([]byte(r.stdout), &es); err != nil || len(es) < 3 {
		t.Fatalf("%v %+v", err, r)
	}
	for _, e := range es {
		if e.ActorEmail != "uma@example.com" && e.TargetEmail != "uma@example.com" {
			t.Fatalf("unrelated entry %+v", e)
		}
	}
}

// Destructive commands ask on a terminal; no, or end of input, changes
// nothing; --yes and a run without a terminal do not ask.
func TestConfirmation(t *testing.T) {
	dir := initOrg(t)
	ask := func(answer string, args ...string) result {
		return runWith(t, cli.Env{Stdin: strings.NewReader(answer), Interactive: true}, append([]string{"--data", dir}, args...)...)
	}
	if r := ask("n\n", "user", "remove", "uma@example.com"); r.code != 1 || !strings.Contains(r.stderr, "Remove Uma User <uma@example.com> and revoke their 0 live tokens? [y/N] ") || !strings.Contains(r.stderr, "not confirmed; nothing changed") {
		t.Fatalf("no: %+v", r)
	}
	if r := ask("", "user", "remove", "uma@example.com"); r.code != 1 {
		t.Fatalf("end of input: %+v", r)
	}
	if r := run(t, dir, "user", "list"); !strings.Contains(r.stdout, "uma@example.com") {
		t.Fatal("removed without a yes")
	}
	if r := ask("yes\n", "user", "remove", "uma@example.com"); r.code != 0 || !strings.Contains(r.stdout, "Removed uma@example.com; 0 tokens revoked.") {
		t.Fatalf("yes: %+v", r)
	}
	if r := ask("", "user", "add", "--name", "Ann", "--email", "ann@example.com"); r.code != 0 {
		t.Fatalf("add asks nothing: %+v", r)
	}
	if r := ask("", "user", "remove", "ann@example.com", "--yes"); r.code != 0 || strings.Contains(r.stderr, "[y/N]") {
		t.Fatalf("--yes: %+v", r)
	}
	created := run(t, dir, "token", "create", "--name", "ci", "--json")
	var s wire.Secret
	if err := json.Unmarshal([]byte(created.stdout), &s); err != nil {
		t.Fatal(err)
	}
	if r := ask("n\n", "token", "revoke", s.ID); r.code != 1 || !strings.Contains(r.stderr, "Revoke "+s.ID) {
		t.Fatalf("revoke no: %+v", r)
	}
	if r := ask("n\n", "token", "rotate", s.ID); r.code != 1 || !strings.Contains(r.stderr, "Rotate "+s.ID+` "ci"? Its secret stops working 10 minutes from now. [y/N] `) {
		t.Fatalf("rotate no: %+v", r)
	}
	b := filepath.Join(t.TempDir(), "b.db")
	if err := os.WriteFile(b, []byte("yesterday's"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := ask("n\n", "backup", b); r.code != 1 || !strings.Contains(r.stderr, "Replace the existing "+b) {
		t.Fatalf("backup over a file, no: %+v", r)
	}
	if data, _ := os.ReadFile(b); string(data) != "yesterday's" {
		t.Fatal("a declined backup replaced the file")
	}
	if r := ask("", "backup", b, "--yes"); r.code != 0 {
		t.Fatalf("backup --yes: %+v", r)
	}
	if r := run(t, dir, "token", "revoke", s.ID); r.code != 0 { // no terminal: no question
		t.Fatalf("revoke from a script: %+v", r)
	}
}

// demo uses a temporary directory unless --data is given, even with
// KEYDESK_DATA exported as the README's next section says.
func TestDemoIgnoresKeydeskData(t *testing.T) {
	real := initOrg(t)
	env := cli.Env{Getenv: func(k string) string {
		if k == "KEYDESK_DATA" {
			return real
		}
		return ""
	}}
	r := runWith(t, env, "demo", "--seed-only")
	if r.code != 0 || strings.Contains(r.stdout, real) || !strings.Contains(r.stdout, "keydesk-demo-") {
		t.Fatalf("%+v", r)
	}
	tmp := strings.Fields(strings.TrimPrefix(r.stdout, "Seeded a demo organization in "))[0]
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if l := run(t, real, "user", "list"); strings.Contains(l.stdout, "northwind") {
		t.Fatal("the demo seeded KEYDESK_DATA")
	}
	if r := runWith(t, env, "--data", real, "demo", "--seed-only"); r.code != 1 || !strings.Contains(r.stderr, "not empty") || strings.Contains(r.stderr, "omit --data") {
		t.Fatalf("explicit non-empty --data: %+v", r)
	}
}

// Table columns line up by display width (CJK, emoji), measured as the
// console measures; an empty list's hint goes to stderr.
func TestTablesAlignByDisplayWidth(t *testing.T) {
	dir := initOrg(t)
	for _, n := range [][2]string{{"李小龍", "li@example.com"}, {"Zoë 🚀 Ng", "zoe@example.com"}, {"Ａｎｎ", "ann@example.com"}} {
		if r := run(t, dir, "user", "add", "--name", n[0], "--email", n[1]); r.code != 0 {
			t.Fatal(r)
		}
	}
	r := run(t, dir, "user", "list")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 6 {
		t.Fatalf("%q", r.stdout)
	}
	col := -1
	for _, l := range lines {
		i := strings.Index(l, "  ")
		for i < len(l) && l[i] == ' ' {
			i++
		}
		w := models.CellWidth(l[:i])
		if col >= 0 && w != col {
			t.Fatalf("EMAIL column starts at cell %d on %q, %d above:\n%s", w, l, col, r.stdout)
		}
		col = w
	}
	empty := run(t, dir, "--as", "uma@example.com", "token", "list")
	if empty.code != 0 || empty.stdout != "" || !strings.Contains(empty.stderr, "No tokens yet") {
		t.Fatalf("empty list: %+v", empty)
	}
	if a := run(t, dir, "audit", "--type", "backup_taken"); a.stdout != "" || !strings.Contains(a.stderr, "No audit entries match") {
		t.Fatalf("empty audit: %+v", a)
	}
}

// A FIDO key works as text; a key file works locally; both go through the
// one models rule.
func TestSSHKeyArgument(t *testing.T) {
	dir := initOrg(t)
	if r := run(t, dir, "user", "add", "--name", "Maya", "--email", "maya@example.com", "--key", fidoKey); r.code != 0 {
		t.Fatalf("FIDO key: %+v", r)
	}
	pub := filepath.Join(t.TempDir(), "uma.pub")
	if err := os.WriteFile(pub, []byte(edKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, dir, "user", "add-key", "uma@example.com", pub); r.code != 0 || !strings.Contains(r.stdout, "ssh-ed25519 SHA256:") {
		t.Fatalf("key file: %+v", r)
	}
	if r := run(t, dir, "user", "add-key", "uma@example.com", filepath.Join(t.TempDir(), "nope.pub")); r.code != 1 || !strings.Contains(r.stderr, "neither an SSH public key nor an existing file") {
		t.Fatalf("missing file: %+v", r)
	}
	r := run(t, dir, "user", "list", "--json")
	if !strings.Contains(r.stdout, `"type": "sk-ssh-ed25519@openssh.com"`) && !strings.Contains(r.stdout, `"type":"sk-ssh-ed25519@openssh.com"`) {
		t.Fatalf("FIDO key not registered: %s", r.stdout)
	}
}

// __complete (what the shells' scripts call) proposes emails, token IDs,
// roles, expiry values and audit types.
func TestDynamicCompletion(t *testing.T) {
	dir := initOrg(t)
	created := run(t, dir, "token", "create", "--name", "ci", "--json")
	var s wire.Secret
	if err := json.Unmarshal([]byte(created.stdout), &s); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"user", "remove", ""}, []string{"uma@example.com\tUma User (user)"}, []string{"olive@example.com"}},
		{[]string{"user", "remove", "u"}, []string{"uma@example.com"}, nil},
		{[]string{"token", "create", "--for", ""}, []string{"uma@example.com"}, []string{"olive@example.com"}},
		{[]string{"token", "list", "--user", ""}, []string{"uma@example.com", "olive@example.com"}, nil},
		{[]string{"--as", ""}, []string{"uma@example.com", "olive@example.com"}, nil},
		{[]string{"token", "revoke", ""}, []string{s.ID + "\tci — olive@example.com, active"}, nil},
		{[]string{"user", "set-role", "uma@example.com", ""}, []string{"admin", "user", "stakeholder"}, []string{"owner"}},
		{[]string{"user", "add", "--role", ""}, []string{"admin", "stakeholder"}, nil},
		{[]string{"token", "create", "--expires", ""}, models.Expiries, nil},
		{[]string{"audit", "--type", "token_r"}, []string{"token_revoked", "token_revealed"}, nil},
		{[]string{"help", "ro"}, []string{"roles"}, nil},
		{[]string{"tok"}, []string{"token"}, nil},
		// a user sees only themself
		{[]string{"--as", "uma@example.com", "token", "list", "--user", ""}, []string{"uma@example.com"}, []string{"olive@example.com"}},
		{[]string{"--as", "uma@example.com", "token", "revoke", ""}, nil, []string{s.ID}},
	}
	for _, c := range cases {
		r := run(t, dir, append([]string{"__complete"}, c.args...)...)
		if r.code != 0 || !strings.Contains(r.stdout, ":4") && !strings.Contains(r.stdout, ":0") {
			t.Errorf("__complete %q: %+v", c.args, r)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(r.stdout, w+"\n") && !strings.Contains(r.stdout, w+"\t") {
				t.Errorf("__complete %q lacks %q:\n%s", c.args, w, r.stdout)
			}
		}
		for _, w := range c.not {
			if strings.Contains(r.stdout, w) {
				t.Errorf("__complete %q offers %q:\n%s", c.args, w, r.stdout)
			}
		}
	}
}

// A data directory a server holds offers nothing to complete, and says so
// to no one: completion never prints an error into a shell line.
func TestCompletionBesideAServer(t *testing.T) {
	dir := initOrg(t)
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := run(t, dir, "__complete", "user", "remove", "")
	if r.code != 0 || strings.Contains(r.stdout, "@") || !strings.HasSuffix(r.stdout, ":4\n") {
		t.Fatalf("%+v", r)
	}
}

// The completion scripts: bash's loads in a real bash and registers
// keydesk; the others are the shells' own formats.
func TestCompletionScripts(t *testing.T) {
	dir := initOrg(t)
	for shell, mark := range map[string]string{"bash": "__start_keydesk", "zsh": "#compdef keydesk", "fish": "complete -c keydesk", "powershell": "Register-ArgumentCompleter"} {
		r := run(t, dir, "completion", shell)
		if r.code != 0 || !strings.Contains(r.stdout, mark) {
			t.Errorf("completion %s: exit %d, %d bytes, no %q", shell, r.code, len(r.stdout), mark)
		}
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash is needed to load the script: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	wrapper := "#!/bin/sh\nKEYDESK_CLI_TEST_MAIN=1 exec " + self + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "keydesk"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bash, "-c", "source <(keydesk completion bash) && complete -p keydesk")
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "KEYDESK_DATA="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "complete -o default -F __start_keydesk keydesk" {
		t.Fatalf("bash: %v: %s", err, out)
	}
	// The script's own call, as bash makes it on TAB, through the binary.
	cmd = exec.Command(bash, "-c", `keydesk __complete user remove ""`)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "KEYDESK_DATA="+dir)
	out, err = cmd.Output()
	if err != nil || !strings.Contains(string(out), "uma@example.com") {
		t.Fatalf("__complete through the binary: %v: %s", err, out)
	}
}

// Every command's --help has an example; help topics are pages.
func TestHelpExamplesAndTopics(t *testing.T) {
	dir := initOrg(t)
	for _, topic := range []string{"roles", "tokens", "json"} {
		r := run(t, dir, "help", topic)
		if r.code != 0 || len(strings.Split(r.stdout, "\n")) < 10 || !strings.Contains(r.stdout, "docs/") {
			t.Errorf("help %s: %+v", topic, r)
		}
	}
	if r := run(t, dir, "help", "roles"); !strings.Contains(r.stdout, "stakeholder") || !strings.Contains(r.stdout, "transfer-ownership") {
		t.Errorf("help roles: %s", r.stdout)
	}
	if r := run(t, dir, "help", "tokens"); !strings.Contains(r.stdout, "7d, 30d, 90d, 1y or never") || !strings.Contains(r.stdout, "kdr_") {
		t.Errorf("help tokens: %s", r.stdout)
	}
	if r := run(t, dir, "--help"); !strings.Contains(r.stdout, "Help topics:") || !strings.Contains(r.stdout, "roles") {
		t.Errorf("--help lists no topics: %s", r.stdout)
	}
}

// Over SSH, help and hints show the command to type there: ssh -p PORT HOST.
func TestRemoteHelpShowsSSH(t *testing.T) {
	env := cli.Env{Session: &cli.Session{Addr: "127.0.0.1:23234"}}
	r := runWith(t, env, "token", "create", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "Usage:\n  ssh -p 23234 localhost token create [flags]") ||
		!strings.Contains(r.stdout, "  TOKEN=$(ssh -p 23234 localhost token create --name ci --expires 90d)") || strings.Contains(r.stdout, "keydesk token") {
		t.Fatalf("%+v", r)
	}
	r = runWith(t, env, "--help")
	if !strings.Contains(r.stdout, `Use "ssh -p 23234 localhost [command] --help"`) || strings.Contains(r.stdout, "--data") {
		t.Fatalf("root help: %s", r.stdout)
	}
	r = runWith(t, env, "tokn")
	if r.code != 2 || r.stderr != "keydesk: unknown command \"tokn\"; did you mean \"token\"? (see 'ssh -p 23234 localhost help')\n" {
		t.Fatalf("%+v", r)
	}
	if r := runWith(t, cli.Env{Session: &cli.Session{Addr: "10.1.2.3:22"}}, "whoami", "--help"); !strings.Contains(r.stdout, "ssh 10.1.2.3 whoami") {
		t.Fatalf("port 22: %s", r.stdout)
	}
	// The completion script over SSH is the one for a local keydesk.
	r = runWith(t, env, "completion", "bash")
	if r.code != 0 || !strings.Contains(r.stdout, "__start_keydesk") {
		t.Fatalf("completion over SSH: %+v", r)
	}
}
