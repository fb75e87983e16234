package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keydesk/keydesk/store"
)

func TestCompactKeepsTheOrganizationAndTheOriginal(t *testing.T) {
	dir := initOrg(t)
	for range 30 {
		if r := run(t, dir, "token", "create", "--name", "ci", "--as", "uma@example.com"); r.code != 0 {
			t.Fatalf("create: %+v", r)
		}
		if r := run(t, dir, "token", "revoke-all", "--user", "uma@example.com", "--yes"); r.code != 0 {
			t.Fatalf("revoke-all: %+v", r)
		}
	}
	// A server holding the file: compact refuses and says why.
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := run(t, dir, "compact"); r.code == 0 || !strings.Contains(r.stderr, "held by another keydesk process") {
		t.Fatalf("compact beside an open store: %+v", r)
	}
	s.Close()
	r := run(t, dir, "compact", "--json")
	if r.code != 0 {
		t.Fatalf("compact: %+v", r)
	}
	var out struct {
		BytesBefore int64  `json:"bytes_before"`
		BytesAfter  int64  `json:"bytes_after"`
		Original    string `json:"original"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v: %q", err, r.stdout)
	}
	if out.BytesAfter <= 0 || out.BytesAfter > out.BytesBefore {
		t.Fatalf("sizes %d → %d", out.BytesBefore, out.BytesAfter)
	}
	if _, err := os.Stat(out.Original); err != nil || filepath.Dir(out.Original) != dir {
		t.Fatalf("original %q: %v", out.Original, err)
	}
	if r := run(t, dir, "check"); r.code != 0 {
		t.Fatalf("check after compact: %+v", r)
	}
	if r := run(t, dir, "token", "list", "--all", "--json"); r.code != 0 || strings.Count(r.stdout, `"revoked"`) != 30 {
		t.Fatalf("tokens after compact: %+v", r)
	}
}
