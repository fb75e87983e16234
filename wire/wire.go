// Package wire holds the JSON shapes keydesk shows to programs: the CLI's
// --json output and the HTTP API's /v3 bodies are built from these types and
// nothing else, so a script written against one reads the other, and a change
// of how the store keeps its records never changes what clients see.
//
// Conventions (docs/json.md):
//   - every time is RFC 3339 in UTC at second precision ("2026-01-02T15:04:05Z"),
//     or null when there is none (a token that never expires);
//   - every field of a kind is always present (null, "", false or [] when
//     empty), so a client can rely on the key being there;
//   - lists are JSON arrays ([] when empty).
package wire

import (
	"bytes"
	"fmt"
	"time"

	"github.com/keydesk/keydesk/models"
)

// TimeLayout is RFC 3339 in UTC at second precision.
const TimeLayout = "2006-01-02T15:04:05Z"

// Time is a moment as every body shows it. The zero Time is null.
type Time struct{ t time.Time }

// At wraps t, dropping the sub-second part and the zone.
func At(t time.Time) Time {
	if t.IsZero() {
		return Time{}
	}
	return Time{t.UTC().Truncate(time.Second)}
}

// Time returns the moment (the zero time for null).
func (t Time) Time() time.Time { return t.t }

// IsZero reports whether t is null.
func (t Time) IsZero() bool { return t.t.IsZero() }

// String is the JSON form without quotes, or "" for null.
func (t Time) String() string {
	if t.t.IsZero() {
		return ""
	}
	return t.t.Format(TimeLayout)
}

// MarshalJSON writes "2006-01-02T15:04:05Z" or null.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.t.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, len(TimeLayout)+2) // one allocation: every /v3 body has times
	b = append(b, '"')
	b = t.t.AppendFormat(b, TimeLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON reads what MarshalJSON writes, and refuses any other layout
// so a client that drifts from the format learns it at once.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = Time{}
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("wire: time %s is not a string", b)
	}
	s := string(b[1 : len(b)-1])
	v, err := time.Parse(TimeLayout, s)
	if err != nil || len(s) != len(TimeLayout) {
		return fmt.Errorf("wire: time %s is not RFC 3339 UTC at second precision (%s)", b, TimeLayout)
	}
	*t = Time{v}
	return nil
}

// Key is a registered SSH public key.
type Key struct {
	Fingerprint string `json:"fingerprint"` // SHA256:… as ssh-keygen -l prints it
	Type        string `json:"type"`
	Comment     string `json:"comment"`
	AddedAt     Time   `json:"added_at"`
	// AddedBy is who registered it for this person ("" for themself).
	AddedBy string `json:"added_by"`
	// Pending keys wait for their person's approval and do not log in.
	Pending bool `json:"pending"`
}

// FromKey is k as clients see it.
func FromKey(k models.SSHKey) Key {
	return Key{Fingerprint: k.Fingerprint, Type: k.Type, Comment: k.Comment, AddedAt: At(k.AddedAt), AddedBy: k.AddedBy, Pending: k.Pending}
}

// User is a person. Removed people appear only where history names them.
type User struct {
	ID        string      `json:"id"`
	Name      string      `json:"name"`
	Email     string      `json:"email"`
	Role      models.Role `json:"role"`
	Keys      []Key       `json:"keys"`
	CreatedAt Time        `json:"created_at"`
	Removed   bool        `json:"removed"`
	RemovedAt Time        `json:"removed_at"`
}

// FromUser is u as clients see it.
func FromUser(u models.User) User {
	keys := make([]Key, 0, len(u.Keys))
	for _, k := range u.Keys {
		keys = append(keys, FromKey(k))
	}
	return User{ID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role, Keys: keys,
		CreatedAt: At(u.CreatedAt), Removed: u.Removed, RemovedAt: At(u.RemovedAt)}
}

// Credential is what the caller's credential may do: its effective role can
// be lower than the person's role (docs/roles.md, role-restricted tokens).
type Credential struct {
	ID   string      `json:"id"`
	Role models.Role `json:"role"`
}

// Me is the caller: the person and the token they came with (GET /v3/users/me).
type Me struct {
	User
	Token Credential `json:"token"`
}

// UserChange is a person after a change that may have revoked tokens
// (user remove, user set-role, token revoke-all). DryRun marks a preview:
// nothing was written, and TokensRevoked is what the change would revoke.
type UserChange struct {
	User
	TokensRevoked int  `json:"tokens_revoked"`
	DryRun        bool `json:"dry_run"`
}

