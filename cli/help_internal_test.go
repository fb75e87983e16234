package cli

import (
	"testing"

	"github.com/spf13/cobra"
)

// Every command a person can run, local or over SSH, shows an example in
// its --help.
func TestEveryCommandHasAnExample(t *testing.T) {
	for _, remote := range []bool{false, true} {
		g := &Globals{prog: "keydesk"}
		if remote {
			g.env.Session = &Session{Addr: "127.0.0.1:23234"}
		}
		root := newRoot(g, []Extension{func(*Globals) *cobra.Command {
			return &cobra.Command{Use: "serve", Example: "keydesk serve", RunE: func(*cobra.Command, []string) error { return nil }}
		}})
		root.InitDefaultCompletionCmd()
		var walk func(c *cobra.Command)
		n := 0
		walk = func(c *cobra.Command) {
			for _, sub := range c.Commands() {
				walk(sub)
			}
			if c.Hidden || !c.IsAvailableCommand() || c.Name() == "completion" || (c.HasParent() && c.Parent().Name() == "completion") {
				return
			}
			n++
			if c.Example == "" {
				t.Errorf("remote=%v: %q has no example", remote, c.CommandPath())
			}
		}
		walk(root)
		if n < 20 {
			t.Fatalf("remote=%v: only %d commands walked", remote, n)
		}
	}
}

// cobra keeps flag completions in a map nothing clears: a server's runs
// (and any run that is not a completion request) must not add to it, or
// every SSH session's command tree stays in memory (e2e's soak test caught
// it). A local completion request still gets them.
func TestFlagCompletionsOnlyForCompletionRequests(t *testing.T) {
	for _, c := range []struct {
		g    *Globals
		want bool
	}{
		{&Globals{prog: "ssh -p 1 localhost", env: Env{Session: &Session{Addr: "127.0.0.1:1"}}}, false},
		{&Globals{prog: "keydesk"}, false},
		{&Globals{prog: "keydesk", completing: true}, true},
	} {
		root := newRoot(c.g, nil)
		create, _, err := root.Find([]string{"token", "create"})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := create.GetFlagCompletionFunc("expires"); ok != c.want {
			t.Fatalf("remote=%v completing=%v: --expires completion registered %v, want %v", c.g.Remote(), c.g.completing, ok, c.want)
		}
	}
}
