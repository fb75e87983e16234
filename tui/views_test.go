package tui

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// TestPagesByRole is "what must show" 3: a user sees only My Profile, an
// admin Profile, Users and Audit Log, the owner all four.
func TestPagesByRole(t *testing.T) {
	o := newOrg(t, nil)
	for _, c := range []struct {
		u    models.User
		want []string
	}{
		{o.ann, []string{"My Profile"}},
		{o.stake, []string{"My Profile"}},
		{o.admin, []string{"My Profile", "Users", "Audit Log"}},
		{o.owner, []string{"My Profile", "API Tokens", "Users", "Audit Log"}},
	} {
		m := newDriven(t, o.s, c.u, 80, 24)
		if got := m.PageTitles(); !slices.Equal(got, c.want) {
			t.Errorf("%s sees %v, want %v", c.u.Role, got, c.want)
		}
		v := m.View()
		for _, title := range []string{"API Tokens", "Users", "Audit Log"} {
			if !slices.Contains(c.want, title) && strings.Contains(v, title) {
				t.Errorf("%s's header shows %q:\n%s", c.u.Role, title, v)
			}
		}
	}
}

// TestHiddenPageIsStillRefusedByStore shows the tab hiding is only courtesy:
// a user's console that somehow reached API Tokens gets the store's refusal.
func TestHiddenPageIsStillRefusedByStore(t *testing.T) {
	o := newOrg(t, nil)
	m := newDriven(t, o.s, o.ann, 80, 24)
	m.shown = append(m.shown, pgTokens) // pretend the UI offered it
	drive(t, m, m.activate(1))
	if v := m.View(); !strings.Contains(v, "permission denied") {
		t.Fatalf("user's API Tokens was not refused by the store:\n%s", v)
	}
}

// TestLiveRevokeReachesHolder is "what must show" 4: two programs on one
// store; the owner revokes, and the holder's My Profile shows it within a
// second without a key press.
func TestLiveRevokeReachesHolder(t *testing.T) {
	o := newOrg(t, nil)
	if _, _, err := o.s.CreateToken(o.act(o.ann), store.TokenSpec{Name: "nightly export"}); err != nil {
		t.Fatal(err)
	}
	holder := start(t, opts(o.s, o.ann))
	waitText(t, holder, "nightly export", "active")
	owner := start(t, opts(o.s, o.owner))
	waitText(t, owner, "2 API Tokens")
	press(owner, "2")
	waitText(t, owner, "nightly export", "Ann Archer")
	press(owner, "x")
	waitText(t, owner, "Revoke Ann Archer\u2019s token")
	press(owner, "y")
	start := time.Now()
	teatest.WaitFor(t, holder.Output(), func(b []byte) bool {
		return strings.Contains(string(b), "revoked")
	}, teatest.WithDuration(time.Second), teatest.WithCheckInterval(5*time.Millisecond))
	t.Logf("holder saw the revoke %v after the owner confirmed", time.Since(start))
	// A second change, from yet another door, arrives the same way.
	if _, err := o.s.AssignTokens(o.act(o.owner), []string{o.ann.ID}, store.TokenSpec{Name: "second"}); err != nil {
		t.Fatal(err)
	}
	teatest.WaitFor(t, holder.Output(), func(b []byte) bool {
		return strings.Contains(string(b), "awaiting reveal")
	}, teatest.WithDuration(time.Second), teatest.WithCheckInterval(5*time.Millisecond))
	m := final(t, holder)
	if p := m.pages[pgProfile].(*profilePage); len(p.toks) != 2 || p.toks[1].Status != models.StatusRevoked {
		t.Fatalf("holder's model has %+v", p.toks)
	}
}

// spyBackend is the real store with its subscriptions counted, to prove the
// console ends its subscription when it quits.
type spyBackend struct {
	*store.Store
	subs, cancels chan struct{}
}

func (s *spyBackend) Subscribe() (<-chan store.Event, func()) {
	ch, cancel := s.Store.Subscribe()
	s.subs <- struct{}{}
	return ch, func() {
		cancel()
		s.cancels <- struct{}{}
	}
}

func TestQuitEndsSubscription(t *testing.T) {
	o := newOrg(t, nil)
	spy := &spyBackend{Store: o.s, subs: make(chan struct{}, 4), cancels: make(chan struct{}, 4)}
	tm := start(t, opts(spy, o.ann))
	<-spy.subs
	waitText(t, tm, "No tokens yet")
	press(tm, "q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	select {
	case <-spy.cancels:
	case <-time.After(5 * time.Second):
		t.Fatal("quitting did not cancel the subscription")
	}
}

func TestCloseBeforeSubscribeStillCancels(t *testing.T) {
	o := newOrg(t, nil)
	spy := &spyBackend{Store: o.s, subs: make(chan struct{}, 4), cancels: make(chan struct{}, 4)}
	m := New(opts(spy, o.ann)).(*Model)
	Close(m)
	drive(t, m, m.subscribe())
	select {
	case <-spy.cancels:
	case <-time.After(5 * time.Second):
		t.Fatal("a subscription that arrived after Close was kept")
	}
}

