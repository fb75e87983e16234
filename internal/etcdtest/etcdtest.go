// Package etcdtest starts real embedded etcd members (go.etcd.io/etcd/server/v3/embed)
// for tests: one member per test package from TestMain, a key prefix per test,
// and a three-member cluster for tests that kill members.
//
// Members listen on 127.0.0.1 ports picked at start and use fast timing
// (10 ms heartbeat, 100 ms election) so a member starts in tens of
// milliseconds and a lost leader is replaced quickly. etcd's zap logs go to a
// no-op logger unless KEYDESK_ETCD_LOG is set (then to stderr), so test output
// stays readable. fsync is off unless KEYDESK_ETCD_FSYNC is set (see startMember).
//
// ProcCluster (process.go) runs the members as real etcd processes instead,
// fsync on, so a test can SIGKILL one.
package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/keydesk/keydesk/internal/doortest"
)

// Timing used by every member: fast enough that start, election and
// failover take tens to hundreds of milliseconds.
const (
	TickMs     = 10
	ElectionMs = 100
)

// Member is one embedded etcd server.
type Member struct {
	Name       string
	ClientURL  string
	PeerURL    string // what other members dial: the listener, or a proxy in front of it
	peerListen string
	dir        string
	// PeerProxy, in a proxied cluster, is the fault proxy in front of the
	// member's peer listener: every other member reaches it through it.
	PeerProxy *Proxy
	id        string // raft member id (hex), known once started

	mu   sync.Mutex
	etcd *embed.Etcd // nil while stopped
}

// ID is the member's raft id as peers name it (X-Server-From), or "" before
// its first start.
func (m *Member) ID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.id
}

// Etcd returns the running server, or nil when the member is stopped.
func (m *Member) Etcd() *embed.Etcd {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.etcd
}

// Cluster is a set of embedded members started together.
type Cluster struct {
	Members []*Member
	dir     string
	token   string
	initial string
	prefix  atomic.Int64
}

// Start starts a one-member cluster with its data under dir.
func Start(dir string) (*Cluster, error) { return StartCluster(dir, 1) }

// StartCluster starts n members (1 or 3 in practice) with data under dir and
// waits until they have a leader.
func StartCluster(dir string, n int) (*Cluster, error) { return startClusterRetry(dir, n, false) }

// StartProxiedCluster is StartCluster with each member's peer listener
// behind a fault proxy (Member.PeerProxy) that tags connections by the
// sending member, so a test can cut every link (CutPeers) or one member off
// from the others (Isolate).
func StartProxiedCluster(dir string, n int) (*Cluster, error) { return startClusterRetry(dir, n, true) }

func startClusterRetry(dir string, n int, proxied bool) (*Cluster, error) {
	return retryPorts(dir, func(dir string) (*Cluster, error) { return startCluster(dir, n, proxied) })
}

// retryPorts runs start in a fresh directory under dir up to three times
// while it fails on a port already in use: ports are picked by binding :0
// and closing, so another process can take one before etcd binds it.
func retryPorts[C any](dir string, start func(dir string) (C, error)) (C, error) {
	var c C
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		c, err = start(filepath.Join(dir, fmt.Sprintf("try%d", attempt)))
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return c, err
}

