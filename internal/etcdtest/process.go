//go:build linux

package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// EtcdBinary returns the path of an etcd binary built from this module's
// go.etcd.io/etcd/server/v3 (whose root package is etcd's main), building it
// on first use in a test process. The binary is kept under os.TempDir, named
// by the server module's version and checksum and the Go version, so later
// test processes reuse it; KEYDESK_ETCD_BIN names a prebuilt one instead.
// It is never built with -race: the processes stand for production etcd.
func EtcdBinary() (path string, built time.Duration, err error) {
	r := etcdBinary()
	return r.path, r.built, r.err
}

type binResult struct {
	path  string
	built time.Duration // 0 when the cached binary was reused
	err   error
}

var etcdBinary = sync.OnceValue(func() binResult {
	if p := os.Getenv("KEYDESK_ETCD_BIN"); p != "" {
		return binResult{path: p}
	}
	version, sum := "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "go.etcd.io/etcd/server/v3" {
				version, sum = d.Version, d.Sum
				if d.Replace != nil {
					version, sum = d.Replace.Version, d.Replace.Sum
				}
			}
		}
	}
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		}
		return '_'
	}, fmt.Sprintf("etcd-%s-%s-%s", version, runtime.Version(), sum))
	dir := filepath.Join(os.TempDir(), "keydesk-etcd-bin")
	path := filepath.Join(dir, name)
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() && sum != "" {
		return binResult{path: path}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return binResult{err: err}
	}
	// Build beside the final name and rename, so a test process running at
	// the same time never executes a half-written binary.
	tmp, err := os.CreateTemp(dir, name+".tmp-")
	if err != nil {
		return binResult{err: err}
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", tmp.Name(), "go.etcd.io/etcd/server/v3")
	cmd.Env = append(os.Environ(), "GOFLAGS="+withoutRace(os.Getenv("GOFLAGS")))
	if out, err := cmd.CombinedOutput(); err != nil {
		return binResult{err: fmt.Errorf("etcdtest: go build go.etcd.io/etcd/server/v3: %v\n%s", err, out)}
	}
	built := time.Since(start)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return binResult{err: err}
	}
	return binResult{path: path, built: built}
})

func withoutRace(goflags string) string {
	var keep []string
	for _, f := range strings.Fields(goflags) {
		if f != "-race" && f != "--race" {
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, " ")
}

// Proc is one etcd member running as a process of its own.
type Proc struct {
	Name      string
	ClientURL string
	PeerURL   string
	dir       string // data directory
	logPath   string

	mu     sync.Mutex
	cmd    *exec.Cmd     // nil while stopped
	exited chan struct{} // closed when cmd has exited
	id     uint64
}

// Running reports whether the member's process is up.
func (m *Proc) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.exited:
		return false // died on its own
	default:
		return true
	}
}

// ProcCluster is a cluster of real etcd processes (from EtcdBinary) on
// 127.0.0.1, with the timing of the embedded members and fsync on: a member
// can be killed with SIGKILL, losing whatever it had not written to disk,
// and restarted on its ports and data directory.
type ProcCluster struct {
	Members []*Proc
	bin     string
	token   string
	initial string
	prefix  atomic.Int64
	cli     *clientv3.Client // for Status
}

