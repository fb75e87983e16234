package cli_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copy refuses a --to or --from that is neither an etcd URL nor a
// directory: `--to http://x` copied the organization into ./http:/x and
// said it had copied it "to http://x".
func TestCopyRefusesWhatIsNoPlace(t *testing.T) {
	dir := initOrg(t)
	t.Chdir(t.TempDir())
	file := filepath.Join(t.TempDir(), "afile")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", dir, "--to", "http://x"}, `keydesk: --to "http://x" is neither a data directory nor an etcd:// or etcds:// URL (see 'keydesk copy --help')` + "\n"},
		{[]string{"--from", "https://x", "--to", "copy"}, `keydesk: --from "https://x" is neither a data directory nor an etcd:// or etcds:// URL (see 'keydesk copy --help')` + "\n"},
		{[]string{"--from", dir, "--to", file}, "keydesk: --to " + file + " is a file, not a directory; give a data directory or an etcd:// URL (see 'keydesk copy --help')\n"},
	} {
		r := run(t, dir, append([]string{"copy"}, c.args...)...)
		if r.code != 2 || r.stderr != c.want || r.stdout != "" {
			t.Errorf("copy %v: exit %d, stdout %q, stderr %q; want exit 2 and %q", c.args, r.code, r.stdout, r.stderr, c.want)
		}
	}
	for _, p := range []string{"http:", "copy"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused copy made %s (%v)", p, err)
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "x" {
		t.Errorf("the file given as --to changed: %q, %v", b, err)
	}
}

// `completion SHELL` for a shell it has no script for is a usage error that
// names the shells; it printed the help page with status 0, so a redirect
// into a completion file saved the help.
func TestCompletionUnknownShell(t *testing.T) {
	dir := initOrg(t)
	r := run(t, dir, "completion", "tcsh")
	want := `keydesk: no completion for "tcsh"; give one of bash, zsh, fish or powershell (see 'keydesk completion --help')` + "\n"
	if r.code != 2 || r.stdout != "" || r.stderr != want {
		t.Errorf("completion tcsh: exit %d, stdout %q, stderr %q; want exit 2 and %q", r.code, r.stdout, r.stderr, want)
	}
	if r := run(t, dir, "completion", "bash"); r.code != 0 || !strings.HasPrefix(r.stdout, "# bash completion") {
		t.Errorf("completion bash: exit %d, stdout %.40q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// An unknown role names the roles user add and set-role take; the list
// began with owner, which both refuse.
func TestUnknownRoleNamesRolesBelowOwner(t *testing.T) {
	dir := initOrg(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "add", "--name", "Bo", "--email", "bo@example.com", "--role", "boss"}, `keydesk: --role: invalid input: unknown role "boss"; use admin, user or stakeholder (see 'keydesk user add --help')` + "\n"},
		{[]string{"user", "set-role", "uma@example.com", "boss"}, `keydesk: invalid input: unknown role "boss"; use admin, user or stakeholder (see 'keydesk user set-role --help')` + "\n"},
	} {
		if r := run(t, dir, c.args...); r.code != 2 || r.stderr != c.want {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

// A token ID that names nothing says where the IDs are, as an unknown
// email does; over SSH the hint is the ssh command.
func TestUnknownTokenSaysWhereIDsAre(t *testing.T) {
	dir := initOrg(t)
	for _, args := range [][]string{{"token", "show", "tok_nope"}, {"token", "revoke", "tok_nope", "--yes"}, {"token", "reveal", "tok_nope"}, {"token", "rotate", "tok_nope", "--yes"}} {
		r := run(t, dir, args...)
		want := "keydesk: not found: no token \"tok_nope\"; see `keydesk token list` (the owner: `keydesk token list --all`)\n"
		if r.code != 1 || r.stderr != want {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and %q", args, r.code, r.stderr, want)
		}
	}
	if r := run(t, dir, "user", "remove", "nobody@example.com", "--yes"); strings.Contains(r.stderr, "token list") {
		t.Errorf("an unknown email is pointed at token list: %q", r.stderr)
	}
}
