package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

func testAssignRevealOnce(t *testing.T, o *Org) {
	toks, err := o.S.AssignTokens(o.OwnerA, []string{o.User.Email, o.Admin.ID}, store.TokenSpec{Name: "deploy", Expires: 30 * 24 * time.Hour})
	if err != nil || len(toks) != 2 {
		t.Fatalf("assign: %v %v", toks, err)
	}
	v, err := o.S.Token(o.UserA, toks[0].ID)
	if err != nil || v.Status != models.StatusAwaitingReveal || v.CreatorName != o.Owner.Name || !v.Assigned {
		t.Fatalf("view %+v %v", v, err)
	}
	if _, err := o.S.RevealToken(o.OwnerA, toks[0].ID); err == nil {
		t.Fatal("the owner who assigned it revealed the secret")
	}
	if _, err := o.S.RevealToken(o.AdminA, toks[0].ID); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("another admin revealed someone's token: %v", err)
	}
	sec, err := o.S.RevealToken(o.UserA, toks[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.S.RevealToken(o.UserA, toks[0].ID); !errors.Is(err, models.ErrAlreadyRevealed) {
		t.Fatalf("second reveal: %v", err)
	}
	p, err := o.S.Exchange(sec, "10.0.0.1")
	if err != nil || p.User.ID != o.User.ID || p.Role != models.RoleUser {
		t.Fatalf("exchange %+v %v", p, err)
	}
	types := auditTypes(t, o.S, o.OwnerA)
	if types[models.AuditTokenAssigned] != 2 || types[models.AuditTokenRevealed] != 1 {
		t.Fatalf("audit %v", types)
	}
}

func testAssignOnlyToUsersAndAdmins(t *testing.T, o *Org) {
	for _, target := range []string{o.Stake.Email, o.Owner.Email} {
		if _, err := o.S.AssignTokens(o.OwnerA, []string{o.User.Email, target}, store.TokenSpec{Name: "x"}); !errors.Is(err, models.ErrPermission) {
			t.Fatalf("assign to %s: %v", target, err)
		}
	}
	// All or none: the user in the same call got nothing.
	page, _ := o.S.ListTokens(o.UserA, store.TokenQuery{})
	if len(page.Tokens) != 0 {
		t.Fatal("a failed multi-assign left tokens behind")
	}
	if _, err := o.S.AssignTokens(o.AdminA, []string{o.User.Email}, store.TokenSpec{Name: "x"}); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("admin assigned: %v", err)
	}
	as, err := o.S.Assignees(o.OwnerA)
	if err != nil || len(as) != 2 {
		t.Fatalf("assignees %v %v", as, err)
	}
	for _, u := range as {
		if !u.Role.Assignable() {
			t.Fatalf("picker offers %s", u.Role)
		}
	}
	if _, err := o.S.Assignees(o.AdminA); err == nil {
		t.Fatal("admin got the picker list")
	}
}

func testRotationGraceAndReuse(t *testing.T, o *Org) {
	old, oldSecret := mustCreate(t, o.S, o.UserA, "rot")
	nt, newSecret, err := o.S.RotateToken(o.UserA, old.ID)
	if err != nil || nt.Name != "rot" || nt.ID == old.ID {
		t.Fatalf("rotate %v %v", nt, err)
	}
	if _, err := o.S.Exchange(oldSecret, "a"); err != nil {
		t.Fatalf("old secret in grace: %v", err)
	}
	o.Clock.Advance(11 * time.Minute)
	if _, err := o.S.Exchange(oldSecret, "a"); !errors.Is(err, models.ErrUnauthenticated) {
		t.Fatalf("old secret after grace: %v", err)
	}
	// Reuse after grace revokes the chain (RFC 9700 §4.14.2): whoever replayed
	// the old secret may hold the new one too.
	if _, err := o.S.Exchange(newSecret, "a"); !errors.Is(err, models.ErrUnauthenticated) {
		t.Fatalf("successor still works after its predecessor was reused: %v", err)
	}
	if auditTypes(t, o.S, o.OwnerA)[models.AuditTokenReuse] != 1 {
		t.Fatal("no reuse entry")
	}
}

