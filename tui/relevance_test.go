package tui

import (
	"context"
	"testing"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// TestConcerns: each page says which events concern it. A login elsewhere
// (an audit-only event) must not reload My Profile, or a thousand open
// consoles reload each other a million times.
func TestConcerns(t *testing.T) {
	o := newOrg(t, nil)
	m := New(opts(o.s, o.ann)).(*Model)
	me := o.ann.ID
	login := store.Event{Type: models.AuditSSHSessionOpened}
	mine := store.Event{Type: models.AuditTokenRevoked, UserIDs: []string{me}, TokenIDs: []string{"tok_1"}}
	other := store.Event{Type: models.AuditTokenCreated, UserIDs: []string{"usr_other"}, TokenIDs: []string{"tok_2"}}
	role := store.Event{Type: models.AuditRoleChanged, UserIDs: []string{"usr_other"}}
	cases := []struct {
		page int
		ev   store.Event
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
		{pgUsers, role, true},
	}
	for i, c := range cases {
		if got := m.pages[c.page].Concerns(c.ev); got != c.want {
			t.Errorf("case %d: page %d concerned=%v, want %v", i, c.page, got, c.want)
		}
	}
}

// TestIrrelevantEventsDoNotWake: events no visible screen cares about are
// swallowed by the waiting goroutine (no message, so no update or redraw) and
// remembered for the hidden page they concern.
func TestIrrelevantEventsDoNotWake(t *testing.T) {
	o := newOrg(t, nil)
	m := New(opts(o.s, o.ann)).(*Model)
	me := o.ann.ID
	ch := make(chan store.Event, 8)
	l := &liveState{cancel: func() {}}
	l.visible.Store(pgProfile)
	ch <- store.Event{Type: models.AuditSSHSessionOpened}
	ch <- store.Event{Type: models.AuditUserAdded, UserIDs: []string{"usr_other"}}
	ch <- store.Event{Type: models.AuditTokenRevoked, UserIDs: []string{me}, TokenIDs: []string{"tok_1"}}
	msg := waitEvent(context.Background(), l, ch, len(m.pages), m.concerns())()
	got, ok := msg.(storeEventMsg)
	if !ok || len(got.pages) != 1 || got.pages[0] != pgProfile {
		t.Fatalf("woke with %#v, want only My Profile for the revoke of my token", msg)
	}
	if !l.takeMissed(pgAudit) || !l.takeMissed(pgUsers) || l.takeMissed(pgUsers) || !l.takeMissed(pgTokens) {
		t.Fatal("hidden pages' missed changes not recorded exactly once")
	}
}
