package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/keydesk/keydesk/wire"
)

// A listing shows every token once, in order, up to --limit. Its pages are
// Store.EachToken's (bounded reads, written between them, never inside a
// transaction); the store's behaviour suite pages past them.
func TestListPagesThroughEveryToken(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := Run(append([]string{"--data", dir}, args...), Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
		if code != 0 {
			t.Fatalf("%v: %d %s", args, code, errb.String())
		}
		return out.String(), code
	}
	run("init", "--owner-name", "O", "--owner-email", "o@example.com")
	for i := range 7 {
		run("token", "create", "--name", fmt.Sprintf("t%d", i))
	}
	names := func(args ...string) []string {
		out, _ := run(args...)
		var toks []wire.Token
		if err := json.Unmarshal([]byte(out), &toks); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
		var got []string
		for _, tk := range toks {
			got = append(got, tk.Name)
		}
		return got
	}
	// Newest first is oldest first reversed (IDs made in one millisecond
	// may sort either way, so the two orders are compared, not the names).
	newest, oldest := names("token", "list", "--json"), names("token", "list", "--all", "--oldest", "--json")
	if len(newest) != 7 || fmt.Sprint(newest) != fmt.Sprint(reversed(oldest)) {
		t.Fatalf("orders: %v, %v", newest, oldest)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"token", "list", "--json"}, newest},
		{[]string{"token", "list", "--all", "--oldest", "--json"}, oldest},
		{[]string{"token", "list", "--limit", "3", "--json"}, newest[:3]},
		{[]string{"token", "list", "--all", "--limit", "4", "--oldest", "--json"}, oldest[:4]},
	} {
		if got := names(c.args...); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Fatalf("%v: %v, want %v", c.args, got, c.want)
		}
	}
}

func reversed(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}
