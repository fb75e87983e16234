package api

import (
	"sync"
	"time"

	"github.com/keydesk/keydesk/internal/connlimit"
)

// failLimiter counts authentication failures per client address in fixed
// windows. Once an address reaches max failures in a window, its further
// failures are answered 429 until the window ends. It only ever refuses a
// request that would fail anyway: a valid credential is checked first and
// always served (keydesk's secrets are 256-bit random, so there is nothing to
// slow down by refusing it), so no client's failures, from any number of
// addresses or through a shared proxy, can lock out someone else's token.
//
// Memory is bounded: at most maxEntries addresses are tracked. When the table
// is full, windows that ended are dropped; if none has, the entry closest to
// the end of its window among a few sampled is evicted. No two addresses ever
// share a bucket.
type failLimiter struct {
	max        int
	window     time.Duration
	maxEntries int
	now        func() time.Time

	mu      sync.RWMutex
	entries map[string]*failWindow
}

type failWindow struct {
	start time.Time
	n     int
}

// evictSample is how many entries are looked at to choose one to evict.
const evictSample = 8

func newFailLimiter(max int, window time.Duration, now func() time.Time) *failLimiter {
	return &failLimiter{max: max, window: window, maxEntries: 10_000, now: now,
		entries: map[string]*failWindow{}}
}

// limitKey groups an address with its neighbours that one party controls
// (connlimit.Client: an IPv6 client usually owns a whole /64).
func limitKey(ip string) string { return connlimit.Client(ip) }

// blocked reports whether key is refused now and for how long.
func (l *failLimiter) blocked(key string) (time.Duration, bool) {
	if l == nil {
		return 0, false
	}
	l.mu.RLock()
	w, ok := l.entries[key]
	var start time.Time
	var n int
	if ok {
		start, n = w.start, w.n
	}
	l.mu.RUnlock()
	if !ok || n < l.max {
		return 0, false
	}
	left := start.Add(l.window).Sub(l.now())
	if left <= 0 {
		return 0, false
	}
	return left, true
}

// fail records one authentication failure from key.
func (l *failLimiter) fail(key string) {
	if l == nil {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.entries[key]
	if !ok && len(l.entries) >= l.maxEntries {
		l.sweep(now)
		if len(l.entries) >= l.maxEntries {
			l.evictOne()
		}
	}
	if !ok || !now.Before(w.start.Add(l.window)) {
		l.entries[key] = &failWindow{start: now, n: 1}
		return
	}
	w.n++
}

// sweep drops windows that have ended.
func (l *failLimiter) sweep(now time.Time) {
	for k, w := range l.entries {
		if !now.Before(w.start.Add(l.window)) {
			delete(l.entries, k)
		}
	}
}

// evictOne drops the oldest window among a few (map order is random), the
// one that would have ended soonest anyway.
func (l *failLimiter) evictOne() {
	var oldest string
	var at time.Time
	i := 0
	for k, w := range l.entries {
		if oldest == "" || w.start.Before(at) {
			oldest, at = k, w.start
		}
		if i++; i == evictSample {
			break
		}
	}
	delete(l.entries, oldest)
}
