package models

import "time"

// TokenStatus is a refresh token's state as a person reads it.
type TokenStatus string

// Statuses of docs/tokens.md.
const (
	StatusActive         TokenStatus = "active"
	StatusAwaitingReveal TokenStatus = "awaiting reveal"
	StatusExpired        TokenStatus = "expired"
	StatusRevoked        TokenStatus = "revoked"
	StatusRotated        TokenStatus = "rotated"
)

// Usable reports whether a token in this status may still be exchanged. A token
// awaiting reveal is usable: only its holder can ever learn the secret.
func (s TokenStatus) Usable() bool { return s == StatusActive || s == StatusAwaitingReveal }

// User is a person in the organization.
type User struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	Role      Role      `json:"role"`
	Keys      []SSHKey  `json:"keys,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Removed users are kept so that their revoked tokens and audit history still
	// name a holder; they cannot log in and their email may be reused.
	Removed   bool      `json:"removed,omitempty"`
	RemovedAt time.Time `json:"removed_at,omitzero"`
	// HadKey is set once the person has had a working key. From then on a
	// key someone else adds for them waits for their approval (SSHKey.Pending):
	// nobody may make themselves another existing person by managing keys.
	HadKey bool `json:"-"`
}

// Subject returns the user as the permission rules see them.
func (u User) Subject() Subject { return Subject{ID: u.ID, Role: u.Role} }

// SSHKey is a registered public key.
type SSHKey struct {
	Fingerprint string    `json:"fingerprint"` // SHA256:… as ssh-keygen -l prints it
	Type        string    `json:"type"`
	Comment     string    `json:"comment,omitempty"`
	Authorized  string    `json:"authorized"` // the key in authorized_keys form, without comment
	AddedAt     time.Time `json:"added_at"`
	// AddedBy is the user id of whoever registered the key for this person
	// (empty: the person themselves).
	AddedBy string `json:"added_by,omitempty"`
	// Pending keys were added by someone else to a person who already had a
	// key; they do not log in until the person approves them from a key they
	// hold (`user approve-key`).
	Pending bool `json:"pending,omitempty"`
	// Acknowledged is set once the person was told, at a login, that someone
	// else registered this key for them.
	Acknowledged bool `json:"acknowledged,omitempty"`
}

// ActiveKeys is how many of u's keys can log in.
func (u User) ActiveKeys() int {
	n := 0
	for _, k := range u.Keys {
		if !k.Pending {
			n++
		}
	}
	return n
}

// Token is a refresh token's metadata. The secret itself is never part of it.
type Token struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	HolderID   string    `json:"holder_id"`
	Role       Role      `json:"role"` // the holder's role at creation
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by"` // user id of the creator (the holder, or the owner who assigned it)
	Assigned   bool      `json:"assigned,omitempty"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	Tail       string    `json:"tail"` // last six chars, for the masked form
	Revealed   bool      `json:"revealed,omitempty"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	RevokedBy  string    `json:"revoked_by,omitempty"`
	RotatedAt  time.Time `json:"rotated_at,omitzero"`
	RotatedTo  string    `json:"rotated_to,omitempty"`
	GraceUntil time.Time `json:"grace_until,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	LastUsedBy string    `json:"last_used_from,omitempty"` // source address or interface
}

// Status derives the token's status at time now.
func (t Token) Status(now time.Time) TokenStatus {
	return StatusAt(now, t.Assigned, t.Revealed, t.ExpiresAt, t.RevokedAt, t.RotatedAt)
}

// StatusAt is Token.Status from the fields it reads, for a caller that holds
// them without a Token (a listing reading records in place).
func StatusAt(now time.Time, assigned, revealed bool, expiresAt, revokedAt, rotatedAt time.Time) TokenStatus {
	switch {
	case !revokedAt.IsZero():
		return StatusRevoked
	case !rotatedAt.IsZero():
		return StatusRotated
	case !expiresAt.IsZero() && !now.Before(expiresAt):
		return StatusExpired
	case assigned && !revealed:
		return StatusAwaitingReveal
	}
	return StatusActive
}

// UsableAt reports whether the secret may be exchanged at now: active, awaiting
// reveal, or rotated but still inside its grace period.
func (t Token) UsableAt(now time.Time) bool {
	st := t.Status(now)
	if st.Usable() {
		return true
	}
	return st == StatusRotated && now.Before(t.GraceUntil) &&
		(t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// Masked is the token's display form, "kdr_…" plus its last six characters.
func (t Token) Masked() string { return MaskToken(t.Tail) }

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
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

// Audit entry types.
const (
	AuditOrgCreated        = "org_created"
	AuditUserAdded         = "user_added"
	AuditUserRemoved       = "user_removed"
	AuditRoleChanged       = "role_changed"
	AuditKeyAdded          = "key_added"
	AuditKeyRemoved        = "key_removed"
	AuditKeyApproved       = "key_approved"
	AuditUsersImported     = "users_imported"
	AuditOwnershipMoved    = "ownership_transferred"
	AuditTokenCreated      = "token_created"
	AuditTokenAssigned     = "token_assigned"
	AuditTokenRevealed     = "token_revealed"
	AuditTokenRotated      = "token_rotated"
	AuditTokenRevoked      = "token_revoked"
	AuditTokenReuse        = "token_reuse_detected"
	AuditBackup            = "backup_taken"
	AuditSSHSessionOpened  = "ssh_session_opened"
	AuditSSHAuthRefused    = "ssh_auth_refused"
	AuditTokenRevokedOAuth = "token_revoked_oauth"
	AuditTokenRenamed      = "token_renamed"
)

// AuditTypes lists every entry type, for filters and help text.
var AuditTypes = []string{
	AuditOrgCreated, AuditUserAdded, AuditUserRemoved, AuditRoleChanged, AuditKeyAdded,
	AuditKeyRemoved, AuditUsersImported, AuditOwnershipMoved, AuditTokenCreated,
	AuditTokenAssigned, AuditTokenRevealed, AuditTokenRotated, AuditTokenRevoked,
	AuditTokenReuse, AuditBackup, AuditSSHSessionOpened, AuditSSHAuthRefused,
	AuditTokenRevokedOAuth, AuditTokenRenamed, AuditKeyApproved,
}
