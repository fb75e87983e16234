package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
)

// filled sets every string field of a Token to s (plus its field number, so
// swapped fields show), every bool to on and every time to at.
func filled(s string, on bool, at time.Time) Token {
	var t Token
	v := reflect.ValueOf(&t).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(s + string(rune('a'+i)))
		case reflect.Bool:
			f.SetBool(on)
		case reflect.Struct:
			f.Set(reflect.ValueOf(At(at)))
		default:
			panic("wire.Token has a field kind AppendJSON does not know: " + f.Kind().String())
		}
	}
	return t
}

func TestTokenAppendJSONIsMarshal(t *testing.T) {
	at := time.Date(2026, 12, 2, 0, 15, 4, 999, time.FixedZone("x", 3600))
	for _, s := range []string{"", "plain", `q"b\s/`, "<a href='x'>&amp;</a>", "\x00\x01\b\f\n\r\t\x1b\x7f",
		"caf\u00e9 \u2028\u2029 \U0001F600", "bad \xff\xfe utf8 \xe2\x82", "\u200b\u202e\ufeff"} {
		for _, tok := range []Token{filled(s, true, at), filled(s, false, time.Time{}),
			FromToken(models.Token{ID: "tok_1", Name: s, HolderID: "usr_1"}, models.StatusActive, Names{HolderName: s})} {
			want, err := json.Marshal(tok)
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.AppendJSON(nil); !bytes.Equal(got, want) {
				t.Fatalf("AppendJSON\n got %s\nwant %s", got, want)
			}
		}
	}
}

func FuzzTokenAppendJSON(f *testing.F) {
	f.Add("x", "<&>", true, int64(1))
	f.Fuzz(func(t *testing.T, a, b string, on bool, sec int64) {
		tok := filled(a, on, time.Unix(sec%(1<<35), 0))
		tok.Name, tok.HolderEmail = b, a+b
		want, err := json.Marshal(tok)
		if err != nil {
			t.Skip() // a time json cannot write (outside years 0–9999)
		}
		if got := tok.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON\n got %s\nwant %s", got, want)
		}
	})
}

// rowOf is the TokenRow that stands for tok (every text field s, plus its
// field number, so swapped fields show).
func rowOf(s string, on bool, at time.Time) (Token, TokenRow) {
	f := func(n byte) string { return s + string(rune('a'+n)) }
	mt := models.Token{ID: f(0), Name: f(1), Role: models.Role(f(2)), HolderID: f(3), CreatedAt: at, CreatedBy: f(4),
		Assigned: on, Revealed: !on, ExpiresAt: at.Add(time.Hour), Tail: f(5), RevokedAt: at.Add(2 * time.Hour),
		RevokedBy: f(6), RotatedAt: at, RotatedTo: f(7), GraceUntil: at, LastUsedAt: at, LastUsedBy: f(8)}
	n := Names{HolderName: f(9), HolderEmail: f(10), CreatorName: f(11)}
	st := models.TokenStatus(f(12))
	r := TokenRow{ID: []byte(mt.ID), Name: []byte(mt.Name), Status: st, MaskedTail: []byte(mt.Tail), Role: []byte(mt.Role),
		HolderID: []byte(mt.HolderID), HolderName: n.HolderName, HolderEmail: n.HolderEmail, CreatedAt: mt.CreatedAt,
		CreatedBy: []byte(mt.CreatedBy), CreatedByName: n.CreatorName, Assigned: mt.Assigned, Revealed: mt.Revealed,
		ExpiresAt: mt.ExpiresAt, RevokedAt: mt.RevokedAt, RevokedBy: []byte(mt.RevokedBy), RotatedAt: mt.RotatedAt,
		RotatedTo: []byte(mt.RotatedTo), GraceUntil: mt.GraceUntil, LastUsedAt: mt.LastUsedAt, LastUsedFrom: []byte(mt.LastUsedBy)}
	return FromToken(mt, st, n), r
}

func TestTokenRowAppendJSONIsToken(t *testing.T) {
	at := time.Date(2026, 12, 2, 0, 15, 4, 999, time.FixedZone("x", 3600))
	for _, s := range []string{"", "plain", `q"b\s/`, "<a href='x'>&amp;</a>", "\x00\x01\b\f\n\r\t\x1b\x7f",
		"caf\u00e9 \u2028\u2029 \U0001F600", "bad \xff\xfe utf8 \xe2\x82", "\xe2\x80", "\u200b\u202e\ufeff"} {
		for _, when := range []time.Time{at, {}} {
			tok, row := rowOf(s, when.IsZero(), when)
			want, err := json.Marshal(tok)
			if err != nil {
				t.Fatal(err)
			}
			if got := row.AppendJSON(nil); !bytes.Equal(got, want) {
				t.Fatalf("TokenRow.AppendJSON\n got %s\nwant %s", got, want)
			}
		}
	}
	// A Token field TokenRow lacks fails here before it can drift.
	if a, b := reflect.TypeFor[Token]().NumField(), reflect.TypeFor[TokenRow]().NumField(); a != b {
		t.Fatalf("Token has %d fields, TokenRow %d: add the new one to both encoders", a, b)
	}
}

