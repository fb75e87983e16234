package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keydesk/keydesk/cli"
	"github.com/keydesk/keydesk/store"
	kvbolt "github.com/keydesk/keydesk/store/kv/bolt"
	bolt "go.etcd.io/bbolt"
)

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, dir string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run(append([]string{"--data", dir}, args...), cli.Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	return result{code, out.String(), errb.String()}
}

func initOrg(t *testing.T) string {
	dir := t.TempDir()
	if r := run(t, dir, "init", "--owner-name", "Olive Owner", "--owner-email", "olive@example.com"); r.code != 0 {
		t.Fatalf("init: %+v", r)
	}
	if r := run(t, dir, "user", "add", "--name", "Uma User", "--email", "uma@example.com", "--role", "user"); r.code != 0 {
		t.Fatalf("user add: %+v", r)
	}
	return dir
}

var tokenRE = regexp.MustCompile(`kdr_[0-9A-Za-z]{49}`)

func TestCreateShowsOnceAndNeverStores(t *testing.T) {
	dir := initOrg(t)
	r := run(t, dir, "token", "create", "--name", "ci")
	if r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	secret := strings.TrimSpace(r.stdout)
	if !tokenRE.MatchString(secret) || secret != tokenRE.FindString(secret) {
		t.Fatalf("stdout is not exactly one token: %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "as safe as your Password") {
		t.Fatalf("no warning: %q", r.stderr)
	}
	list := run(t, dir, "token", "list")
	if list.code != 0 || strings.Contains(list.stdout, secret) || !strings.Contains(list.stdout, "kdr_…"+secret[len(secret)-6:]) {
		t.Fatalf("list does not show it masked: %+v", list)
	}
	js := run(t, dir, "token", "list", "--json")
	var arr []map[string]any
	if err := json.Unmarshal([]byte(js.stdout), &arr); err != nil || len(arr) != 1 || strings.Contains(js.stdout, secret[4:30]) {
		t.Fatalf("json list %v: %s", err, js.stdout)
	}
	db, err := os.ReadFile(filepath.Join(dir, kvbolt.File))
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{secret, secret[4:47], secret[10:30]} {
		if bytes.Contains(db, []byte(part)) {
			t.Fatalf("keydesk.db contains %q", part)
		}
	}
}

func TestAssignRevealOnceThroughCLI(t *testing.T) {
	dir := initOrg(t)
	r := run(t, dir, "token", "create", "--for", "uma@example.com", "--name", "deploy", "--expires", "30d")
	if r.code != 0 || tokenRE.MatchString(r.stdout+r.stderr) {
		t.Fatalf("owner's assign output holds a secret or failed: %+v", r)
	}
	id := regexp.MustCompile(`tok_[0-9A-Za-z]+`).FindString(r.stdout)
	if id == "" {
		t.Fatalf("no id in %q", r.stdout)
	}
	if r := run(t, dir, "token", "reveal", id); r.code == 0 {
		t.Fatal("the owner revealed the assignee's token")
	}
	rev := run(t, dir, "--as", "uma@example.com", "token", "reveal", id)
	if rev.code != 0 || !tokenRE.MatchString(rev.stdout) {
		t.Fatalf("reveal: %+v", rev)
	}
	again := run(t, dir, "--as", "uma@example.com", "token", "reveal", id)
	if again.code != 1 || !strings.Contains(again.stderr, "already") || strings.Count(strings.TrimSpace(again.stderr), "\n") != 0 {
		t.Fatalf("second reveal: %+v", again)
	}
	audit := run(t, dir, "audit", "--json")
	if !strings.Contains(audit.stdout, `"token_assigned"`) || !strings.Contains(audit.stdout, `"token_revealed"`) {
		t.Fatalf("audit: %s", audit.stdout)
	}
}

func TestExitCodes(t *testing.T) {
	dir := initOrg(t)
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"version"}, 0, ""},
		{[]string{"token", "frobnicate"}, 2, "unknown command"},
		{[]string{"token", "list", "--bogus"}, 2, "unknown flag"},
		{[]string{"token", "revoke"}, 2, "takes one token ID"},
		{[]string{"--as", "uma@example.com", "token", "list", "--all"}, 1, "permission denied"},
		{[]string{"--as", "uma@example.com", "audit"}, 1, "permission denied"},
		{[]string{"--as", "nobody@example.com", "whoami"}, 1, "no user"},
		{[]string{"token", "create", "--expires", "soon"}, 2, "expiry"},
		{[]string{"user", "set-role", "uma@example.com", "root"}, 2, "unknown role"},
		{[]string{"token", "create", "--name", "\x1b]52;c;SGk=\x07x"}, 1, "control"},
		{[]string{"user", "add", "--name", "Dup", "--email", "UMA@example.com"}, 1, "already exists"},
	}
	for _, c := range cases {
		r := run(t, dir, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%v: code %d stderr %q; want %d containing %q", c.args, r.code, r.stderr, c.code, c.msg)
		}
		if strings.ContainsRune(r.stderr, 0x1b) || strings.ContainsRune(r.stderr, 0x07) {
			t.Errorf("%v: stderr carries control bytes: %q", c.args, r.stderr)
		}
	}
}

