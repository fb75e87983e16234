package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// A dry run is the change itself, checked by the same rules, rolled back:
// it reports what would happen and leaves no trace, not even an audit entry.
func testDryRunChangesNothing(t *testing.T, o *Org) {
	_, secret := mustCreate(t, o.S, o.UserA, "u1")
	mustCreate(t, o.S, o.UserA, "u2")
	before := auditTypes(t, o.S, o.OwnerA)

	u, n, err := o.S.PreviewRemoveUser(o.AdminA, o.User.Email)
	if err != nil || n != 2 || u.Email != o.User.Email || !u.Removed {
		t.Fatalf("preview remove: %+v %d %v", u, n, err)
	}
	u, n, err = o.S.PreviewRevokeAllOf(o.OwnerA, o.User.Email)
	if err != nil || n != 2 || u.ID != o.User.ID {
		t.Fatalf("preview revoke-all: %+v %d %v", u, n, err)
	}
	if _, _, err := o.S.PreviewRevokeAllOf(o.AdminA, o.User.Email); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("an admin's revoke-all preview: %v", err)
	}
	if _, _, err := o.S.PreviewRemoveUser(o.UserA, o.Admin.Email); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("a user's remove preview: %v", err)
	}
	added, err := o.S.Import(o.OwnerA, strings.NewReader("Ann,ann@example.com,user\nBob,bob@example.com,admin\n"), true)
	if err != nil || len(added) != 2 || added[1].Email != "bob@example.com" {
		t.Fatalf("preview import: %+v %v", added, err)
	}
	if _, err := o.S.User("ann@example.com"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("a dry-run import added Ann: %v", err)
	}
	if _, err := o.S.User(o.User.Email); err != nil {
		t.Fatalf("a dry-run remove removed: %v", err)
	}
	if _, err := o.S.Exchange(secret, "x"); err != nil {
		t.Fatalf("a dry run revoked a token: %v", err)
	}
	after := auditTypes(t, o.S, o.OwnerA)
	if len(after) != len(before) {
		t.Fatalf("audit changed: %v → %v", before, after)
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("audit changed: %v → %v", before, after)
		}
	}
}

// An import names every bad line, and checks permission before the file.
func testImportReportsEveryBadLine(t *testing.T, o *Org) {
	csv := "name,email,role\nAnn,ann@example.com,user\nBob,not-an-email,user\nCy,cy@example.com,root\nDee,dee@example.com\nEve,uma@example.com,user\n"
	_, err := o.S.Import(o.OwnerA, strings.NewReader(csv), false)
	var ie *store.ImportError
	if !errors.As(err, &ie) || !errors.Is(err, models.ErrInvalid) || len(ie.Lines) != 4 {
		t.Fatalf("want 4 bad lines, got %v", err)
	}
	for i, want := range []int{3, 4, 5, 6} {
		if ie.Lines[i].Line != want {
			t.Fatalf("bad line %d is %d, want %d (%v)", i, ie.Lines[i].Line, want, err)
		}
	}
	if _, err := o.S.User("ann@example.com"); !errors.Is(err, models.ErrNotFound) {
		t.Fatal("a failed import left a good row behind")
	}
	var many strings.Builder
	for range store.MaxImportErrors + 10 {
		many.WriteString("X,bad,user\n")
	}
	_, err = o.S.Import(o.OwnerA, strings.NewReader(many.String()), false)
	if !errors.As(err, &ie) || len(ie.Lines) != store.MaxImportErrors || !ie.More {
		t.Fatalf("want %d lines and more, got %v", store.MaxImportErrors, err)
	}
	// A user is refused before the file is read: garbage is not parsed.
	if _, err := o.S.Import(o.UserA, strings.NewReader("\"\x00garbage"), false); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("user import of garbage: %v", err)
	}
}

// The audit log by person: an unknown email is not found (never every entry
// without an actor), and a removed person's history stays findable.
func testAuditByRemovedOrUnknownUser(t *testing.T, o *Org) {
	if err := o.S.RecordSession(models.AuditSSHAuthRefused, "", "unknown key", "ssh"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.S.Audit(o.OwnerA, store.AuditQuery{User: "nobody@example.com"}); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("unknown email: %v", err)
	}
	mustCreate(t, o.S, o.UserA, "u1")
	if _, err := o.S.RemoveUser(o.OwnerA, o.User.Email); err != nil {
		t.Fatal(err)
	}
	es, err := o.S.Audit(o.OwnerA, store.AuditQuery{User: o.User.Email, Limit: 1000})
	if err != nil || len(es) < 3 {
		t.Fatalf("removed person's history: %d %v", len(es), err)
	}
	for _, e := range es {
		if e.ActorID != o.User.ID && e.TargetID != o.User.ID {
			t.Fatalf("unrelated entry %+v", e)
		}
	}
	byID, err := o.S.Audit(o.OwnerA, store.AuditQuery{User: o.User.ID, Limit: 1000})
	if err != nil || len(byID) != len(es) {
		t.Fatalf("by id: %d %v, by email %d", len(byID), err, len(es))
	}
}
