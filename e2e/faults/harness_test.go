package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/keydesk/keydesk/api"
	"github.com/keydesk/keydesk/internal/doortest"
	"github.com/keydesk/keydesk/internal/etcdtest"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/store/cluster"
	"github.com/keydesk/keydesk/store/kv"
	"github.com/keydesk/keydesk/store/kv/etcd"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	gossh "golang.org/x/crypto/ssh"
)

// staleness is how far back a cached acceptance may look (see Porcupine):
// none, because a store settles every change that takes access away
// (store.settle) until no other server can still trust a cache from before it.
// A positive value here would check the weaker promise of a bounded-stale cache.
const staleness = 0

// rotationGrace outlasts the longest run, so the model may take a rotated
// token as usable for the whole history. (With the default 10 minutes the
// long run saw what it should: old secrets used after their grace detected
// as reuse, and their rotation chains revoked, changes no client asked for.)
const rotationGrace = 24 * time.Hour

// logBuf is a goroutine-safe log sink, so tests can read what a server logged.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// server is one keydesk server on the cluster, reaching each member through
// its own proxy, so it can be cut off alone: a store opened in this process
// with its HTTP service (proc nil), or a `keydesk serve` process reached
// over SSH and HTTP (proc).
type server struct {
	i       int
	proc    *proc
	proxies []*etcdtest.Proxy
	url     string
	skew    atomic.Int64 // nanoseconds added to its clock
	log     *logBuf

	mu  sync.RWMutex
	st  *store.Store
	eng *etcd.Engine

	// The HTTP token service over the current store, on a real listener.
	api  atomic.Pointer[api.Server]
	http *httptest.Server
}

func (s *server) now() time.Time { return time.Now().Add(time.Duration(s.skew.Load())) }

// up reports whether the server is running.
func (s *server) up() bool {
	if s.proc != nil {
		return s.proc.running()
	}
	st, _ := s.get()
	return st != nil
}

// base is the server's HTTP address.
func (s *server) base() string {
	if s.proc != nil {
		return "http://" + s.proc.httpAddr
	}
	return s.http.URL
}

// get returns the open store, or nil while the server is down (always for
// a process).
func (s *server) get() (*store.Store, *etcd.Engine) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st, s.eng
}

// rig is three etcd members and n keydesk servers on them, one organization.
type rig struct {
	t       testing.TB
	c       *etcdtest.Cluster
	prefix  string
	kek     string
	servers []*server // in-process stores first, then processes
	inproc  []*server // the stores opened in this process
	procs   []*server // the `keydesk serve` processes
	// ownerKey is the owner's SSH key (the owner assigns and manages users
	// over SSH on processes).
	ownerKey gossh.Signer
	hist     *History
	owner    store.Actor
	faults   []string // what was injected, for the report
	faultMu  sync.Mutex
	dropped  []Op            // writes that failed before changing anything (not in the history)
	stalls   []time.Duration // write stall after each leader kill
	// isoStalls: after each isolation of the leader from the other members
	isoStalls []time.Duration
	holders   int // holders added so far
	// patience bounds the wait for clients to make progress under a fault.
	patience time.Duration
}

// newRig is nServers stores in this process on three members.
func newRig(t testing.TB, nServers int) *rig { return newRigWith(t, nServers, 0) }

