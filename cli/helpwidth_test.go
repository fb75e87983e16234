package cli_test

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// subcommands lists the commands a --help page names under "Available
// Commands".
func subcommands(help string) []string {
	var names []string
	in := false
	for _, l := range strings.Split(help, "\n") {
		switch {
		case l == "Available Commands:":
			in = true
		case in && strings.TrimSpace(l) == "":
			in = false
		case in:
			names = append(names, strings.Fields(l)[0])
		}
	}
	return names
}

// Every --help page fits an 80-column terminal, apart from example command
// lines (which are typed as they are): flag text was up to 159 columns and
// wrapped mid-word, as did command summaries of up to 101.
func TestHelpFitsEightyColumns(t *testing.T) {
	dir := t.TempDir()
	var walk func(path []string)
	seen := 0
	walk = func(path []string) {
		r := run(t, dir, append(append([]string{}, path...), "--help")...)
		if r.code != 0 {
			t.Fatalf("%v --help: %+v", path, r)
		}
		seen++
		examples := false
		for _, l := range strings.Split(r.stdout, "\n") {
			switch {
			case strings.HasSuffix(l, ":") && !strings.HasPrefix(l, " "):
				examples = l == "Examples:"
			case !examples && utf8.RuneCountInString(l) > 80:
				t.Errorf("keydesk %s --help: %d columns: %q", strings.Join(path, " "), utf8.RuneCountInString(l), l)
			}
		}
		for _, sub := range subcommands(r.stdout) {
			// completion's own pages (bash, zsh, …) are cobra's text.
			if sub != "help" && (len(path) == 0 || path[0] != "completion") {
				walk(append(append([]string{}, path...), sub))
			}
		}
	}
	walk(nil)
	if seen < 25 {
		t.Fatalf("walked %d help pages; the command tree has more", seen)
	}
}
