package tui

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/teatest"
	"github.com/keydesk/keydesk/store"
	gossh "golang.org/x/crypto/ssh"
)

func approveTestKey(t *testing.T) (string, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sg, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(sg.PublicKey()))), gossh.FingerprintSHA256(sg.PublicKey())
}

// TestApprovePendingKeyInConsole is issue 15 item 2's console half: a key
// the owner added for Ann, who already has one, waits on My Profile until
// Ann approves it there.
func TestApprovePendingKeyInConsole(t *testing.T) {
	o := newOrg(t, nil)
	first, _ := approveTestKey(t)
	if _, err := o.s.AddKey(o.act(o.owner), o.ann.ID, first); err != nil { // her first: active at once
		t.Fatal(err)
	}
	second, fp := approveTestKey(t)
	k, err := o.s.AddKey(o.act(o.owner), o.ann.ID, second)
	if err != nil || !k.Pending {
		t.Fatalf("second key: pending %v, %v", k.Pending, err)
	}
	m := newDriven(t, o.s, o.ann, 120, 30)
	mustView(t, m, "1 waiting for you (a/d)")
	send(t, m, "a")
	mustView(t, m, "Approve SSH key "+fp)
	send(t, m, "y")
	u, err := o.s.UserByKey(fp)
	if err != nil || u.ID != o.ann.ID {
		t.Fatalf("after approving in the console the key does not log in as Ann: %v %v", u.ID, err)
	}
	if v := m.View(); strings.Contains(v, "waiting for you") {
		t.Fatalf("still waiting after approval:\n%s", v)
	}
	// Someone else cannot approve it for her: the owner's profile offers nothing.
	third, _ := approveTestKey(t)
	if _, err := o.s.AddKey(o.act(o.owner), o.ann.ID, third); err != nil {
		t.Fatal(err)
	}
	om := newDriven(t, o.s, o.owner, 120, 30)
	if strings.Contains(om.View(), "waiting for you") {
		t.Fatal("the owner's profile offers to approve Ann's key")
	}
	if _, err := o.s.ApproveKey(store.Actor{UserID: o.owner.ID, Via: "test"}, fp); err == nil {
		t.Fatal("the owner approved a key of Ann's")
	}
}

// A pending key that is not Ann's can be removed from My Profile (d): the
// approve dialog sent her to "user remove-key …", a command she had to find
// a command line for, printed broken across two lines at 80 columns.
func TestDeclinePendingKeyInConsole(t *testing.T) {
	o := newOrg(t, nil)
	first, _ := approveTestKey(t)
	if _, err := o.s.AddKey(o.act(o.owner), o.ann.ID, first); err != nil {
		t.Fatal(err)
	}
	second, fp := approveTestKey(t)
	if _, err := o.s.AddKey(o.act(o.owner), o.ann.ID, second); err != nil {
		t.Fatal(err)
	}
	tm := teatest.NewTestModel(t, New(opts(o.s, o.ann)), teatest.WithInitialTermSize(80, 23))
	t.Cleanup(func() { _ = tm.Quit() })
	waitText(t, tm, "waiting for you (a/d)", "d decline SSH key")
	press(tm, "a")
	waitText(t, tm, "answer n and press d")
	press(tm, "n", "d")
	waitText(t, tm, "Remove SSH key "+fp[:20])
	press(tm, "y")
	waitText(t, tm, "Removed SSH key "+fp)
	if _, err := o.s.UserByKey(fp); err == nil {
		t.Fatal("the declined key still logs in")
	}
	u, err := o.s.User(o.ann.ID)
	if err != nil || len(u.Keys) != 1 || u.Keys[0].Pending {
		t.Fatalf("Ann's keys after declining: %+v, %v", u.Keys, err)
	}
}
