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
