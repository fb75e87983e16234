//go:build linux

package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/etcdtest"
)

// SIGKILL of real etcd processes (fsync on) while A and B write: the leader
// in rounds 1 and 3, a follower in round 2, each restarted on its data
// directory and ports. Every acknowledged user is there on both servers at
// the end, the killed members caught up (all three at one raft index), and
// the store checks clean. The stall of each round (just before the kill →
// acknowledgement of the first write invoked after the process was gone) is
// logged; as in TestLeaderKillLosesNothingAcknowledged, more than 20 s fails.
func TestSigkilledEtcdLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("three members: not in -short")
	}
	c := etcdtest.NewProcCluster(t, 3)
	p := newPair(t, c)
	ws := startWriters(p)
	var stalls []string
	for round, who := range []string{"leader", "follower", "leader"} {
		ws.waitAcked(t, len(ws.snapshot())+20) // writes flow before the kill
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		lead, err := c.WaitLeader(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		victim := lead
		if who == "follower" {
			victim = (lead + 1) % len(c.Members)
		}
		before := time.Now()
		c.Kill(victim)
		gone := time.Now()
		// The first write invoked once the process was gone, acknowledged.
		var stall time.Duration
		deadline := gone.Add(30 * time.Second)
		for stall == 0 {
			for _, w := range ws.snapshot() {
				if w.invoked.After(gone) {
					stall = w.at.Sub(before)
					break
				}
			}
			if stall == 0 && time.Now().After(deadline) {
				t.Fatalf("round %d: no write invoked after the %s's SIGKILL acknowledged in 30 s", round+1, who)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if stall > 20*time.Second {
			t.Fatalf("round %d: writes stalled %v after the %s's SIGKILL", round+1, stall, who)
		}
		stalls = append(stalls, fmt.Sprintf("%s %v", who, stall.Round(time.Millisecond)))
		ws.waitAcked(t, len(ws.snapshot())+20) // on two members
		if err := c.Restart(victim); err != nil {
			t.Fatalf("round %d: restart %s: %v", round+1, c.Members[victim].Name, err)
		}
		ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
		err = c.WaitCaughtUp(ctx, victim)
		cancel()
		if err != nil {
			t.Fatalf("round %d: %v", round+1, err)
		}
	}
	acked := ws.halt()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	index, err := c.WaitInSync(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	allThere(t, p, acked, "SIGKILLs of etcd members")
	for name, s := range map[string]interface{ Check() ([]string, error) }{"A": p.A, "B": p.B} {
		if problems, err := s.Check(); err != nil || len(problems) > 0 {
			t.Fatalf("check on %s: %v %q", name, err, problems)
		}
	}
	t.Logf("SIGKILL of etcd processes (fsync on), 3 rounds: %d acknowledged writes, none lost; write stall %s (target ≤ 5 s); all three members at raft index %d; ambiguous commits settled A %d/%d B %d/%d",
		len(acked), strings.Join(stalls, ", "), index,
		p.EA.Stats().Landed.Load(), p.EA.Stats().Ambiguous.Load(), p.EB.Stats().Landed.Load(), p.EB.Stats().Ambiguous.Load())
}
