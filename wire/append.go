package wire

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/keydesk/keydesk/models"
)

// AppendJSON appends t's JSON, byte for byte what json.Marshal(t) writes,
// without reflection: `token list --all --json` writes a million of these, and
// encoding/json's reflection was 40% of its CPU. TestTokenAppendJSONIsMarshal
// keeps the two identical (it fails when a field is added here but not there).
func (t Token) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, t.ID)
	b = append(b, `,"name":`...)
	b = appendString(b, t.Name)
	b = append(b, `,"status":`...)
	b = appendString(b, string(t.Status))
	b = append(b, `,"masked":`...)
	b = appendString(b, t.Masked)
	b = append(b, `,"role":`...)
	b = appendString(b, string(t.Role))
	b = append(b, `,"holder_id":`...)
	b = appendString(b, t.HolderID)
	b = append(b, `,"holder_name":`...)
	b = appendString(b, t.HolderName)
	b = append(b, `,"holder_email":`...)
	b = appendString(b, t.HolderEmail)
	b = append(b, `,"created_at":`...)
	b = t.CreatedAt.appendJSON(b)
	b = append(b, `,"created_by":`...)
	b = appendString(b, t.CreatedBy)
	b = append(b, `,"created_by_name":`...)
	b = appendString(b, t.CreatedByName)
	b = append(b, `,"assigned":`...)
	b = strconv.AppendBool(b, t.Assigned)
	b = append(b, `,"revealed":`...)
	b = strconv.AppendBool(b, t.Revealed)
	b = append(b, `,"expires_at":`...)
	b = t.ExpiresAt.appendJSON(b)
	b = append(b, `,"revoked_at":`...)
	b = t.RevokedAt.appendJSON(b)
	b = append(b, `,"revoked_by":`...)
	b = appendString(b, t.RevokedBy)
	b = append(b, `,"rotated_at":`...)
	b = t.RotatedAt.appendJSON(b)
	b = append(b, `,"rotated_to":`...)
	b = appendString(b, t.RotatedTo)
	b = append(b, `,"grace_until":`...)
	b = t.GraceUntil.appendJSON(b)
	b = append(b, `,"last_used_at":`...)
	b = t.LastUsedAt.appendJSON(b)
	b = append(b, `,"last_used_from":`...)
	b = appendString(b, t.LastUsedFrom)
	return append(b, '}')
}

// TokenRow is a Token whose text is byte slices (pointing into a stored
// record) and whose times are not yet wrapped: a listing of a million tokens
// encodes each straight from its record, with no Token built and nothing
// allocated. Its AppendJSON writes exactly the Token's JSON (see
// TestTokenRowAppendJSONIsToken). Masked is models.MaskToken(MaskedTail).
type TokenRow struct {
	ID, Name      []byte
	Status        models.TokenStatus
	MaskedTail    []byte
	Role          []byte
	HolderID      []byte
	HolderName    string
	HolderEmail   string
	CreatedAt     time.Time
	CreatedBy     []byte
	CreatedByName string
	Assigned      bool
	Revealed      bool
	ExpiresAt     time.Time
	RevokedAt     time.Time
	RevokedBy     []byte
	RotatedAt     time.Time
	RotatedTo     []byte
	GraceUntil    time.Time
	LastUsedAt    time.Time
	LastUsedFrom  []byte
}

// AppendJSON appends the row as Token.AppendJSON would the Token it stands for.
func (t *TokenRow) AppendJSON(b []byte) []byte {
	return (*RowEncoder)(nil).Append(b, t, 0, 0)
}

// RowEncoder is TokenRow.AppendJSON for a whole listing: it keeps each
// person's holder fields ("holder_id", "holder_name", "holder_email") and
// creator fields ("created_by", "created_by_name") already encoded, so a row
// copies them instead of escaping five strings again (a million tokens name
// some 100k people, each ten times). The zero RowEncoder is ready; a nil one
// caches nothing.
type RowEncoder struct {
	holders, creators []personJSON
	// days holds the JSON of recent days' dates, `"2026-12-02T`, by day
	// number: the date's arithmetic was a tenth of a million-token
	// listing, and a listing's times fall on a few hundred days.
	days *[daySlots]dayJSON
}

// daySlots is how many dates a RowEncoder keeps (direct-mapped by the day's
// number since 1970).
const daySlots = 1 << 9

// dayJSON is one day's date as appendTime writes it; day is the day's
// number + 1 (0: empty).
type dayJSON struct {
	day  int64
	text [12]byte
}

// rowEncoderSlots is how many people a RowEncoder keeps (direct-mapped by the
// caller's number for them): a listing's neighbouring tokens name a few
// hundred people, and 8192 slots are ~1.5 MB at most.
const rowEncoderSlots = 1 << 13

