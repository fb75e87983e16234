package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/wire"
)

// exchangeFailure says why an exchange failed, so each endpoint can answer in
// its own dialect (the original product's meta body, or RFC 6749 §5.2).
type exchangeFailure int

const (
	exchangeOK exchangeFailure = iota
	exchangeLimited
	exchangeInvalid
	exchangeBroken
)

// exchange checks a refresh token and mints an access token for it. The store
// records the use (time and client address, coalesced in memory) and audits a
// rotated secret replayed after its grace period.
func (srv *Server) exchange(r *http.Request, secret string) (minted, exchangeFailure, time.Duration) {
	ip := srv.clientIP(r)
	p, err := srv.store.Exchange(secret, ip)
	if err != nil {
		// Only a failed credential meets the limiter: a valid one is served
		// whatever this or any other address did before.
		srv.metrics.authFailures.Inc()
		key := limitKey(ip)
		if wait, blocked := srv.limit.blocked(key); blocked {
			srv.metrics.exchanged[resultRateLimited].Inc()
			return minted{}, exchangeLimited, wait
		}
		srv.limit.fail(key)
		srv.metrics.exchanged[resultInvalid].Inc()
		return minted{}, exchangeInvalid, 0
	}
	m, err := srv.keys.mint(p)
	if err != nil {
		srv.log.Error("mint access token", "token_id", p.Token.ID, "err", err)
		srv.metrics.exchanged[resultError].Inc()
		return minted{}, exchangeBroken, 0
	}
	srv.metrics.exchanged[resultOK].Inc()
	return m, exchangeOK, 0
}

// accessTokenData is the original product's exchange answer, field for field:
// clients already parse it, so names and Unix-second integer times must stay.
type accessTokenData struct {
	AccessToken  string `json:"access_token"`
	ExpiresAt    int64  `json:"expires_at"`
	IssuedAt     int64  `json:"issued_at"`
	RefreshToken string `json:"refresh_token"`
	Type         string `json:"type"`
}

type accessTokenResponse struct {
	Data accessTokenData `json:"data"`
}

// handleAccessToken is GET /oauth/access-token with X-Refresh-Token. The
// answer echoes the refresh token, as the original product does; it goes back
// only to whoever presented it, on a no-store response.
func (srv *Server) handleAccessToken(w http.ResponseWriter, r *http.Request) {
	secret := r.Header.Get("X-Refresh-Token")
	if len(r.Header.Values("X-Refresh-Token")) == 0 {
		// No header, so no credential and nothing to count against the
		// address; as with /oauth/token's "refresh_token is required". An
		// empty value is a malformed token: the one 401 (SPEC §6).
		writeUnauthorizedMessage(w, missingRefreshMessage)
		return
	}
	m, fail, wait := srv.exchange(r, secret)
	switch fail {
	case exchangeLimited:
		writeTooMany(w, wait)
		return
	case exchangeInvalid:
		writeUnauthorized(w)
		return
	case exchangeBroken:
		writeError(w, http.StatusInternalServerError, "internal error; the server log has details")
		return
	}
	noStore(w)
	buf := getBody()
	buf.b = accessTokenData{
		AccessToken:  m.token,
		ExpiresAt:    m.expires.Unix(),
		IssuedAt:     m.issuedAt.Unix(),
		RefreshToken: secret,
		Type:         "Bearer",
	}.appendBody(buf.b)
	writeBody(w, http.StatusOK, buf)
}

// appendBody appends what writeJSON writes for accessTokenResponse{d}, by
// hand: every exchange answers one, and encoding/json's reflection was a
// tenth of the handler's CPU besides the signature (TestExchangeBodiesAreWriteJSON).
func (d accessTokenData) appendBody(b []byte) []byte {
	b = append(b, `{"data":{"access_token":`...)
	b = wire.AppendString(b, d.AccessToken)
	b = append(b, `,"expires_at":`...)
	b = strconv.AppendInt(b, d.ExpiresAt, 10)
	b = append(b, `,"issued_at":`...)
	b = strconv.AppendInt(b, d.IssuedAt, 10)
	b = append(b, `,"refresh_token":`...)
	b = wire.AppendString(b, d.RefreshToken)
	b = append(b, `,"type":`...)
	b = wire.AppendString(b, d.Type)
	return append(b, "}}\n"...)
}

