package tui

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// Each test here reproduces one defect of issue 17 as a new user met it;
// it failed before the fix.

// Defect 1: the assign flow validates the name in the form, esc goes back
// one step keeping what was chosen, and the confirm step names anyone at
// the 25-token limit before anything is written.
func TestDefect01AssignFlow(t *testing.T) {
	o := newOrg(t, nil)
	for i := 0; i < models.MaxTokensActive; i++ {
		if _, _, err := o.s.CreateToken(o.act(o.bob), store.TokenSpec{Name: fmt.Sprintf("b%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	m := newDriven(t, o.s, o.owner, 80, 23)
	send(t, m, "2", "a")
	typeText(t, m, "archer")
	send(t, m, "space", "enter")
	mustView(t, m, "New token for 1 person", "e.g. reporting")
	// Empty name: refused in the form, no confirm.
	send(t, m, "enter")
	v := mustView(t, m, "name is empty")
	if strings.Contains(v, "Assign \u201c") {
		t.Fatalf("an empty name reached the confirmation:\n%s", v)
	}
	// esc: back to the picker with the selection kept.
	send(t, m, "esc")
	mustView(t, m, "1 selected")
	send(t, m, "enter")
	typeText(t, m, "reporting")
	send(t, m, "enter", "enter")
	mustView(t, m, "Assign \u201creporting\u201d (never expires) to 1 person?")
	// n: back to the form, name kept.
	send(t, m, "n")
	mustView(t, m, "New token for 1 person", "reporting")
	// Add Bob, who is at the limit: the form says so before any write.
	send(t, m, "esc", "ctrl+u")
	typeText(t, m, "bob")
	send(t, m, "space", "enter", "enter", "enter")
	mustView(t, m, "Bob Baker already holds 25 usable tokens")
	if n, _ := o.s.LiveTokenCount(o.act(o.owner), o.ann.ID); n != 0 {
		t.Fatalf("ann got %d tokens before the confirm", n)
	}
}

// Defect 2: demoting someone with tokens to stakeholder asks, with the count.
func TestDefect02DemoteAsks(t *testing.T) {
	o := newOrg(t, nil)
	for _, n := range []string{"a1", "a2"} {
		if _, _, err := o.s.CreateToken(o.act(o.ann), store.TokenSpec{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	m := newDriven(t, o.s, o.owner, 100, 30)
	send(t, m, "3", "/")
	typeText(t, m, "ann")
	send(t, m, "enter", "r")
	mustView(t, m, "Change role of Ann Archer", "2 usable tokens would be revoked")
	send(t, m, "right", "right", "enter") // user → admin → stakeholder
	mustView(t, m, "Make Ann Archer a stakeholder?", "Archer\u2019s 2 usable tokens will be")
	send(t, m, "n")
	mustView(t, m, "Change role of Ann Archer")
	if n, _ := o.s.LiveTokenCount(o.act(o.owner), o.ann.ID); n != 2 {
		t.Fatalf("declining revoked tokens: %d left", n)
	}
	send(t, m, "enter", "y")
	mustView(t, m, "Ann Archer is now Stakeholder; 2 tokens revoked")
}

// Defect 3: with NO_COLOR the active tab, placeholders and the cursor still
// stand out (bold/underline, italic, reverse) and no colour is sent.
func TestDefect03NoColorKeepsEmphasis(t *testing.T) {
	o := newOrg(t, nil)
	op := opts(o.s, o.owner)
	op.Environ = []string{"NO_COLOR=1"}
	m := New(op).(*Model)
	m.Close()
	drive(t, m, m.Init())
	drive(t, m, func() tea.Msg { return teaSize(80, 23) })
	send(t, m, "2", "/")
	v := m.View()
	if strings.Contains(v, "\x1b[38;") || strings.Contains(v, "\x1b[48;") || strings.Contains(v, ";38;") {
		t.Fatalf("NO_COLOR view holds colour codes:\n%q", v)
	}
	head := strings.SplitN(v, "\n", 2)[0]
	if !strings.Contains(head, "4m") || !strings.Contains(head, "1;") && !strings.Contains(head, "[1m") {
		t.Errorf("active tab not bold/underlined:\n%q", head)
	}
	if !strings.Contains(v, "\x1b[7m") {
		t.Errorf("cursor not drawn in reverse video:\n%q", v)
	}
	if !strings.Contains(v, "\x1b[3m") {
		t.Errorf("placeholder not italic:\n%q", v)
	}
}

// Defect 5: help lists exactly the keys that act, and they fit.
func TestDefect05HelpIsExact(t *testing.T) {
	o := newOrg(t, nil)
	admin := newDriven(t, o.s, o.admin, 80, 23)
	send(t, admin, "?")
	v := admin.View()
	if !strings.Contains(v, "1-3") || strings.Contains(v, "1-4") {
		t.Errorf("admin with three tabs is told 1-4:\n%s", v)
	}
	for _, want := range []string{"q", "quit", "close help", "next tab"} {
		if !strings.Contains(v, want) {
			t.Errorf("full help at 80×23 lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "more keys") {
		t.Errorf("? still says more keys while help is open:\n%s", v)
	}
	stake := newDriven(t, o.s, o.stake, 80, 23)
	sv := stake.View()
	for _, bad := range []string{"n new token", "v reveal", "r rotate", "x revoke", "tab next"} {
		if strings.Contains(sv, bad) {
			t.Errorf("stakeholder is shown %q:\n%s", bad, sv)
		}
	}
	send(t, stake, "?")
	if sv := stake.View(); strings.Contains(sv, "tab") || strings.Contains(sv, "go to tab") {
		t.Errorf("one-tab role is shown tab keys:\n%s", sv)
	}
	for _, l := range strings.Split(v, "\n") {
		if n := ansi.StringWidth(l); n > 80 {
			t.Errorf("help line is %d wide: %q", n, l)
		}
	}
}

// Defect 6: keys the rules or the token's status forbid open nothing.
func TestDefect06NoDialogForForbidden(t *testing.T) {
	o := newOrg(t, nil)
	tok, _, err := o.s.CreateToken(o.act(o.ann), store.TokenSpec{Name: "old"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.s.RotateToken(o.act(o.ann), tok.ID); err != nil {
		t.Fatal(err)
	}
	rv, _, err := o.s.CreateToken(o.act(o.ann), store.TokenSpec{Name: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.s.RevokeToken(o.act(o.ann), rv.ID); err != nil {
		t.Fatal(err)
	}
	ann := newDriven(t, o.s, o.ann, 100, 30)
	for i := range ann.pages[pgProfile].(*profilePage).toks {
		p := ann.pages[pgProfile].(*profilePage)
		p.sc.to(i)
		st := p.toks[i].Status
		if st != models.StatusRotated && st != models.StatusRevoked {
			continue
		}
		for _, k := range []string{"r", "x", "v", "enter"} {
			send(t, ann, k)
			if ann.activePage().Capturing() {
				t.Fatalf("%q on a %s token opened:\n%s", k, st, ann.View())
			}
		}
	}
	owner := newDriven(t, o.s, o.owner, 100, 30)
	send(t, owner, "3", "/")
	typeText(t, owner, "olivia")
	send(t, owner, "enter", "r", "x")
	if owner.activePage().Capturing() {
		t.Fatalf("owner may change own role?\n%s", owner.View())
	}
	admin := newDriven(t, o.s, o.admin, 100, 30)
	send(t, admin, "2", "/")
	typeText(t, admin, "adam")
	send(t, admin, "enter", "x", "r")
	if admin.activePage().Capturing() {
		t.Fatalf("admin may remove or demote self?\n%s", admin.View())
	}
}

// Defect 7: the banner follows the tokens it warns about.
func TestDefect07BannerFollowsRevoke(t *testing.T) {
	s, owner := demoOrg(t)
	m := newDriven(t, s, owner, 80, 23)
	mustView(t, m, "\u201cbackup job\u201d in 5d")
	send(t, m, "x", "y") // backup job is the first row
	v := mustView(t, m, "Revoked \u201cbackup job\u201d")
	if strings.Contains(v, "Expiring within 7 days") {
		t.Fatalf("banner still warns about a revoked token:\n%s", v)
	}
}

// Defect 8: one paging component, right at every height: pages are full,
// the pager is always drawn, Users says where it is and counts the filter.
func TestDefect08Paging(t *testing.T) {
	o := newOrg(t, nil)
	for i := 0; i < 40; i++ {
		u := []models.User{o.ann, o.bob, o.carl}[i%3]
		if _, _, err := o.s.CreateToken(o.act(u), store.TokenSpec{Name: fmt.Sprintf("t%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for h := MinHeight; h <= 40; h += 3 {
		m := newDriven(t, o.s, o.owner, 80, h)
		send(t, m, "2")
		p := unwrap(m.pages[pgTokens]).(*tokensPage)
		if len(p.rows) != p.tableHeight() {
			t.Errorf("height %d: page holds %d rows for %d visible", h, len(p.rows), p.tableHeight())
		}
		send(t, m, "right")
		if p.next != "" && len(p.rows) != p.tableHeight() || len(p.rows) > p.tableHeight() {
			t.Errorf("height %d: page 2 holds %d rows for %d visible", h, len(p.rows), p.tableHeight())
		}
		v := mustView(t, m, "page 2")
		if lines := strings.Count(v, "\n") + 1; lines > h {
			t.Errorf("height %d: %d lines", h, lines)
		}
		send(t, m, "4")
		mustView(t, m, "page 1 · older →")
	}
	// Users: a marker when it scrolls; the count honours the filter.
	m := newDriven(t, o.s, o.owner, 80, 23)
	send(t, m, "3")
	mustView(t, m, "6 people")
	send(t, m, "/")
	typeText(t, m, "er")
	mustView(t, m, "of 6 people match")
}

// Defect 9: inputs scroll sideways instead of wrapping; titles are cut, not
// wrapped; a paste longer than the limit says it was cut.
func TestDefect09InputsScroll(t *testing.T) {
	o := newOrg(t, nil)
	m := newDriven(t, o.s, o.owner, 80, 23)
	long := strings.Repeat("abcdefghij", 10) + "END"
	send(t, m, "2", "/")
	typeText(t, m, long)
	checkFits(t, m.View(), 80, 23)
	mustView(t, m, "END")
	send(t, m, "esc", "a")
	typeText(t, m, long)
	checkFits(t, m.View(), 80, 23)
	send(t, m, "esc", "1", "n")
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(long), Paste: true})
	drive(t, m, cmd)
	checkFits(t, m.View(), 80, 23)
	mustView(t, m, "At most 64 characters: the rest was cut")
}

func checkFits(t *testing.T, v string, w, h int) {
	t.Helper()
	lines := strings.Split(v, "\n")
	if len(lines) > h {
		t.Errorf("%d lines on a %d-line terminal", len(lines), h)
	}
	for i, l := range lines {
		if n := models.CellWidth(ansi.Strip(l)); n > w {
			t.Errorf("line %d is %d cells: %q", i+1, n, l)
		}
	}
}

// troubleBackend serves names made of every troublesome character class,
// as an older database might hold them (the store refuses them today).
type troubleBackend struct{ *store.Store }

var troubleName = "\u115f\u115f\u115f\u115f\u115f\u115ffiller\u200b\U0001F468\u200d\U0001F469\u200d\U0001F467\u2764\ufe0f" +
	"\U0001F3F4\U000E0067\U000E0062\U000E007F" + "Z" + strings.Repeat("\u0301\u0300", 15) + "\U0001F1FA\U0001F1F8\U0001F44D\U0001F3FD\u00ad\u2060\u3164\u1160\u20e3\u0915\u093e\u5c71\u7530"

func (b troubleBackend) ListTokens(a store.Actor, q store.TokenQuery) (store.TokenPage, error) {
	pg, err := b.Store.ListTokens(a, q)
	for i := range pg.Tokens {
		pg.Tokens[i].Name, pg.Tokens[i].HolderName = troubleName, troubleName
	}
	return pg, err
}

func (b troubleBackend) ListUsers(a store.Actor) ([]models.User, error) {
	us, err := b.Store.ListUsers(a)
	for i := range us {
		us[i].Name = troubleName
	}
	return us, err
}

// Defect 10: a name of every troublesome class stays inside its column on
// every page, at both golden sizes.
func TestDefect10TroublesomeNamesStayInColumn(t *testing.T) {
	o := newOrg(t, nil)
	if _, _, err := o.s.CreateToken(o.act(o.owner), store.TokenSpec{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, sz := range goldenSizes {
		m := newDriven(t, troubleBackend{o.s}, o.owner, sz[0], sz[1])
		for _, k := range []string{"1", "2", "3"} {
			send(t, m, k)
			v := m.View()
			checkFits(t, v, sz[0], sz[1])
			if !strings.Contains(v, "filler") {
				t.Fatalf("%v page %s: the name is not shown:\n%s", sz, k, v)
			}
			for _, l := range strings.Split(v, "\n") {
				if strings.Contains(l, "filler") && models.CellWidth(l) != sz[0] && models.CellWidth(l) > sz[0] {
					t.Errorf("%v: row spills: %q", sz, l)
				}
			}
			for _, r := range v {
				if isTrouble(r) {
					t.Fatalf("%v page %s: %U reached the screen", sz, k, r)
				}
			}
		}
	}
}

func isTrouble(r rune) bool {
	return r == 0x115f || r == 0x200b || r == 0x200d || r == 0xfe0f || (r >= 0xe0000 && r <= 0xe007f) || r == 0x3164 || r == 0x1160 || r == 0x00ad || r == 0x2060 || r == 0x20e3
}

// Defect 11: 80×23 is laid out; a secret showing when the window shrinks
// says how to leave, and q does leave.
func TestDefect11SmallTerminal(t *testing.T) {
	o := newOrg(t, nil)
	m := newDriven(t, o.s, o.ann, 80, 23)
	if strings.Contains(m.View(), "too small") {
		t.Fatal("80×23 is called too small")
	}
	send(t, m, "n")
	typeText(t, m, "ci")
	send(t, m, "enter", "enter")
	mustView(t, m, "Please keep your Refresh Token")
	_, cmd := m.Update(teaSize(30, 8))
	drive(t, m, cmd)
	v := m.View()
	if !strings.Contains(v, "q quits") {
		t.Fatalf("too-small note with a secret does not say q quits:\n%s", v)
	}
	checkFits(t, v, 30, 8)
	_, cmd = m.Update(keyMsg("q"))
	if cmd == nil {
		t.Fatal("q did nothing")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("q did not quit")
	}
	// The tallest form, with an error showing, still fits 80×23 whole.
	own := newDriven(t, o.s, o.owner, 80, 23)
	send(t, own, "3", "a", "enter")
	v = mustView(t, own, "Add user", "name is empty", "╰", "esc back")
	checkFits(t, v, 80, 23)
}

// Defect 12: enter opens an audit entry whole, with its time.
func TestDefect12AuditDetail(t *testing.T) {
	s, owner := demoOrg(t)
	m := newDriven(t, s, owner, 80, 23)
	send(t, m, "esc", "4", "enter")
	mustView(t, m, "Audit entry", "When", "2025-03-13 21:30:00", "Detail")
	send(t, m, "esc")
	mustView(t, m, "WHEN")
	// Part of a name is enough for the person filter, as everywhere else.
	send(t, m, "u")
	typeText(t, m, "diego")
	v := mustView(t, m, "person: diego", "diego@northwind.")
	if strings.Contains(v, "no such user") || strings.Contains(v, "grafana") {
		t.Fatalf("partial person filter refused or let others through:\n%s", v)
	}
}

// Defect 13: the filter applies as you type over the whole list (store
// side), and the order is the store's with the direction on the header.
func TestDefect13FilterAsYouType(t *testing.T) {
	o := newOrg(t, nil)
	for _, c := range []struct {
		u models.User
		n string
	}{{o.carl, "alpha"}, {o.bob, "beta"}, {o.carl, "gamma"}} {
		if _, _, err := o.s.CreateToken(o.act(c.u), store.TokenSpec{Name: c.n}); err != nil {
			t.Fatal(err)
		}
	}
	m := newDriven(t, o.s, o.owner, 80, 23)
	send(t, m, "2")
	mustView(t, m, "CREATED ↓")
	send(t, m, "/")
	typeText(t, m, "carl")
	v := mustView(t, m, "alpha", "gamma")
	if strings.Contains(v, "beta") {
		t.Fatalf("typing did not filter:\n%s", v)
	}
	p := unwrap(m.pages[pgTokens]).(*tokensPage)
	newest := []string{p.rows[0].ID, p.rows[1].ID}
	send(t, m, "enter", "s")
	mustView(t, m, "CREATED ↑", "oldest first")
	if p.rows[0].ID != newest[1] || p.rows[1].ID != newest[0] {
		t.Fatalf("oldest first is not the reverse of newest first:\n%s", m.View())
	}
}

// Defect 14: dead tokens do not expire, revoked ones say by whom, the rotate
// confirm says how long the grace is, and notes go away by themselves.
func TestDefect14StatusWording(t *testing.T) {
	// A clock the test moves, so "live" is newer than "r1" whatever the
	// machine's speed (two tokens made in one instant sort by random ID).
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	o := newOrg(t, clock)
	tok, _, err := o.s.CreateToken(o.act(o.ann), store.TokenSpec{Name: "r1", Expires: 70 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.s.RevokeToken(o.act(o.owner), tok.ID); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if _, _, err := o.s.CreateToken(o.act(o.ann), store.TokenSpec{Name: "live"}); err != nil {
		t.Fatal(err)
	}
	m := newDriven(t, o.s, o.ann, 100, 30)
	v := m.View()
	for _, l := range strings.Split(v, "\n") {
		if strings.Contains(l, "r1") && strings.Contains(l, "revoked") && strings.Contains(l, "in 70d") {
			t.Fatalf("a revoked token still expires: %q", l)
		}
	}
	selectToken := func(name string) {
		p := m.pages[pgProfile].(*profilePage)
		for i, v := range p.toks {
			if v.Name == name {
				p.sc.to(i)
			}
		}
	}
	selectToken("r1")
	mustView(t, m, "revoked on", "by Olivia Owner", "Your tokens revoked this week: \u201cr1\u201d by Olivia Owner")
	selectToken("live")
	send(t, m, "r")
	mustView(t, m, "keeps working for 10", "minutes (until")

	op := opts(o.s, o.ann)
	op.FlashFor = 50 * time.Millisecond
	tm := teatest.NewTestModel(t, New(op), teatest.WithInitialTermSize(100, 30))
	t.Cleanup(func() { _ = tm.Quit() })
	waitText(t, tm, "live")
	tm.Send(flashMsg{text: "note that goes away"})
	waitText(t, tm, "note that goes away")
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return !strings.Contains(string(b), "note that goes away") },
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
}

// Defect 17: enter on an awaiting token asks before revealing; enter or esc
// on a secret asks before hiding it for good.
func TestDefect17RevealAndHideAsk(t *testing.T) {
	o := newOrg(t, nil)
	if _, err := o.s.AssignTokens(o.act(o.owner), []string{o.ann.ID}, store.TokenSpec{Name: "given"}); err != nil {
		t.Fatal(err)
	}
	m := newDriven(t, o.s, o.ann, 80, 23)
	send(t, m, "enter")
	mustView(t, m, "Reveal \u201cgiven\u201d now?")
	send(t, m, "n")
	if v, _ := o.s.ListTokens(o.act(o.ann), store.TokenQuery{}); v.Tokens[0].Status != models.StatusAwaitingReveal {
		t.Fatal("declining revealed the token")
	}
	send(t, m, "enter", "y")
	mustView(t, m, "Please keep your Refresh Token")
	send(t, m, "esc")
	mustView(t, m, "Hide it for good?", "Please keep your Refresh Token")
	send(t, m, "n", "enter")
	mustView(t, m, "Hide it for good?")
	send(t, m, "y")
	if strings.Contains(m.View(), "Please keep") {
		t.Fatal("secret still shown after y")
	}
}

// Defect 18: a burst of runes in one message moves once per rune.
func TestDefect18BurstKeys(t *testing.T) {
	o := newOrg(t, nil)
	for i := 0; i < 6; i++ {
		if _, _, err := o.s.CreateToken(o.act(o.ann), store.TokenSpec{Name: fmt.Sprintf("t%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	m := newDriven(t, o.s, o.ann, 80, 23)
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("jjjj")})
	drive(t, m, cmd)
	if c := m.pages[pgProfile].(*profilePage).sc.cursor; c != 4 {
		t.Fatalf("jjjj moved to row %d, want 4", c)
	}
	// esc then 2, typed fast, arrive as alt+2: both keys act.
	s, owner := demoOrg(t)
	d := newDriven(t, s, owner, 80, 23)
	_, cmd = d.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("2"), Alt: true})
	drive(t, d, cmd)
	if len(d.banner) != 0 || d.PageTitles()[d.active] != "API Tokens" {
		t.Fatalf("alt+2 did not dismiss the banner and open API Tokens:\n%s", d.View())
	}
}

// Defect 19: one quote style, sentence case, "your" to yourself, and ?
// says what it does now.
func TestDefect19Wording(t *testing.T) {
	o := newOrg(t, nil)
	if _, _, err := o.s.CreateToken(o.act(o.owner), store.TokenSpec{Name: "mine"}); err != nil {
		t.Fatal(err)
	}
	m := newDriven(t, o.s, o.owner, 80, 23)
	send(t, m, "2", "x")
	v := mustView(t, m, "Revoke your token \u201cmine\u201d?")
	if strings.Contains(v, "'s token") || strings.Contains(v, "\"mine\"") {
		t.Fatalf("wording: %s", v)
	}
	send(t, m, "n", "a")
	mustView(t, m, "Assign token to users")
	send(t, m, "esc", "1", "n")
	mustView(t, m, "Generate new token")
	send(t, m, "esc", "?")
	mustView(t, m, "close help")
}

// Defect 13, column sort: o sorts the whole list (every page) by the next
// column, s reverses it, and the header shows which way.
func TestDefect13ColumnSortWholeList(t *testing.T) {
	o := newOrg(t, nil)
	for i, n := range []string{"kilo", "alpha", "mike", "bravo", "lima", "charlie", "juliet", "delta", "india", "echo", "hotel", "foxtrot", "golf"} {
		u := []models.User{o.ann, o.bob, o.carl}[i%3]
		if _, _, err := o.s.CreateToken(o.act(u), store.TokenSpec{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	m := newDriven(t, o.s, o.owner, 80, 23)
	send(t, m, "2", "o")
	p := unwrap(m.pages[pgTokens]).(*tokensPage)
	mustView(t, m, "NAME ↑", "by name A→Z")
	var all []string
	for {
		for _, r := range p.rows {
			all = append(all, r.Name)
		}
		if p.next == "" {
			break
		}
		send(t, m, "right")
	}
	if got := strings.Join(all, ","); got != "alpha,bravo,charlie,delta,echo,foxtrot,golf,hotel,india,juliet,kilo,lima,mike" {
		t.Fatalf("pages by name: %s", got)
	}
	send(t, m, "s")
	mustView(t, m, "NAME ↓", "by name Z→A")
	if p.rows[0].Name != "mike" {
		t.Fatalf("Z→A starts with %q", p.rows[0].Name)
	}
}

// TestProfileFormFitsUnderBanner: at 80×23 with the login banner up, the
// "Generate new token" form is drawn whole (its bottom border and key hints
// were cut off below the profile header).
func TestProfileFormFitsUnderBanner(t *testing.T) {
	s, owner := demoOrg(t)
	m := newDriven(t, s, owner, 80, 23)
	mustView(t, m, "Expiring within 7 days")
	send(t, m, "n")
	v := mustView(t, m, "Generate new token", "esc back", "╰")
	if n := strings.Count(v, "\n") + 1; n > 23 {
		t.Fatalf("view is %d lines at 80×23:\n%s", n, v)
	}
}
