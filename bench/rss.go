package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
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
// idle consoles open: once they have all drawn (atOpen) and again after
// they sat idle for settle (loaded), the figure the rows report.
func rssWith(p *proc, key gossh.Signer, n int, settle time.Duration, markers ...string) (idle, atOpen, loaded memory, err error) {
	if idle, err = p.mem(); err != nil {
		return
	}
	h, err := openMany(p.sshAddr, key, n, markers...)
	if err != nil {
		return
	}
	defer h.closeAll()
	if atOpen, err = p.mem(); err != nil {
		return
	}
	time.Sleep(settle) // idle is the point: nothing to poll for
	loaded, err = p.mem()
	return
}

// rssRound is one keydesk server and one hello server, each holding the
// same number of idle consoles.
type rssRound struct {
	kdIdle, kdLoaded, hIdle, hLoaded memory
	kdOpen, hOpen                    memory        // the moment the last console drew
	opened                           time.Duration // keydesk's consoles, all open
	kdStats                          runtimeStats  // keydesk's Go runtime with them open
}

// benchRSS holds idle consoles open against `keydesk serve` running as a
// subprocess and reads its memory, beside the bare hello server (also a
// subprocess, this binary re-run) holding as many sessions. Each round
// starts a fresh server of each kind, keydesk then hello, so the rounds
// alternate and a busy moment on the machine does not fall on one side only.
func benchRSS(cfg *config, rep *report) error {
	key, err := newSigner()
	if err != nil {
		return err
	}
	n := cfg.sessions
	var rs []rssRound
	for range cfg.rssRounds {
		r, err := rssOnce(key, n, cfg.settle)
		if err != nil {
			return err
		}
		rs = append(rs, r)
	}
	var vm, anon, per rounds
	var kdVM, hVM, kdAnon, hAnon, kdPer, hPer []int64
	perSession := func(loaded, idle int64) int64 { return (loaded - idle) / int64(n) }
	for _, r := range rs {
		vm = append(vm, ratio(float64(r.kdLoaded.rss), float64(r.hLoaded.rss)))
		anon = append(anon, ratio(float64(r.kdLoaded.anon), float64(r.hLoaded.anon)))
		kp, hp := perSession(r.kdLoaded.rss, r.kdIdle.rss), perSession(r.hLoaded.rss, r.hIdle.rss)
		per = append(per, ratio(float64(kp), float64(hp)))
		kdVM, hVM = append(kdVM, r.kdLoaded.rss), append(hVM, r.hLoaded.rss)
		kdAnon, hAnon = append(kdAnon, r.kdLoaded.anon), append(hAnon, r.hLoaded.anon)
		kdPer, hPer = append(kdPer, kp), append(hPer, hp)
	}
	rep.addRounds(fmt.Sprintf("server RSS (VmRSS) with %d idle console sessions", n), fmtBytes(medianInt(kdVM)), fmtBytes(medianInt(hVM))+" bare wish hello, same sessions",
		vm, "≤ 1.5×", func(r float64) bool { return r <= 1.5 })
	rep.addRounds(fmt.Sprintf("server private memory (RssAnon) with %d idle console sessions", n), fmtBytes(medianInt(kdAnon)), fmtBytes(medianInt(hAnon))+" bare wish hello, same sessions",
		anon, "— (shown beside VmRSS)", nil)
	kp := medianInt(kdPer)
	rep.addRounds("memory per idle console session (VmRSS growth)", fmtBytes(kp), fmtBytes(medianInt(hPer))+" bare wish hello",
		per, "≤ 400 KiB (docs/targets.md)", func(float64) bool { return kp <= 400<<10 })
	last := rs[len(rs)-1]
	if vm.median() > 1.5 && last.kdStats.ok {
		st := last.kdStats
		rep.note("Idle consoles miss 1.5× the bare hello server: what each keydesk console keeps beyond hello's is its live Go heap, %s a console (the console model with its My Profile page and store subscription, the display's last frame, the SSH connection), and %.1f goroutines a console (SSH transport, channel and request loops, the window-size filter, Bubble Tea's event and command loops, the store subscription's waiting command) against hello's fewer, each with its stack.",
			fmtBytes(st.heapInuse/int64(n)), float64(st.goroutines-st.goroutinesIdle)/float64(n))
	}
	if st := last.kdStats; st.ok {
		rep.note("Idle consoles, keydesk's Go runtime with %d open (its /metrics, last round): %.1f goroutines per session (%d in all, %d before any session), heap in use %s, heap idle %s of which %s returned to the OS.",
			n, float64(st.goroutines-last.kdStats.goroutinesIdle)/float64(n), st.goroutines, st.goroutinesIdle,
			fmtBytes(st.heapInuse), fmtBytes(st.heapIdle), fmtBytes(st.heapReleased))
	}
	var opened []string
	for _, r := range rs {
		opened = append(opened, r.opened.Round(time.Millisecond).String())
	}
	rep.note("RSS: both servers run as subprocesses, a fresh pair each round (%d %s: keydesk, then hello); VmRSS and RssAnon from /proc/PID/status with 0 sessions (keydesk %s / %s private, hello %s / %s private, last round) and with %d consoles, each counted once its first full frame arrived, read after the consoles sat idle for %v (the moment the last one drew: keydesk %s, hello %s VmRSS, last round); keydesk's %d consoles opened in %s. keydesk allows 32 connections and a burst of 12 sessions per source address, so the harness spreads its connections over 127.0.x.1 source addresses, 8 per address, rather than raising the limits; the server runs with its defaults.",
		len(rs), plural(len(rs), "round", "rounds"), fmtBytes(last.kdIdle.rss), fmtBytes(last.kdIdle.anon), fmtBytes(last.hIdle.rss), fmtBytes(last.hIdle.anon), n,
		cfg.settle, fmtBytes(last.kdOpen.rss), fmtBytes(last.hOpen.rss), n, strings.Join(opened, ", "))
	return nil
}

