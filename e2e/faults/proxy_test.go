package faults

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// echo listens on 127.0.0.1 and echoes every line back.
func echo(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return l.Addr().String()
}

func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, msg string, wait time.Duration) (string, error) {
	t.Helper()
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		return "", err
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	return r.ReadString('\n')
}

func TestProxyBlackholeHoldsThenDelivers(t *testing.T) {
	p, err := NewProxy(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if got, err := roundTrip(t, c, r, "one", 5*time.Second); err != nil || got != "one\n" {
		t.Fatalf("through the proxy: %q %v", got, err)
	}
	p.Blackhole(true)
	got, err := roundTrip(t, c, r, "two", 300*time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a black hole let %q through (err %v)", got, err)
	}
	p.Blackhole(false)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := r.ReadString('\n'); err != nil || got != "two\n" {
		t.Fatalf("held bytes not delivered after the hole closed: %q %v", got, err)
	}
}

func TestProxyDelayAndReset(t *testing.T) {
	p, err := NewProxy(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	p.Delay(100 * time.Millisecond)
	start := time.Now()
	if got, err := roundTrip(t, c, r, "slow", 5*time.Second); err != nil || got != "slow\n" {
		t.Fatalf("delayed round trip: %q %v", got, err)
	}
	// Both directions are held, so a round trip takes at least twice the delay.
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("round trip took %v through a 100 ms delay each way", d)
	}
	p.Delay(0)
	p.Reset()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Fatalf("after Reset the connection should be closed, got %v", err)
	}
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got, err := roundTrip(t, c2, bufio.NewReader(c2), "again", 5*time.Second); err != nil || got != "again\n" {
		t.Fatalf("a new connection after Reset: %q %v", got, err)
	}
}

// Cutting every peer link leaves no quorum: the leader steps down; healed,
// the members elect a leader again and writes go through.
func TestPeerCutStopsAndHealResumes(t *testing.T) {
	r := newRig(t, 1)
	r.cutPeers(true)
	waitFor(t, 30*time.Second, "the leader steps down without a quorum", func() bool { return r.c.Leader() < 0 })
	r.cutPeers(false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.c.WaitLeader(ctx); err != nil {
		t.Fatalf("after the heal the members do not agree on a leader: %v", err)
	}
	st, _ := r.servers[0].get()
	if _, err := st.AddUser(r.owner, store.NewUser{Name: "After", Email: "after@example.com", Role: models.RoleUser}); err != nil {
		t.Fatalf("a write after the heal: %v", err)
	}
}
