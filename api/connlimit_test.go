package api

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// serveLimited runs e's server on a real loopback listener wrapped by
// Listener, as `keydesk serve` does, and returns its address.
func serveLimited(t *testing.T, e *env) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := e.srv.HTTPServer("127.0.0.1:0")
	go func() { _ = hs.Serve(e.srv.Listener(ln)) }()
	t.Cleanup(func() { _ = hs.Close() })
	return ln.Addr().String()
}

// keepAlive opens a connection from local (nil: the default), makes one
// request on it and leaves it open and idle, as a connection pool does. It
// returns the connection and whether the request was answered.
func keepAlive(t *testing.T, addr string, local net.Addr) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: keydesk\r\n\r\n"); err != nil {
		return c, false // closed before the request went out
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return c, false
	}
	res.Body.Close()
	return c, res.StatusCode == http.StatusOK
}

// TestConnectionsPerAddressCapped: one address cannot hold more than its
// share of connections (idle keep-alives from one client used up every file
// descriptor, SSH's included), while other addresses are still served and a
// closed connection frees its slot.
func TestConnectionsPerAddressCapped(t *testing.T) {
	e := newEnv(t, envOpts{api: Options{MaxConnsPerAddr: 3}})
	addr := serveLimited(t, e)

	var held []net.Conn
	for i := range 3 {
		c, ok := keepAlive(t, addr, nil)
		if !ok {
			t.Fatalf("connection %d of 3 was not served", i+1)
		}
		held = append(held, c)
	}
	if _, ok := keepAlive(t, addr, nil); ok {
		t.Fatal("a 4th connection from the same address was served; want it closed at accept")
	}
	// Another address is not affected (127.0.0.2 is loopback too on Linux).
	if _, ok := keepAlive(t, addr, &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}); !ok {
		t.Fatal("a connection from another address was refused while 127.0.0.1 was at its cap")
	}
	// Closing one gives its slot back once the server has seen the close.
	_ = held[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, ok := keepAlive(t, addr, nil)
		if ok {
			break
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			t.Fatal("a closed connection's slot was never given back")
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a wait for state
	}
	if got := metricValue(t, e, "keydesk_http_connections_refused_total"); got == "" || got == "0" {
		t.Fatalf("keydesk_http_connections_refused_total = %q, want the refusals counted", got)
	}
}

// TestTrustedProxyConnectionsNotCapped: a trusted proxy carries many
// clients' connections, so its address is not held to one client's cap.
func TestTrustedProxyConnectionsNotCapped(t *testing.T) {
	e := newEnv(t, envOpts{api: Options{MaxConnsPerAddr: 1,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}})
	addr := serveLimited(t, e)
	for i := range 4 {
		if _, ok := keepAlive(t, addr, nil); !ok {
			t.Fatalf("connection %d from the trusted proxy was refused", i+1)
		}
	}
}

// metricValue is the value of an unlabelled series on GET /metrics.
func metricValue(t *testing.T, e *env, name string) string {
	t.Helper()
	res := e.do("GET", "/metrics", nil, nil)
	for line := range strings.SplitSeq(string(res.body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestConnectionsInAllCapped: many addresses together hold at most
// MaxConns connections (a flood from many places took the process's
// descriptors just as one address did), a trusted proxy's included; a
// closed connection frees its slot for anyone.
func TestConnectionsInAllCapped(t *testing.T) {
	e := newEnv(t, envOpts{api: Options{MaxConnsPerAddr: 2, MaxConns: 3,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.4/32")}}})
	addr := serveLimited(t, e)
	from := func(ip string) *net.TCPAddr { return &net.TCPAddr{IP: net.ParseIP(ip)} }
	first, ok := keepAlive(t, addr, from("127.0.0.1"))
	if !ok {
		t.Fatal("the first connection was not served")
	}
	for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		if _, ok := keepAlive(t, addr, from(ip)); !ok {
			t.Fatalf("a connection from %s within the caps was not served", ip)
		}
	}
	for _, ip := range []string{"127.0.0.3", "127.0.0.4"} {
		if _, ok := keepAlive(t, addr, from(ip)); ok {
			t.Fatalf("a 4th connection, from %s, was served past MaxConns 3", ip)
		}
	}
	_ = first.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, ok := keepAlive(t, addr, from("127.0.0.3")); ok {
			break
		} else {
			_ = c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatal("the total's slot was never freed after a connection closed")
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a wait for state
	}
}