// newRigWith adds nProcs `keydesk serve` processes.
func newRigWith(t testing.TB, nServers, nProcs int) *rig {
	t.Helper()
	r := &rig{t: t, prefix: "/faults", kek: filepath.Join(t.TempDir(), "kek"), ownerKey: doortest.NewSigner(t)}
	// Peer traffic goes through a proxy in front of each member's peer
	// listener that knows which member sent each connection, so the test can
	// cut every link or isolate one member (etcdtest.Cluster.Isolate).
	c, err := etcdtest.StartProxiedCluster(t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	r.c = c
	for i := 0; i < nServers+nProcs; i++ {
		s := &server{i: i, log: &logBuf{}}
		var hosts []string
		for _, m := range r.c.Members {
			p := etcdtest.NewProxy(t, m.ClientURL)
			s.proxies = append(s.proxies, p)
			hosts = append(hosts, p.Addr())
		}
		s.url = "etcd://" + strings.Join(hosts, ",") + r.prefix
		r.servers = append(r.servers, s)
		if i >= nServers {
			sshAddr, err1 := freeAddr()
			httpAddr, err2 := freeAddr()
			if err := errors.Join(err1, err2); err != nil {
				t.Fatal(err)
			}
			s.proc = &proc{bin: binary(t), data: t.TempDir(), sshAddr: sshAddr, httpAddr: httpAddr}
			r.procs = append(r.procs, s)
			continue
		}
		r.inproc = append(r.inproc, s)
		s.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			a := s.api.Load()
			if a == nil {
				http.Error(w, "server down", http.StatusServiceUnavailable)
				return
			}
			a.Handler().ServeHTTP(w, req)
		}))
		t.Cleanup(s.http.Close)
	}
	for _, s := range r.inproc {
		if err := r.open(s); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, s := range r.servers {
			if s.proc != nil {
				r.killProc(s)
			} else if st, _ := s.get(); st != nil {
				st.Close()
			}
		}
	})
	st, _ := r.servers[0].get()
	owner, err := st.Init(store.NewUser{Name: "Olive Owner", Email: "olive@example.com",
		Keys: []string{doortest.AuthorizedKey(r.ownerKey)}}, "faults")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.procs {
		if err := r.startProc(s); err != nil {
			t.Fatal(err)
		}
	}
	r.owner = store.Actor{UserID: owner.ID, Via: "faults"}
	r.hist = NewHistory()
	return r
}

// open (re)starts server s: a new client, engine and store, as a restarted
// process would make.
func (r *rig) open(s *server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, eng, err := cluster.Open(ctx, cluster.Config{URL: s.url, KEKFile: r.kek, Logger: logger, CompactRetention: -1},
		true, store.Options{Now: s.now, Logger: logger, RotationGrace: rotationGrace})
	if err != nil {
		return fmt.Errorf("server %d: %w", s.i, err)
	}
	a, err := api.New(st, api.Options{MaxAuthFailures: -1, Registry: prometheus.NewRegistry()})
	if err != nil {
		st.Close()
		return fmt.Errorf("server %d: api: %w", s.i, err)
	}
	s.mu.Lock()
	s.st, s.eng = st, eng
	s.mu.Unlock()
	s.api.Store(a)
	return nil
}

// crash kills server s as a process crash would: its connection to etcd
// goes first (whatever it had in flight is left unconfirmed), then the store.
func (r *rig) crash(s *server) {
	s.mu.Lock()
	st, eng := s.st, s.eng
	s.st, s.eng = nil, nil
	s.mu.Unlock()
	if st == nil {
		return
	}
	s.api.Store(nil)
	eng.Client().Close()
	st.Close()
}

func (r *rig) fault(format string, args ...any) {
	r.faultMu.Lock()
	defer r.faultMu.Unlock()
	msg := fmt.Sprintf("%6.2fs ", r.hist.Now().Seconds()) + fmt.Sprintf(format, args...)
	r.faults = append(r.faults, msg)
	if testing.Verbose() {
		r.t.Logf("fault: %s", msg)
	}
}

// partition cuts (or heals) server s from every member.
func (s *server) partition(on bool) {
	for _, p := range s.proxies {
		p.Blackhole(on)
		if on {
			p.Reset() // open connections die too; new ones hang in the hole
		}
	}
}

// holder is one token holder and what its clients know of its tokens.
type holder struct {
	id    string
	email string
	key   gossh.Signer // the holder's SSH key
	actor store.Actor
	mu    sync.Mutex
	toks  []*known
}

type known struct {
	id, secret string
	assigned   bool
	dead       bool      // revoked or rotated, as far as this holder's clients know
	rotatedAt  time.Time // when a rotation of it was acknowledged
}

func (h *holder) add(k *known) {
	h.mu.Lock()
	h.toks = append(h.toks, k)
	h.mu.Unlock()
}

func (h *holder) pick(rng *rand.Rand, want func(*known) bool) *known {
	h.mu.Lock()
	defer h.mu.Unlock()
	var c []*known
	for _, k := range h.toks {
		if want(k) {
			c = append(c, k)
		}
	}
	if len(c) == 0 {
		return nil
	}
	// Mostly recent tokens: that is where the interesting races are.
	if len(c) > 8 && rng.IntN(4) > 0 {
		c = c[len(c)-8:]
	}
	return c[rng.IntN(len(c))]
}