func testExpiryAndLimit(t *testing.T, o *Org) {
	_, sec := mustCreateSpec(t, o.S, o.UserA, store.TokenSpec{Name: "short", Expires: time.Hour})
	o.Clock.Advance(2 * time.Hour)
	if _, err := o.S.Exchange(sec, "x"); !errors.Is(err, models.ErrUnauthenticated) {
		t.Fatalf("expired token works: %v", err)
	}
	for i := 0; i < models.MaxTokensActive; i++ {
		mustCreate(t, o.S, o.UserA, "t")
	}
	// The refusal says who is at the limit: "you" to the holder, the
	// holder's email to the owner assigning them one more.
	if _, _, err := o.S.CreateToken(o.UserA, store.TokenSpec{Name: "one too many"}); !errors.Is(err, models.ErrLimit) ||
		!strings.Contains(err.Error(), "you already hold 25 active tokens") {
		t.Fatalf("limit: %v", err)
	}
	if _, err := o.S.AssignTokens(o.OwnerA, []string{o.User.Email}, store.TokenSpec{Name: "one too many"}); !errors.Is(err, models.ErrLimit) ||
		!strings.Contains(err.Error(), o.User.Email+" already holds 25 active tokens") {
		t.Fatalf("limit, assigning: %v", err)
	}
}

func testLastUsedCoalescedAndFlushed(t *testing.T, o *Org) {
	tok, sec := mustCreate(t, o.S, o.UserA, "used")
	for i := 0; i < 100; i++ {
		if _, err := o.S.Exchange(sec, "192.0.2.7"); err != nil {
			t.Fatal(err)
		}
	}
	v, _ := o.S.Token(o.UserA, tok.ID)
	if v.LastUsedAt.IsZero() || v.LastUsedBy != "192.0.2.7" {
		t.Fatalf("pending use not shown: %+v", v)
	}
	o.S.Close()
	s2 := o.Reopen(t)
	v, _ = s2.Token(o.UserA, tok.ID)
	if v.LastUsedAt.IsZero() || v.LastUsedBy != "192.0.2.7" {
		t.Fatalf("use not flushed on close: %+v", v)
	}
}

