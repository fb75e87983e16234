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
