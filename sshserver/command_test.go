package sshserver

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/store"
	gossh "golang.org/x/crypto/ssh"
)

func TestSplitCommand(t *testing.T) {
	for _, c := range []struct {
		line string
		want []string
	}{
		{``, nil},
		{`   `, nil},
		{`token list --all`, []string{"token", "list", "--all"}},
		{"  token\tlist  ", []string{"token", "list"}},
		{`token create --name ""`, []string{"token", "create", "--name", ""}},
		{`token create --name ''`, []string{"token", "create", "--name", ""}},
		{`token create --name "" --expires 7d`, []string{"token", "create", "--name", "", "--expires", "7d"}},
		{`token create --name=""`, []string{"token", "create", "--name="}},
		{`token create --name "my token"`, []string{"token", "create", "--name", "my token"}},
		{`token create --name 'it''s'`, []string{"token", "create", "--name", "its"}},
		{`--name "say \"hi\" \\ \$x \n"`, []string{"--name", `say "hi" \ $x \n`}},
		{`--name 'a\b "c"'`, []string{"--name", `a\b "c"`}},
		{`--name a\ b\"c`, []string{"--name", `a b"c`}},
		{"a \\\n b", []string{"a", "b"}},
		{`"a"'b'c`, []string{"abc"}},
		{`'' ""`, []string{"", ""}},
	} {
		got, err := splitCommand(c.line)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("splitCommand(%q) = %q, %v; want %q", c.line, got, err, c.want)
		}
	}
	for _, line := range []string{`token create --name "abc`, `--name 'abc`, `--name abc\`, `--name "a\"`} {
		if got, err := splitCommand(line); err == nil {
			t.Errorf("splitCommand(%q) = %q; want an error, not a command cut short", line, got)
		}
	}
}

// TestEmptyArgumentSurvivesSSH runs commands over a real SSH connection: a
// quoted empty name reaches the CLI as an empty name (go-shlex, behind
// Session.Command, dropped it and cobra said "flag needs an argument"), and
// a command line with an unclosed quote is refused instead of run.
func TestEmptyArgumentSurvivesSSH(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	owner := mustDial(t, r.addr, o.ownerKey)

	for _, cmd := range []string{`token create --name ""`, `token create --name '' --expires 7d`} {
		out, errOut, code := run(t, owner, cmd)
		if code == 0 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "token name is empty") {
			t.Errorf("%s: want one 'token name is empty' line and a failure, got code %d stdout %q stderr %q", cmd, code, out, errOut)
		}
	}

	out, errOut, code := run(t, owner, `token create --name "abc`)
	if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "never closed") {
		t.Errorf("unclosed quote: want exit 2 and one line about the quote, got code %d stdout %q stderr %q", code, out, errOut)
	}
	page, err := o.s.ListTokens(store.Actor{UserID: o.owner.ID, Via: "test"}, store.TokenQuery{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Tokens) != 0 {
		t.Errorf("refused commands created %d tokens: %+v", len(page.Tokens), page.Tokens)
	}

	// Quoting still works for names with blanks.
	out, errOut, code = run(t, owner, `token create --name "my laptop" --json`)
	var tok struct{ Name string }
	if code != 0 || json.Unmarshal([]byte(out), &tok) != nil || tok.Name != "my laptop" {
		t.Errorf("quoted name: code %d stdout %q stderr %q", code, out, errOut)
	}
}

// TestKeyNoticesNameTheSSHCommand: the login notice about a key waiting for
// approval gives the command to type from the shell, "ssh -p PORT localhost
// user approve-key FP" (it said only "user approve-key FP", which is no
// command at all once the console is closed).
func TestKeyNoticesNameTheSSHCommand(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	owner := mustDial(t, r.addr, o.ownerKey)
	second := newKey(t)
	fp := gossh.FingerprintSHA256(second.PublicKey())
	if out, errOut, code := run(t, owner, fmt.Sprintf("user add-key uma@example.com %q", authorized(second))); code != 0 || !strings.Contains(out, "pending") {
		t.Fatalf("add-key: %d %q %q", code, out, errOut)
	}
	_, port, err := net.SplitHostPort(r.addr)
	if err != nil {
		t.Fatal(err)
	}
	_, scr := openConsole(t, mustDial(t, r.addr, o.userKey), 100, 30)
	prog := "ssh -p " + port + " localhost"
	scr.waitFor(t, prog+" user approve-key "+fp+" (or remove it: "+prog+" user remove-key uma@example.com "+fp+")", 5*time.Second)
}