func FuzzTokenRowAppendJSON(f *testing.F) {
	f.Add("x", true, int64(1))
	f.Fuzz(func(t *testing.T, s string, on bool, sec int64) {
		tok, row := rowOf(s, on, time.Unix(sec%(1<<35), 0))
		want, err := json.Marshal(tok)
		if err != nil {
			t.Skip() // a time json cannot write (outside years 0–9999)
		}
		if got := row.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("TokenRow.AppendJSON\n got %s\nwant %s", got, want)
		}
	})
}

// TestRowEncoderIsAppendJSON: a RowEncoder writes what AppendJSON writes for
// every row of a listing, whatever numbers the caller gives its people: the
// same person again, another person under a number already used, a person
// renamed under the same number, the creator someone else, no number.
func TestRowEncoderIsAppendJSON(t *testing.T) {
	at := time.Date(2026, 12, 2, 0, 15, 4, 0, time.UTC)
	_, a := rowOf("a", true, at)
	_, b := rowOf("<b&>", false, at)
	renamed := a
	renamed.HolderName, renamed.CreatedByName = "a \u2028renamed", "\xff"
	moved := a
	moved.HolderID = []byte("usr_moved\"")
	own := b
	own.CreatedBy, own.CreatedByName = own.HolderID, own.HolderName
	long1, long2, edge := a, a, a // ids longer than a slot keeps in place, and one just fitting
	long1.HolderID, long1.CreatedBy = []byte("usr_0123456789012345678901234567"), []byte("usr_0123456789012345678901234567")
	long2.HolderID, long2.CreatedBy = []byte("usr_0123456789012345678901234568"), []byte("usr_0123456789012345678901234568")
	edge.HolderID = []byte("usr_01234567890123456789")
	var e RowEncoder
	for i, c := range []struct {
		row             TokenRow
		holder, creator int
	}{
		{a, 1, 2}, {a, 1, 2}, {b, 1, 2}, {a, 1, 2}, {renamed, 1, 2}, {a, 1, 2}, {moved, 1, 1}, {a, 1, 1},
		{own, 3, 3}, {own, 3, 3}, {b, 3 + rowEncoderSlots, 4}, {own, 3, 3}, {a, 0, 0}, {a, -1, 5}, {b, 5, -1},
		{long1, 6, 6}, {long1, 6, 6}, {long2, 6, 6}, {a, 6, 6}, {long2, 6, 6}, {edge, 6, 7}, {long1, 6, 7}, {edge, 6, 7},
	} {
		want := c.row.AppendJSON(nil)
		if got := e.Append([]byte("x"), &c.row, c.holder, c.creator); !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatalf("row %d (holder %d, creator %d)\n got %s\nwant %s", i, c.holder, c.creator, got, want)
		}
	}
}

// FuzzRowEncoder: two rows encoded one after the other under numbers the
// fuzzer picks come out as AppendJSON writes each.
func FuzzRowEncoder(f *testing.F) {
	f.Add("x", "y", 1, 1, 1, 1)
	f.Add("x", "x", 1, 2, 2, 1)
	f.Fuzz(func(t *testing.T, s1, s2 string, h1, c1, h2, c2 int) {
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		_, r1 := rowOf(s1, true, at)
		_, r2 := rowOf(s2, false, at)
		var e RowEncoder
		for _, c := range []struct {
			r    TokenRow
			h, c int
		}{{r1, h1, c1}, {r2, h2, c2}, {r1, h1, c1}} {
			if got, want := e.Append(nil, &c.r, c.h, c.c), c.r.AppendJSON(nil); !bytes.Equal(got, want) {
				t.Fatalf("holder %d creator %d\n got %s\nwant %s", c.h, c.c, got, want)
			}
		}
	})
}

