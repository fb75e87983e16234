package tui

import (
	"testing"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// TestRelevance: a login elsewhere (an audit-only event) must not reload My
// Profile, or a thousand open consoles reload each other a million times.
func TestRelevance(t *testing.T) {
	login := []store.Event{{Type: models.AuditSSHSessionOpened}}
	mine := []store.Event{{Type: models.AuditTokenRevoked, UserIDs: []string{"usr_me"}, TokenIDs: []string{"tok_1"}}}
	other := []store.Event{{Type: models.AuditTokenCreated, UserIDs: []string{"usr_other"}, TokenIDs: []string{"tok_2"}}}
	cases := []struct {
		page int
		evs  []store.Event
		want bool
	}{
		{pgProfile, login, false},
		{pgTokens, login, false},
		{pgUsers, login, false},
		{pgAudit, login, true},
		{pgProfile, mine, true},
		{pgProfile, other, false},
		{pgTokens, other, true},
		{pgUsers, other, false},
		{pgProfile, append(login, mine...), true},
		{pgUsers, []store.Event{{Type: models.AuditRoleChanged, UserIDs: []string{"usr_other"}}}, true},
	}
	for i, c := range cases {
		if got := relevant(c.page, c.evs, "usr_me"); got != c.want {
			t.Errorf("case %d: page %d relevant=%v, want %v", i, c.page, got, c.want)
		}
	}
}

// TestIrrelevantEventsDoNotWake: events no visible screen cares about are
// swallowed by the waiting goroutine (no message, so no update or redraw) and
// remembered for the hidden page they concern.
func TestIrrelevantEventsDoNotWake(t *testing.T) {
	ch := make(chan store.Event, 8)
	l := &liveState{done: make(chan struct{})}
	l.visible.Store(pgProfile)
	ch <- store.Event{Type: models.AuditSSHSessionOpened}
	ch <- store.Event{Type: models.AuditUserAdded, UserIDs: []string{"usr_other"}}
	ch <- store.Event{Type: models.AuditTokenRevoked, UserIDs: []string{"usr_me"}, TokenIDs: []string{"tok_1"}}
	msg := waitEvent(l, ch, "usr_me", 4)()
	got, ok := msg.(storeEventMsg)
	if !ok || len(got.evs) != 1 || got.evs[0].Type != models.AuditTokenRevoked {
		t.Fatalf("woke with %#v, want only the revoke of my token", msg)
	}
	if !l.takeMissed(pgAudit) || !l.takeMissed(pgUsers) || l.takeMissed(pgUsers) {
		t.Fatal("hidden pages' missed changes not recorded exactly once")
	}
}
