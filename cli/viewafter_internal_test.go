package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/keydesk/keydesk/store"
	"github.com/spf13/cobra"
)

// TestSecretSurvivesAFailedReadBack: after a create the secret exists only in
// the command's hands; when reading the token back for --json fails (here
// the store is gone, as when etcd drops out right after the commit), the
// command still prints the token and its secret, and says on stderr what is
// missing, instead of failing a change that landed.
func TestSecretSurvivesAFailedReadBack(t *testing.T) {
	s, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	owner, err := s.Init(store.NewUser{Name: "Olive Owner", Email: "olive@example.com"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	a := store.Actor{UserID: owner.ID, Via: "test"}
	tok, secret, err := s.CreateToken(a, store.TokenSpec{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	g := &Globals{JSON: true}
	print := func() (string, string, error) {
		var out, errb bytes.Buffer
		cmd := &cobra.Command{}
		cmd.SetOut(&out)
		cmd.SetErr(&errb)
		err := printSecret(g, cmd, s, a, tok, secret)
		return out.String(), errb.String(), err
	}
	out, errOut, err := print()
	if err != nil || errOut != "" || !strings.Contains(out, secret) || !strings.Contains(out, "olive@example.com") {
		t.Fatalf("with the store up: err %v, stderr %q, stdout %q", err, errOut, out)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	out, errOut, err = print()
	if err != nil {
		t.Fatalf("a failed read-back failed the command: %v", err)
	}
	if !strings.Contains(out, secret) || !strings.Contains(out, tok.ID) || !strings.Contains(out, `"name": "ci"`) {
		t.Fatalf("the secret or the token is missing after a failed read-back: %q", out)
	}
	if strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "is saved") {
		t.Fatalf("stderr should say in one line what is missing: %q", errOut)
	}
}