// tokenResponse is RFC 6749 §5.1. No refresh_token is returned: the refresh
// token is not rotated by use, and OAuth clients (golang.org/x/oauth2
// included) keep the one they have.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// handleToken is POST /oauth/token, the RFC 6749 §6 refresh grant. Client
// credentials, if a library sends them, are ignored: keydesk has no clients,
// only people's refresh tokens.
func (srv *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if status, err := parseForm(r); err != nil {
		writeOAuthError(w, status, "invalid_request", err.Error())
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "refresh_token":
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
		return
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "only grant_type=refresh_token is supported")
		return
	}
	secret := r.PostForm.Get("refresh_token")
	if secret == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "refresh_token is required")
		return
	}
	m, fail, wait := srv.exchange(r, secret)
	switch fail {
	case exchangeLimited:
		writeOAuthTooMany(w, wait)
		return
	case exchangeInvalid:
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token is invalid, expired or revoked")
		return
	case exchangeBroken:
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "")
		return
	}
	noStore(w)
	buf := getBody()
	buf.b = tokenResponse{
		AccessToken: m.token,
		TokenType:   "Bearer",
		ExpiresIn:   int64(m.expires.Sub(m.issuedAt) / time.Second),
	}.appendBody(buf.b)
	writeBody(w, http.StatusOK, buf)
}

// appendBody appends what writeJSON writes for t, as accessTokenData's does.
func (t tokenResponse) appendBody(b []byte) []byte {
	b = append(b, `{"access_token":`...)
	b = wire.AppendString(b, t.AccessToken)
	b = append(b, `,"token_type":`...)
	b = wire.AppendString(b, t.TokenType)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, t.ExpiresIn, 10)
	return append(b, "}\n"...)
}

// handleRevoke is RFC 7009. Whoever holds a token may revoke it, and the
// answer is 200 whether or not the token existed, so the endpoint cannot be
// used to test tokens. A refresh token is revoked with its access tokens. An
// access token revokes the refresh token it was minted from (§2.1 allows it,
// and it is the only way to make that access token stop working before it
// expires: keydesk checks every access token's refresh token on each use).
//
// An unknown, malformed or already dead token costs a lookup, never a write
// or an event, and counts as an authentication failure of the address: past
// the limit such requests get 429 (in the OAuth error shape). A token that is
// live is always revoked, whatever the address did before.
func (srv *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	tok, ok := formValue(w, r, "token")
	if !ok {
		return
	}
	noStore(w)
	if models.LooksLikeRefreshToken(tok) {
		if _, err := srv.store.Inspect(tok); err == nil {
			if err := srv.store.RevokeSecret(tok, srv.via(r)); err != nil {
				srv.log.Error("revoke by secret", "err", err)
				writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the revocation was not recorded; retry")
				return
			}
			writeJSON(w, http.StatusOK, struct{}{})
			return
		}
	} else if c, err := srv.keys.verify(tok); err == nil {
		if p, err := srv.store.CheckAccess(c.RTID, c.Subject); err == nil {
			if _, err := srv.store.As(p, srv.via(r)).RevokeToken(p.Token.ID); err != nil && !errors.Is(err, models.ErrTokenInactive) {
				srv.log.Error("revoke by access token", "token_id", p.Token.ID, "err", err)
				writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the revocation was not recorded; retry")
				return
			}
			writeJSON(w, http.StatusOK, struct{}{})
			return
		}
	}
	srv.authFailed(w, limitKey(srv.clientIP(r)), writeOAuthTooMany, func(w http.ResponseWriter) {
		writeJSON(w, http.StatusOK, struct{}{})
	})
}

