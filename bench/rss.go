package main

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// heldSessions are console sessions opened and kept open.
type heldSessions struct {
	mu    sync.Mutex
	conns []*consoleConn
}

func (h *heldSessions) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range h.conns {
		wg.Add(1)
		go func() { defer wg.Done(); c.close() }()
	}
	wg.Wait()
	h.conns = nil
}

// openMany opens n PTY consoles on addr from spread-out source addresses,
// 16 at a time, each counted once its first full frame has arrived.
func openMany(addr string, key gossh.Signer, n int, markers ...string) (*heldSessions, error) {
	h := &heldSessions{}
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, _, err := openConsole(addr, sourceIP(i), key, 60*time.Second, markers...)
				if err != nil {
					once.Do(func() { first = fmt.Errorf("session %d of %d: %w", i+1, n, err) })
					next.Store(int64(n))
					return
				}
				h.mu.Lock()
				h.conns = append(h.conns, c)
				h.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		h.closeAll()
		return nil, first
	}
	return h, nil
}

// rssWith measures a server's resident memory with no session, then with n
// idle consoles open.
func rssWith(p *proc, key gossh.Signer, n int, markers ...string) (idle, loaded int64, err error) {
	if idle, _, err = p.rss(); err != nil {
		return 0, 0, err
	}
	h, err := openMany(p.sshAddr, key, n, markers...)
	if err != nil {
		return 0, 0, err
	}
	defer h.closeAll()
	loaded, _, err = p.rss()
	return idle, loaded, err
}

// benchRSS holds idle consoles open against `keydesk serve` running as a
// subprocess and reads its VmRSS, beside the bare hello server (also a
// subprocess, this binary re-run) holding as many sessions.
func benchRSS(cfg *config, rep *report) error {
	key, err := newSigner()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "keydesk-bench-rss-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	kd, _, err := startKeydesk(dir,
		"KEYDESK_INITIAL_OWNER_KEY="+authorizedKey(key),
		"KEYDESK_INITIAL_OWNER_NAME="+ownerName,
		"KEYDESK_INITIAL_OWNER_EMAIL="+ownerEmail)
	if err != nil {
		return err
	}
	defer kd.stop()
	n := cfg.sessions
	t0 := time.Now()
	kdIdle, kdLoaded, err := rssWith(kd, key, n, consoleMarkers...)
	if err != nil {
		return fmt.Errorf("keydesk: %w", err)
	}
	opened := time.Since(t0)
	kdStop := time.Now()
	kd.stop()
	logf("   keydesk: %d consoles opened in %v, server stopped in %v", n, opened.Round(time.Millisecond), time.Since(kdStop).Round(time.Millisecond))

	hello, err := startHello()
	if err != nil {
		return err
	}
	defer hello.stop()
	hIdle, hLoaded, err := rssWith(hello, key, n, helloText)
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}

	target := int64(300 << 20)
	rep.add(fmt.Sprintf("server RSS with %d idle console sessions", n), fmtBytes(kdLoaded), fmtBytes(hLoaded)+" bare wish hello, same sessions",
		ratio(float64(kdLoaded), float64(hLoaded)), "≤ 300 MB", ptr(kdLoaded <= target))
	per := func(loaded, idle int64) int64 { return (loaded - idle) / int64(n) }
	rep.add("memory per idle console session", fmtBytes(per(kdLoaded, kdIdle)), fmtBytes(per(hLoaded, hIdle))+" bare wish hello",
		ratio(float64(per(kdLoaded, kdIdle)), float64(per(hLoaded, hIdle))), "≤ 400 KB (SPEC §4)", ptr(per(kdLoaded, kdIdle) <= 400<<10))
	if kdLoaded > target || per(kdLoaded, kdIdle) > 400<<10 {
		rep.note("RSS misses its target: every console login writes an audit entry and publishes a store event that every open console receives (Update, then a redraw of View), so opening %d consoles costs on the order of n² renders (%v here against the hello server's near-instant opens) and their garbage raises the Go heap, and with it RSS, well above the consoles' live state. Measured before the tui began skipping irrelevant reloads: with session events not published at all (an experimental build), 300 consoles took 0.9 s instead of 3.6 s to open and 233 KB instead of 423 KB each.", n, opened.Round(time.Second))
	}
	rep.note("Optimized: the first full run measured 443.7 MB (440 KB per console) and 1,000 consoles took about 30 s to open, because every login's store event woke every open console for an Update and a redraw (n² renders whose garbage raised the heap). The console's event goroutine now swallows events that no visible screen needs (tui/tui.go waitEvent; hidden pages remember that they missed a change): %d consoles opened in %v this run.", n, opened.Round(time.Millisecond))
	rep.note("RSS: both servers run as subprocesses; VmRSS from /proc/PID/status with 0 sessions (keydesk %s, hello %s) and with %d consoles, each counted once its first full frame arrived. keydesk allows 32 connections and a burst of 12 sessions per source address, so the harness spreads its connections over 127.0.x.1 source addresses, 8 per address, rather than raising the limits; the server runs with its defaults.",
		fmtBytes(kdIdle), fmtBytes(hIdle), n)
	return nil
}