// rssOnce runs one round: a fresh keydesk with n consoles, then a fresh
// hello server with n sessions.
func rssOnce(key gossh.Signer, n int, settle time.Duration) (rssRound, error) {
	var r rssRound
	dir, err := os.MkdirTemp("", "keydesk-bench-rss-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	kd, _, err := startKeydesk(dir,
		"KEYDESK_INITIAL_OWNER_KEY="+authorizedKey(key),
		"KEYDESK_INITIAL_OWNER_NAME="+ownerName,
		"KEYDESK_INITIAL_OWNER_EMAIL="+ownerEmail)
	if err != nil {
		return r, err
	}
	defer kd.stop()
	idleStats := kd.runtimeStats()
	t0 := time.Now()
	if r.kdIdle, err = kd.mem(); err != nil {
		return r, err
	}
	h, err := openMany(kd.sshAddr, key, n, consoleMarkers...)
	if err != nil {
		return r, fmt.Errorf("keydesk: %w", err)
	}
	r.opened = time.Since(t0)
	r.kdOpen, err = kd.mem()
	if err == nil {
		time.Sleep(settle) // idle is the point: nothing to poll for
		r.kdLoaded, err = kd.mem()
	}
	r.kdStats = kd.runtimeStats()
	r.kdStats.goroutinesIdle = idleStats.goroutines
	h.closeAll()
	if err != nil {
		return r, err
	}
	kdStop := time.Now()
	kd.stop()
	logf("   keydesk: %d consoles opened in %v, server stopped in %v", n, r.opened.Round(time.Millisecond), time.Since(kdStop).Round(time.Millisecond))

	hello, err := startHello()
	if err != nil {
		return r, err
	}
	defer hello.stop()
	if r.hIdle, r.hOpen, r.hLoaded, err = rssWith(hello, key, n, settle, helloText); err != nil {
		return r, fmt.Errorf("hello: %w", err)
	}
	return r, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func medianInt(xs []int64) int64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
