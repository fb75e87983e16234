package store

import (
	"testing"
	"time"
)

// TestFlushedUsesStayVisibleUntilTheNextFlush: between a flush taking its
// batch and that commit reaching every snapshot, a reader must still find
// the use in memory, or a listing read just before the commit shows the
// token's last use going back in time.
func TestFlushedUsesStayVisibleUntilTheNextFlush(t *testing.T) {
	var b usageBuffer
	b.init()
	t0 := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	b.record("tok_a", t0, "192.0.2.1")
	batch := b.take()
	if len(batch) != 1 {
		t.Fatalf("took %d uses, want 1", len(batch))
	}
	// A listing's page: tok_a's record predates the use, tok_z's records a
	// later one than any pending.
	rows := []TokenRow{{ID: []byte("tok_a")}, {ID: []byte("tok_z"), LastUsedAt: t0, LastUsedBy: []byte("192.0.2.9")}}
	b.record("tok_z", t0.Add(-time.Second), "192.0.2.8")
	b.applyPending(rows)
	if at, from := rows[0].LastUsedAt, string(rows[0].LastUsedBy); !at.Equal(t0) || from != "192.0.2.1" {
		t.Fatalf("a use being flushed is invisible: %v %q", at, from)
	}
	if at, from := rows[1].LastUsedAt, string(rows[1].LastUsedBy); !at.Equal(t0) || from != "192.0.2.9" {
		t.Fatalf("an older pending use replaced the record's: %v %q", at, from)
	}
	b.record("tok_a", t0.Add(time.Second), "192.0.2.2")
	if at, from, _ := b.pending("tok_a"); !at.Equal(t0.Add(time.Second)) || from != "192.0.2.2" {
		t.Fatalf("the newer use does not win: %v %q", at, from)
	}
	b.record("tok_b", t0, "192.0.2.3")
	b.take() // the next flush: tok_a's first batch is in every later snapshot
	if _, _, ok := b.pending("tok_c"); ok {
		t.Fatal("an unknown token has a pending use")
	}
	if at, _, ok := b.pending("tok_a"); !ok || !at.Equal(t0.Add(time.Second)) {
		t.Fatalf("the use in the batch being flushed now is invisible: %v %v", at, ok)
	}
}
