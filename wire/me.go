package wire

import "strconv"

// AppendJSON appends m's JSON, byte for byte what json.Marshal(m) writes,
// without reflection: GET /v3/users/me is the hottest authenticated route,
// and encoding/json's reflection over Me (and re-validating each Time's
// MarshalJSON output) was the largest part of its handler's CPU.
// TestMeAppendJSONIsMarshal and FuzzMeAppendJSON keep the two identical.
func (m *Me) AppendJSON(b []byte) []byte {
	b = m.User.appendFields(b)
	b = append(b, `,"token":{"id":`...)
	b = appendString(b, m.Token.ID)
	b = append(b, `,"role":`...)
	b = appendString(b, string(m.Token.Role))
	return append(b, "}}"...)
}

// AppendJSON appends u's JSON, byte for byte what json.Marshal(u) writes.
func (u *User) AppendJSON(b []byte) []byte { return append(u.appendFields(b), '}') }

// appendFields is u's object without its closing brace, so that Me, which
// embeds User, can add its own field after them as encoding/json does.
func (u *User) appendFields(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, u.ID)
	b = append(b, `,"name":`...)
	b = appendString(b, u.Name)
	b = append(b, `,"email":`...)
	b = appendString(b, u.Email)
	b = append(b, `,"role":`...)
	b = appendString(b, string(u.Role))
	b = append(b, `,"keys":`...)
	if u.Keys == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range u.Keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = u.Keys[i].AppendJSON(b)
		}
		b = append(b, ']')
	}
	b = append(b, `,"created_at":`...)
	b = u.CreatedAt.appendJSON(b)
	b = append(b, `,"removed":`...)
	b = strconv.AppendBool(b, u.Removed)
	b = append(b, `,"removed_at":`...)
	return u.RemovedAt.appendJSON(b)
}

// AppendJSON appends k's JSON, byte for byte what json.Marshal(k) writes.
func (k *Key) AppendJSON(b []byte) []byte {
	b = append(b, `{"fingerprint":`...)
	b = appendString(b, k.Fingerprint)
	b = append(b, `,"type":`...)
	b = appendString(b, k.Type)
	b = append(b, `,"comment":`...)
	b = appendString(b, k.Comment)
	b = append(b, `,"added_at":`...)
	b = k.AddedAt.appendJSON(b)
	b = append(b, `,"added_by":`...)
	b = appendString(b, k.AddedBy)
	b = append(b, `,"pending":`...)
	b = strconv.AppendBool(b, k.Pending)
	return append(b, '}')
}

// AppendString appends s as a JSON string, exactly as encoding/json writes it
// by default (HTML-safe, U+2028/U+2029 escaped, invalid UTF-8 as U+FFFD), for
// hand-written bodies outside this package (the HTTP exchange's answer).
func AppendString(b []byte, s string) []byte { return appendString(b, s) }
