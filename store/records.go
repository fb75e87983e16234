package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keydesk/keydesk/models"
)

// The store's records are its own: these types and encodings are what is
// kept, models holds the domain types and wire what clients see, so changing
// one never changes another by accident.
//
// Tokens (schema 2) are a compact binary record: there are millions of them
// and a listing reads them all. A token record is
//
//	0x01                       record format
//	flags                      bit 0 assigned, bit 1 revealed
//	name, holder id, role      uvarint length + bytes each
//	created at                 varint Unix nanoseconds (0: none)
//	created by                 string
//	expires at                 time
//	tail                       string
//	revoked at, revoked by     time, string
//	rotated at, rotated to     time, string
//	grace until                time
//	last used at, from         time, string
//
// and the token's id is its key, not repeated. Schema 1 kept JSON; its
// records still decode (a migration that stopped midway leaves both kinds).
// Users and audit entries stay JSON of the structs below: they are fewer,
// and their schema-1 records are the same bytes.

const tokenFormat1 = 0x01

const (
	flagAssigned = 1 << iota
	flagRevealed
)

// encodeToken returns tok's record.
func encodeToken(tok models.Token) []byte {
	b := make([]byte, 0, 64+len(tok.Name)+len(tok.HolderID)+len(tok.CreatedBy)+len(tok.RevokedBy)+len(tok.RotatedTo)+len(tok.LastUsedBy))
	var flags byte
	if tok.Assigned {
		flags |= flagAssigned
	}
	if tok.Revealed {
		flags |= flagRevealed
	}
	b = append(b, tokenFormat1, flags)
	b = appendString(b, tok.Name)
	b = appendString(b, tok.HolderID)
	b = appendString(b, string(tok.Role))
	b = appendTime(b, tok.CreatedAt)
	b = appendString(b, tok.CreatedBy)
	b = appendTime(b, tok.ExpiresAt)
	b = appendString(b, tok.Tail)
	b = appendTime(b, tok.RevokedAt)
	b = appendString(b, tok.RevokedBy)
	b = appendTime(b, tok.RotatedAt)
	b = appendString(b, tok.RotatedTo)
	b = appendTime(b, tok.GraceUntil)
	b = appendTime(b, tok.LastUsedAt)
	b = appendString(b, tok.LastUsedBy)
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// recordReader reads a binary record; the first problem sticks and every
// later read returns zero values, so a decoder checks once at the end.
type recordReader struct {
	b   []byte
	err error
}

var errDamagedRecord = errors.New("truncated or overlong field")

func (r *recordReader) string() string {
	if r.err != nil {
		return ""
	}
	n, w := binary.Uvarint(r.b)
	if w <= 0 || n > uint64(len(r.b)-w) {
		r.err = errDamagedRecord
		return ""
	}
	s := string(r.b[w : w+int(n)])
	r.b = r.b[w+int(n):]
	return s
}

func (r *recordReader) time() time.Time {
	if r.err != nil {
		return time.Time{}
	}
	t, w := varintTime(r.b)
	if w <= 0 {
		r.err = errDamagedRecord
		return time.Time{}
	}
	r.b = r.b[w:]
	return t
}

// varintTime reads a time written by appendTime (Unix nanoseconds as a
// varint, 0 for none) and how many bytes it took; w <= 0 means damaged.
func varintTime(b []byte) (t time.Time, w int) {
	v, w := binary.Varint(b)
	if w <= 0 || v == 0 {
		return time.Time{}, w
	}
	return time.Unix(0, v).UTC(), w
}

// decodeToken decodes the record stored under key id: binary (schema 2) or
// JSON (schema 1). A damaged record is an error, never a panic.
func decodeToken(id, data []byte) (models.Token, error) {
	if len(data) > 0 && data[0] == '{' {
		return decodeTokenJSON(id, data)
	}
	if len(data) < 2 || data[0] != tokenFormat1 {
		return models.Token{}, fmt.Errorf("damaged token record %s: unknown format", models.Sanitize(string(id)))
	}
	flags := data[1]
	r := recordReader{b: data[2:]}
	t := models.Token{ID: string(id), Assigned: flags&flagAssigned != 0, Revealed: flags&flagRevealed != 0}
	t.Name = r.string()
	t.HolderID = r.string()
	t.Role = models.Role(r.string())
	t.CreatedAt = r.time()
	t.CreatedBy = r.string()
	t.ExpiresAt = r.time()
	t.Tail = r.string()
	t.RevokedAt = r.time()
	t.RevokedBy = r.string()
	t.RotatedAt = r.time()
	t.RotatedTo = r.string()
	t.GraceUntil = r.time()
	t.LastUsedAt = r.time()
	t.LastUsedBy = r.string()
	if r.err == nil && len(r.b) != 0 {
		r.err = errors.New("trailing bytes")
	}
	if r.err != nil {
		return models.Token{}, fmt.Errorf("damaged token record %s: %v", models.Sanitize(string(id)), r.err)
	}
	if t.ID == "" || t.HolderID == "" {
		return t, fmt.Errorf("damaged token record: missing id or holder")
	}
	return t, nil
}

// tokenJSON is the schema-1 token record.
type tokenJSON struct {
	ID         string      `json:"id"`
	Name       string      `json:"name"`
	HolderID   string      `json:"holder_id"`
	Role       models.Role `json:"role"`
	CreatedAt  time.Time   `json:"created_at"`
	CreatedBy  string      `json:"created_by"`
	Assigned   bool        `json:"assigned,omitempty"`
	ExpiresAt  time.Time   `json:"expires_at,omitzero"`
	Tail       string      `json:"tail"`
	Revealed   bool        `json:"revealed,omitempty"`
	RevokedAt  time.Time   `json:"revoked_at,omitzero"`
	RevokedBy  string      `json:"revoked_by,omitempty"`
	RotatedAt  time.Time   `json:"rotated_at,omitzero"`
	RotatedTo  string      `json:"rotated_to,omitempty"`
	GraceUntil time.Time   `json:"grace_until,omitzero"`
	LastUsedAt time.Time   `json:"last_used_at,omitzero"`
	LastUsedBy string      `json:"last_used_from,omitempty"`
}

func decodeTokenJSON(id, data []byte) (models.Token, error) {
	var r tokenJSON
	if err := json.Unmarshal(data, &r); err != nil {
		return models.Token{}, fmt.Errorf("damaged token record: %w", err)
	}
	t := models.Token{ID: r.ID, Name: r.Name, HolderID: r.HolderID, Role: r.Role, CreatedAt: r.CreatedAt,
		CreatedBy: r.CreatedBy, Assigned: r.Assigned, ExpiresAt: r.ExpiresAt, Tail: r.Tail, Revealed: r.Revealed,
		RevokedAt: r.RevokedAt, RevokedBy: r.RevokedBy, RotatedAt: r.RotatedAt, RotatedTo: r.RotatedTo,
		GraceUntil: r.GraceUntil, LastUsedAt: r.LastUsedAt, LastUsedBy: r.LastUsedBy}
	if t.ID == "" || t.HolderID == "" {
		return t, fmt.Errorf("damaged token record: missing id or holder")
	}
	if id != nil && t.ID != string(id) {
		return t, fmt.Errorf("damaged token record %s: record says id %s", models.Sanitize(string(id)), models.Sanitize(t.ID))
	}
	return t, nil
}

// userRecord is a stored person.
type userRecord struct {
	ID        string      `json:"id"`
	Name      string      `json:"name"`
	Email     string      `json:"email"`
	Role      models.Role `json:"role"`
	Keys      []keyRecord `json:"keys,omitempty"`
	CreatedAt time.Time   `json:"created_at"`
	Removed   bool        `json:"removed,omitempty"`
	RemovedAt time.Time   `json:"removed_at,omitzero"`
	HadKey    bool        `json:"had_key,omitempty"`
}

// keyRecord is a stored SSH public key.
type keyRecord struct {
	Fingerprint string    `json:"fingerprint"`
	Type        string    `json:"type"`
	Comment     string    `json:"comment,omitempty"`
	Authorized  string    `json:"authorized"`
	AddedAt     time.Time `json:"added_at"`
	AddedBy     string    `json:"added_by,omitempty"`
	Pending     bool      `json:"pending,omitempty"`
	Ack         bool      `json:"acknowledged,omitempty"`
}

func encodeUser(u models.User) ([]byte, error) {
	r := userRecord{ID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role, CreatedAt: u.CreatedAt,
		Removed: u.Removed, RemovedAt: u.RemovedAt, HadKey: u.HadKey}
	for _, k := range u.Keys {
		r.Keys = append(r.Keys, keyRecord{Fingerprint: k.Fingerprint, Type: k.Type, Comment: k.Comment,
			Authorized: k.Authorized, AddedAt: k.AddedAt, AddedBy: k.AddedBy, Pending: k.Pending, Ack: k.Acknowledged})
	}
	return json.Marshal(r)
}

// decodeUser returns an error for a damaged record, never a panic.
func decodeUser(data []byte) (models.User, error) {
	var r userRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return models.User{}, fmt.Errorf("damaged user record: %w", err)
	}
	u := models.User{ID: r.ID, Name: r.Name, Email: r.Email, Role: r.Role, CreatedAt: r.CreatedAt,
		Removed: r.Removed, RemovedAt: r.RemovedAt, HadKey: r.HadKey}
	for _, k := range r.Keys {
		u.Keys = append(u.Keys, models.SSHKey{Fingerprint: k.Fingerprint, Type: k.Type, Comment: k.Comment,
			Authorized: k.Authorized, AddedAt: k.AddedAt, AddedBy: k.AddedBy, Pending: k.Pending, Acknowledged: k.Ack})
		if !k.Pending {
			u.HadKey = true // records from before HadKey was stored
		}
	}
	if u.ID == "" || !u.Role.Valid() {
		return u, fmt.Errorf("damaged user record: missing id or role")
	}
	return u, nil
}

// auditRecord is a stored audit entry; its key is the big-endian sequence.
type auditRecord struct {
	Seq         uint64    `json:"seq"`
	At          time.Time `json:"at"`
	Type        string    `json:"type"`
	ActorID     string    `json:"actor_id,omitempty"`
	ActorEmail  string    `json:"actor_email,omitempty"`
	TargetID    string    `json:"target_id,omitempty"`
	TargetEmail string    `json:"target_email,omitempty"`
	TokenID     string    `json:"token_id,omitempty"`
	Detail      string    `json:"detail,omitempty"`
	Via         string    `json:"via,omitempty"`
}

func encodeAudit(e models.AuditEntry) ([]byte, error) {
	return json.Marshal(auditRecord(e))
}

func decodeAudit(data []byte) (models.AuditEntry, error) {
	var r auditRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return models.AuditEntry{}, fmt.Errorf("damaged audit record: %w", err)
	}
	return models.AuditEntry(r), nil
}
