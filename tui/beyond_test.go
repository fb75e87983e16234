package tui

import (
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// The "beyond the anchors" items of issue 17.

func TestRenameOwnToken(t *testing.T) {
	o := newOrg(t, nil)
	if _, _, err := o.s.CreateToken(o.act(o.ann), store.TokenSpec{Name: "old"}); err != nil {
		t.Fatal(err)
	}
	m := newDriven(t, o.s, o.ann, 80, 23)
	send(t, m, "e")
	mustView(t, m, "Rename token \u201cold\u201d")
	send(t, m, "ctrl+u") // the field starts with the current name
	typeText(t, m, "nightly")
	send(t, m, "enter")
	mustView(t, m, "Renamed \u201cold\u201d to \u201cnightly\u201d")
	pg, err := o.s.ListTokens(o.act(o.ann), store.TokenQuery{})
	if err != nil || pg.Tokens[0].Name != "nightly" {
		t.Fatalf("stored name: %+v %v", pg.Tokens, err)
	}
}

func TestUsersToTheirTokens(t *testing.T) {
	o := newOrg(t, nil)
	for _, c := range []struct {
		u models.User
		n string
	}{{o.bob, "bobs"}, {o.carl, "carls"}} {
		if _, _, err := o.s.CreateToken(o.act(c.u), store.TokenSpec{Name: c.n}); err != nil {
			t.Fatal(err)
		}
	}
	m := newDriven(t, o.s, o.owner, 80, 23)
	send(t, m, "3", "/")
	typeText(t, m, "bob")
	send(t, m, "enter", "t")
	v := mustView(t, m, "[2 API Tokens]", "filter: bob@example.com", "bobs")
	if strings.Contains(v, "carls") {
		t.Fatalf("someone else's token shown:\n%s", v)
	}
}

func TestTransferOwnership(t *testing.T) {
	o := newOrg(t, nil)
	m := newDriven(t, o.s, o.owner, 100, 30)
	send(t, m, "3", "/")
	typeText(t, m, "adam")
	send(t, m, "enter", "O")
	mustView(t, m, "Make Adam Admin (adam@example.com) the Account Owner?", "Type adam@example.com")
	typeText(t, m, "adam@example.com")
	send(t, m, "enter")
	mustView(t, m, "Adam Admin is now the Account Owner")
	if u, _ := o.s.User("adam@example.com"); u.Role != models.RoleOwner {
		t.Fatalf("adam is %s", u.Role)
	}
}

func TestPickerSelectAllMatches(t *testing.T) {
	o := newOrg(t, nil)
	m := newDriven(t, o.s, o.owner, 80, 23)
	send(t, m, "2", "a")
	typeText(t, m, "er") // Ann Archer, Bob Baker, Carl Cooper
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyCtrlA})
	drive(t, m, cmd)
	mustView(t, m, "3 selected")
	_, cmd = m.Update(tea.KeyMsg{Type: tea.KeyCtrlA})
	drive(t, m, cmd)
	mustView(t, m, "0 selected")
}

func TestMouse(t *testing.T) {
	o := newOrg(t, nil)
	for i := 0; i < 3; i++ {
		if _, _, err := o.s.CreateToken(o.act(o.owner), store.TokenSpec{Name: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	m := newDriven(t, o.s, o.owner, 80, 23)
	p := m.pages[pgProfile].(*profilePage)
	m.Update(tea.MouseMsg{Button: tea.MouseButtonWheelDown, Action: tea.MouseActionPress})
	if p.sc.cursor != 1 {
		t.Fatalf("wheel down: cursor %d", p.sc.cursor)
	}
	// Click the third row: header (2 lines), page top lines, table header.
	m.Update(tea.MouseMsg{Button: tea.MouseButtonLeft, Action: tea.MouseActionPress, Y: m.bodyTop() + lineCount(p.headerLines()) + 1 + 2})
	if p.sc.cursor != 2 {
		t.Fatalf("click on the third row: cursor %d", p.sc.cursor)
	}
	// Click the Users tab.
	spans := m.tabSpans()
	_, cmd := m.Update(tea.MouseMsg{Button: tea.MouseButtonLeft, Action: tea.MouseActionPress, Y: 0, X: spans[2][0] + 1})
	drive(t, m, cmd)
	if m.PageTitles()[m.active] != "Users" {
		t.Fatalf("tab click opened %q", m.PageTitles()[m.active])
	}
}

// TestReuseNotice: a rotated secret used after its grace period revokes the
// chain, and the holder's banner says why.
func TestReuseNotice(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	o := newOrg(t, clock)
	tok, oldSecret, err := o.s.CreateToken(o.act(o.ann), store.TokenSpec{Name: "cron"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.s.RotateToken(o.act(o.ann), tok.ID); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	if _, err := o.s.Exchange(oldSecret, "10.9.9.9"); err == nil {
		t.Fatal("a rotated secret past its grace was accepted")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		pg, err := o.s.ListTokens(o.act(o.ann), store.TokenQuery{})
		if err != nil {
			t.Fatal(err)
		}
		revoked := false
		for _, v := range pg.Tokens {
			revoked = revoked || v.Status == models.StatusRevoked
		}
		if revoked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rotation chain was never revoked")
		}
		time.Sleep(10 * time.Millisecond)
	}
	m := newDriven(t, o.s, o.ann, 100, 30)
	mustView(t, m, "Reuse detected", "\u201ccron\u201d")
	p := m.pages[pgProfile].(*profilePage)
	for i, v := range p.toks {
		if v.Status == models.StatusRevoked {
			p.sc.to(i)
		}
	}
	mustView(t, m, "revoked on", "(reuse)")
}
