package cluster_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/keydesk/keydesk/internal/etcdtest"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/store/cluster"
	"github.com/keydesk/keydesk/store/kv"
	"github.com/keydesk/keydesk/store/kv/etcd"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The fault harness (issue 13): three etcd members, two keydesk stores
// ("servers") reaching them only through TCP proxies the test controls, and
// concurrent clients exchanging and revoking tokens on both while members are
// killed and restarted, a server is cut off from etcd (its proxies black-hole
// traffic), and etcd compacts past a cut-off server's watch. Every operation
// is recorded and the history checked with porcupine against the token
// lifecycle: once a revoke has returned, no server accepts the token.
//
// The store's documented freshness rule lets a cache answer while it can
// prove it applied everything up to a linearizable read of the last
// 2×FreshEvery (100 ms); an exchange is therefore checked as if invoked that
// much earlier. Anything staler is an anomaly.
//
// By default (CI) it runs a few seconds with four faults; the long run, twelve
// faults and about ten thousand operations:
//
//	go test -race -run Linearizable -v ./store/cluster -args -faults.long
const staleness = 100 * time.Millisecond

var longFaults = flag.Bool("faults.long", false, "run the long fault harness (12 faults)")

type lifeIn struct {
	Kind   string // "exchange" or "revoke"
	Token  int
	Server string
}

type lifeOut struct {
	OK      bool
	Already bool // revoke refused: the token was already revoked
	Unknown bool // the call failed otherwise: it may or may not have happened
}

var lifecycle = porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[int][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(lifeIn).Token
			by[k] = append(by[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range by {
			out = append(out, ops)
		}
		return out
	},
	Init: func() []interface{} { return []interface{}{false} }, // not revoked
	Step: func(state, input, output interface{}) []interface{} {
		revoked := state.(bool)
		in, out := input.(lifeIn), output.(lifeOut)
		switch in.Kind {
		case "revoke":
			switch {
			case out.OK:
				if revoked {
					return nil // revoked twice
				}
				return []interface{}{true}
			case out.Already:
				if !revoked {
					return nil
				}
				return []interface{}{true}
			}
			return []interface{}{revoked, true}
		default: // exchange
			if !out.OK {
				return []interface{}{revoked} // refusing is always allowed (fail closed)
			}
			if revoked {
				return nil // accepted after the revoke: the anomaly
			}
			return []interface{}{revoked}
		}
	},
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(lifeIn), output.(lifeOut)
		res := "refused"
		switch {
		case out.Unknown:
			res = "unknown"
		case out.OK:
			res = "ok"
		}
		return fmt.Sprintf("%s(t%d)@%s → %s", in.Kind, in.Token, in.Server, res)
	},
}

// recorder collects a history with monotonic timestamps.
type recorder struct {
	mu    sync.Mutex
	base  time.Time
	ops   []porcupine.Operation
	count atomic.Int64
}

func (r *recorder) now() int64 { return int64(time.Since(r.base)) }

func (r *recorder) add(client int, in lifeIn, call int64, out lifeOut) {
	ret := r.now()
	if in.Kind == "exchange" {
		call -= int64(staleness) // the freshness window (see above)
	}
	if out.Unknown {
		ret = 1 << 62 // it may take effect at any time after its call
	}
	r.mu.Lock()
	r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	r.mu.Unlock()
	r.count.Add(1)
}

// harness is the cluster, the proxies and the two stores.
type harness struct {
	c       *etcdtest.Cluster
	proxies map[string][]*etcdtest.Proxy
	stores  map[string]*store.Store
	engines map[string]*etcd.Engine
	owner   store.Actor
	faults  []string
}

// trusting is the deliberately broken engine: it claims its cache is always
// fresh, as a server that ignored the freshness rule would.
type trusting struct{ *etcd.Engine }

func (trusting) Fresh() bool { return true }

