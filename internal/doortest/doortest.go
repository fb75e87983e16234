// Package doortest is what tests need to reach keydesk's doors as clients
// do: SSH keys, source addresses that rotate over 127.0.0.0/8, an HTTP
// client on a fresh connection per request, and the token exchange and
// /v3/users/me calls. It serves the end-to-end tests (e2e, e2e/faults),
// which talk to real servers over real sockets.
package doortest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// NewSigner makes an ed25519 SSH key.
func NewSigner(t testing.TB) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// AuthorizedKey is s's public key as an authorized_keys line.
func AuthorizedKey(s gossh.Signer) string {
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(s.PublicKey())))
}

// srcSeq rotates client source addresses over 127.0.0.0/8. The servers limit
// sessions and authentication failures per address, which is right for the
// internet and wrong for a test that is every client at once; Linux routes
// the whole /8 to loopback, so each connection can come from its own address.
var srcSeq atomic.Uint32

// NextSource is the next source address.
func NextSource() net.IP {
	n := srcSeq.Add(1)
	return net.IPv4(127, byte(1+n/62500%200), byte(n/250%250), byte(2+n%250))
}

// Dialer dials from the next source address.
func Dialer() *net.Dialer {
	return &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: NextSource()}}
}

// HTTPClient makes each request on a new connection from a new source
// address, so the per-address failure limit measures the test's intent
// rather than its shape.
func HTTPClient() *http.Client {
	return &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return Dialer().DialContext(ctx, network, addr)
			},
		},
	}
}

// Exchange trades a refresh token for an access token at base's
// GET /oauth/access-token; the access token is empty unless the status is 200.
func Exchange(c *http.Client, base, secret string) (string, int, error) {
	req, err := http.NewRequest("GET", base+"/oauth/access-token", nil)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("X-Refresh-Token", secret)
	res, err := c.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return "", res.StatusCode, err
	}
	if res.StatusCode != http.StatusOK {
		return "", res.StatusCode, nil
	}
	var out struct {
		Data struct {
			AccessToken string `json:"access_token"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Data.AccessToken == "" {
		return "", res.StatusCode, fmt.Errorf("exchange answer %q: %v", body, err)
	}
	return out.Data.AccessToken, res.StatusCode, nil
}

// WhoAmI calls GET /v3/users/me with an access token and returns the status.
func WhoAmI(c *http.Client, base, access string) (int, error) {
	req, err := http.NewRequest("GET", base+"/v3/users/me", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+access)
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}
