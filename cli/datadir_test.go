package cli_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An init with a bad flag value says which flag, in one line, and writes
// nothing: it left keydesk.db and secrets/ in a new directory with no
// organization in them.
func TestInitBadValueWritesNothing(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--owner-name", "", "--owner-email", "o@example.com"}, "keydesk: --owner-name: invalid input: name is empty"},
		{[]string{"--owner-name", "O", "--owner-email", "bad"}, `keydesk: --owner-email: invalid input: "bad" is not a valid email address`},
		{[]string{"--owner-name", "O", "--owner-email", "o@example.com", "--owner-key", "ssh-ed25519 AAAA"}, "keydesk: --owner-key: invalid input: the ssh-ed25519 key is cut short"},
	} {
		dir := filepath.Join(t.TempDir(), "org")
		r := run(t, dir, append([]string{"init"}, c.args...)...)
		if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, c.want) {
			t.Errorf("init %q: exit %d, stderr %q; want exit 1 and one line starting %q", c.args, r.code, r.stderr, c.want)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("init %q left %s behind (%v)", c.args, dir, err)
		}
	}
}

// A --data that is a file, sits under a file or cannot be made gets one
// line naming the directory and what to give instead (it got mkdir's bare
// "create data directory: mkdir …: not a directory").
func TestDataDirMistakesSayWhatToDo(t *testing.T) {
	file := filepath.Join(t.TempDir(), "afile")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dir  string
		args []string
		want string
	}{
		{file, []string{"token", "list"}, "keydesk: data directory " + file + " is a file, not a directory; give --data (or KEYDESK_DATA) a directory\n"},
		{file, []string{"init", "--owner-name", "O", "--owner-email", "o@example.com"}, "keydesk: data directory " + file + " is a file, not a directory; give --data (or KEYDESK_DATA) a directory\n"},
		{file + "/org", []string{"init", "--owner-name", "O", "--owner-email", "o@example.com"}, "keydesk: data directory " + file + "/org is under a file, not a directory; give --data (or KEYDESK_DATA) a directory\n"},
		{"/proc/keydesk-test/org", []string{"init", "--owner-name", "O", "--owner-email", "o@example.com"}, "keydesk: cannot create data directory /proc/keydesk-test/org: no such file or directory; give --data (or KEYDESK_DATA) a directory you can write\n"},
	} {
		r := run(t, c.dir, c.args...)
		if r.code != 1 || r.stderr != c.want || r.stdout != "" {
			t.Errorf("--data %s %v: exit %d, stdout %q, stderr %q; want exit 1 and %q", c.dir, c.args, r.code, r.stdout, r.stderr, c.want)
		}
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() != 0 || fi.IsDir() {
		t.Errorf("the file given as --data changed: %v, %v", fi, err)
	}
}

// init on a directory that already has an organization says what to do
// instead: open it, or start elsewhere.
func TestInitTwiceSaysWhatToDo(t *testing.T) {
	dir := initOrg(t)
	r := run(t, dir, "init", "--owner-name", "O", "--owner-email", "o@example.com")
	want := "keydesk: conflict: " + dir + " already has an organization; open it with `keydesk`, or give --data an empty directory for a new one\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("second init: exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, want)
	}
}