// personJSON is one cached fragment and what it was made from.
type personJSON struct {
	id          []byte
	name, email string
	json        []byte
}

// Append appends t's JSON, byte for byte what t.AppendJSON writes. holder and
// creator are the caller's numbers for the row's holder and creator (0: not
// numbered): rows with the same number usually name the same person, and
// then that person's fields are copied from the last row. The number is only
// a hint: a fragment is reused only when the id, name and email it was made
// from equal the row's, so a wrong number costs time, never a wrong byte.
func (e *RowEncoder) Append(b []byte, t *TokenRow, holder, creator int) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, t.ID)
	b = append(b, `,"name":`...)
	b = appendString(b, t.Name)
	b = append(b, `,"status":`...)
	b = appendString(b, string(t.Status))
	// The prefix needs no escaping and ends a whole rune, so escaping it and
	// the tail apart is escaping the whole.
	b = append(b, `,"masked":"`+models.TokenPrefix+"…"...)
	b = appendEscaped(b, t.MaskedTail)
	b = append(b, `","role":`...)
	b = appendString(b, t.Role)
	if p := e.slot(false, holder); p != nil {
		b = p.append(b, t.HolderID, t.HolderName, t.HolderEmail, appendHolder)
	} else {
		b = appendHolder(b, t.HolderID, t.HolderName, t.HolderEmail)
	}
	b = append(b, `,"created_at":`...)
	b = e.appendTime(b, t.CreatedAt)
	if p := e.slot(true, creator); p != nil {
		b = p.append(b, t.CreatedBy, t.CreatedByName, "", appendCreator)
	} else {
		b = appendCreator(b, t.CreatedBy, t.CreatedByName, "")
	}
	b = append(b, flagsJSON[btoi(t.Assigned)*2+btoi(t.Revealed)]...)
	b = e.appendTime(b, t.ExpiresAt)
	if t.RevokedAt.IsZero() && len(t.RevokedBy) == 0 && t.RotatedAt.IsZero() && len(t.RotatedTo) == 0 &&
		t.GraceUntil.IsZero() && t.LastUsedAt.IsZero() && len(t.LastUsedFrom) == 0 {
		// Never revoked, rotated or used, as most tokens of a listing are.
		return append(b, untouchedJSON...)
	}
	b = append(b, `,"revoked_at":`...)
	b = e.appendTime(b, t.RevokedAt)
	b = append(b, `,"revoked_by":`...)
	b = appendString(b, t.RevokedBy)
	b = append(b, `,"rotated_at":`...)
	b = e.appendTime(b, t.RotatedAt)
	b = append(b, `,"rotated_to":`...)
	b = appendString(b, t.RotatedTo)
	b = append(b, `,"grace_until":`...)
	b = e.appendTime(b, t.GraceUntil)
	b = append(b, `,"last_used_at":`...)
	b = e.appendTime(b, t.LastUsedAt)
	b = append(b, `,"last_used_from":`...)
	b = appendString(b, t.LastUsedFrom)
	return append(b, '}')
}

// flagsJSON is "assigned" and "revealed" (index 2×assigned + revealed), up
// to the expiry's key.
var flagsJSON = [4]string{
	`,"assigned":false,"revealed":false,"expires_at":`, `,"assigned":false,"revealed":true,"expires_at":`,
	`,"assigned":true,"revealed":false,"expires_at":`, `,"assigned":true,"revealed":true,"expires_at":`,
}

// untouchedJSON ends the JSON of a token never revoked, rotated or used.
const untouchedJSON = `,"revoked_at":null,"revoked_by":"","rotated_at":null,"rotated_to":"","grace_until":null,"last_used_at":null,"last_used_from":""}`

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func appendHolder(b, id []byte, name, email string) []byte {
	b = append(b, `,"holder_id":`...)
	b = appendString(b, id)
	b = append(b, `,"holder_name":`...)
	b = appendString(b, name)
	b = append(b, `,"holder_email":`...)
	return appendString(b, email)
}

func appendCreator(b, id []byte, name, _ string) []byte {
	b = append(b, `,"created_by":`...)
	b = appendString(b, id)
	b = append(b, `,"created_by_name":`...)
	return appendString(b, name)
}

// slot is the cache entry of the holder (or the creator) numbered n, or nil
// when e is nil or n is not a number.
func (e *RowEncoder) slot(creator bool, n int) *personJSON {
	if e == nil || n <= 0 {
		return nil
	}
	tab := &e.holders
	if creator {
		tab = &e.creators
	}
	if *tab == nil {
		*tab = make([]personJSON, rowEncoderSlots)
	}
	return &(*tab)[n&(rowEncoderSlots-1)]
}