func (r *rig) addHolders(n int) []*holder {
	st, _ := r.servers[0].get()
	var hs []*holder
	for j := 0; j < n; j++ {
		i := r.holders
		r.holders++
		key := doortest.NewSigner(r.t)
		email := fmt.Sprintf("holder-%d@example.com", i)
		u, err := st.AddUser(r.owner, store.NewUser{Name: fmt.Sprintf("Holder %d", i),
			Email: email, Role: models.RoleUser, Keys: []string{doortest.AuthorizedKey(key)}})
		if err != nil {
			r.t.Fatal(err)
		}
		hs = append(hs, &holder{id: u.ID, email: email, key: key, actor: store.Actor{UserID: u.ID, Via: "faults"}})
	}
	return hs
}

// classify maps a write's error to the model's result; drop is true for an
// error that proves nothing happened and the model need not see it (the
// engine could not reach etcd before committing, or gave up on conflicts).
func classify(err error) (res Result, drop bool) {
	switch {
	case err == nil:
		return OK, false
	case errors.Is(err, models.ErrLimit):
		return Limit, false
	case errors.Is(err, models.ErrTokenInactive), errors.Is(err, models.ErrAlreadyRevealed),
		errors.Is(err, models.ErrConflict), errors.Is(err, models.ErrNotFound):
		return Refused, false
	case errors.Is(err, kv.ErrUnavailable), errors.Is(err, kv.ErrConflict), errors.Is(err, errNotRun):
		return 0, true
	}
	return Unknown, false
}

var statusOf = map[models.TokenStatus]uint8{models.StatusAwaitingReveal: Awaiting, models.StatusActive: Active,
	models.StatusRotated: Rotated, models.StatusRevoked: Revoked}

// runHolder is one client working one holder's tokens on random servers
// until ctx ends: through the store's API and HTTP on in-process servers,
// over SSH and HTTP on processes.
func (r *rig) runHolder(ctx context.Context, client int, h *holder, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(client)))
	key := "h:" + h.id
	anyTok := func(*known) bool { return true }
	lb := newBalancer(len(r.servers))
	ssh := newSSHPool()
	defer ssh.close()
	for ctx.Err() == nil {
		sv := r.servers[lb.pick(rng)]
		st, _ := sv.get()
		if !sv.up() {
			lb.failed(sv.i)
			time.Sleep(5 * time.Millisecond) // that server is down: a client backs off
			continue
		}
		proc := sv.proc != nil
		op := Op{Client: client, Server: sv.i, Holder: h.id, In: Input{Key: key}}
		if proc {
			op.Door = "ssh"
		}
		// Pick the operation, and the token it works on; with no such token
		// yet the client creates one instead.
		x := rng.IntN(100)
		var k *known
		switch {
		case x < 16:
		case x < 24:
			op.In.Kind = Assign
		case x < 32:
			op.In.Kind, k = Reveal, h.pick(rng, func(k *known) bool { return k.assigned && k.secret == "" })
		case x < 40:
			op.In.Kind, k = Rotate, h.pick(rng, liveMostly(rng))
		case x < 54:
			op.In.Kind, k = Revoke, h.pick(rng, liveMostly(rng))
		case x < 90 || proc: // processes have no status read: access checks instead
			op.In.Kind, k = Accept, h.pick(rng, anyTok)
		default:
			op.In.Kind, k = Status, h.pick(rng, anyTok)
		}
		if op.In.Kind != Assign && k == nil {
			op.In.Kind = Create
		}
		if k != nil {
			op.TokenID = k.id
		}
		var err error
		call := r.hist.Now()
		switch op.In.Kind {
		case Create:
			var id, secret string
			if proc {
				id, secret, err = sshCreate(ssh, sv.proc.sshAddr, h.key)
			} else {
				var tok models.Token
				tok, secret, err = st.CreateToken(h.actor, store.TokenSpec{Name: "c"})
				id = tok.ID
			}
			if err == nil {
				op.NewID = id
				h.add(&known{id: id, secret: secret})
			}
		case Assign:
			var id string
			if proc {
				id, err = sshAssign(ssh, sv.proc.sshAddr, r.ownerKey, h.email)
			} else {
				var toks []models.Token
				if toks, err = st.AssignTokens(r.owner, []string{h.id}, store.TokenSpec{Name: "a"}); err == nil {
					id = toks[0].ID
				}
			}
			if err == nil {
				op.NewID = id
				h.add(&known{id: id, assigned: true})
			}
		case Reveal:
			var secret string
			if proc {
				secret, err = sshReveal(ssh, sv.proc.sshAddr, h.key, k.id)
			} else {
				secret, err = st.RevealToken(h.actor, k.id)
			}
			if err == nil {
				h.mu.Lock()
				k.secret = secret
				h.mu.Unlock()
			}
		case Rotate:
			var id, secret string
			if proc {
				id, secret, err = sshRotate(ssh, sv.proc.sshAddr, h.key, k.id)
			} else {
				var tok models.Token
				tok, secret, err = st.RotateToken(h.actor, k.id)
				id = tok.ID
			}
			h.mu.Lock()
			k.dead = k.dead || err == nil || errors.Is(err, models.ErrTokenInactive)
			if err == nil {
				k.rotatedAt = time.Now()
			}
			h.mu.Unlock()
			if err == nil {
				op.NewID = id
				h.add(&known{id: id, secret: secret})
			}
		case Revoke:
			if proc {
				err = sshRevoke(ssh, sv.proc.sshAddr, h.key, k.id)
			} else {
				_, err = st.RevokeToken(h.actor, k.id)
			}
			h.mu.Lock()
			k.dead = k.dead || err == nil || errors.Is(err, models.ErrTokenInactive)
			h.mu.Unlock()
		case Accept:
			r.accept(rng, sv, lb, op, h, k, call)
			continue
		case Status:
			var v store.TokenView
			if v, err = st.Token(h.actor, k.id); err != nil {
				lb.failed(sv.i)
				continue // a failed read changed nothing
			}
			op.Call, op.Return = call, r.hist.Now()
			op.Out = Output{Result: OK, Status: statusOf[v.Status]}
			r.hist.Add(op)
			continue
		}
		if res, drop := classify(err); res == Unknown || drop {
			lb.failed(sv.i)
		}
		r.record(op, call, err)
	}
}

