package tui

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest"
	"github.com/keydesk/keydesk/store"
)

// At 80×23 the help bar keeps the keys that are not written elsewhere on the
// screen: on API Tokens "x revoke" (the bar ended "s reverse order …", and
// / and s are already on the line under the title), in the picker "esc
// cancel" (it ended "↓ down …", so the way out was the key cut off).
func TestHelpBarAt80KeepsRevokeAndCancel(t *testing.T) {
	s, owner := demoOrg(t)
	tm := teatest.NewTestModel(t, New(opts(s, owner)), teatest.WithInitialTermSize(80, 23))
	t.Cleanup(func() { _ = tm.Quit() })
	// Each wait reads on from where the last stopped, so it sees only what
	// the keys since then drew.
	waitText(t, tm, "q quit")
	press(tm, "2")
	waitText(t, tm, "a assign • x revoke")
	press(tm, "a")
	waitText(t, tm, "enter continue • esc cancel")
	press(tm, "esc")
	waitText(t, tm, "a assign • x revoke")
}

// Sorted by expiry, the title says which dates come first: it said "by
// expiry A→Z" and "Z→A", an order dates do not have.
func TestExpirySortSaysSoonestFirst(t *testing.T) {
	s, owner := demoOrg(t)
	m := newDriven(t, s, owner, 120, 40)
	send(t, m, "2", "o", "o", "o", "o")
	mustView(t, m, "by expiry, soonest first", "EXPIRES ↑")
	send(t, m, "s")
	mustView(t, m, "by expiry, latest first", "EXPIRES ↓")
	send(t, m, "o")
	mustView(t, m, "newest first")
}

// At 80 columns My Profile's EXPIRES column holds a whole date: an expired
// token's day showed as "2025-03…".
func TestProfileShowsExpiredDayAt80(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	o := newOrg(t, clock)
	if _, _, err := o.s.CreateToken(o.act(o.ann), store.TokenSpec{Name: "weekly", Expires: 7 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(10 * 24 * time.Hour)
	mu.Unlock()
	m := newDriven(t, o.s, o.ann, 80, 23)
	for _, l := range strings.Split(m.View(), "\n") {
		if strings.Contains(l, "weekly") && strings.Contains(l, "expired") && !strings.Contains(l, "2025-03-08") {
			t.Fatalf("the expired row cuts its day:\n%s", l)
		}
	}
	mustView(t, m, "weekly")
}
