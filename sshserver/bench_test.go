package sshserver

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keydesk/keydesk/store"
	gossh "golang.org/x/crypto/ssh"
)

// firstFrame dials addr, opens a PTY shell and returns how long it took
// from the TCP connect to the screen showing marker.
func firstFrame(b *testing.B, addr string, k gossh.Signer, marker string) time.Duration {
	b.Helper()
	began := time.Now()
	c, err := dial(b, addr, gossh.PublicKeys(k))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	scr := &screen{}
	sess.Stdout = scr
	if err := sess.RequestPty("xterm-256color", 40, 120, gossh.TerminalModes{}); err != nil {
		b.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		b.Fatal(err)
	}
	if !eventuallyFast(10*time.Second, func() bool { return strings.Contains(scr.Text(), marker) }) {
		b.Fatalf("no %q within 10s: %q", marker, tail(scr.Text(), 500))
	}
	return time.Since(began)
}

// eventuallyFast polls without a ticker's granularity, for latency figures.
func eventuallyFast(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Microsecond)
	}
	return true
}

// BenchmarkFirstFrame compares connect → first full console frame (the
// user's name and the help bar drawn) with a bare wish + Bubble Tea "hello"
// server, alternating the two in the same run. Target (docs/targets.md): ≤ 1.5×.
//
//	go test ./sshserver -run '^$' -bench FirstFrame -benchtime 200x
func BenchmarkFirstFrame(b *testing.B) {
	o := newOrg(b)
	r := start(b, o.s, Options{SessionsPerMin: 1 << 20, MaxConnsPerIP: 1 << 20})
	bare := startBareHello(b)
	var kd, hello time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		kd += firstFrame(b, r.addr, o.userKey, "q quit")
		hello += firstFrame(b, bare, o.userKey, "hello")
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(kd.Microseconds())/n/1000, "ms-keydesk")
	b.ReportMetric(float64(hello.Microseconds())/n/1000, "ms-bare")
	b.ReportMetric(float64(kd)/float64(hello), "ratio")
}

// TestBenchServerProcess is the server side of BenchmarkIdleConsoles, run in
// a child process so its RSS is the server's alone. It is skipped otherwise.
func TestBenchServerProcess(t *testing.T) {
	dir := os.Getenv("KEYDESK_BENCH_SERVER_DIR")
	if dir == "" {
		t.Skip("helper process for BenchmarkIdleConsoles")
	}
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := start(t, s, Options{SessionsPerMin: 1 << 20, MaxConnsPerIP: 1 << 20})
	fmt.Printf("ADDR %s\n", r.addr)
	// Serve until the parent closes our stdin.
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	if path := os.Getenv("KEYDESK_BENCH_HEAPPROFILE"); path != "" {
		runtime.GC()
		f, err := os.Create(path)
		if err == nil {
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		_ = os.WriteFile(path+".mem", fmt.Appendf(nil, "goroutines %d heap_inuse %d MB stack_inuse %d MB heap_idle %d MB released %d MB sys %d MB\n",
			runtime.NumGoroutine(), ms.HeapInuse>>20, ms.StackInuse>>20, ms.HeapIdle>>20, ms.HeapReleased>>20, ms.Sys>>20), 0o644)
		g, err := os.Create(path + ".goroutines")
		if err == nil {
			_ = pprof.Lookup("goroutine").WriteTo(g, 1)
			g.Close()
		}
	}
}

func rssKB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.Fields(rest)[0])
			return n
		}
	}
	return -1
}

// BenchmarkIdleConsoles holds KEYDESK_BENCH_SESSIONS (default 1000) console
// sessions open, each on its own connection and each having drawn its first
// frame, and reports the server process's RSS. Target (docs/targets.md): ≤ 300 MB.
//
//	go test ./sshserver -run '^$' -bench IdleConsoles -benchtime 1x
func BenchmarkIdleConsoles(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("KEYDESK_BENCH_SESSIONS")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	o := newOrgIn(b, dir)
	if err := o.s.Close(); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBenchServerProcess$", "-test.v=false")
		cmd.Env = append(os.Environ(), "KEYDESK_BENCH_SERVER_DIR="+dir)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "ADDR ") {
			b.Fatalf("helper: %q %v", line, err)
		}
		addr := strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))
		before := rssKB(cmd.Process.Pid)

		began := time.Now()
		clients := make([]*gossh.Client, n)
		var wg sync.WaitGroup
		work := make(chan int)
		errs := make(chan error, n)
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range work {
					c, err := dial(b, addr, gossh.PublicKeys(o.userKey))
					if err != nil {
						errs <- err
						continue
					}
					clients[j] = c
					sess, err := c.NewSession()
					if err != nil {
						errs <- err
						continue
					}
					scr := &screen{}
					sess.Stdout = scr
					if err := sess.RequestPty("xterm-256color", 24, 80, gossh.TerminalModes{}); err != nil {
						errs <- err
						continue
					}
					if err := sess.Shell(); err != nil {
						errs <- err
						continue
					}
					if !eventually(30*time.Second, func() bool { return strings.Contains(scr.Text(), "q quit") }) {
						errs <- fmt.Errorf("session %d never drew", j)
					}
				}
			}()
		}
		for j := 0; j < n; j++ {
			work <- j
		}
		close(work)
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		opened := time.Since(began)
		// Let the runtime settle so the figure is the steady idle cost.
		time.Sleep(2 * time.Second)
		after := rssKB(cmd.Process.Pid)

		b.ReportMetric(float64(after)/1024, "MB-rss")
		b.ReportMetric(float64(after-before)/float64(n), "KB/session")
		b.ReportMetric(opened.Seconds(), "s-to-open")
		b.Logf("%d idle consoles: server RSS %.1f MB (%.1f MB before), %.0f KB per session, opened in %v",
			n, float64(after)/1024, float64(before)/1024, float64(after-before)/float64(n), opened.Round(time.Millisecond))

		stdin.Close()
		_ = cmd.Wait()
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}
}
