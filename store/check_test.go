package store_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/keydesk/keydesk/store"
	bolt "go.etcd.io/bbolt"
)

func TestCheckFindsBrokenIndexes(t *testing.T) {
	o := newOrg(t)
	tok, _ := mustCreate(t, o.s, o.userA, "c")
	if _, err := o.s.AssignTokens(o.ownerA, []string{o.admin.Email}, store.TokenSpec{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if p, err := o.s.Check(); err != nil || len(p) != 0 {
		t.Fatalf("healthy store: %v %v", p, err)
	}
	o.s.Close()
	db, err := bolt.Open(filepath.Join(o.dir, store.DBFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte("tokens_by_holder")).Delete([]byte(o.user.ID + "/" + tok.ID)); err != nil {
			return err
		}
		return tx.Bucket([]byte("users_by_email")).Put([]byte("ghost@example.com"), []byte("usr_ghost"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := store.Open(o.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	p, err := s2.Check()
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(p, "\n")
	if len(p) != 2 || !strings.Contains(joined, "missing from the holder index") || !strings.Contains(joined, "ghost@example.com") {
		t.Fatalf("problems: %q", p)
	}
}

func TestAuditPaging(t *testing.T) {
	o := newOrg(t)
	first, err := o.s.Audit(o.ownerA, store.AuditQuery{Limit: 2})
	if err != nil || len(first) != 2 || first[0].Seq <= first[1].Seq {
		t.Fatalf("first page %v %v", first, err)
	}
	rest, err := o.s.Audit(o.ownerA, store.AuditQuery{Before: first[1].Seq})
	if err != nil || len(rest) == 0 || rest[0].Seq != first[1].Seq-1 {
		t.Fatalf("next page %v %v", rest, err)
	}
	byType, _ := o.s.Audit(o.ownerA, store.AuditQuery{Type: "user_added"})
	byUser, _ := o.s.Audit(o.ownerA, store.AuditQuery{User: "uma@example.com"})
	if len(byType) != 3 || len(byUser) != 1 {
		t.Fatalf("filters: %d by type, %d by user", len(byType), len(byUser))
	}
}
