package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/api"
	"github.com/keydesk/keydesk/internal/etcdtest"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/store/cluster"
)

func storeURL(c *etcdtest.Cluster, prefix string) string {
	var hosts []string
	for _, e := range c.Endpoints() {
		hosts = append(hosts, strings.TrimPrefix(e, "http://"))
	}
	return "etcd://" + strings.Join(hosts, ",") + strings.TrimSuffix(prefix, "/")
}

func openURL(t *testing.T, url, kek string, create bool) (*store.Store, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, _, err := cluster.Open(ctx, cluster.Config{URL: url, KEKFile: kek}, create, store.Options{})
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func TestParseURL(t *testing.T) {
	for _, c := range []struct{ in, eps, prefix, bad string }{
		{in: "etcd://h1:2379,h2:2380", eps: "http://h1:2379 http://h2:2380", prefix: "/keydesk/"},
		{in: "etcds://h1/acme/prod", eps: "https://h1:2379", prefix: "/acme/prod/"},
		{in: "etcd://[::1]:2379/x/", eps: "http://[::1]:2379", prefix: "/x/"},
		{in: "http://h1:2379", bad: "want etcd://"},
		{in: "etcd:///x", bad: "no etcd host"},
		{in: "etcd://h1,,h2", bad: "empty host"},
	} {
		got, err := cluster.ParseURL(c.in)
		if c.bad != "" {
			if err == nil || !strings.Contains(err.Error(), c.bad) {
				t.Errorf("ParseURL(%q) = %v, %v; want an error saying %q", c.in, got, err, c.bad)
			}
			continue
		}
		if err != nil || strings.Join(got.Endpoints, " ") != c.eps || got.Prefix != c.prefix {
			t.Errorf("ParseURL(%q) = %+v, %v; want %s %s", c.in, got, err, c.eps, c.prefix)
		}
	}
}

// Two servers opened from one --store URL with the same KEK file share the
// organization's secrets: a token made on A works on B, and a JWT minted by
// A's HTTP API verifies on B's. A wrong KEK and a missing one are refused.
func TestSharedSecretsAndJWTAcrossServers(t *testing.T) {
	c := etcdtest.Shared(t)
	url := storeURL(c, c.Prefix(t))
	kek := filepath.Join(t.TempDir(), "kek")
	a, err := openURL(t, url, kek, true)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(kek); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("KEK file: %v %v; want created 0600", st, err)
	}
	owner, err := a.Init(store.NewUser{Name: "Olive Owner", Email: "olive@example.com"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := a.CreateToken(store.Actor{UserID: owner.ID, Via: "test"}, store.TokenSpec{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := openURL(t, url, kek, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exchange(secret, "b"); err != nil {
		t.Fatalf("B rejects a token made on A: %v", err)
	}
	// HTTP on both: mint on A, call /v3/users/me on B.
	srvA, err := api.New(a, api.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srvB, err := api.New(b, api.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ha, hb := httptest.NewServer(srvA.Handler()), httptest.NewServer(srvB.Handler())
	defer ha.Close()
	defer hb.Close()
	req, _ := http.NewRequest("GET", ha.URL+"/oauth/access-token", nil)
	req.Header.Set("X-Refresh-Token", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Data struct {
			AccessToken string `json:"access_token"`
		} `json:"data"`
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || body.Data.AccessToken == "" {
		t.Fatalf("mint on A: %d %v", resp.StatusCode, err)
	}
	req, _ = http.NewRequest("GET", hb.URL+"/v3/users/me", nil)
	req.Header.Set("Authorization", "Bearer "+body.Data.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("B answers a JWT minted on A with %d, want 200", resp.StatusCode)
	}
	// /healthz names the store and says whether B's cache is proven fresh;
	// /metrics has the store's latency and watch lag.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(hb.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		var h struct {
			Status string       `json:"status"`
			Store  store.Health `json:"store"`
		}
		err = json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		if err != nil || h.Status != "ok" || h.Store.Engine != "etcd" || !strings.HasPrefix(h.Store.Store, "etcd://") {
			t.Fatalf("healthz: %+v %v", h, err)
		}
		if h.Store.Cache == "fresh" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B's cache never reported fresh: %+v", h)
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err = http.Get(hb.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"keydesk_store_commit_seconds_total", "keydesk_store_watch_lag_revisions", "keydesk_store_cache_fresh 1"} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	// The SSH host key is shared too.
	k1, err := a.ServerKey("ssh_host_ed25519", func() ([]byte, error) { return []byte("first"), nil })
	if err != nil {
		t.Fatal(err)
	}
	k2, err := b.ServerKey("ssh_host_ed25519", func() ([]byte, error) { return []byte("second"), nil })
	if err != nil || string(k1) != string(k2) || string(k1) != "first" {
		t.Fatalf("host keys %q and %q (%v); want both the first server's", k1, k2, err)
	}

	// A different KEK is refused with one clear line.
	other := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(other, []byte(strings.Repeat("ab", 16)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openURL(t, url, other, true); !errors.Is(err, cluster.ErrWrongKEK) {
		t.Fatalf("wrong KEK: %v, want ErrWrongKEK", err)
	}
	// A missing KEK for an existing organization is never created anew.
	missing := filepath.Join(t.TempDir(), "nope", "kek")
	if _, err := openURL(t, url, missing, true); err == nil || !strings.Contains(err.Error(), "copy the KEK file") {
		t.Fatalf("missing KEK: %v", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("a new KEK was created for an existing organization")
	}
}