func TestHeldDataDirFailsFast(t *testing.T) {
	dir := initOrg(t)
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := run(t, dir, "token", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "in use") || !strings.Contains(r.stderr, "ssh") {
		t.Fatalf("%+v", r)
	}
}

func TestBackupCommand(t *testing.T) {
	dir := initOrg(t)
	out := filepath.Join(t.TempDir(), "copy.db")
	if r := run(t, dir, "backup", out); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	db, err := bolt.Open(out, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := run(t, dir, "--as", "uma@example.com", "backup", filepath.Join(t.TempDir(), "x.db")); r.code != 1 || !strings.Contains(r.stderr, "permission denied") {
		t.Fatalf("user backup: %+v", r)
	}
}

func TestImportCommand(t *testing.T) {
	dir := initOrg(t)
	f := filepath.Join(t.TempDir(), "users.csv")
	os.WriteFile(f, []byte("Ann,ann@example.com,user\nBob,bob@example.com,admin\nCy,bad-email,user\n"), 0o600)
	r := run(t, dir, "user", "import", f)
	if r.code != 1 || !strings.Contains(r.stderr, "line 3:") {
		t.Fatalf("%+v", r)
	}
	list := run(t, dir, "user", "list")
	if strings.Contains(list.stdout, "ann@example.com") {
		t.Fatal("partial import")
	}
}

func TestDemoSeedOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	r := run(t, dir, "demo", "--seed-only")
	if r.code != 0 || !strings.Contains(r.stdout, "Seeded a demo organization") {
		t.Fatalf("%+v", r)
	}
	list := run(t, dir, "token", "list", "--all", "--json")
	var arr []map[string]any
	if err := json.Unmarshal([]byte(list.stdout), &arr); err != nil || len(arr) < 5 {
		t.Fatalf("demo tokens: %v %d", err, len(arr))
	}
	statuses := map[any]bool{}
	for _, v := range arr {
		statuses[v["status"]] = true
	}
	for _, want := range []string{"active", "awaiting reveal", "expired", "revoked", "rotated"} {
		if !statuses[want] {
			t.Errorf("demo has no %q token", want)
		}
	}
	if again := run(t, dir, "demo", "--seed-only"); again.code != 1 || !strings.Contains(again.stderr, "not empty") {
		t.Fatalf("seeding a used directory: %+v", again)
	}
	if chk := run(t, dir, "check"); chk.code != 0 {
		t.Fatalf("check: %+v", chk)
	}
}

func TestMissingDataDirIsNotCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "typo")
	r := run(t, dir, "token", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "no organization yet") || !strings.Contains(r.stderr, "keydesk init") {
		t.Fatalf("%+v", r)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a read command created %s (%v)", dir, err)
	}
}

func TestConsoleWithoutTerminal(t *testing.T) {
	dir := initOrg(t)
	r := run(t, dir)
	if r.code != 2 || !strings.Contains(r.stderr, "needs a terminal") {
		t.Fatalf("%+v", r)
	}
}
