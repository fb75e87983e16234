package tui

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/syncbuf"

	"github.com/charmbracelet/x/exp/teatest"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// TestUserGeneratesRevokesAndReveals is "what must show" 2: as a user,
// Generate New Token shows the secret once with the warning; once the view is
// left nothing shows it again; revoke asks first; an assigned token reads
// "assigned by <owner> on <date>" and reveals once.
func TestUserGeneratesRevokesAndReveals(t *testing.T) {
	o := newOrg(t, nil)
	assigned, err := o.s.AssignTokens(o.act(o.owner), []string{o.ann.Email}, store.TokenSpec{Name: "from olivia"})
	if err != nil {
		t.Fatal(err)
	}
	clip := &syncbuf.Buffer{}
	op := opts(o.s, o.ann)
	op.Renderer = asciiRenderer(clip)
	tm := start(t, op)

	waitText(t, tm, "Ann Archer", "from olivia", "assigned by Olivia Owner on "+day(assigned[0].CreatedAt))

	// Generate New Token: name, expiry (default never), submit.
	press(tm, "n")
	waitText(t, tm, "Generate new token")
	tm.Type("ci deploy")
	press(tm, "enter", "enter")
	out := waitText(t, tm, "Please keep your Refresh Token as safe as your Password")
	secret := secretRE.Find(out)
	if secret == nil {
		t.Fatalf("no secret on screen:\n%s", out)
	}
	if _, err := o.s.Inspect(string(secret)); err != nil {
		t.Fatalf("shown secret does not work: %v", err)
	}
	// Copy writes an OSC 52 sequence with the secret to the session's output.
	press(tm, "c")
	waitText(t, tm, "Copied to your clipboard")
	if want := base64.StdEncoding.EncodeToString(secret); !strings.Contains(clip.String(), "\x1b]52;c;"+want) {
		t.Fatalf("clipboard output %q lacks the OSC 52 copy", clip.String())
	}

	// Leave the view (it asks first); from here on the secret must never be
	// drawn again.
	press(tm, "enter")
	waitText(t, tm, "Hide it for good?")
	press(tm, "y")
	waitText(t, tm, "r rotate")
	var after bytes.Buffer

	// Revoke asks first; "n" keeps the token.
	press(tm, "x")
	after.Write(waitText(t, tm, "Revoke your token", "cannot be undone"))
	press(tm, "n")
	after.Write(waitText(t, tm, "r rotate"))
	if v, _ := o.s.Token(o.act(o.ann), tokenIDBySecret(t, o.s, string(secret))); v.Status != models.StatusActive {
		t.Fatalf("token status after declining = %s, want active", v.Status)
	}
	press(tm, "x", "y")
	after.Write(waitText(t, tm, "Revoked"))

	// The assigned token is the older one: move down to it and reveal.
	press(tm, "j", "v")
	after.Write(waitText(t, tm, "Reveal \u201cfrom olivia\u201d now?", "shown once"))
	press(tm, "y")
	out = waitText(t, tm, "assigned by Olivia Owner", "Please keep your Refresh Token as safe as your Password")
	after.Write(out)
	revealed := secretRE.FindAll(out, -1)
	if len(revealed) == 0 {
		t.Fatalf("revealed secret not shown:\n%s", out)
	}
	p, err := o.s.Inspect(string(revealed[len(revealed)-1]))
	if err != nil || p.Token.ID != assigned[0].ID {
		t.Fatalf("revealed secret is not the assigned token's: %v %v", p.Token.ID, err)
	}
	press(tm, "esc", "y", "v") // v again: the token is active now; nothing to reveal
	after.Write(waitText(t, tm, "r rotate · x revoke"))
	if _, err := o.s.RevealToken(o.act(o.ann), assigned[0].ID); !errors.Is(err, models.ErrAlreadyRevealed) {
		t.Fatalf("second reveal: %v, want ErrAlreadyRevealed", err)
	}

	m := final(t, tm)
	after.Write(readAll(tm))
	if bytes.Contains(after.Bytes(), secret) {
		t.Fatal("the generated secret was drawn again after its view was left")
	}
	pp := m.pages[pgProfile].(*profilePage)
	if pp.secret != nil {
		t.Fatal("secret view still held after leaving")
	}
	if v := m.View(); secretRE.MatchString(v) {
		t.Fatalf("final view shows a secret:\n%s", v)
	}
}

func readAll(tm *teatest.TestModel) []byte {
	var b bytes.Buffer
	_, _ = b.ReadFrom(tm.Output())
	return b.Bytes()
}

func tokenIDBySecret(t *testing.T, s *store.Store, secret string) string {
	t.Helper()
	p, err := s.Inspect(secret)
	if err != nil {
		t.Fatal(err)
	}
	return p.Token.ID
}

// TestSecretDroppedOnLeave checks the model itself: leaving the secret view
// zeroes the field, so no later View can draw it.
func TestSecretDroppedOnLeave(t *testing.T) {
	o := newOrg(t, nil)
	m := New(opts(o.s, o.ann)).(*Model)
	m.Update(teaSize(80, 24))
	p := m.pages[pgProfile].(*profilePage)
	m.Update(profileLoadedMsg{seq: p.seq, user: o.ann, now: time.Now()})
	sv := &secretView{title: "t", secret: "kdr_secret"}
	p.secret, p.mode = sv, profSecret
	if !strings.Contains(m.View(), "kdr_secret") {
		t.Fatal("secret view does not show the secret")
	}
	m.Update(keyMsg("enter"))
	if sv.secret == "" || p.secret == nil {
		t.Fatal("enter alone hid the secret; it must ask first")
	}
	m.Update(keyMsg("y"))
	if sv.secret != "" || p.secret != nil {
		t.Fatal("secret not zeroed on leave")
	}
	if strings.Contains(m.View(), "kdr_secret") {
		t.Fatal("secret drawn after leaving")
	}
}