// accept presents token k at server sv and records each acceptance (a
// refusal is always allowed: a server that cannot prove its cache current
// fails closed). In process: the access check by id (what every API
// request checks), the exchange in the store, or the exchange over HTTP. At
// a process: the exchange over HTTP, then now and then GET /v3/users/me
// with the access token it gave (which checks its refresh token again).
func (r *rig) accept(rng *rand.Rand, sv *server, lb *balancer, op Op, h *holder, k *known, call time.Duration) {
	h.mu.Lock()
	secret, rotatedAt := k.secret, k.rotatedAt
	h.mu.Unlock()
	ok := func(door string, call time.Duration) {
		op.Door, op.Call, op.Return, op.Out = door, call, r.hist.Now(), Output{Result: OK}
		r.hist.Add(op)
	}
	slow := func() {
		if r.hist.Now()-call > time.Second {
			lb.failed(sv.i) // a slow refusal: that server cannot reach etcd
		}
	}
	if sv.proc != nil {
		// A process keeps the default 10-minute rotation grace: an old
		// secret presented after it is reuse (the chain is revoked), which
		// the model does not know. Runs stay shorter; this is the guard.
		if secret == "" || !rotatedAt.IsZero() && time.Since(rotatedAt) > 8*time.Minute {
			return
		}
		access := exchangeAt(httpClient, sv.base(), secret)
		if access == "" {
			slow()
			return
		}
		ok("http", call)
		if rng.IntN(2) == 0 {
			call = r.hist.Now()
			if whoAmI(sv.base(), access) {
				ok("http-me", call)
			}
		}
		return
	}
	st, _ := sv.get()
	if st == nil {
		return
	}
	var p store.Principal
	var err error
	switch door := rng.IntN(3); {
	case secret != "" && door == 0:
		p, err = st.Exchange(secret, "faults")
	case secret != "" && door == 1:
		if exchangeAt(http.DefaultClient, sv.base(), secret) == "" {
			slow()
			return
		}
		ok("http", call)
		return
	default:
		p, err = st.CheckAccess(k.id, h.id)
	}
	if err != nil {
		slow()
		return
	}
	if p.Token.ID != k.id {
		r.t.Errorf("access check for %s answered for %s", k.id, p.Token.ID)
	}
	ok("", call)
}

