// Package wiretest helps tests hold a JSON body to a wire type: the CLI's,
// the API's and the end-to-end tests compare field names the same way.
package wiretest

import (
	"encoding/json"
	"slices"
	"testing"
)

// Keys returns the sorted top-level keys of the JSON object raw.
func Keys(t testing.TB, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not a JSON object (%v): %s", err, raw)
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TypeKeys returns the sorted keys v (a wire type) marshals to.
func TypeKeys(t testing.TB, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return Keys(t, b)
}