// Token is a refresh token's metadata. A secret never appears here; see Secret.
type Token struct {
	ID            string             `json:"id"`
	Name          string             `json:"name"`
	Status        models.TokenStatus `json:"status"`
	Masked        string             `json:"masked"` // kdr_… and the last six characters
	Role          models.Role        `json:"role"`   // the holder's role at creation
	HolderID      string             `json:"holder_id"`
	HolderName    string             `json:"holder_name"`
	HolderEmail   string             `json:"holder_email"`
	CreatedAt     Time               `json:"created_at"`
	CreatedBy     string             `json:"created_by"` // user id of the creator
	CreatedByName string             `json:"created_by_name"`
	Assigned      bool               `json:"assigned"`
	Revealed      bool               `json:"revealed"`
	ExpiresAt     Time               `json:"expires_at"` // null: never
	RevokedAt     Time               `json:"revoked_at"`
	RevokedBy     string             `json:"revoked_by"`
	RotatedAt     Time               `json:"rotated_at"`
	RotatedTo     string             `json:"rotated_to"`
	GraceUntil    Time               `json:"grace_until"`
	LastUsedAt    Time               `json:"last_used_at"`
	LastUsedFrom  string             `json:"last_used_from"`
}

// Names are the people a token refers to, by name, for display.
type Names struct {
	HolderName, HolderEmail, CreatorName string
}

// FromToken is t as clients see it, with its status at the time it was read.
func FromToken(t models.Token, status models.TokenStatus, n Names) Token {
	return Token{
		ID: t.ID, Name: t.Name, Status: status, Masked: t.Masked(), Role: t.Role,
		HolderID: t.HolderID, HolderName: n.HolderName, HolderEmail: n.HolderEmail,
		CreatedAt: At(t.CreatedAt), CreatedBy: t.CreatedBy, CreatedByName: n.CreatorName,
		Assigned: t.Assigned, Revealed: t.Revealed, ExpiresAt: At(t.ExpiresAt),
		RevokedAt: At(t.RevokedAt), RevokedBy: t.RevokedBy, RotatedAt: At(t.RotatedAt),
		RotatedTo: t.RotatedTo, GraceUntil: At(t.GraceUntil), LastUsedAt: At(t.LastUsedAt),
		LastUsedFrom: t.LastUsedBy,
	}
}

// Secret is a token together with its plaintext, shown once (token create,
// reveal, rotate).
type Secret struct {
	Token
	RefreshToken string `json:"refresh_token"`
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	Seq         uint64 `json:"seq"`
	At          Time   `json:"at"`
	Type        string `json:"type"`
	ActorID     string `json:"actor_id"`
	ActorEmail  string `json:"actor_email"`
	TargetID    string `json:"target_id"`
	TargetEmail string `json:"target_email"`
	TokenID     string `json:"token_id"`
	Detail      string `json:"detail"`
	Via         string `json:"via"`
}

// FromAudit is e as clients see it.
func FromAudit(e models.AuditEntry) AuditEntry {
	return AuditEntry{Seq: e.Seq, At: At(e.At), Type: e.Type, ActorID: e.ActorID, ActorEmail: e.ActorEmail,
		TargetID: e.TargetID, TargetEmail: e.TargetEmail, TokenID: e.TokenID, Detail: e.Detail, Via: e.Via}
}

// Version is `keydesk version`.
type Version struct {
	Version string `json:"version"`
	Go      string `json:"go"`
	Schema  uint64 `json:"schema"`
}

// Check is `keydesk check`'s verdict.
type Check struct {
	OK       bool     `json:"ok"`
	Problems []string `json:"problems"`
}

// Backup is where `keydesk backup FILE` wrote and how much.
type Backup struct {
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
}

// Compact is what `keydesk compact` did to the database file.
type Compact struct {
	Path        string `json:"path"`
	BytesBefore int64  `json:"bytes_before"`
	BytesAfter  int64  `json:"bytes_after"`
	Original    string `json:"original"` // the untouched file, kept beside it
}

// Demo is where `keydesk demo --seed-only` seeded and as whom to look.
type Demo struct {
	Data  string `json:"data"`
	Owner string `json:"owner"`
}

// Import is `user import`'s result: the people added (or, on a dry run,
// who would be added).
type Import struct {
	Users  []User `json:"users"`
	DryRun bool   `json:"dry_run"`
}
