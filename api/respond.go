package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"
	"sync"
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

// Header values every answer carries, as shared one-element slices: assigning
// them costs no allocation where Header.Set makes a new slice per key per
// request. net/http only reads header values (and Clone copies them), and
// their capacity is their length, so an Add to one of these keys copies
// rather than writes into the shared array.
var (
	hdrJSON    = []string{"application/json"}
	hdrNosniff = []string{"nosniff"}
	hdrNoStore = []string{"no-store"}
	hdrNoCache = []string{"no-cache"}
)

func setJSONHeaders(h http.Header) {
	h["Content-Type"] = hdrJSON[:1:1]
	h["X-Content-Type-Options"] = hdrNosniff[:1:1]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// bodyBuf holds a hand-encoded body (the hot routes' answers) between its
// building and its one Write; pooled so a busy route allocates none.
type bodyBuf struct{ b []byte }

var bodyBufs = sync.Pool{New: func() any { return &bodyBuf{b: make([]byte, 0, 1024)} }}

// maxPooledBody keeps an unusually large body's buffer out of the pool.
const maxPooledBody = 16 << 10

func getBody() *bodyBuf { return bodyBufs.Get().(*bodyBuf) }

// writeBody answers status with buf's bytes, which must be the JSON
// writeJSON would have written for the same value (newline included), and
// returns buf to the pool: ResponseWriter.Write copies what it is given.
func writeBody(w http.ResponseWriter, status int, buf *bodyBuf) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(buf.b)
	if cap(buf.b) <= maxPooledBody {
		buf.b = buf.b[:0]
		bodyBufs.Put(buf)
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Meta: errorMeta{Status: status, ErrorMessage: msg}})
}

// unauthorizedMessage is the one answer to every bad credential.
var unauthorizedMessage = models.ErrUnauthenticated.Error()

func writeUnauthorized(w http.ResponseWriter) { writeUnauthorizedMessage(w, unauthorizedMessage) }

// The 401 texts for requests that bring no credential of the right kind:
// they say what to send, where unauthorizedMessage must say nothing.
const (
	missingRefreshMessage = "missing X-Refresh-Token header; send your refresh token (kdr_…) in it"
	missingBearerMessage  = "missing Authorization header; send Authorization: Bearer ACCESS_TOKEN, with an access token from GET /oauth/access-token"
	notBearerMessage      = "the Authorization header is not a Bearer token; send Authorization: Bearer ACCESS_TOKEN, with an access token from GET /oauth/access-token"
)

func writeUnauthorizedMessage(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="keydesk"`)
	writeError(w, http.StatusUnauthorized, msg)
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
	h := w.Header()
	h["Cache-Control"] = hdrNoStore[:1:1]
	h["Pragma"] = hdrNoCache[:1:1]
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
//
// A body of another type is refused in words: net/http leaves it unread, so
// a client that posted JSON was told "grant_type is required" (or "token is
// required") about a field it had sent.
func parseForm(r *http.Request) (int, error) {
	if r.ContentLength != 0 {
		ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch {
		case ct == "application/x-www-form-urlencoded":
		case r.Header.Get("Content-Type") == "":
			return http.StatusBadRequest, errors.New("the body has no Content-Type; send the parameters as a form: Content-Type: application/x-www-form-urlencoded")
		case err != nil:
			return http.StatusBadRequest, errors.New("the Content-Type is not a media type; send the parameters as a form: Content-Type: application/x-www-form-urlencoded")
		default:
			return http.StatusBadRequest, fmt.Errorf("the body is %s; send the parameters as a form: Content-Type: application/x-www-form-urlencoded", ct)
		}
	}
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, errors.New("request body too large")
		}
		return http.StatusBadRequest, errors.New("request body is not a valid form")
	}
	return 0, nil
}