// append copies p's fragment when it was made from id, name and email, and
// otherwise remakes it with enc first.
func (p *personJSON) append(b, id []byte, name, email string, enc func(b, id []byte, name, email string) []byte) []byte {
	// Equal strings handed out again by the same cache share their bytes,
	// and comparing a string with itself is one pointer test.
	if p.json == nil || p.name != name || p.email != email || string(p.id) != string(id) {
		p.id = append(p.id[:0], id...)
		p.name, p.email = name, email
		p.json = enc(p.json[:0], id, name, email)
	}
	return append(b, p.json...)
}

// appendTime is At(t)'s JSON, written from t's Unix seconds: breaking a
// time into date and clock (time.Time's Date and Clock, each from scratch)
// was most of the cost of a million-token listing's six times per token. A
// non-nil e keeps the dates it wrote (e.days).
func (e *RowEncoder) appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	sec := t.Unix() // whole seconds, rounded down as At's Truncate does
	if sec < 0 || sec >= unixYear10000 {
		return At(t).appendJSON(b)
	}
	day := sec / 86400
	rem := sec - day*86400
	if e == nil {
		b = appendDate(b, day)
	} else {
		if e.days == nil {
			e.days = new([daySlots]dayJSON)
		}
		d := &e.days[day&(daySlots-1)]
		if d.day != day+1 {
			d.day = day + 1
			appendDate(d.text[:0], day)
		}
		b = append(b, d.text[:]...)
	}
	h, mi, s := rem/3600, rem/60%60, rem%60
	return append(b, twoDigits[2*h], twoDigits[2*h+1], ':', twoDigits[2*mi], twoDigits[2*mi+1], ':',
		twoDigits[2*s], twoDigits[2*s+1], 'Z', '"')
}

// twoDigits is 00 to 99.
const twoDigits = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// appendDate appends `"YYYY-MM-DDT` (12 bytes) for the day numbered day since
// 1970-01-01, a year 0–9999.
func appendDate(b []byte, day int64) []byte {
	// The proleptic Gregorian date of a day count (H. Hinnant's
	// civil_from_days), in 400-year eras from 0000-03-01 so that the leap
	// day ends a year.
	z := day + 719468
	era := z / 146097
	doe := z - era*146097                                  // day of the era, 0–146096
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // year of the era, 0–399
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100) // day of the year from March 1, 0–365
	mp := (5*doy + 2) / 153                  // month from March, 0–11
	d := doy - (153*mp+2)/5 + 1
	mo := mp + 3
	if mo > 12 {
		mo -= 12
		y++
	}
	return append(b, '"', byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+mo/10), byte('0'+mo%10), '-', byte('0'+d/10), byte('0'+d%10), 'T')
}

// unixYear10000 is 10000-01-01T00:00:00Z in Unix seconds: appendTime's fast
// path writes four-digit years.
const unixYear10000 = 253402300800

func (t Time) appendJSON(b []byte) []byte {
	if t.t.IsZero() {
		return append(b, "null"...)
	}
	u := t.t.UTC()
	y, mo, d := u.Date()
	if y < 0 || y > 9999 {
		// Outside what the fixed layout below writes; json.Marshal refuses
		// these anyway.
		b = append(b, '"')
		b = u.AppendFormat(b, TimeLayout)
		return append(b, '"')
	}
	h, mi, s := u.Clock()
	// TimeLayout by hand: AppendFormat parses its layout on every call, a
	// tenth of the time of a million-token listing.
	return append(b, '"', byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':', byte('0'+s/10), byte('0'+s%10), 'Z', '"')
}

const hexDigits = "0123456789abcdef"

// plainASCII marks the bytes appendEscaped copies as they are.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString quotes s as encoding/json does by default: HTML-safe (<, >, &
// as \u003c…), U+2028 and U+2029 escaped, each invalid UTF-8 byte as U+FFFD.
func appendString[S string | []byte](b []byte, s S) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

// appendEscaped is appendString without the quotes.
func appendEscaped[S string | []byte](b []byte, s S) []byte {
	start := 0
	for i := 0; i < len(s); {
		for i < len(s) && plainASCII[s[i]] { // the usual byte, in a tight loop
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...) // json writes the replacement character itself
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

func decodeRune[S string | []byte](s S) (rune, int) {
	switch v := any(s).(type) {
	case string:
		return utf8.DecodeRuneInString(v)
	case []byte:
		return utf8.DecodeRune(v)
	}
	panic("unreachable")
}
