package main

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keydesk/keydesk/api"
	"github.com/keydesk/keydesk/store"
)

// outcome is one request sent while a token was being revoked.
type outcome struct {
	start, end time.Time
	status     int
}

// benchRevoke revokes a token while clients hammer the API with it — half
// presenting an access token minted from it to GET /v3/users/me, half
// exchanging the refresh token itself — and reports how soon after
// RevokeToken returned the first request was refused, and how many requests
// started after it returned still succeeded (docs/targets.md: none).
func benchRevoke(cfg *config, rep *report) error {
	// Auth-failure limiting is off: a stream of 401s after the revoke would
	// otherwise turn into 429s and block the next trial's address.
	e, err := newAPIEnv(cfg.concurrency, api.Options{MaxAuthFailures: -1})
	if err != nil {
		return err
	}
	defer e.close()
	trials := 5
	if cfg.short {
		trials = 2
	}
	holder := store.Actor{UserID: e.o.owner.ID, Via: "bench"}
	var (
		reject  latencies // revoke returned → first refusal of a request started after it
		before  latencies // latency of the successful requests before the revoke
		leaked  int       // 200s for requests started after RevokeToken returned
		started int
	)
	for t := range trials {
		tok, secret, err := e.o.s.CreateToken(holder, store.TokenSpec{Name: fmt.Sprintf("revoke trial %d", t)})
		if err != nil {
			return err
		}
		access, err := e.exchange(secret)
		if err != nil {
			return err
		}
		var (
			mu       sync.Mutex
			outs     []outcome
			ok       atomic.Int64
			returned atomic.Pointer[time.Time]
			wg       sync.WaitGroup
		)
		for w := range cfg.concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					var req *http.Request
					if w%2 == 0 {
						req, _ = http.NewRequest("GET", e.kdURL+"/v3/users/me", nil)
						req.Header.Set("Authorization", "Bearer "+access)
					} else {
						req, _ = http.NewRequest("GET", e.kdURL+"/oauth/access-token", nil)
						req.Header.Set("X-Refresh-Token", secret)
					}
					o := outcome{start: time.Now()}
					res, err := e.client.Do(req)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					o.end, o.status = time.Now(), res.StatusCode
					mu.Lock()
					outs = append(outs, o)
					mu.Unlock()
					if o.status == http.StatusOK {
						ok.Add(1)
					}
					// Each client stops at its first answer to a request
					// it started after the revoke returned.
					if r := returned.Load(); r != nil && o.start.After(*r) {
						return
					}
					if o.status != http.StatusOK && returned.Load() == nil {
						return // refused before the revoke: a bug the row will show
					}
				}
			}()
		}
		// Revoke once the clients are in full flow.
		if !within(10*time.Second, func() bool { return ok.Load() >= int64(20*cfg.concurrency) }) {
			return fmt.Errorf("trial %d: clients never got going", t)
		}
		if _, err := e.o.s.RevokeToken(e.o.ownerA, tok.ID); err != nil {
			return err
		}
		now := time.Now()
		returned.Store(&now)
		wg.Wait()

		first := time.Duration(-1)
		for _, o := range outs {
			switch {
			case o.start.After(now):
				started++
				if o.status == http.StatusOK {
					leaked++
				} else if d := o.end.Sub(now); first < 0 || d < first {
					first = d
				}
			case o.end.Before(now) && o.status == http.StatusOK:
				before = append(before, o.end.Sub(o.start))
			}
		}
		if first < 0 {
			return fmt.Errorf("trial %d: no request started after the revoke was refused", t)
		}
		reject = append(reject, first)
	}
	reject, before = reject.sorted(), before.sorted()
	r := ratio(float64(reject.pct(0.5)), float64(before.pct(0.5)))
	rep.add("revocation: RevokeToken returned → first refused request (median of trials)",
		fmtDur(reject.pct(0.5)), fmtDur(before.pct(0.5))+" one request (p50, before the revoke)", r, "— (as soon as one round trip)", nil)
	rep.add("revocation: 200s for requests started after RevokeToken returned",
		fmt.Sprintf("%d of %d", leaked, started), "0", ratio(0, 0), "0", ptr(leaked == 0))
	rep.note("Revocation: %d trials, %d clients each (half GET /v3/users/me with an access token minted from the token, half exchanging the refresh token), revoked with store.RevokeToken while they run; worst trial %s.",
		trials, cfg.concurrency, fmtDur(reject[len(reject)-1]))
	return nil
}
