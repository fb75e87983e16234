package storetest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/store/kv"
)

func testCheckFindsBrokenIndexes(t *testing.T, o *Org) {
	tok, _ := mustCreate(t, o.S, o.UserA, "c")
	if _, err := o.S.AssignTokens(o.OwnerA, []string{o.Admin.Email}, store.TokenSpec{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if p, err := o.S.Check(); err != nil || len(p) != 0 {
		t.Fatalf("healthy store: %v %v", p, err)
	}
	o.S.Close()
	// Damage two indexes without knowing their key layout: empty them.
	e := o.Engine(t)
	err := e.Update(context.Background(), func(tx kv.Tx) error {
		for _, b := range []kv.Bucket{"tokens_by_holder", "users_by_email"} {
			var keys [][]byte
			if err := tx.Scan(b, kv.Range{}, func(k, _ []byte) error {
				keys = append(keys, bytes.Clone(k))
				return nil
			}); err != nil {
				return err
			}
			if len(keys) == 0 {
				return fmt.Errorf("index %s is empty before the damage", b)
			}
			for _, k := range keys {
				if err := tx.Delete(b, k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	e.Close()
	if err != nil {
		t.Fatal(err)
	}
	p, err := o.Reopen(t).Check()
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(p, "\n")
	// Two tokens lost from the holder index and from their holders' live
	// sets (kept there too), four people from the email index.
	if len(p) != 8 || strings.Count(joined, "missing from the holder index") != 2 || !strings.Contains(joined, tok.ID) ||
		strings.Count(joined, "missing from its holder's live set") != 2 ||
		strings.Count(joined, "email index for") != 4 || !strings.Contains(joined, o.User.Email) {
		t.Fatalf("problems: %q", p)
	}
}

// testCheckBesideWrites runs Check while writers commit, as `keydesk check`
// may beside a live server. bbolt's Tx.Check reads the freelist, which is
// only safe from a writable transaction; under -race a read-only one races
// the next writer's freelist release.
func testCheckBesideWrites(t *testing.T, o *Org) {
	stop := o.churn(t, o.UserA, 2)
	for range 30 {
		problems, err := o.S.Check()
		if err != nil || len(problems) > 0 {
			t.Errorf("check: %v %v", err, problems)
			break
		}
	}
	stop()
}

func testAuditPaging(t *testing.T, o *Org) {
	first, err := o.S.Audit(o.OwnerA, store.AuditQuery{Limit: 2})
	if err != nil || len(first) != 2 || first[0].Seq <= first[1].Seq {
		t.Fatalf("first page %v %v", first, err)
	}
	rest, err := o.S.Audit(o.OwnerA, store.AuditQuery{Before: first[1].Seq})
	if err != nil || len(rest) == 0 || rest[0].Seq != first[1].Seq-1 {
		t.Fatalf("next page %v %v", rest, err)
	}
	byType, _ := o.S.Audit(o.OwnerA, store.AuditQuery{Type: "user_added"})
	byUser, _ := o.S.Audit(o.OwnerA, store.AuditQuery{User: "uma@example.com"})
	if len(byType) != 3 || len(byUser) != 1 {
		t.Fatalf("filters: %d by type, %d by user", len(byType), len(byUser))
	}
}
