package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// keydeskBinary builds the keydesk command once per run, so servers whose
// memory is measured run as processes of their own, as in production.
var keydeskBinary = sync.OnceValues(func() (string, error) {
	if prebuilt != "" {
		return prebuilt, nil
	}
	dir, err := os.MkdirTemp("", "keydesk-bench-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "keydesk")
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	logf("   building keydesk for the server subprocess")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// prebuilt is the -keydesk flag: a keydesk binary to run instead of one
// built from this tree, e.g. to compare a change with what came before.
var prebuilt string

// proc is a server running as a child process.
type proc struct {
	cmd      *exec.Cmd
	out      *tailBuffer
	sshAddr  string
	httpAddr string
	stdin    io.WriteCloser
	exited   chan struct{}
}

// startKeydesk runs `keydesk serve` on dir with both servers on free
// loopback ports and returns once /healthz answers, with how long that took
// from the exec.
func startKeydesk(dir string, env ...string) (*proc, time.Duration, error) {
	bin, err := keydeskBinary()
	if err != nil {
		return nil, 0, err
	}
	sshAddr, err := freeAddr()
	if err != nil {
		return nil, 0, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, 0, err
	}
	cmd := exec.Command(bin, "serve", "--data", dir, "--ssh-addr", sshAddr, "--http-addr", httpAddr)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, out: &tailBuffer{}, sshAddr: sshAddr, httpAddr: httpAddr, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	healthz := "http://" + httpAddr + "/healthz"
	client := &http.Client{Timeout: time.Second}
	ok := within(2*time.Minute, func() bool {
		select {
		case <-p.exited:
			return true
		default:
		}
		res, err := client.Get(healthz)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	took := time.Since(start)
	select {
	case <-p.exited:
		return nil, 0, fmt.Errorf("keydesk serve exited: %s", p.out.String())
	default:
	}
	if !ok {
		p.stop()
		return nil, 0, fmt.Errorf("keydesk serve: no /healthz within 2 minutes: %s", p.out.String())
	}
	return p, took, nil
}

// startHello runs this binary as the bare wish hello server.
func startHello() (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, helloServerArg)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, out: &tailBuffer{}, stdin: stdin, exited: make(chan struct{})}
	cmd.Stderr = p.out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("hello server: %v: %s", err, p.out.String())
	}
	p.sshAddr = strings.TrimSpace(line)
	return p, nil
}

// helloServerArg makes this binary the bare hello server: it prints its
// address, serves until its stdin closes (so it never outlives the
// harness), then exits.
const helloServerArg = "__hello-server"

func runHelloServer() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv, err := newHelloServer(ln.Addr().String())
	if err != nil {
		return err
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = srv.Close()
	}()
	fmt.Println(ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) && err.Error() != "ssh: Server closed" {
		return err
	}
	return nil
}

// stop asks the server to end (SIGTERM, or closing a hello server's stdin)
// and kills it if it has not within ten seconds.
func (p *proc) stop() {
	if p.stdin != nil {
		_ = p.stdin.Close()
	} else {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// memory is a process's resident memory as /proc/PID/status counts it.
// VmRSS includes the pages of files it maps (keydesk's database, the
// binary) that happen to be in the page cache and that the kernel can drop
// at will; RssAnon is its private memory (heap, stacks), the part that
// grows with its state.
type memory struct {
	rss  int64 // VmRSS
	anon int64 // RssAnon
	peak int64 // VmHWM
}

// mem reads the process's resident memory now.
func (p *proc) mem() (memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return memory{}, fmt.Errorf("read memory of pid %d (Linux /proc needed): %w", p.cmd.Process.Pid, err)
	}
	field := func(name string) int64 {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, name+":"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				return kb << 10
			}
		}
		return 0
	}
	return memory{rss: field("VmRSS"), anon: field("RssAnon"), peak: field("VmHWM")}, nil
}

// freeAddr finds a loopback port nobody listens on. Another process could
// take it before the server binds it; startKeydesk then fails loudly.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// tailBuffer keeps the last 8 KB a server wrote, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if t.buf.Len() > 16<<10 {
		b := t.buf.Bytes()[t.buf.Len()-8<<10:]
		t.buf = *bytes.NewBuffer(append([]byte(nil), b...))
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

// sourceIP spreads connections over 127.0.0.0/8 source addresses, eight
// per address: keydesk allows 32 connections and a burst of 12 new
// sessions per address, limits meant for people that 1,000 sessions from
// one address would trip.
func sourceIP(i int) net.IP {
	slot := i / 8
	return net.IPv4(127, byte(1+slot/250), byte(2+slot%250), 1)
}

// runtimeStats are a keydesk server's own Go runtime figures, from the
// Prometheus text of its /metrics: what the memory rows' notes explain
// themselves with (goroutines per session, heap held but not returned).
type runtimeStats struct {
	ok                                bool
	goroutines, goroutinesIdle        int64
	heapInuse, heapIdle, heapReleased int64
}

func (p *proc) runtimeStats() runtimeStats {
	if p.httpAddr == "" {
		return runtimeStats{}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	res, err := client.Get("http://" + p.httpAddr + "/metrics")
	if err != nil {
		return runtimeStats{}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return runtimeStats{}
	}
	st := runtimeStats{ok: true}
	for _, l := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(l, " ")
		if !ok || strings.HasPrefix(l, "#") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_goroutines":
			st.goroutines = int64(f)
		case "go_memstats_heap_inuse_bytes":
			st.heapInuse = int64(f)
		case "go_memstats_heap_idle_bytes":
			st.heapIdle = int64(f)
		case "go_memstats_heap_released_bytes":
			st.heapReleased = int64(f)
		}
	}
	return st
}