func newHarness(t *testing.T, broken bool) *harness {
	h := &harness{c: etcdtest.NewCluster(t, 3), proxies: map[string][]*etcdtest.Proxy{},
		stores: map[string]*store.Store{}, engines: map[string]*etcd.Engine{}}
	prefix := h.c.Prefix(t)
	sec := store.Secrets{Dir: t.TempDir(), Pepper: key(t), Seal: key(t)}
	for _, name := range []string{"A", "B"} {
		var eps []string
		for _, m := range h.c.Members {
			p := etcdtest.NewProxy(t, m.ClientURL)
			h.proxies[name] = append(h.proxies[name], p)
			eps = append(eps, p.URL())
		}
		cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 2 * time.Second, Logger: etcdtest.Logger()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		e, err := cluster.OpenEngine(ctx, cli, prefix, cluster.EngineOptions{OwnClient: true, RequestTimeout: time.Second})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		var eng kv.Engine = e
		if broken && name == "B" {
			eng = trusting{e}
		}
		s, err := store.OpenEngine(eng, sec, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		h.stores[name], h.engines[name] = s, e
	}
	owner, err := h.stores["A"].Init(store.NewUser{Name: "Olive Owner", Email: "olive@example.com"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	h.owner = store.Actor{UserID: owner.ID, Via: "test"}
	return h
}

func (h *harness) cut(server string, on bool) {
	for _, p := range h.proxies[server] {
		p.Blackhole(on)
	}
}

func (h *harness) fault(t *testing.T, i int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch i % 4 {
	case 0: // kill the leader, let a new one take over, restart it
		lead, err := h.c.WaitLeader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		h.c.HardStop(lead)
		h.faults = append(h.faults, fmt.Sprintf("HardStop leader m%d", lead))
		time.Sleep(300 * time.Millisecond) // the fault's duration, not a wait for state
		if err := h.c.Restart(lead); err != nil {
			t.Fatal(err)
		}
	case 1: // kill a follower
		lead, err := h.c.WaitLeader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f := (lead + 1) % 3
		h.c.HardStop(f)
		h.faults = append(h.faults, fmt.Sprintf("HardStop follower m%d", f))
		time.Sleep(300 * time.Millisecond)
		if err := h.c.Restart(f); err != nil {
			t.Fatal(err)
		}
	case 2: // cut server B off from etcd, then heal
		h.cut("B", true)
		h.faults = append(h.faults, "partition B from etcd")
		time.Sleep(500 * time.Millisecond)
		h.cut("B", false)
	case 3: // cut A off, compact past its watch, heal: A must drop its caches
		h.cut("A", true)
		cli := h.c.Client(t)
		r, err := cli.Get(ctx, "/", clientv3.WithCountOnly())
		if err == nil {
			_, err = cli.Compact(ctx, r.Header.Revision)
		}
		if err != nil && !errors.Is(err, rpctypes.ErrCompacted) { // compacted there already
			t.Fatal(err)
		}
		h.faults = append(h.faults, fmt.Sprintf("partition A, compact to %d", r.Header.Revision))
		time.Sleep(300 * time.Millisecond)
		h.cut("A", false)
	}
}

// pool is the tokens the clients use; revokers replace what they revoke.
type pool struct {
	mu      sync.Mutex
	secrets []string
	ids     []string
	live    []int // indexes not yet revoked (as far as the revokers know)
}

func (p *pool) add(id, secret string) {
	p.mu.Lock()
	p.live = append(p.live, len(p.ids))
	p.ids, p.secrets = append(p.ids, id), append(p.secrets, secret)
	p.mu.Unlock()
}

func (p *pool) pick(r *rand.Rand) (int, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := r.IntN(len(p.ids))
	return i, p.secrets[i]
}

// pickLive takes a token off the live list for revoking.
func (p *pool) pickLive(r *rand.Rand) (int, string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.live) == 0 {
		return 0, "", false
	}
	j := r.IntN(len(p.live))
	i := p.live[j]
	p.live = append(p.live[:j], p.live[j+1:]...)
	return i, p.ids[i], true
}

// run drives clients on both servers while faults are injected, and returns
// the history.
func (h *harness) run(t *testing.T, tokens int, faults int) *recorder {
	p := &pool{}
	for i := 0; i < tokens; i++ {
		tok, sec, err := h.stores["A"].CreateToken(h.owner, store.TokenSpec{Name: fmt.Sprintf("t%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		p.add(tok.ID, sec)
	}
	rec := &recorder{base: time.Now()}
	var stop atomic.Bool
	var wg sync.WaitGroup
	client := 0
	for _, name := range []string{"A", "B"} {
		s := h.stores[name]
		for w := 0; w < 2; w++ {
			id := client
			client++
			wg.Add(1)
			go func() { // exchangers
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(id), 7))
				for !stop.Load() {
					i, secret := p.pick(r)
					call := rec.now()
					_, err := s.Exchange(secret, "harness")
					rec.add(id, lifeIn{"exchange", i, name}, call, lifeOut{OK: err == nil})
					time.Sleep(time.Duration(1+r.IntN(3)) * time.Millisecond) // a few thousand operations, not millions
				}
			}()
		}
		id := client
		client++
		wg.Add(1)
		go func() { // a revoker: revokes a token, then makes a new one in its place
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(id), 9))
			for n := 0; !stop.Load(); n++ {
				i, tokID, ok := p.pickLive(r)
				if !ok {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				call := rec.now()
				_, err := s.RevokeToken(h.owner, tokID)
				// "Already revoked" is a definite answer; any other failure
				// (unavailable, ambiguous) may or may not have happened.
				out := lifeOut{OK: err == nil}
				switch {
				case errors.Is(err, models.ErrTokenInactive):
					out.Already = true
				case err != nil:
					out.Unknown = true
				}
				rec.add(id, lifeIn{"revoke", i, name}, call, out)
				for !stop.Load() {
					tok, sec, err := s.CreateToken(h.owner, store.TokenSpec{Name: fmt.Sprintf("%s%d", name, n)})
					if err == nil {
						p.add(tok.ID, sec)
						break
					}
					if errors.Is(err, models.ErrLimit) {
						break // an unknown revoke did not land: the holder is full
					}
					time.Sleep(20 * time.Millisecond) // etcd unreachable from here for now
				}
				time.Sleep(time.Duration(5+r.IntN(20)) * time.Millisecond)
			}
		}()
	}
	for i := 0; i < faults; i++ {
		time.Sleep(200 * time.Millisecond)
		at := time.Now()
		h.fault(t, i)
		t.Logf("fault %d took %v", i, time.Since(at))
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	at := time.Now()
	wg.Wait()
	t.Logf("clients stopped in %v", time.Since(at))
	return rec
}

func check(t *testing.T, rec *recorder, name string) (porcupine.CheckResult, string) {
	model := lifecycle.ToModel()
	res, info := porcupine.CheckOperationsVerbose(model, rec.ops, 60*time.Second)
	path := ""
	if res != porcupine.Ok {
		path = filepath.Join(os.TempDir(), fmt.Sprintf("keydesk-%s-%d.html", name, time.Now().UnixNano()))
		if err := porcupine.VisualizePath(model, info, path); err != nil {
			t.Logf("visualization: %v", err)
		}
	}
	return res, path
}

func TestLinearizableUnderFaults(t *testing.T) {
	faults, tokens := 4, 20
	if *longFaults {
		faults, tokens = 12, 24
	}
	start := time.Now()
	h := newHarness(t, false)
	setup := time.Since(start)
	rec := h.run(t, tokens, faults)
	ran := time.Since(start)
	res, path := check(t, rec, "linearizable")
	t.Logf("setup %v, run %v, check %v", setup, ran-setup, time.Since(start)-ran)
	if res != porcupine.Ok {
		t.Fatalf("porcupine: %s over %d operations; visualization in %s; faults %q", res, rec.count.Load(), path, h.faults)
	}
	// Nothing acknowledged is lost and the data is sound on both servers.
	for name, s := range h.stores {
		problems, err := s.Check()
		if err != nil || len(problems) > 0 {
			t.Fatalf("check on %s after the faults: %v %q", name, err, problems)
		}
	}
	t.Logf("linearizable: %d operations across %d faults (%q); A: %d ambiguous commits (%d landed), B: %d (%d); watch resets A %d B %d",
		rec.count.Load(), len(h.faults), h.faults,
		h.engines["A"].Stats().Ambiguous.Load(), h.engines["A"].Stats().Landed.Load(),
		h.engines["B"].Stats().Ambiguous.Load(), h.engines["B"].Stats().Landed.Load(),
		h.engines["A"].Stats().Resets.Load(), h.engines["B"].Stats().Resets.Load())
}

// A server cut off from etcd keeps refusing a token revoked elsewhere (it
// cannot prove its cache fresh, reads through, and fails closed), and after
// the partition heals it catches up without a restart. The broken engine
// that trusts its cache past the rule accepts the revoked token, and the
// checker catches it.
func TestPartitionedServerFailsClosed(t *testing.T) {
	for _, broken := range []bool{false, true} {
		t.Run(map[bool]string{false: "rule", true: "broken"}[broken], func(t *testing.T) {
			h := newHarness(t, broken)
			a, b := h.stores["A"], h.stores["B"]
			tok, secret, err := a.CreateToken(h.owner, store.TokenSpec{Name: "p"})
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{base: time.Now()}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := h.engines["B"].WaitFresh(ctx); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ { // B serves it, and caches it
				call := rec.now()
				_, err = b.Exchange(secret, "p")
				rec.add(0, lifeIn{"exchange", 0, "B"}, call, lifeOut{OK: err == nil})
				if err != nil {
					t.Fatal(err)
				}
			}
			h.cut("B", true)
			call := rec.now()
			_, err = a.RevokeToken(h.owner, tok.ID)
			rec.add(1, lifeIn{"revoke", 0, "A"}, call, lifeOut{OK: err == nil, Unknown: err != nil})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * staleness) // past the freshness window: now B must not accept
			for i := 0; i < 3; i++ {
				call = rec.now()
				_, err = b.Exchange(secret, "p")
				rec.add(0, lifeIn{"exchange", 0, "B"}, call, lifeOut{OK: err == nil})
			}
			if !broken {
				if h := b.Health(); h.Cache != "reading through" {
					t.Errorf("B's health while cut off: %+v, want the cache reading through", h)
				}
			}
			h.cut("B", false)
			healed := time.Now()
			for {
				if _, err := b.CheckAccess(tok.ID, h.owner.UserID); errors.Is(err, models.ErrUnauthenticated) && h.engines["B"].Fresh() {
					break
				}
				if time.Since(healed) > 10*time.Second {
					t.Fatalf("B did not catch up within 10 s of the partition healing: %+v", h.engines["B"].Freshness())
				}
				time.Sleep(2 * time.Millisecond)
			}
			t.Logf("after the partition healed, B was fresh and refusing within %v", time.Since(healed))
			res, path := check(t, rec, "partition-"+map[bool]string{false: "rule", true: "broken"}[broken])
			switch {
			case !broken && res != porcupine.Ok:
				t.Fatalf("porcupine: %s; visualization in %s", res, path)
			case broken && res != porcupine.Illegal:
				t.Fatalf("the broken engine (cache trusted past the freshness rule) was not caught: %s", res)
			case broken:
				t.Logf("broken engine caught: porcupine %s, visualization in %s", res, path)
			}
		})
	}
}
