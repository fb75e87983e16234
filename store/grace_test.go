package store_test

import (
	"errors"
	"testing"

	"github.com/keydesk/keydesk/models"
)

// TestRevokeEndsPredecessorsGrace: revoking a token ends the rotation grace
// of every secret it replaced (rotated twice within the grace: both), whether
// it is revoked alone, with --chain, or by the owner; a rotated token revoked
// in the middle of a chain leaves its live successor alone.
func TestRevokeEndsPredecessorsGrace(t *testing.T) {
	o := newOrg(t)
	rotate := func(id string) (models.Token, string) {
		t.Helper()
		tok, sec, err := o.s.RotateToken(o.userA, id)
		if err != nil {
			t.Fatal(err)
		}
		return tok, sec
	}
	works := func(secret string) bool {
		_, err := o.s.Exchange(secret, "test")
		if err != nil && !errors.Is(err, models.ErrUnauthenticated) {
			t.Fatal(err)
		}
		return err == nil
	}
	for _, how := range []string{"revoke", "revoke --chain", "owner revokes"} {
		t.Run(how, func(t *testing.T) {
			z, zs := mustCreate(t, o.s, o.userA, "twice "+how)
			a, as := rotate(z.ID)
			b, bs := rotate(a.ID)
			if !works(zs) || !works(as) || !works(bs) {
				t.Fatal("every secret of the chain should work inside the grace")
			}
			var err error
			switch how {
			case "revoke":
				_, err = o.s.RevokeToken(o.userA, b.ID)
			case "revoke --chain":
				_, err = o.s.RevokeChain(o.userA, b.ID)
			case "owner revokes":
				_, err = o.s.RevokeToken(o.ownerA, b.ID)
			}
			if err != nil {
				t.Fatal(err)
			}
			if works(zs) || works(as) || works(bs) {
				t.Fatalf("after revoking %s: first secret works %v, second %v, third %v; want none", b.ID, works(zs), works(as), works(bs))
			}
		})
	}

	t.Run("middle of a chain", func(t *testing.T) {
		z, zs := mustCreate(t, o.s, o.userA, "middle")
		a, as := rotate(z.ID)
		_, bs := rotate(a.ID)
		if _, err := o.s.RevokeToken(o.userA, a.ID); err != nil {
			t.Fatal(err)
		}
		if works(zs) || works(as) {
			t.Fatal("the revoked token or the secret it replaced still works")
		}
		if !works(bs) {
			t.Fatal("the live successor of a revoked rotated token stopped working")
		}
	})
}