// NewProcCluster builds (or reuses) the etcd binary and starts n member
// processes, each with its data in t.TempDir(), and waits until they have a
// leader. Every process is killed when t ends (and, should the test process
// die first, by the kernel: each gets SIGKILL when its parent exits).
func NewProcCluster(t testing.TB, n int) *ProcCluster {
	t.Helper()
	bin, built, err := EtcdBinary()
	if err != nil {
		t.Fatal(err)
	}
	if built > 0 {
		t.Logf("etcdtest: built %s in %v", bin, built.Round(time.Millisecond))
	}
	dir := t.TempDir()
	c, err := retryPorts(dir, func(dir string) (*ProcCluster, error) { return startProcCluster(bin, dir, n) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func startProcCluster(bin, dir string, n int) (*ProcCluster, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	c := &ProcCluster{bin: bin, token: fmt.Sprintf("keydesk-proc-%d-%d", os.Getpid(), time.Now().UnixNano())}
	var initial []string
	for i := 0; i < n; i++ {
		name, client, peer, err := memberURLs(i)
		if err != nil {
			return nil, err
		}
		m := &Proc{Name: name, ClientURL: client, PeerURL: peer,
			dir: filepath.Join(dir, name), logPath: filepath.Join(dir, name+".log")}
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	c.initial = strings.Join(initial, ",")
	cli, err := newClient(c.Endpoints())
	if err != nil {
		return nil, err
	}
	c.cli = cli
	errs := make(chan error, n)
	for i := range c.Members {
		go func() { errs <- c.start(i, "new") }()
	}
	var firstErr error
	for range c.Members {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, firstErr = c.WaitLeader(ctx)
		cancel()
	}
	if firstErr != nil {
		c.Close()
		return nil, firstErr
	}
	return c, nil
}

// start runs member i's process and waits until it answers Status with a
// leader known.
func (c *ProcCluster) start(i int, state string) error {
	m := c.Members[i]
	args := []string{
		"--name", m.Name,
		"--data-dir", m.dir,
		"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
		"--listen-peer-urls", m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL,
		"--initial-cluster", c.initial,
		"--initial-cluster-token", c.token,
		"--initial-cluster-state", state,
		"--heartbeat-interval", fmt.Sprint(TickMs),
		"--election-timeout", fmt.Sprint(ElectionMs),
		"--initial-election-tick-advance=true",
		"--watch-progress-notify-interval", "100ms",
		// fsync stays on (no --unsafe-no-fsync): a SIGKILL loses what the
		// member had not synced, as a crash would.
	}
	cmd := exec.Command(c.bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var logf *os.File
	if os.Getenv("KEYDESK_ETCD_LOG") != "" {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	} else {
		// Quiet: the log goes to a file beside the data, quoted on failure.
		f, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		logf = f
		cmd.Stdout, cmd.Stderr = f, f
	}
	err := cmd.Start()
	if logf != nil {
		logf.Close() // the child has its own descriptor
	}
	if err != nil {
		return fmt.Errorf("etcdtest: start %s: %w", m.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	m.mu.Lock()
	m.cmd, m.exited = cmd, exited
	m.mu.Unlock()

	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := c.cli.Status(ctx, m.ClientURL)
		cancel()
		if err == nil && st.Leader != 0 {
			m.mu.Lock()
			m.id = st.Header.MemberId
			m.mu.Unlock()
			return nil
		}
		select {
		case <-exited:
			c.reap(m)
			return fmt.Errorf("etcdtest: %s exited while starting (%v)%s", m.Name, cmd.ProcessState, m.logTail())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.Kill(i)
			return fmt.Errorf("etcdtest: %s not ready in 60 s: %v%s", m.Name, err, m.logTail())
		}
	}
}

// logTail is the end of a quiet member's log, for an error message.
func (m *Proc) logTail() string {
	b, err := os.ReadFile(m.logPath)
	if err != nil {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "\n" + m.Name + " log (end):\n" + string(b)
}

func (c *ProcCluster) reap(m *Proc) {
	m.mu.Lock()
	m.cmd = nil
	m.mu.Unlock()
}

// Endpoints lists every member's client URL, stopped members included.
func (c *ProcCluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.ClientURL)
	}
	return eps
}

// NewClient connects to the given endpoints (all members when none are given).
func (c *ProcCluster) NewClient(endpoints ...string) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		endpoints = c.Endpoints()
	}
	return newClient(endpoints)
}

// Prefix returns a key prefix no other test in this process uses (see
// Cluster.Prefix).
func (c *ProcCluster) Prefix(t testing.TB) string { return testPrefix(t, &c.prefix) }

// Status asks member i for its status (leader, raft index), within a second.
func (c *ProcCluster) Status(i int) (*clientv3.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.cli.Status(ctx, c.Members[i].ClientURL)
}

// WaitLeader polls until every running member names the same leader, one
// of them, and returns its index.
func (c *ProcCluster) WaitLeader(ctx context.Context) (int, error) {
	for {
		if lead := c.agreedLeader(); lead >= 0 {
			return lead, nil
		}
		select {
		case <-ctx.Done():
			return -1, errors.New("etcdtest: the member processes agree on no leader")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (c *ProcCluster) agreedLeader() int {
	var lead uint64
	for i, m := range c.Members {
		if !m.Running() {
			continue
		}
		st, err := c.Status(i)
		if err != nil || st.Leader == 0 || (lead != 0 && st.Leader != lead) {
			return -1
		}
		lead = st.Leader
	}
	for i, m := range c.Members {
		m.mu.Lock()
		id := m.id
		m.mu.Unlock()
		if id == lead && m.Running() {
			return i
		}
	}
	return -1
}

// WaitInSync polls until every member runs and reports the same raft index,
// all of it applied, and returns that index: the killed members have
// rejoined and caught up. Call it once writes have stopped.
func (c *ProcCluster) WaitInSync(ctx context.Context) (uint64, error) {
	var last []uint64
	for {
		var idx []uint64
		for i, m := range c.Members {
			if !m.Running() {
				break
			}
			st, err := c.Status(i)
			if err != nil || st.RaftAppliedIndex != st.RaftIndex {
				break
			}
			idx = append(idx, st.RaftIndex)
		}
		if len(idx) == len(c.Members) && !slicesDiffer(idx) {
			return idx[0], nil
		}
		if len(idx) > 0 {
			last = idx
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("etcdtest: members not in sync (raft indexes %v)", last)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func slicesDiffer(v []uint64) bool {
	for _, x := range v {
		if x != v[0] {
			return true
		}
	}
	return false
}

// Kill sends member i's process SIGKILL and waits until it has exited. Its
// data directory and ports stay for Restart.
func (c *ProcCluster) Kill(i int) {
	m := c.Members[i]
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

// Restart starts a killed member again on its data directory and ports and
// waits until it knows the leader.
func (c *ProcCluster) Restart(i int) error {
	if c.Members[i].Running() {
		return nil
	}
	return c.start(i, "existing")
}

// Close kills every member process.
func (c *ProcCluster) Close() {
	for i := range c.Members {
		c.Kill(i)
	}
	if c.cli != nil {
		c.cli.Close()
	}
}

// WaitCaughtUp polls until member i runs and has applied everything the
// leader had committed when the call began: a restarted member has rejoined
// and caught up, while writes may go on.
func (c *ProcCluster) WaitCaughtUp(ctx context.Context, i int) error {
	var target uint64
	for target == 0 {
		if lead := c.agreedLeader(); lead >= 0 {
			if st, err := c.Status(lead); err == nil {
				target = st.RaftIndex
				break
			}
		}
		select {
		case <-ctx.Done():
			return errors.New("etcdtest: no leader to catch up with")
		case <-time.After(5 * time.Millisecond):
		}
	}
	for {
		if c.Members[i].Running() {
			if st, err := c.Status(i); err == nil && st.RaftAppliedIndex >= target {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("etcdtest: %s did not catch up to raft index %d", c.Members[i].Name, target)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