func startCluster(dir string, n int, proxied bool) (*Cluster, error) {
	c := &Cluster{dir: dir, token: fmt.Sprintf("keydesk-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	var initial []string
	for i := 0; i < n; i++ {
		name, client, peer, err := memberURLs(i)
		if err != nil {
			return nil, err
		}
		m := &Member{Name: name, ClientURL: client, PeerURL: peer, dir: filepath.Join(dir, name)}
		c.Members = append(c.Members, m)
		m.peerListen = m.PeerURL
		if proxied {
			p, err := StartProxy(m.peerListen)
			if err != nil {
				c.Close()
				return nil, err
			}
			p.Sniff("X-Server-From")
			m.PeerProxy, m.PeerURL = p, p.URL()
		}
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	c.initial = strings.Join(initial, ",")
	// Members of a multi-member cluster wait for each other, so start them
	// concurrently.
	errs := make(chan error, n)
	for _, m := range c.Members {
		go func(m *Member) { errs <- c.startMember(m, embed.ClusterStateFlagNew) }(m)
	}
	var firstErr error
	for range c.Members {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		c.Close()
		return nil, firstErr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.WaitLeader(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) startMember(m *Member, state string) error {
	cfg := embed.NewConfig()
	cfg.Name = m.Name
	cfg.Dir = m.dir
	cfg.TickMs = TickMs
	cfg.ElectionMs = ElectionMs
	cfg.InitialElectionTickAdvance = true
	lc, _ := url.Parse(m.ClientURL)
	lp, _ := url.Parse(m.peerListen)
	ap, _ := url.Parse(m.PeerURL)
	cfg.ListenClientUrls = []url.URL{*lc}
	cfg.AdvertiseClientUrls = []url.URL{*lc}
	cfg.ListenPeerUrls = []url.URL{*lp}
	cfg.AdvertisePeerUrls = []url.URL{*ap}
	cfg.InitialCluster = c.initial
	cfg.InitialClusterToken = c.token
	cfg.ClusterState = state
	// Progress notifications let a watcher prove it is caught up (the etcd
	// engine's freshness signal); make them frequent in tests.
	cfg.WatchProgressNotifyInterval = 100 * time.Millisecond
	// Tests run many small commits on a shared 2-core machine: fsync would
	// make them wait on the disk, not on etcd. Members in one process share
	// the page cache, so HardStop loses nothing fsync would have kept; set
	// KEYDESK_ETCD_FSYNC=1 to measure with fsync on.
	cfg.UnsafeNoFsync = os.Getenv("KEYDESK_ETCD_FSYNC") == ""
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(Logger())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("etcdtest: start %s: %w", m.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("etcdtest: %s failed while starting: %v", m.Name, err)
	case <-time.After(60 * time.Second):
		e.Server.HardStop()
		e.Close()
		return fmt.Errorf("etcdtest: %s did not become ready in 60 s", m.Name)
	}
	m.mu.Lock()
	m.etcd = e
	m.id = e.Server.MemberID().String()
	m.mu.Unlock()
	return nil
}

// Logger is the zap logger embedded members and test clients use: a no-op
// unless KEYDESK_ETCD_LOG is set.
func Logger() *zap.Logger {
	if os.Getenv("KEYDESK_ETCD_LOG") != "" {
		l, err := zap.NewDevelopment()
		if err == nil {
			return l
		}
	}
	return zap.NewNop()
}

// memberURLs names member i and gives it client and peer URLs on free
// 127.0.0.1 ports.
func memberURLs(i int) (name, client, peer string, err error) {
	cp, err := freePort()
	if err != nil {
		return "", "", "", err
	}
	pp, err := freePort()
	if err != nil {
		return "", "", "", err
	}
	return fmt.Sprintf("m%d", i), fmt.Sprintf("http://127.0.0.1:%d", cp), fmt.Sprintf("http://127.0.0.1:%d", pp), nil
}

func freePort() (int, error) { return doortest.FreePort() }

// Endpoints lists every member's client URL, stopped members included (a
// client fails over between them).
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.ClientURL)
	}
	return eps
}

// Client returns a client on every member, closed when t ends.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := c.NewClient(c.Endpoints()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// NewClient connects to the given endpoints (all members when none are given).
func (c *Cluster) NewClient(endpoints ...string) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		endpoints = c.Endpoints()
	}
	return newClient(endpoints)
}

func newClient(endpoints []string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      Logger(),
	})
}

// Prefix returns a key prefix no other test in this process uses, such as
// "/t/TestRevoke/3/", so tests sharing a member never see each other's keys.
func (c *Cluster) Prefix(t testing.TB) string { return testPrefix(t, &c.prefix) }

func testPrefix(t testing.TB, n *atomic.Int64) string {
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, t.Name())
	return fmt.Sprintf("/t/%s/%d/", name, n.Add(1))
}

