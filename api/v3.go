package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/wire"
)

// Bodies are wire types (package wire): the same shapes as the CLI's --json.

// data is the {"data": …} envelope of every /v3 answer. A struct rather than
// a one-key map: it encodes to the same bytes without allocating and walking
// a map on every request (GET /v3/users/me is the hottest authenticated route).
type data[T any] struct {
	Data T `json:"data"`
}

// handleMe answers from the principal that authentication just resolved:
// store.CheckAccess has already found the holder current (not removed, the
// record as of the latest commit touching it), so reading and decoding the
// same record again would cost a transaction for nothing. The role shown is
// the one the credential acts with, as Profile reports it.
func (srv *Server) handleMe(w http.ResponseWriter, r *http.Request, p store.Principal) {
	u := p.User
	u.Role = p.Role
	me := wire.Me{User: wire.FromUser(u), Token: wire.Credential{ID: p.Token.ID, Role: p.Role}}
	// By hand rather than writeJSON: the same bytes (TestMeBodyIsWriteJSON),
	// without encoding/json's reflection on the hottest authenticated route.
	buf := getBody()
	buf.b = appendMeBody(buf.b, &me)
	writeBody(w, http.StatusOK, buf)
}

// appendMeBody appends what writeJSON writes for data[wire.Me]{*me}.
func appendMeBody(b []byte, me *wire.Me) []byte {
	b = append(b, `{"data":`...)
	b = me.AppendJSON(b)
	return append(b, "}\n"...)
}

func (srv *Server) handleListUsers(w http.ResponseWriter, r *http.Request, p store.Principal) {
	users, err := srv.store.As(p, srv.via(r)).ListUsers()
	if err != nil {
		srv.storeError(w, r, err)
		return
	}
	out := make([]wire.User, 0, len(users))
	for _, u := range users {
		out = append(out, wire.FromUser(u))
	}
	writeJSON(w, http.StatusOK, data[[]wire.User]{out})
}

// newUserRequest is POST /v3/users's body.
type newUserRequest struct {
	Name  string   `json:"name"`
	Email string   `json:"email"`
	Role  string   `json:"role"`
	Keys  []string `json:"keys"`
}

func (srv *Server) handleAddUser(w http.ResponseWriter, r *http.Request, p store.Principal) {
	var req newUserRequest
	if status, err := decodeJSON(r, &req); err != nil {
		writeError(w, status, err.Error())
		return
	}
	if strings.TrimSpace(req.Role) == "" {
		// Required here, unlike the CLI's default: a body that meant to give
		// one and misspelt it must not add a user with a guessed role.
		writeError(w, http.StatusBadRequest, `"role" is missing; give one of "admin", "user", "stakeholder"`)
		return
	}
	role, err := models.ParseRole(req.Role)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	u, err := srv.store.As(p, srv.via(r)).AddUser(store.NewUser{Name: req.Name, Email: req.Email, Role: role, Keys: req.Keys})
	if err != nil {
		srv.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, data[wire.User]{wire.FromUser(u)})
}

// decodeJSON reads one JSON object, refusing unknown fields (a typo such as
// "rol" must not silently add a user with a default role) and trailing data.
func decodeJSON(r *http.Request, v any) (int, error) {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return http.StatusRequestEntityTooLarge, errors.New("request body too large")
		case errors.Is(err, io.EOF):
			return http.StatusBadRequest, errors.New("request body is empty; send a JSON object")
		}
		// encoding/json's own words name Go types and parser states ("invalid
		// character 'o' in literal null (expecting 'u')"); say it in JSON's.
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syntax):
			return http.StatusBadRequest, fmt.Errorf("request body is not valid JSON (at byte %d); send one JSON object", syntax.Offset)
		case errors.As(err, &typ) && typ.Field != "":
			return http.StatusBadRequest, fmt.Errorf("field %q must be %s, not %s", models.SanitizeLine(typ.Field), jsonKind(typ.Type), typ.Value)
		case errors.As(err, &typ):
			return http.StatusBadRequest, fmt.Errorf("request body must be a JSON object, not %s", typ.Value)
		}
		return http.StatusBadRequest, fmt.Errorf("request body is not the expected JSON object: %s", models.SanitizeLine(strings.TrimPrefix(err.Error(), "json: ")))
	}
	if dec.More() {
		return http.StatusBadRequest, errors.New("request body holds more than one JSON value")
	}
	return 0, nil
}

// jsonKind names what a Go type holds in JSON's terms.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list of " + strings.TrimPrefix(jsonKind(t.Elem()), "a ") + "s"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a number"
}

// Token listings are paged so that an organization with many tokens never
// builds one huge answer.
const (
	defaultTokenPage = 100
	maxTokenPage     = 1000
)

type tokenList struct {
	Data []wire.Token `json:"data"`
	// Next is the cursor for ?after= to fetch the following page.
	Next string `json:"next,omitempty"`
}

// handleListTokens lists the caller's own tokens, or with ?all=true every
// token of the organization (owner only). Metadata only: secrets are never
// stored in a readable form, so they cannot appear here.
func (srv *Server) handleListTokens(w http.ResponseWriter, r *http.Request, p store.Principal) {
	q := r.URL.Query()
	tq := store.TokenQuery{Limit: defaultTokenPage, After: q.Get("after"), Filter: q.Get("filter")}
	if s := q.Get("all"); s != "" {
		all, err := strconv.ParseBool(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "all must be true or false")
			return
		}
		tq.All = all
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxTokenPage {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit must be a number from 1 to %d", maxTokenPage))
			return
		}
		tq.Limit = n
	}
	page, err := srv.store.As(p, srv.via(r)).ListTokens(tq)
	if err != nil {
		srv.storeError(w, r, err)
		return
	}
	out := make([]wire.Token, 0, len(page.Tokens))
	for _, v := range page.Tokens {
		out = append(out, wireToken(v))
	}
	writeJSON(w, http.StatusOK, tokenList{Data: out, Next: page.Next})
}

// wireToken is a listed token as clients see it.
func wireToken(v store.TokenView) wire.Token {
	return wire.FromToken(v.Token, v.Status, wire.Names{HolderName: v.HolderName, HolderEmail: v.HolderEmail, CreatorName: v.CreatorName})
}

// handleRevokeToken revokes one of the caller's tokens, or anyone's for an
// owner-level credential. Access tokens minted from it fail from the next
// request on.
func (srv *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request, p store.Principal) {
	tok, err := srv.store.As(p, srv.via(r)).RevokeToken(r.PathValue("id"))
	if err != nil {
		srv.storeError(w, r, err)
		return
	}
	v, err := srv.store.Token(p.Actor(srv.via(r)), tok.ID)
	if err != nil {
		srv.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, data[wire.Token]{wireToken(v)})
}
