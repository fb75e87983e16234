package daemon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/charmbracelet/log"
	"github.com/keydesk/keydesk/api"
	"github.com/keydesk/keydesk/store"
)

// TestServeCapsHTTPConnectionsPerAddress: serve's HTTP listener holds one
// address to api.DefaultMaxConnsPerAddr connections. Without the cap, one
// client holding ~20,000 idle keep-alive connections used every file
// descriptor of the process and SSH logins failed with "too many open files".
func TestServeCapsHTTPConnectionsPerAddress(t *testing.T) {
	s, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, s, Config{SSHAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
			Logger: log.NewWithOptions(io.Discard, log.Options{}),
			Ready:  func(_, h net.Addr) { ready <- h }})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	var addr string
	select {
	case a := <-ready:
		addr = a.String()
	case err := <-done:
		t.Fatalf("serve stopped: %v", err)
	}

	served := func() bool {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: keydesk\r\n\r\n"); err != nil {
			return false
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		res.Body.Close()
		return true // and the connection stays open, idle
	}
	for i := range api.DefaultMaxConnsPerAddr {
		if !served() {
			t.Fatalf("connection %d of %d was refused", i+1, api.DefaultMaxConnsPerAddr)
		}
	}
	if served() {
		t.Fatalf("connection %d from one address was served; want it closed at accept", api.DefaultMaxConnsPerAddr+1)
	}
}
