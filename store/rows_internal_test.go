package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
)

// TestQuickNameEmailIsDecodeUser: reading a user record in place gives the
// name and email decodeUser gives, or declines (and the record is decoded);
// it never accepts a record decodeUser refuses for its id or role.
func TestQuickNameEmailIsDecodeUser(t *testing.T) {
	at := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	quick := 0
	for _, name := range []string{"Person 000001", "", `q"b\s`, "<b>&amp;</b>", "caf\u00e9 \u2028 \U0001F600", "bad \xff utf8", "tab\there"} {
		for _, email := range []string{"p@example.com", "<x>@example.com", ""} {
			for _, role := range []models.Role{models.RoleUser, models.RoleOwner, "bogus"} {
				u := models.User{ID: "usr_1", Name: name, Email: email, Role: role, CreatedAt: at,
					Keys: []models.SSHKey{{Fingerprint: "SHA256:x", Type: "ssh-ed25519", Authorized: "ssh-ed25519 AAAA", AddedAt: at}}}
				data, err := encodeUser(u)
				if err != nil {
					t.Fatal(err)
				}
				want, werr := decodeUser(data)
				n, e, ok := quickNameEmail(data)
				if !ok {
					continue
				}
				quick++
				if werr != nil {
					t.Fatalf("%s: read in place although decodeUser refuses it (%v)", data, werr)
				}
				if n != want.Name || e != want.Email {
					t.Fatalf("%s: in place %q %q, decoded %q %q", data, n, e, want.Name, want.Email)
				}
			}
		}
	}
	if quick == 0 {
		t.Fatal("no record was read in place: the fast path is never taken")
	}
	for _, bad := range []string{"", "{", `{"id":"usr_1","name":"A","email":"a@x","role":"user"`, `{"id":"","name":"A","email":"a@x","role":"user"}`,
		`{"name":"A","id":"usr_1","email":"a@x","role":"user"}`, `{"id":"usr_1","name":"A\u0041","email":"a@x","role":"user"}`} {
		if _, _, ok := quickNameEmail([]byte(bad)); ok {
			t.Fatalf("%q read in place", bad)
		}
	}
}

// TestNameCacheFindsEachPerson: the listing's name cache finds every person
// it holds by id, whether the id fits a map key (up to 23 bytes, the empty
// id included) or not, through its recent table, its maps, and after a
// rebuild (preloading), and never takes one id for another: ids that share
// their last eight bytes (one recent slot), a prefix, or differ only in
// length or trailing zero bytes.
func TestNameCacheFindsEachPerson(t *testing.T) {
	ids := []string{"", "a", "a\x00", "usr_0VcbyplSzdP3eJ", "usr_1VcbyplSzdP3eJ", "x_0VcbyplSzdP3eJ",
		"01234567890123456789012", "012345678901234567890123", "0123456789012345678901234567890123456789",
		"1123456789012345678901234567890123456789", "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}
	for i := range 5000 { // more than the recent table holds
		ids = append(ids, fmt.Sprintf("usr_%014d", i))
	}
	c := newNameCache()
	for i, id := range ids {
		if ref := c.add([]byte(id), nameEmail{name: id, email: fmt.Sprint(i)}); ref != i+1 {
			t.Fatalf("%q numbered %d, want %d", id, ref, i+1)
		}
	}
	check := func(when string) {
		t.Helper()
		n := rowNames{cache: c}
		for pass := range 2 { // the second pass finds the first's in recent
			for i, id := range ids {
				v, ref := n.get([]byte(id))
				if ref != i+1 || v.name != id || v.email != fmt.Sprint(i) {
					t.Fatalf("%s, pass %d: %q found as %d %q %q, want %d", when, pass, id, ref, v.name, v.email, i+1)
				}
			}
		}
		if n.misses != 0 {
			t.Fatalf("%s: %d people missed", when, n.misses)
		}
	}
	check("added")
	c.recent = [recentSlots]recentPerson{}
	c.reindex()
	check("reindexed")
}

// TestNameCacheHashClash: two people whose ids hash alike in the cache's
// index are each found as themselves, added one at a time, renumbered (a
// preload numbers people again) or rebuilt; the index never hands out the
// person its hash points at without checking the id.
func TestNameCacheHashClash(t *testing.T) {
	a, b := []byte("usr_aaaaaaaaaaaaaa"), []byte("usr_bbbbbbbbbbbbbb")
	ka, _ := keyOf(a)
	kb, _ := keyOf(b)
	c := newNameCache()
	ra := c.add(a, nameEmail{name: "A"})
	// b's hash points at a, as a clash would.
	c.idx[hashKey(&kb)] = int32(ra - 1)
	if _, ok := c.find(b, kb, true); ok {
		t.Fatal("b found under a's entry before it was added")
	}
	rb := c.push(b, nameEmail{name: "B"})
	c.index(int32(rb - 1))
	find := func(when string, id []byte, k idKey, ref int, name string) {
		t.Helper()
		i, ok := c.find(id, k, true)
		if !ok || int(i)+1 != ref || c.person(i).v.name != name {
			t.Fatalf("%s: %s found as %d %v, want %d %s", when, id, i+1, ok, ref, name)
		}
	}
	find("added", a, ka, ra, "A")
	find("added", b, kb, rb, "B")
	if len(c.clash) != 1 {
		t.Fatalf("clash holds %d, want b", len(c.clash))
	}
	// Numbered again: the later numbers win, for both.
	ra2 := c.add(a, nameEmail{name: "A2"})
	rb2 := c.add(b, nameEmail{name: "B2"})
	find("renumbered", a, ka, ra2, "A2")
	find("renumbered", b, kb, rb2, "B2")
}
