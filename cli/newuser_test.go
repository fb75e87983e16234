package cli_test

import (
	"strings"
	"testing"

	"github.com/keydesk/keydesk/cli"
)

// A flag value of the wrong kind says what the flag takes, in one line,
// without Go's strconv text.
func TestFlagMistakesSayWhatToGive(t *testing.T) {
	dir := initOrg(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "--limit", "abc"}, `keydesk: --limit takes a whole number, not "abc" (see 'keydesk audit --help')`},
		{[]string{"token", "list", "--limit", "1x"}, `keydesk: --limit takes a whole number, not "1x" (see 'keydesk token list --help')`},
		{[]string{"audit", "--limit", "99999999999999999999"}, `keydesk: --limit takes a whole number, not "99999999999999999999"`},
		{[]string{"token", "list", "--json=maybe"}, `keydesk: --json takes true or false, not "maybe"`},
	} {
		r := run(t, dir, c.args...)
		if r.code != 2 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, c.want) || strings.Contains(r.stderr, "strconv") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line starting %q", c.args, r.code, r.stdout, r.stderr, c.want)
		}
	}
}

// Over SSH a flag left without its value (OpenSSH joins the arguments with
// spaces, so `ssh host token create --name ""` arrives as "… --name ")
// says how to send an empty value; locally it does not.
func TestRemoteMissingValueSaysHowToQuote(t *testing.T) {
	env := cli.Env{Session: &cli.Session{Addr: "127.0.0.1:23234"}}
	r := runWith(t, env, "token", "create", "--name")
	want := `keydesk: flag needs an argument: --name; ssh drops an empty value unless it is quoted twice, as in --name '""' (see 'ssh -p 23234 localhost help token create')` + "\n"
	if r.code != 2 || r.stderr != want {
		t.Errorf("over SSH: exit %d, stderr %q; want exit 2 and %q", r.code, r.stderr, want)
	}
	r = run(t, initOrg(t), "token", "create", "--name")
	if r.code != 2 || strings.Contains(r.stderr, "quoted") || !strings.Contains(r.stderr, "flag needs an argument: --name") {
		t.Errorf("locally: exit %d, stderr %q", r.code, r.stderr)
	}
}

// Without a terminal (a test's stdout is not one) the console refuses in one
// line that names its help once (it said "(see `keydesk --help`) (see
// 'keydesk --help')").
func TestConsoleWithoutTerminalHintsOnce(t *testing.T) {
	r := run(t, initOrg(t))
	if r.code != 2 || strings.Count(r.stderr, "(see") != 1 || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("console without a terminal: exit %d, stderr %q; want exit 2 and one hint", r.code, r.stderr)
	}
}

// Over SSH a word left after the flags (ssh sends `--name "my laptop"` as
// `--name my laptop`) says how to quote the command; locally it does not.
func TestRemoteStrayWordSaysHowToQuote(t *testing.T) {
	env := cli.Env{Session: &cli.Session{Addr: "127.0.0.1:23234"}}
	r := runWith(t, env, "token", "create", "--name", "my", "laptop")
	want := `keydesk: create takes no arguments (got "laptop"); over SSH quote the whole command so a value with spaces arrives whole: ssh -p 23234 localhost 'token create --name "my laptop"' (see 'ssh -p 23234 localhost help token create')` + "\n"
	if r.code != 2 || r.stderr != want {
		t.Errorf("over SSH: exit %d, stderr %q; want exit 2 and %q", r.code, r.stderr, want)
	}
	r = runWith(t, env, "audit", "--type", "token", "created")
	if r.code != 2 || !strings.Contains(r.stderr, `'audit … "a value with spaces"'`) || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("audit over SSH: exit %d, stderr %q", r.code, r.stderr)
	}
	r = run(t, initOrg(t), "token", "create", "--name", "my", "laptop")
	if r.code != 2 || strings.Contains(r.stderr, "over SSH") || !strings.Contains(r.stderr, `takes no arguments (got "laptop")`) {
		t.Errorf("locally: exit %d, stderr %q", r.code, r.stderr)
	}
}

// At a terminal, `user import -` says it is reading rows and how to end
// them (it waited in silence); piped in, it says nothing.
func TestImportFromTerminalSaysItIsReading(t *testing.T) {
	dir := initOrg(t)
	rows := "Ann Archer,ann@example.com,user\n"
	r := runWith(t, cli.Env{Interactive: true, Stdin: strings.NewReader(rows)}, "--data", dir, "user", "import", "-")
	if r.code != 0 || !strings.Contains(r.stderr, "end with Ctrl-D") || r.stdout != "Imported 1 person.\n" {
		t.Errorf("at a terminal: %+v", r)
	}
	var out, errb strings.Builder
	code := cli.Run([]string{"--data", dir, "user", "import", "-", "--dry-run"}, cli.Env{Stdin: strings.NewReader("Bo Baker,bo@example.com,user\n"), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	if code != 0 || errb.String() != "" {
		t.Errorf("piped: exit %d, stderr %q", code, errb.String())
	}
}
