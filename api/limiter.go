package api

import (
	"net/netip"
	"sync"
	"time"
)

// failLimiter counts authentication failures per client address in fixed
// windows. Once an address reaches max failures in a window it is refused with
// 429 until the window ends, which makes guessing tokens or replaying stolen
// ones from one place slow without ever locking out a legitimate user for long.
//
// Memory is bounded: at most maxEntries addresses are tracked; when the table
// is full and nothing in it has expired, further addresses share one overflow
// bucket, so a flood from many addresses gets limited together rather than
// growing the table or evicting the addresses already being limited.
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

const overflowKey = "overflow"

func newFailLimiter(max int, window time.Duration, now func() time.Time) *failLimiter {
	return &failLimiter{max: max, window: window, maxEntries: 10_000, now: now,
		entries: map[string]*failWindow{}}
}

// limitKey groups an address with its neighbours that one party controls: an
// IPv6 client usually owns a whole /64, so it counts as one.
func limitKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}

// blocked reports whether key is refused now and for how long.
func (l *failLimiter) blocked(key string) (time.Duration, bool) {
	if l == nil {
		return 0, false
	}
	l.mu.RLock()
	w, ok := l.entries[key]
	if !ok && len(l.entries) >= l.maxEntries {
		w, ok = l.entries[overflowKey]
	}
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
	if !ok {
		if len(l.entries) >= l.maxEntries {
			l.sweep(now)
		}
		if len(l.entries) >= l.maxEntries {
			key = overflowKey
			w, ok = l.entries[key]
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
