package tui

import (
	"slices"
	"testing"
)

func TestFuzzyFilterRanksAndNarrows(t *testing.T) {
	labels := []string{"Joanna Smith joanna@x.io", "Ann Archer ann@x.io", "Bob Baker bob@x.io", "Hannah Ng hannah@x.io"}
	got := fuzzyFilter("ann", labels, nil)
	if len(got) != 3 || got[0] != 1 {
		t.Fatalf("fuzzyFilter(ann) = %v, want Ann Archer first of 3", got)
	}
	if slices.Contains(got, 2) {
		t.Fatal("Bob matched ann")
	}
	// Narrowing from the previous matches gives what a full search gives.
	full := fuzzyFilter("anna", labels, nil)
	narrowed := fuzzyFilter("anna", labels, got)
	if !slices.Equal(full, narrowed) {
		t.Fatalf("narrowed %v != full %v", narrowed, full)
	}
	// Non-ASCII queries go through sahilm/fuzzy.
	if got := fuzzyFilter("é", []string{"José Ruiz", "Bob"}, nil); len(got) != 1 || got[0] != 0 {
		t.Fatalf("fuzzyFilter(é) = %v", got)
	}
}