// Leader returns the index of the member that is leader now, or -1.
func (c *Cluster) Leader() int {
	for i, m := range c.Members {
		e := m.Etcd()
		if e == nil {
			continue
		}
		if e.Server.Leader() == e.Server.MemberID() {
			return i
		}
	}
	return -1
}

// WaitLeader polls until some running member is leader and every running
// member agrees on it.
func (c *Cluster) WaitLeader(ctx context.Context) (int, error) {
	for {
		if i := c.Leader(); i >= 0 {
			lead := c.Members[i].Etcd().Server.Leader()
			agree := true
			for _, m := range c.Members {
				if e := m.Etcd(); e != nil && e.Server.Leader() != lead {
					agree = false
				}
			}
			if agree {
				return i, nil
			}
		}
		select {
		case <-ctx.Done():
			return -1, errors.New("etcdtest: no leader elected in time")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// HardStop kills member i without a graceful leader transfer, as a crash
// would (its data directory stays for Restart).
func (c *Cluster) HardStop(i int) {
	m := c.Members[i]
	m.mu.Lock()
	e := m.etcd
	m.etcd = nil
	m.mu.Unlock()
	if e == nil {
		return
	}
	e.Server.HardStop()
	e.Close()
}

// Restart starts a stopped member again on its data directory and ports.
func (c *Cluster) Restart(i int) error {
	m := c.Members[i]
	if m.Etcd() != nil {
		return nil
	}
	return c.startMember(m, embed.ClusterStateFlagExisting)
}

// CutPeers cuts (or heals) every link between members of a proxied
// cluster: traffic is held and open connections are reset.
func (c *Cluster) CutPeers(on bool) {
	for _, m := range c.Members {
		m.PeerProxy.Blackhole(on)
		if on {
			m.PeerProxy.Reset()
		}
	}
}

// Isolate cuts (or heals) member i of a proxied cluster off from every other
// member, both ways: what i sends is held at the others' proxies, what they
// send i is held at i's. Clients still reach i (its client port is not
// touched), as they would a member on the wrong side of a partition.
func (c *Cluster) Isolate(i int, on bool) {
	me := c.Members[i]
	for j, m := range c.Members {
		if j == i {
			continue
		}
		me.PeerProxy.Block(m.ID(), on)
		m.PeerProxy.Block(me.ID(), on)
	}
}

// Close stops every member and removes the cluster's data.
func (c *Cluster) Close() {
	for i := range c.Members {
		m := c.Members[i]
		m.mu.Lock()
		e := m.etcd
		m.etcd = nil
		m.mu.Unlock()
		if e != nil {
			e.Close()
		}
		if m.PeerProxy != nil {
			m.PeerProxy.Close()
		}
	}
	os.RemoveAll(c.dir)
}

var (
	shared    *Cluster
	sharedErr error
	sharedMu  sync.Mutex
)

// Main runs a test package whose tests share one embedded member: call it
// from TestMain. The member starts on first use (Shared), so packages whose
// selected tests never touch etcd pay nothing, and is stopped after m.Run.
func Main(m *testing.M) {
	code := m.Run()
	sharedMu.Lock()
	if shared != nil {
		shared.Close()
		shared = nil
	}
	sharedMu.Unlock()
	os.Exit(code)
}

// Shared returns the package's one-member cluster, starting it on first use.
// Give each test its own key space with Prefix.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		dir, err := os.MkdirTemp("", "keydesk-etcd-")
		if err == nil {
			shared, err = Start(dir)
		}
		sharedErr = err
	}
	if sharedErr != nil {
		t.Fatalf("etcdtest: %v", sharedErr)
	}
	return shared
}

// NewCluster starts n members for one test and stops them when it ends.
func NewCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	return newCluster(t, StartCluster, n)
}

// NewProxiedCluster is NewCluster with StartProxiedCluster's peer proxies
// (for Isolate and CutPeers).
func NewProxiedCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	return newCluster(t, StartProxiedCluster, n)
}

func newCluster(t testing.TB, start func(string, int) (*Cluster, error), n int) *Cluster {
	t.Helper()
	c, err := start(t.TempDir(), n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}
