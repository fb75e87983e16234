package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// fill sets every string field of the struct v points to (recursing into
// embedded and nested structs) to s plus a letter per field, so swapped
// fields show; every bool to on, every Time to at, and every []Key to keys
// copies of a filled Key. A field of a kind it does not know fails the test,
// so a field added to Me, User, Key or Credential cannot skip AppendJSON.
func fill(t testing.TB, v reflect.Value, s string, on bool, at time.Time, keys int) {
	for i := range v.NumField() {
		f := v.Field(i)
		tag := s + string(rune('a'+i))
		switch {
		case f.Kind() == reflect.String:
			f.SetString(tag)
		case f.Kind() == reflect.Bool:
			f.SetBool(on)
		case f.Type() == reflect.TypeFor[Time]():
			f.Set(reflect.ValueOf(At(at)))
		case f.Type() == reflect.TypeFor[[]Key]():
			if keys < 0 {
				continue // nil: json writes null
			}
			ks := make([]Key, keys)
			for j := range ks {
				fill(t, reflect.ValueOf(&ks[j]).Elem(), tag+string(rune('0'+j%10)), !on, at.Add(time.Duration(j)*time.Hour), 0)
			}
			f.Set(reflect.ValueOf(ks))
		case f.Kind() == reflect.Struct:
			fill(t, f, tag, on, at, keys)
		default:
			t.Fatalf("%s.%s is a %s, which the Me encoder test does not fill", v.Type(), v.Type().Field(i).Name, f.Type())
		}
	}
}

func filledMe(t testing.TB, s string, on bool, at time.Time, keys int) Me {
	var m Me
	fill(t, reflect.ValueOf(&m).Elem(), s, on, at, keys)
	return m
}

func TestMeAppendJSONIsMarshal(t *testing.T) {
	at := time.Date(2026, 12, 2, 0, 15, 4, 999, time.FixedZone("x", 3600))
	for _, s := range []string{"", "plain", `q"b\s/`, "<a href='x'>&amp;</a>", "\x00\x01\b\f\n\r\t\x1b\x7f",
		"caf\u00e9 \u2028\u2029 \U0001F600", "bad \xff\xfe utf8 \xe2\x82", "\xe2\x80", "\u200b\u202e\ufeff"} {
		for _, when := range []time.Time{at, {}, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)} {
			for _, keys := range []int{-1, 0, 1, 3} {
				m := filledMe(t, s, keys%2 == 0, when, keys)
				want, err := json.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				if got := m.AppendJSON(nil); !bytes.Equal(got, want) {
					t.Fatalf("Me.AppendJSON\n got %s\nwant %s", got, want)
				}
				want, err = json.Marshal(m.User)
				if err != nil {
					t.Fatal(err)
				}
				if got := m.User.AppendJSON([]byte("prefix")); !bytes.Equal(got, append([]byte("prefix"), want...)) {
					t.Fatalf("User.AppendJSON\n got %s\nwant prefix%s", got, want)
				}
			}
		}
	}
	// AppendString is the same escaper, for bodies built outside this package.
	if got, want := AppendString(nil, "<\u2028\xff"), []byte(`"\u003c\u2028`+"\uFFFD"+`"`); !bytes.Equal(got, want) {
		t.Fatalf("AppendString: got %s, want %s", got, want)
	}
}

func FuzzMeAppendJSON(f *testing.F) {
	f.Add("x", "<&>", true, int64(1), uint8(1))
	f.Fuzz(func(t *testing.T, a, b string, on bool, sec int64, keys uint8) {
		m := filledMe(t, a, on, time.Unix(sec%(1<<35), 0), int(keys%4)-1)
		m.Name, m.Token.Role = b, Credential{}.Role
		if len(m.Keys) > 0 {
			m.Keys[0].Comment = b
		}
		want, err := json.Marshal(m)
		if err != nil {
			t.Skip() // a time json cannot write
		}
		if got := m.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("Me.AppendJSON\n got %s\nwant %s", got, want)
		}
	})
}
