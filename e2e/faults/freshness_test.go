package faults

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

func pct(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// A server cut off from etcd keeps refusing a token revoked elsewhere (it
// fails closed instead of answering from its cache), says so in its health
// and its log, and catches up without a restart when the partition heals.
func TestFreshnessUnderPartition(t *testing.T) {
	r := newRig(t, 2)
	h := r.addHolders(1)[0]
	a, _ := r.servers[0].get()
	far := r.servers[1]
	b, eb := far.get()
	rounds := 1
	if *long {
		rounds = 3
	}
	var catchUp, refuse, afterHeal []time.Duration
	for round := 0; round < rounds; round++ {
		dead, _, err := a.CreateToken(h.actor, store.TokenSpec{Name: "doomed"})
		if err != nil {
			t.Fatal(err)
		}
		live, _, err := a.CreateToken(h.actor, store.TokenSpec{Name: "live"})
		if err != nil {
			t.Fatal(err)
		}
		// B serves both from its cache first.
		waitFor(t, 30*time.Second, "B accepts tokens made on A", func() bool {
			_, e1 := b.CheckAccess(dead.ID, h.id)
			_, e2 := b.CheckAccess(live.ID, h.id)
			return e1 == nil && e2 == nil && b.Health().Cache == "fresh"
		})
		far.partition(true)
		if _, err := a.RevokeToken(h.actor, dead.ID); err != nil {
			t.Fatal(err)
		}
		revoked := time.Now()
		// Cut off, B refuses the revoked token on every check (and the live
		// one too: it cannot prove either is current, so it fails closed).
		for i := 0; i < 3; i++ {
			start := time.Now()
			if _, err := b.CheckAccess(dead.ID, h.id); !errors.Is(err, models.ErrUnauthenticated) {
				t.Fatalf("round %d: B, cut off from etcd, accepted a token revoked on A %v ago", round, time.Since(revoked))
			}
			refuse = append(refuse, time.Since(start))
		}
		if hb := b.Health(); hb.Cache == "fresh" {
			t.Fatalf("round %d: B cut off from etcd still reports its cache fresh: %+v", round, hb)
		}
		if !strings.Contains(far.log.String(), "etcd does not answer") {
			t.Fatalf("round %d: B logged nothing about losing etcd:\n%s", round, far.log.String())
		}
		far.partition(false)
		healed := time.Now()
		if _, err := b.CheckAccess(dead.ID, h.id); err == nil {
			t.Fatalf("round %d: B accepted the revoked token right after the partition healed", round)
		}
		afterHeal = append(afterHeal, time.Since(healed))
		// B catches up by itself: fresh again, the live token accepted from
		// its cache, the revoked one refused throughout.
		catchUp = append(catchUp, waitFor(t, 30*time.Second, "B catches up after the partition heals", func() bool {
			if _, err := b.CheckAccess(dead.ID, h.id); err == nil {
				t.Fatalf("round %d: B accepted the revoked token %v after the partition healed", round, time.Since(healed))
			}
			_, err := b.CheckAccess(live.ID, h.id)
			return err == nil && eb.Fresh()
		}))
		if !strings.Contains(far.log.String(), "etcd answers again") {
			t.Fatalf("round %d: B logged nothing about etcd coming back:\n%s", round, far.log.String())
		}
	}
	t.Logf("over %d rounds: cut off, a revoked token's check was refused after p50 %v, max %v (the read-through's timeout); "+
		"after the heal the first check refused it in p50 %v, max %v; B proved its cache fresh again (and served the live token from it) p50 %v, max %v after that",
		rounds, pct(refuse, 0.5).Round(time.Millisecond), pct(refuse, 1).Round(time.Millisecond),
		pct(afterHeal, 0.5).Round(time.Millisecond), pct(afterHeal, 1).Round(time.Millisecond),
		pct(catchUp, 0.5).Round(time.Millisecond), pct(catchUp, 1).Round(time.Millisecond))
}

// The same through a `keydesk serve` process's doors: cut off from etcd it
// refuses a token revoked on another server at the token endpoint and says
// so in /healthz and its log; healed, it refuses it at once and serves the
// live token again without a restart.
func TestFreshnessUnderPartitionServe(t *testing.T) {
	r := newRigWith(t, 1, 1)
	h := r.addHolders(1)[0]
	a, _ := r.servers[0].get()
	far := r.procs[0]
	base := far.base()
	dead, deadSecret, err := a.CreateToken(h.actor, store.TokenSpec{Name: "doomed"})
	if err != nil {
		t.Fatal(err)
	}
	_, liveSecret, err := a.CreateToken(h.actor, store.TokenSpec{Name: "live"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the process exchanges tokens made on A", func() bool {
		return exchangeAt(httpClient, base, deadSecret) != "" && exchangeAt(httpClient, base, liveSecret) != ""
	})
	far.partition(true)
	if _, err := a.RevokeToken(h.actor, dead.ID); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for i := 0; i < 2; i++ {
		if exchangeAt(httpClient, base, deadSecret) != "" {
			t.Fatalf("the process, cut off from etcd, exchanged a token revoked on A %v ago", time.Since(revoked))
		}
	}
	if cache, err := procHealth(far.proc.httpAddr); err == nil && cache == "fresh" {
		t.Fatal("the process cut off from etcd still reports its cache fresh in /healthz")
	}
	if !strings.Contains(far.log.String(), "etcd does not answer") {
		t.Fatalf("the process logged nothing about losing etcd:\n%s", far.log.String())
	}
	far.partition(false)
	healed := time.Now()
	if exchangeAt(httpClient, base, deadSecret) != "" {
		t.Fatal("the process exchanged the revoked token right after the partition healed")
	}
	first := time.Since(healed)
	back := waitFor(t, 30*time.Second, "the process serves the live token again", func() bool {
		if exchangeAt(httpClient, base, deadSecret) != "" {
			t.Fatalf("the process exchanged the revoked token %v after the partition healed", time.Since(healed))
		}
		cache, err := procHealth(far.proc.httpAddr)
		return exchangeAt(httpClient, base, liveSecret) != "" && err == nil && cache == "fresh"
	})
	if !strings.Contains(far.log.String(), "etcd answers again") {
		t.Fatalf("the process logged nothing about etcd coming back:\n%s", far.log.String())
	}
	t.Logf("keydesk serve: after the heal the revoked token was refused in %v; fresh and serving the live token %v later",
		first.Round(time.Millisecond), back.Round(time.Millisecond))
}