// balancer is a client's load balancer: random servers, but one that just
// failed is avoided for a while (a real balancer's health check would eject
// it), except for a probe now and then, so a partitioned server keeps being
// asked and must keep failing closed.
type balancer struct{ avoid []time.Time }

func newBalancer(n int) *balancer { return &balancer{avoid: make([]time.Time, n)} }

func (b *balancer) pick(rng *rand.Rand) int {
	now := time.Now()
	for try := 0; try < 4; try++ {
		i := rng.IntN(len(b.avoid))
		if now.After(b.avoid[i]) || rng.IntN(20) == 0 {
			return i
		}
	}
	return rng.IntN(len(b.avoid))
}

func (b *balancer) failed(i int) { b.avoid[i] = time.Now().Add(5 * time.Second) }

// liveMostly picks tokens not known dead, and now and then any token (a
// revoke or rotation of a dead one must be refused).
func liveMostly(rng *rand.Rand) func(*known) bool {
	anyOne := rng.IntN(8) == 0
	return func(k *known) bool { return anyOne || !k.dead }
}

// record adds a write that returned err.
func (r *rig) record(op Op, call time.Duration, err error) {
	ret := r.hist.Now()
	res, drop := classify(err)
	if drop {
		op.Call, op.Return, op.Err = call, ret, err.Error()
		r.faultMu.Lock()
		r.dropped = append(r.dropped, op) // for explainStall only: it proves nothing happened
		r.faultMu.Unlock()
		return
	}
	op.Call, op.Return, op.Out.Result = call, ret, res
	if res == Unknown {
		op.Return = -1
		op.Err = err.Error()
	}
	r.hist.Add(op)
}

// runEmails adds and removes users with a few emails on random servers: one
// user per email at a time.
func (r *rig) runEmails(ctx context.Context, client int, emails []string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(client)))
	lb := newBalancer(len(r.servers))
	ssh := newSSHPool()
	defer ssh.close()
	for ctx.Err() == nil {
		sv := r.servers[lb.pick(rng)]
		st, _ := sv.get()
		if !sv.up() {
			lb.failed(sv.i)
			time.Sleep(5 * time.Millisecond) // that server is down: a client backs off
			continue
		}
		email := emails[rng.IntN(len(emails))]
		op := Op{Client: client, Server: sv.i, Email: email, In: Input{Key: "e:" + email}}
		call := r.hist.Now()
		var err error
		add := rng.IntN(2) == 0
		switch {
		case sv.proc != nil && add:
			op.In.Kind, op.Door = AddUser, "ssh"
			_, _, err = ssh.run(sv.proc.sshAddr, r.ownerKey, "user add --name Mailuser --role user --email "+email)
		case sv.proc != nil:
			op.In.Kind, op.Door = DelUser, "ssh"
			_, _, err = ssh.run(sv.proc.sshAddr, r.ownerKey, "user remove --yes "+email)
		case add:
			op.In.Kind = AddUser
			_, err = st.AddUser(r.owner, store.NewUser{Name: "Mail User", Email: email, Role: models.RoleUser})
		default:
			op.In.Kind = DelUser
			_, err = st.RemoveUser(r.owner, email)
		}
		if res, drop := classify(err); res == Unknown || drop {
			lb.failed(sv.i)
		}
		r.record(op, call, err)
	}
}