// TestAppendTimeIsMarshal: the date arithmetic writes what Time.MarshalJSON
// writes, at every day from 1969 to 2430 (leap days and century years
// included) at several times of day, at the edges of its range, and for
// times with sub-second parts and zones.
//
// An encoder's cache of dates (RowEncoder.days) writes the same: one
// encoder sees every day, so each slot is reused for days 512 apart, and
// each day again at later times.
func TestAppendTimeIsMarshal(t *testing.T) {
	var e RowEncoder
	check := func(at time.Time) {
		t.Helper()
		want, err := At(at).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if got := (*RowEncoder)(nil).appendTime(nil, at); !bytes.Equal(got, want) {
			t.Fatalf("%v (unix %d): got %s, want %s", at, at.Unix(), got, want)
		}
		if got := e.appendTime(nil, at); !bytes.Equal(got, want) {
			t.Fatalf("cached: %v (unix %d): got %s, want %s", at, at.Unix(), got, want)
		}
	}
	for day := time.Date(1969, 12, 1, 0, 0, 0, 0, time.UTC); day.Year() < 2430; day = day.AddDate(0, 0, 1) {
		for _, off := range []time.Duration{0, time.Nanosecond, 999 * time.Millisecond, 13*time.Hour + 4*time.Minute + 5*time.Second, 24*time.Hour - 1} {
			check(day.Add(off))
		}
	}
	for _, at := range []time.Time{{}, time.Unix(0, 0), time.Unix(-1, 0), time.Unix(0, -1), time.Unix(unixYear10000-1, 999999999),
		time.Unix(unixYear10000, 0), time.Date(2026, 12, 2, 0, 15, 4, 999, time.FixedZone("x", -3600)),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)} {
		check(at)
	}
}

func FuzzAppendTime(f *testing.F) {
	f.Add(int64(1), int64(0))
	var e RowEncoder
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		at := time.Unix(sec%(1<<38), nsec)
		want, err := At(at).MarshalJSON()
		if err != nil {
			t.Skip()
		}
		if got := (*RowEncoder)(nil).appendTime(nil, at); !bytes.Equal(got, want) {
			t.Fatalf("%v: got %s, want %s", at, got, want)
		}
		if got := e.appendTime(e.appendTime(nil, at.Add(-86400*daySlots*time.Second)), at); !bytes.HasSuffix(got, want) {
			t.Fatalf("cached: %v: got %s, want %s", at, got, want)
		}
	})
}

// tokenOfRow is the Token a row stands for.
func tokenOfRow(r TokenRow) Token {
	return Token{ID: string(r.ID), Name: string(r.Name), Status: r.Status, Masked: models.MaskToken(string(r.MaskedTail)),
		Role: models.Role(r.Role), HolderID: string(r.HolderID), HolderName: r.HolderName, HolderEmail: r.HolderEmail,
		CreatedAt: At(r.CreatedAt), CreatedBy: string(r.CreatedBy), CreatedByName: r.CreatedByName, Assigned: r.Assigned,
		Revealed: r.Revealed, ExpiresAt: At(r.ExpiresAt), RevokedAt: At(r.RevokedAt), RevokedBy: string(r.RevokedBy),
		RotatedAt: At(r.RotatedAt), RotatedTo: string(r.RotatedTo), GraceUntil: At(r.GraceUntil), LastUsedAt: At(r.LastUsedAt),
		LastUsedFrom: string(r.LastUsedFrom)}
}

// TestTokenRowShortcuts: the rows AppendJSON writes from whole pieces (every
// combination of assigned and revealed; a token never revoked, rotated or
// used) and the rows that miss the shortcut by one field come out as
// json.Marshal writes their Token.
func TestTokenRowShortcuts(t *testing.T) {
	at := time.Date(2026, 12, 2, 0, 15, 4, 0, time.UTC)
	_, full := rowOf("x", true, at)
	untouched := full
	untouched.RevokedAt, untouched.RevokedBy, untouched.RotatedAt, untouched.RotatedTo = time.Time{}, nil, time.Time{}, nil
	untouched.GraceUntil, untouched.LastUsedAt, untouched.LastUsedFrom = time.Time{}, time.Time{}, []byte{}
	rows := []TokenRow{untouched}
	for i := range 7 {
		r := untouched
		switch i {
		case 0:
			r.RevokedAt = at
		case 1:
			r.RevokedBy = []byte("usr_r")
		case 2:
			r.RotatedAt = at
		case 3:
			r.RotatedTo = []byte("tok_n")
		case 4:
			r.GraceUntil = at
		case 5:
			r.LastUsedAt = at
		case 6:
			r.LastUsedFrom = []byte("203.0.113.9")
		}
		rows = append(rows, r)
	}
	for _, r := range rows {
		for flags := range 4 {
			r.Assigned, r.Revealed = flags&2 != 0, flags&1 != 0
			want, err := json.Marshal(tokenOfRow(r))
			if err != nil {
				t.Fatal(err)
			}
			if got := r.AppendJSON(nil); !bytes.Equal(got, want) {
				t.Fatalf("TokenRow.AppendJSON\n got %s\nwant %s", got, want)
			}
		}
	}
}