func TestStoreCloseEndsWait(t *testing.T) {
	o := newOrg(t, nil)
	ch, cancel := o.s.Subscribe()
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		m := New(opts(o.s, o.ann)).(*Model)
		l := &liveState{cancel: func() {}}
		if msg := waitEvent(context.Background(), l, ch, len(m.pages), m.concerns())(); msg != (subscriptionEndedMsg{}) {
			t.Errorf("got %#v, want subscriptionEndedMsg", msg)
		}
	}()
	_ = o.s.Close()
	<-done
}

// TestSizes is "what must show" 5.
func TestSizes(t *testing.T) {
	s, owner := demoOrg(t)
	tm := start(t, opts(s, owner))
	waitText(t, tm, "Ada Park", "backup job", "? all keys")
	tm.Send(teaSize(40, 10))
	waitText(t, tm, "Terminal too small")
	final(t, tm)

	for _, sz := range [][2]int{{0, 0}, {1, 1}, {30, 8}, {60, 20}, {79, 24}, {80, 22}, {80, 23}, {80, 24}, {120, 40}, {200, 60}, {10000, 10000}} {
		m := newDriven(t, s, owner, sz[0], sz[1])
		for _, keys := range [][]string{{"1"}, {"2"}, {"3"}, {"4"}, {"2", "a"}, {"1", "n"}, {"3", "a"}, {"1", "?"}} {
			send(t, m, "esc", "esc")
			send(t, m, keys...)
			v := m.View() // must not panic
			small := sz[0] < MinWidth || sz[1] < MinHeight
			if fits := sz[0] >= 12 && sz[1] >= 2; fits && small != strings.Contains(strings.ToLower(v), "too small") {
				t.Errorf("%v: too-small note = %v", sz, !small)
			}
			if lines := strings.Count(v, "\n") + 1; !small && lines > min(sz[1], maxHeight) {
				t.Errorf("%v %v: %d lines", sz, keys, lines)
			}
		}
	}
}

// hostileBackend returns names and details as an older database or another
// backend might hold them: the store refuses such names today, but the
// console must not trust that.
type hostileBackend struct{ *store.Store }

const hostile = "Eve\x1b]52;c;ZXZpbA==\x07\a\x1b[2J\u202eliam\x9b31m"

func (h hostileBackend) Profile(a store.Actor) (models.User, error) {
	u, err := h.Store.Profile(a)
	u.Name = hostile
	return u, err
}

func (h hostileBackend) ListUsers(a store.Actor) ([]models.User, error) {
	us, err := h.Store.ListUsers(a)
	for i := range us {
		us[i].Name, us[i].Email = hostile, hostile+"@x"
	}
	return us, err
}

func (h hostileBackend) Assignees(a store.Actor) ([]models.User, error) {
	us, err := h.Store.Assignees(a)
	for i := range us {
		us[i].Name = hostile
	}
	return us, err
}

func (h hostileBackend) ListTokens(a store.Actor, q store.TokenQuery) (store.TokenPage, error) {
	pg, err := h.Store.ListTokens(a, q)
	for i := range pg.Tokens {
		pg.Tokens[i].Name, pg.Tokens[i].HolderName, pg.Tokens[i].CreatorName = hostile, hostile, hostile
	}
	return pg, err
}

func (h hostileBackend) Audit(a store.Actor, q store.AuditQuery) ([]models.AuditEntry, error) {
	es, err := h.Store.Audit(a, q)
	for i := range es {
		es[i].Detail, es[i].ActorEmail, es[i].Via = hostile, hostile, hostile
	}
	return es, err
}

// TestHostileNamesAreSanitized is "what must show" 6.
func TestHostileNamesAreSanitized(t *testing.T) {
	o := newOrg(t, nil)
	if _, err := o.s.AddUser(o.act(o.owner), store.NewUser{Name: hostile, Email: "eve@example.com", Role: models.RoleUser}); !errors.Is(err, models.ErrInvalid) {
		t.Fatalf("store accepted a hostile name: %v", err)
	}
	if _, err := o.s.AssignTokens(o.act(o.owner), []string{o.ann.ID}, store.TokenSpec{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	m := newDriven(t, hostileBackend{o.s}, o.owner, 100, 30)
	for _, keys := range [][]string{{"1"}, {"2"}, {"2", "a"}, {"esc", "3"}, {"3", "x"}, {"esc", "4"}} {
		send(t, m, keys...)
		v := m.View()
		if !strings.Contains(v, "Eve") {
			t.Fatalf("%v: hostile name not on screen at all:\n%s", keys, v)
		}
		for _, bad := range []string{"\x1b", "\x07", "\u202e", "\x9b", "\u009b"} {
			if strings.Contains(v, bad) {
				t.Fatalf("%v: view holds %q:\n%q", keys, bad, v)
			}
		}
	}
}