// heal undoes every fault: partitions, delays, skew, stopped members and
// servers; then waits until every server proves its cache current.
func (r *rig) heal() {
	r.c.CutPeers(false)
	for i := range r.c.Members {
		r.c.Isolate(i, false)
	}
	for i, m := range r.c.Members {
		if m.Etcd() == nil {
			if err := r.c.Restart(i); err != nil {
				r.t.Fatal(err)
			}
		}
	}
	for _, s := range r.servers {
		s.partition(false)
		for _, p := range s.proxies {
			p.Delay(0)
		}
		s.skew.Store(0)
		var err error
		switch {
		case s.proc != nil && !s.proc.running():
			err = r.startProc(s)
		case s.proc == nil && !s.up():
			err = r.open(s)
		}
		if err != nil {
			r.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, s := range r.inproc {
		_, eng := s.get()
		if err := eng.WaitFresh(ctx); err != nil {
			r.t.Fatalf("server %d never caught up after the faults healed: %+v", s.i, eng.Freshness())
		}
	}
	for _, s := range r.procs {
		waitFor(r.t, 60*time.Second, fmt.Sprintf("server %d (a process) reports its cache fresh", s.i), func() bool {
			h, err := procHealth(s.proc.httpAddr)
			return err == nil && h == "fresh"
		})
	}
}

// finalReads records, after everything healed, a status read of every token
// on every server: nothing acknowledged may be missing from any of them.
func (r *rig) finalReads(hs []*holder) {
	client := 1000
	for _, h := range hs {
		h.mu.Lock()
		toks := append([]*known(nil), h.toks...)
		h.mu.Unlock()
		for _, k := range toks {
			for _, s := range r.inproc {
				st, _ := s.get()
				call := r.hist.Now()
				v, err := st.Token(h.actor, k.id)
				if err != nil {
					r.t.Errorf("final read of %s on server %d: %v", k.id, s.i, err)
					continue
				}
				r.hist.Add(Op{Client: client + s.i, Server: s.i, Holder: h.id, TokenID: k.id,
					In: Input{Kind: Status, Key: "h:" + h.id}, Call: call, Return: r.hist.Now(),
					Out: Output{Result: OK, Status: statusOf[v.Status]}})
			}
		}
	}
}

// auditLog reads the whole audit log, oldest first.
func (r *rig) auditLog() []models.AuditEntry {
	st, _ := r.servers[0].get()
	var all []models.AuditEntry
	var before uint64
	for {
		page, err := st.Audit(r.owner, store.AuditQuery{Limit: 1000, Before: before})
		if err != nil {
			r.t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 1000 {
			break
		}
		before = page[len(page)-1].Seq
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Seq < all[j].Seq })
	return all
}

// verdict checks the history with porcupine and the audit post-check. It
// returns the problems found (none: linearizable and the audit agrees); a
// non-linearizable history is drawn to a file named in the first line.
func (r *rig) verdict(name string) []string {
	ops := r.hist.Ops()
	model := Model.ToModel()
	res, info := porcupine.CheckOperationsVerbose(model, Porcupine(ops, staleness), 5*time.Minute)
	var bad []string
	switch res {
	case porcupine.Illegal:
		dir := os.Getenv("KEYDESK_FAULTS_DIR")
		if dir == "" {
			dir = os.TempDir()
		}
		path := filepath.Join(dir, fmt.Sprintf("keydesk-%s-%d.html", name, time.Now().UnixNano()))
		if err := porcupine.VisualizePath(model, info, path); err != nil {
			path = "(visualization failed: " + err.Error() + ")"
		}
		bad = append(bad, "porcupine: the history is not linearizable; visualization: "+path)
		bad = append(bad, explain(model, ops, strings.TrimSuffix(path, ".html")+"-ops.txt")...)
	case porcupine.Unknown:
		bad = append(bad, "porcupine: checking timed out")
	}
	for _, line := range CheckAudit(r.auditLog(), ops) {
		bad = append(bad, "audit: "+line)
	}
	return bad
}

func clientWithCountOnly() []clientv3.OpOption { return []clientv3.OpOption{clientv3.WithCountOnly()} }

// explain checks each partition alone and writes the ops of those that fail,
// in call order, to path, for a reader who would rather not open the HTML.
func explain(model porcupine.Model, ops []Op, path string) []string {
	by := map[string][]Op{}
	for _, op := range ops {
		by[op.In.Key] = append(by[op.In.Key], op)
	}
	var b strings.Builder
	var bad []string
	for key, part := range by {
		if porcupine.CheckOperations(model, Porcupine(part, staleness)) {
			continue
		}
		bad = append(bad, fmt.Sprintf("partition %s (%d operations) is not linearizable; its operations: %s", key, len(part), path))
		sort.Slice(part, func(i, j int) bool { return part[i].Call < part[j].Call })
		fmt.Fprintf(&b, "partition %s\n", key)
		for _, op := range part {
			ret := "∞"
			if op.Return >= 0 {
				ret = fmt.Sprintf("%.4f", op.Return.Seconds())
			}
			fmt.Fprintf(&b, "  [%.4f, %s] client %d server %d %s  tok=%s new=%s %s\n", op.Call.Seconds(), ret, op.Client, op.Server,
				model.DescribeOperation(op.In, op.Out), op.TokenID, op.NewID, op.Err)
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		bad = append(bad, "writing "+path+": "+err.Error())
	}
	return bad
}
