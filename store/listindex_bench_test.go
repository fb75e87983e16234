package store

import (
	"runtime"
	"testing"
)

// BenchmarkSortedPage is one console page of the API Tokens list on 100k
// tokens (10k people), sorted or filtered over the whole organization: by the
// scan (what every page cost before the index) and from the index (built
// before the timer starts; its build is BenchmarkListIndexBuild).
func BenchmarkSortedPage(b *testing.B) {
	s, owner := liveOrg(b)
	if err := s.BulkLoad(owner, BulkSpec{Users: 10000, TokensPerUser: 10, RevokedEveryNth: 7}); err != nil {
		b.Fatal(err)
	}
	queries := []struct {
		name string
		q    TokenQuery
	}{
		{"name", TokenQuery{All: true, Sort: "name", Limit: 20}},
		{"holder-desc", TokenQuery{All: true, Sort: "holder", Desc: true, Limit: 20}},
		{"expires", TokenQuery{All: true, Sort: "expires", Limit: 20}},
		{"filter-rare", TokenQuery{All: true, Filter: "user 4242", Limit: 20}},
		{"filter-sorted", TokenQuery{All: true, Filter: "revoked", Sort: "name", Limit: 20}},
	}
	// A new filter each page (no reuse of the last one's match set): the
	// first page after a keystroke that does not extend the filter.
	b.Run("index/filter-new", func(b *testing.B) {
		fs := []string{"person004242", "person004243"}
		if _, err := s.ListTokens(owner, TokenQuery{All: true, Sort: "name", Limit: 20}); err != nil { // builds the index
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			i++
			if _, err := s.ListTokens(owner, TokenQuery{All: true, Filter: fs[i%2], Limit: 20}); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, c := range queries {
		b.Run("scan/"+c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.scanPage(owner, c.q); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("index/"+c.name, func(b *testing.B) {
			if _, err := s.ListTokens(owner, c.q); err != nil { // builds the index
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := s.ListTokens(owner, c.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkListIndexBuild is the first sorted page's extra cost, and reports
// the index's heap per token.
func BenchmarkListIndexBuild(b *testing.B) {
	s, owner := liveOrg(b)
	const n = 100000
	if err := s.BulkLoad(owner, BulkSpec{Users: 10000, TokensPerUser: n / 10000}); err != nil {
		b.Fatal(err)
	}
	var heap float64
	for b.Loop() {
		s.list.mu.Lock()
		s.list.built = false
		s.list.rows, s.list.users, s.list.uidx, s.list.odd = nil, nil, nil, nil
		s.list.mu.Unlock()
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		if _, err := s.ListTokens(owner, TokenQuery{All: true, Sort: "name", Limit: 20}); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		heap = float64(m1.HeapAlloc) - float64(m0.HeapAlloc)
	}
	b.ReportMetric(heap/n, "heapB/token")
}

// BenchmarkListIndexOrder is the first page of a sort after the index is
// built: sorting the rows into that order (100k tokens).
func BenchmarkListIndexOrder(b *testing.B) {
	s, owner := liveOrg(b)
	if err := s.BulkLoad(owner, BulkSpec{Users: 10000, TokensPerUser: 10}); err != nil {
		b.Fatal(err)
	}
	for _, by := range []string{"name", "holder", "expires"} {
		b.Run(by, func(b *testing.B) {
			for b.Loop() {
				s.list.mu.Lock()
				clear(s.list.orders)
				s.list.mu.Unlock()
				if _, err := s.ListTokens(owner, TokenQuery{All: true, Sort: by, Limit: 20}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
