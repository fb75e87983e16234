package api

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/keydesk/keydesk/models"
)

// errorBody is the original product's error shape.
type errorBody struct {
	Meta errorMeta `json:"meta"`
}

type errorMeta struct {
	Status       int    `json:"status"`
	ErrorMessage string `json:"error_message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Meta: errorMeta{Status: status, ErrorMessage: msg}})
}

// unauthorizedMessage is the one answer to every bad credential.
var unauthorizedMessage = models.ErrUnauthenticated.Error()

func writeUnauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="keydesk"`)
	writeError(w, http.StatusUnauthorized, unauthorizedMessage)
}

func writeTooMany(w http.ResponseWriter, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests,
		"too many failed authentication attempts from your address; retry in "+strconv.Itoa(secs)+" s")
}

// writeOAuthTooMany is 429 for the OAuth endpoints, in RFC 6749 §5.2's
// shape, with Retry-After.
func writeOAuthTooMany(w http.ResponseWriter, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeOAuthError(w, http.StatusTooManyRequests, "temporarily_unavailable",
		"too many failed attempts from your address; retry in "+strconv.Itoa(secs)+" s")
}

// noStore marks a response that carries a credential (RFC 6749 §5.1): no
// cache or proxy may keep it.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// oauthError is RFC 6749 §5.2's error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	noStore(w)
	writeJSON(w, status, oauthError{Error: code, Description: desc})
}

// parseForm reads an application/x-www-form-urlencoded body. Parameters in
// the URL are ignored on purpose: a token in a query string ends up in proxy
// and access logs. The returned status is 413 for a body over the limit.
func parseForm(r *http.Request) (int, error) {
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, errors.New("request body too large")
		}
		return http.StatusBadRequest, errors.New("request body is not a valid form")
	}
	return 0, nil
}