// introspection is RFC 7662 §2.2's answer for an active token.
type introspection struct {
	Active bool `json:"active"`
	// TokenType is RFC 6749 §7.1's type of an access token: "Bearer".
	TokenType string `json:"token_type,omitempty"`
	// TokenUse says which kind of keydesk token was asked about:
	// "access_token" or "refresh_token".
	TokenUse string `json:"token_use"`
	Sub      string `json:"sub"`
	Username string `json:"username"`
	Role     string `json:"role"`
	TokenID  string `json:"token_id"`
	Iss      string `json:"iss"`
	Iat      int64  `json:"iat,omitempty"`
	Exp      int64  `json:"exp,omitempty"`
	Jti      string `json:"jti,omitempty"`
}

// inactive is exactly {"active":false}: RFC 7662 §2.2 says nothing more may be
// told about a token that is unknown, expired or revoked.
var inactive = struct {
	Active bool `json:"active"`
}{}

// handleIntrospect is RFC 7662 for resource servers that need
// revocation-exact answers. The caller presents an access token whose
// effective role may read the audit log (owner, admin); the token asked about
// may be a refresh token or an access token, and its role in the answer is
// its effective role now.
func (srv *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	caller, ok := srv.authenticate(w, r)
	if !ok {
		return
	}
	if err := srv.store.As(caller, srv.via(r)).AuthorizeIntrospection(); err != nil {
		srv.storeError(w, r, err)
		return
	}
	tok, ok := formValue(w, r, "token")
	if !ok {
		return
	}
	noStore(w)
	var out introspection
	if models.LooksLikeRefreshToken(tok) {
		p, err := srv.store.Inspect(tok)
		if err != nil {
			writeJSON(w, http.StatusOK, inactive)
			return
		}
		out = srv.describe(p, "refresh_token")
		out.TokenType = "" // not a token type of RFC 6749 §7.1; token_use says what it is
		out.Iat = p.Token.CreatedAt.Unix()
		if !p.Token.ExpiresAt.IsZero() {
			out.Exp = p.Token.ExpiresAt.Unix()
		}
	} else {
		c, err := srv.keys.verify(tok)
		if err != nil {
			writeJSON(w, http.StatusOK, inactive)
			return
		}
		p, err := srv.store.CheckAccess(c.RTID, c.Subject)
		if err != nil {
			writeJSON(w, http.StatusOK, inactive)
			return
		}
		out = srv.describe(p, "access_token")
		out.TokenType = "Bearer"
		out.Iat, out.Exp, out.Jti = c.IssuedAt.Unix(), c.ExpiresAt.Unix(), c.ID
	}
	writeJSON(w, http.StatusOK, out)
}

func (srv *Server) describe(p store.Principal, typ string) introspection {
	return introspection{Active: true, TokenUse: typ, Sub: p.User.ID, Username: p.User.Email,
		Role: string(p.Role), TokenID: p.Token.ID, Iss: srv.opts.Issuer}
}

// handleJWKS publishes the signing key for offline verification. Caching for
// a few minutes is fine: the key changes only if secrets/ is replaced.
func (srv *Server) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, srv.keys.jwks())
}

// handleHealth answers liveness: the process serves and the store answers.
func (srv *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if _, err := srv.store.Initialized(); err != nil {
		srv.log.Error("health check", "err", err)
		writeError(w, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Status string       `json:"status"`
		Store  store.Health `json:"store"`
	}{"ok", srv.store.Health()})
}

// formValue parses an OAuth form and returns the required field name, or
// answers invalid_request (RFC 6749 §5.2) and reports false.
func formValue(w http.ResponseWriter, r *http.Request, name string) (string, bool) {
	if status, err := parseForm(r); err != nil {
		writeOAuthError(w, status, "invalid_request", err.Error())
		return "", false
	}
	v := r.PostForm.Get(name)
	if v == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", name+" is required")
		return "", false
	}
	return v, true
}
