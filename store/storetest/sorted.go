package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// testSortedPagesFollowChanges walks every page of sorted and filtered
// listings of the whole organization (the console's column sort and filter)
// and compares them with the same order worked out here from EachToken, as
// TokenQuery documents it: before and after changes, and after the clock
// alone turns tokens expired.
func testSortedPagesFollowChanges(t *testing.T, o *Org) {
	var ids []string
	var by []store.Actor
	names := []string{"ci", "CI deploy", "backup", "Zeta", "ärger"}
	for i := range 24 {
		a := []store.Actor{o.OwnerA, o.AdminA, o.UserA}[i%3]
		tok, _ := mustCreateExp(t, o, a, names[i%len(names)], time.Duration(i%4)*time.Hour)
		ids, by = append(ids, tok.ID), append(by, a)
	}
	if _, err := o.S.AssignTokens(o.OwnerA, []string{o.User.Email}, store.TokenSpec{Name: "assigned"}); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		for _, by := range []string{"", "name", "holder", "status", "expires"} {
			for _, f := range []string{"", "ci", "UMA", "revoked", "kdr_", "admin", "none-such"} {
				if by == "" && f == "" {
					continue
				}
				for _, desc := range []bool{false, true} {
					q := store.TokenQuery{All: true, Sort: by, Desc: desc, Filter: f, Limit: 4}
					want := expectedOrder(t, o, q)
					var got []string
					for pages := 0; pages < 50; pages++ {
						p, err := o.S.ListTokens(o.OwnerA, q)
						if err != nil {
							t.Fatalf("%s: %+v: %v", when, q, err)
						}
						for _, v := range p.Tokens {
							got = append(got, v.ID)
						}
						if p.Next == "" {
							break
						}
						q.After = p.Next
					}
					if !slices.Equal(got, want) {
						t.Fatalf("%s: sort %q desc %v filter %q:\n got %v\nwant %v", when, by, desc, f, got, want)
					}
				}
			}
		}
	}
	check("created")
	for i, id := range ids {
		switch i % 4 {
		case 0:
			if _, err := o.S.RevokeToken(o.OwnerA, id); err != nil {
				t.Fatal(err)
			}
		case 1:
			if _, err := o.S.RenameToken(by[i], id, fmt.Sprint("renamed ", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, _, err := o.S.RotateToken(by[2], ids[2]); err != nil {
		t.Fatal(err)
	}
	mustCreateExp(t, o, o.UserA, "after", 0)
	check("changed")
	o.Clock.Advance(150 * time.Minute)
	check("later")
}

func mustCreateExp(t *testing.T, o *Org, a store.Actor, name string, exp time.Duration) (models.Token, string) {
	t.Helper()
	tok, secret, err := o.S.CreateToken(a, store.TokenSpec{Name: name, Expires: exp})
	if err != nil {
		t.Fatal(err)
	}
	return tok, secret
}

// expectedOrder is q's listing by its documented rules, from EachToken.
func expectedOrder(t *testing.T, o *Org, q store.TokenQuery) []string {
	t.Helper()
	var all []store.TokenView
	if err := o.S.EachToken(o.OwnerA, store.TokenQuery{All: true, Oldest: true}, func(v store.TokenView) error {
		all = append(all, v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f := strings.ToLower(strings.TrimSpace(q.Filter))
	var kept []store.TokenView
	for _, v := range all {
		hay := strings.ToLower(strings.Join([]string{v.Name, v.ID, v.Masked, v.HolderName, v.HolderEmail, string(v.Status), string(v.Role)}, "\n"))
		if f == "" || strings.Contains(hay, f) {
			kept = append(kept, v)
		}
	}
	key := func(v store.TokenView) string {
		switch q.Sort {
		case "name":
			return strings.ToLower(v.Name)
		case "holder":
			return strings.ToLower(v.HolderName) + "\x00" + v.HolderEmail
		case "status":
			return string(v.Status)
		case "expires":
			if v.ExpiresAt.IsZero() {
				return "~"
			}
			return v.ExpiresAt.UTC().Format(time.RFC3339Nano)
		}
		return ""
	}
	slices.SortStableFunc(kept, func(a, b store.TokenView) int {
		c := strings.Compare(key(a), key(b))
		if c == 0 {
			c = strings.Compare(a.ID, b.ID)
			if q.Sort == "" && !q.Oldest {
				c = -c // newest first
			}
		}
		if q.Desc && q.Sort != "" {
			c = -c
		}
		return c
	})
	var out []string
	for _, v := range kept {
		out = append(out, v.ID)
	}
	return out
}