func testPaging(t *testing.T, o *Org) {
	for i := 0; i < 7; i++ {
		mustCreate(t, o.S, o.UserA, "p")
	}
	seen := map[string]bool{}
	q := store.TokenQuery{All: true, Limit: 3}
	var last string
	for pages := 0; pages < 10; pages++ {
		page, err := o.S.ListTokens(o.OwnerA, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Tokens {
			if seen[v.ID] {
				t.Fatalf("%s twice", v.ID)
			}
			if last != "" && v.ID >= last {
				t.Fatalf("not newest first: %s after %s", v.ID, last)
			}
			last = v.ID
			seen[v.ID] = true
		}
		if page.Next == "" {
			break
		}
		q.After = page.Next
	}
	if len(seen) != 7 {
		t.Fatalf("saw %d tokens", len(seen))
	}
}

func testSecretNeverStoredInDB(t *testing.T, o *Org) {
	_, secret, err := o.S.CreateToken(o.UserA, store.TokenSpec{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	assigned, err := o.S.AssignTokens(o.OwnerA, []string{o.Admin.Email}, store.TokenSpec{Name: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	revealed, err := o.S.RevealToken(o.AdminA, assigned[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	// A second assignment stays sealed in the store: its plaintext must not be there either.
	sealed, err := o.S.AssignTokens(o.OwnerA, []string{o.User.Email}, store.TokenSpec{Name: "sealed"})
	if err != nil {
		t.Fatal(err)
	}
	// What the engine keeps, in full, is what an export holds.
	var export bytes.Buffer
	if _, err := o.S.Backup(o.OwnerA, &export); err != nil {
		t.Fatal(err)
	}
	db := export.Bytes()
	for _, sec := range []string{secret, revealed} {
		for _, part := range []string{sec, sec[4:30], sec[20:47]} {
			if bytes.Contains(db, []byte(part)) {
				t.Fatalf("the stored data contains token text %q", part)
			}
		}
	}
	// Reopen and reveal the sealed one: it decrypts, proving it was sealed, not lost.
	o.S.Close()
	s2 := o.Reopen(t)
	plain, err := s2.RevealToken(o.UserA, sealed[0].ID)
	if err != nil || !strings.HasPrefix(plain, "kdr_") {
		t.Fatalf("reveal after reopen: %q, %v", plain, err)
	}
	if bytes.Contains(db, []byte(plain[4:30])) {
		t.Fatal("sealed token's plaintext is in the stored data")
	}
}

// testEachTokenPagesThroughAll: a listing longer than the store's read page
// (EachToken reads bounded pages and calls back between them) shows every
// token once, strictly in order, both ways, and stops when fn says so.
func testEachTokenPagesThroughAll(t *testing.T, o *Org) {
	if err := o.S.BulkLoad(o.OwnerA, store.BulkSpec{Users: 140, TokensPerUser: 5}); err != nil {
		t.Fatal(err)
	}
	walk := func(q store.TokenQuery) []string {
		var ids []string
		if err := o.S.EachToken(o.OwnerA, q, func(v store.TokenView) error {
			ids = append(ids, v.ID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	newest, oldest := walk(store.TokenQuery{All: true}), walk(store.TokenQuery{All: true, Oldest: true})
	if len(newest) != 700 || len(oldest) != 700 {
		t.Fatalf("%d newest first, %d oldest first, want 700", len(newest), len(oldest))
	}
	for i := range newest {
		if i > 0 && newest[i] >= newest[i-1] {
			t.Fatalf("newest first: %s after %s", newest[i], newest[i-1])
		}
		if newest[i] != oldest[len(oldest)-1-i] {
			t.Fatalf("the two orders differ at %d", i)
		}
	}
	n := 0
	stop := errors.New("enough")
	err := o.S.EachToken(o.OwnerA, store.TokenQuery{All: true}, func(store.TokenView) error {
		n++
		if n == 600 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 600 {
		t.Fatalf("stopped after %d with %v", n, err)
	}
}

// testEachTokenRowIsEachToken: the record-level listing (EachTokenRow, what
// `token list --json` encodes from) shows exactly what EachToken shows, in
// the same order, across pages (more tokens than one row page), for every
// status, both orders, from a cursor, with a filter, for one holder; it
// refuses the whole organization to an admin and stops when fn says so.
func testEachTokenRowIsEachToken(t *testing.T, o *Org) {
	if err := o.S.BulkLoad(o.OwnerA, store.BulkSpec{Users: 900, TokensPerUser: 5, RevokedEveryNth: 7}); err != nil {
		t.Fatal(err)
	}
	old, oldSecret := mustCreate(t, o.S, o.UserA, "rot <&> \"q\"")
	if _, _, err := o.S.RotateToken(o.UserA, old.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := o.S.Exchange(oldSecret, "203.0.113.9"); err != nil { // pending last use
		t.Fatal(err)
	}
	if _, err := o.S.AssignTokens(o.OwnerA, []string{o.User.Email}, store.TokenSpec{Name: "deploy", Expires: time.Hour}); err != nil {
		t.Fatal(err)
	}
	gone, _ := mustCreate(t, o.S, o.AdminA, "gone")
	if _, err := o.S.RevokeToken(o.OwnerA, gone.ID); err != nil {
		t.Fatal(err)
	}
	mustCreateSpec(t, o.S, o.AdminA, store.TokenSpec{Name: "short", Expires: time.Minute})
	o.Clock.Advance(2 * time.Minute)

	// Times are compared as instants: a last use still pending in memory
	// carries a monotonic clock reading that the same instant read back from
	// the engine (after a background flush between two listings) does not.
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	line := func(tok models.Token, st models.TokenStatus, hn, he, cn, rn string) string {
		return fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%v|%v|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s",
			tok.ID, tok.Name, tok.HolderID, tok.Role, ts(tok.CreatedAt), tok.CreatedBy, ts(tok.ExpiresAt), tok.Assigned, tok.Revealed,
			tok.Tail, ts(tok.RevokedAt), tok.RevokedBy, ts(tok.RotatedAt), tok.RotatedTo, ts(tok.GraceUntil), ts(tok.LastUsedAt), tok.LastUsedBy,
			st, hn, he, cn, rn, "")
	}
	views := func(q store.TokenQuery) []string {
		var out []string
		if err := o.S.EachToken(o.OwnerA, q, func(v store.TokenView) error {
			out = append(out, line(v.Token, v.Status, v.HolderName, v.HolderEmail, v.CreatorName, v.RevokerName))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	rows := func(q store.TokenQuery) []string {
		var out []string
		// A number names one person, with one name and email, throughout
		// a listing (what wire.RowEncoder's cache relies on).
		people, emails := map[int]string{}, map[int]string{}
		numbered := func(m map[int]string, ref int, what string) {
			if was, ok := m[ref]; ok && was != what && ref != 0 {
				t.Fatalf("%+v: number %d names %s and %s", q, ref, was, what)
			}
			m[ref] = what
		}
		if err := o.S.EachTokenRow(o.OwnerA, q, func(r *store.TokenRow) error {
			numbered(people, r.HolderRef, string(r.HolderID)+" "+r.HolderName)
			numbered(emails, r.HolderRef, r.HolderEmail)
			numbered(people, r.CreatorRef, string(r.CreatedBy)+" "+r.CreatorName)
			tok := models.Token{ID: string(r.ID), Name: string(r.Name), HolderID: string(r.HolderID), Role: models.Role(r.Role),
				CreatedAt: r.CreatedAt, CreatedBy: string(r.CreatedBy), ExpiresAt: r.ExpiresAt, Assigned: r.Assigned,
				Revealed: r.Revealed, Tail: string(r.Tail), RevokedAt: r.RevokedAt, RevokedBy: string(r.RevokedBy),
				RotatedAt: r.RotatedAt, RotatedTo: string(r.RotatedTo), GraceUntil: r.GraceUntil, LastUsedAt: r.LastUsedAt,
				LastUsedBy: string(r.LastUsedBy)}
			out = append(out, line(tok, r.Status, r.HolderName, r.HolderEmail, r.CreatorName, r.RevokerName))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if q.All && q.Filter == "" && q.After == "" && len(people) < 900 {
			t.Fatalf("%+v: %d people numbered, want every holder (900 and more)", q, len(people))
		}
		return out
	}
	all := views(store.TokenQuery{All: true})
	if len(all) < 4500 {
		t.Fatalf("%d tokens listed, want at least 4500", len(all))
	}
	for _, q := range []store.TokenQuery{{All: true}, {All: true, Oldest: true},
		{All: true, After: strings.SplitN(all[1000], "|", 2)[0]},
		{All: true, Oldest: true, After: strings.SplitN(all[1000], "|", 2)[0]},
		{All: true, Filter: "rot"}, {Holder: o.User.Email}} {
		want, got := views(q), rows(q)
		if len(want) == 0 || len(got) != len(want) {
			t.Fatalf("%+v: %d rows, %d views", q, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%+v: row %d\n got %s\nwant %s", q, i, got[i], want[i])
			}
		}
	}
	statuses := map[string]bool{}
	for _, l := range all {
		f := strings.Split(l, "|")
		statuses[f[17]] = true
	}
	for _, st := range []models.TokenStatus{models.StatusActive, models.StatusRevoked, models.StatusRotated,
		models.StatusAwaitingReveal, models.StatusExpired} {
		if !statuses[string(st)] {
			t.Fatalf("no %s token among %v: the comparison misses a status", st, statuses)
		}
	}
	if err := o.S.EachTokenRow(o.AdminA, store.TokenQuery{All: true}, func(*store.TokenRow) error { return nil }); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("an admin listed the whole organization: %v", err)
	}
	n := 0
	stop := errors.New("enough")
	err := o.S.EachTokenRow(o.OwnerA, store.TokenQuery{All: true}, func(*store.TokenRow) error {
		n++
		if n == 4200 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 4200 {
		t.Fatalf("stopped after %d with %v", n, err)
	}
}

// testLiveTokenCountIsTheLimitsCount: the count the console shows before a
// removal or an assignment is the one the 25-token limit uses — active
// tokens and rotated ones still in their grace, not revoked or expired ones.
func testLiveTokenCountIsTheLimitsCount(t *testing.T, o *Org) {
	holder := o.UserA.UserID
	count := func() int {
		t.Helper()
		n, err := o.S.LiveTokenCount(o.OwnerA, holder)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	base := count()
	mustCreateSpec(t, o.S, o.UserA, store.TokenSpec{Name: "short", Expires: time.Hour})
	a, _ := mustCreate(t, o.S, o.UserA, "a")
	b, _ := mustCreate(t, o.S, o.UserA, "b")
	mustCreate(t, o.S, o.UserA, "c")
	if _, err := o.S.RevokeToken(o.UserA, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.S.RotateToken(o.UserA, b.ID); err != nil {
		t.Fatal(err)
	}
	if got, want := count(), base+4; got != want { // short, b in grace, b's successor, c
		t.Fatalf("live count %d, want %d", got, want)
	}
	o.Clock.Advance(2 * time.Hour) // short expired, b's grace over
	live := count()
	if want := base + 2; live != want {
		t.Fatalf("live count after expiry %d, want %d", live, want)
	}
	made := 0
	for ; made <= models.MaxTokensActive; made++ {
		if _, _, err := o.S.CreateToken(o.UserA, store.TokenSpec{Name: "fill"}); errors.Is(err, models.ErrLimit) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if live+made != models.MaxTokensActive {
		t.Fatalf("live count %d but the limit let %d more in (limit %d)", live, made, models.MaxTokensActive)
	}
	if got := count(); got != models.MaxTokensActive {
		t.Fatalf("live count at the limit %d, want %d", got, models.MaxTokensActive)
	}
}
