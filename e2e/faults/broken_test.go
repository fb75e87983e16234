package faults

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/faultinject"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// expectAnomaly checks the rig's history and fails unless porcupine finds
// it not linearizable and the verdict names the visualization it wrote.
func expectAnomaly(t *testing.T, r *rig, name string) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("KEYDESK_FAULTS_DIR", dir)
	bad := r.verdict(name)
	if len(bad) == 0 || !strings.Contains(bad[0], "not linearizable; visualization: "+dir) {
		t.Fatalf("the checker missed the broken engine (%s): %q", Summary(r.hist.Ops()), bad)
	}
	html := strings.TrimPrefix(bad[0], "porcupine: the history is not linearizable; visualization: ")
	if fi, err := os.Stat(html); err != nil || fi.Size() == 0 {
		t.Fatalf("no visualization at %s: %v", html, err)
	}
	t.Logf("caught, as it should be: %s", strings.Join(bad, "; "))
}

// A store that trusts its cache past the freshness rule accepts, while cut
// off from etcd, a token another server revoked: the checker must say so.
func TestBrokenStaleCacheIsCaught(t *testing.T) {
	r := newRig(t, 2)
	h := r.addHolders(1)[0]
	a, _ := r.servers[0].get()
	far := r.servers[1]
	b, _ := far.get()
	key := "h:" + h.id
	call := r.hist.Now()
	tok, _, err := a.CreateToken(h.actor, store.TokenSpec{Name: "doomed"})
	if err != nil {
		t.Fatal(err)
	}
	r.hist.Add(Op{In: Input{Kind: Create, Key: key}, Out: Output{Result: OK}, Holder: h.id, NewID: tok.ID, Call: call, Return: r.hist.Now()})
	accept := func(client int) bool {
		call := r.hist.Now()
		_, err := b.CheckAccess(tok.ID, h.id)
		if err != nil {
			return false
		}
		r.hist.Add(Op{Client: client, Server: 1, In: Input{Kind: Accept, Key: key}, Out: Output{Result: OK},
			Holder: h.id, TokenID: tok.ID, Call: call, Return: r.hist.Now()})
		return true
	}
	// Accepted twice while fresh: the first check fills the cache, the
	// second is answered from it.
	waitFor(t, 30*time.Second, "B accepts the token from its cache", func() bool {
		return b.Health().Cache == "fresh" && accept(1) && accept(1)
	})

	faultinject.TrustStaleCache.Store(true)
	defer faultinject.TrustStaleCache.Store(false)
	far.partition(true)
	defer far.partition(false)
	call = r.hist.Now()
	if _, err := a.RevokeToken(h.actor, tok.ID); err != nil {
		t.Fatal(err)
	}
	r.hist.Add(Op{In: Input{Kind: Revoke, Key: key}, Out: Output{Result: OK}, Holder: h.id, TokenID: tok.ID, Call: call, Return: r.hist.Now()})
	// Well past the freshness bound, the broken store still answers from
	// its cache.
	waitFor(t, 30*time.Second, "B's last contact with etcd is older than the freshness bound", func() bool {
		return b.Health().WatchAge > 3*staleness
	})
	if !accept(1) {
		t.Fatal("the broken store refused the revoked token: the knob did not take effect")
	}
	expectAnomaly(t, r, "stale-cache")
}

// An engine that commits without guarding what it read lets concurrent
// creators on several servers exceed a holder's 25 usable tokens: the
// checker must say so.
func TestBrokenGuardsAreCaught(t *testing.T) {
	r := newRig(t, 3)
	faultinject.SkipGuards.Store(true)
	defer faultinject.SkipGuards.Store(false)
	for round := 0; round < 10; round++ {
		h := r.addHolders(1)[0]
		// 20 tokens one after another, then 16 creators at once on three
		// servers: at most 5 of them may succeed. (Few concurrent operations
		// keep porcupine's proof of the anomaly quick.)
		st0, _ := r.servers[0].get()
		for i := 0; i < MaxUsable-5; i++ {
			call := r.hist.Now()
			tok, _, err := st0.CreateToken(h.actor, store.TokenSpec{Name: "base"})
			if err != nil {
				t.Fatal(err)
			}
			r.record(Op{In: Input{Kind: Create, Key: "h:" + h.id}, Holder: h.id, NewID: tok.ID}, call, nil)
		}
		var wg sync.WaitGroup
		var made, limited int
		var mu sync.Mutex
		for w := 0; w < 16; w++ {
			st, _ := r.servers[w%len(r.servers)].get()
			wg.Add(1)
			go func() {
				defer wg.Done()
				call := r.hist.Now()
				tok, _, err := st.CreateToken(h.actor, store.TokenSpec{Name: "rush"})
				op := Op{Client: w, Server: w % len(r.servers), In: Input{Kind: Create, Key: "h:" + h.id}, Holder: h.id, NewID: tok.ID}
				if err != nil && !errors.Is(err, models.ErrLimit) {
					t.Error(err)
					return
				}
				r.record(op, call, err)
				mu.Lock()
				if err == nil {
					made++
				} else {
					limited++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		t.Logf("round %d: %d of 16 concurrent creations acknowledged (5 fit), %d refused at the limit", round, made, limited)
		if made > 5 {
			expectAnomaly(t, r, "no-guards")
			return
		}
	}
	t.Fatal("ten rounds without guards never broke the limit: the test cannot show the checker catches it")
}
