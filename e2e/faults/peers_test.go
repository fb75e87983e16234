package faults

import (
	"context"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// Cutting every peer link leaves no quorum: the leader steps down; healed,
// the members elect a leader again and writes go through.
func TestPeerCutStopsAndHealResumes(t *testing.T) {
	r := newRig(t, 1)
	r.c.CutPeers(true)
	waitFor(t, 30*time.Second, "the leader steps down without a quorum", func() bool { return r.c.Leader() < 0 })
	r.c.CutPeers(false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.c.WaitLeader(ctx); err != nil {
		t.Fatalf("after the heal the members do not agree on a leader: %v", err)
	}
	st, _ := r.servers[0].get()
	if _, err := st.AddUser(r.owner, store.NewUser{Name: "After", Email: "after@example.com", Role: models.RoleUser}); err != nil {
		t.Fatalf("a write after the heal: %v", err)
	}
}
