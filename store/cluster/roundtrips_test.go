package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/etcdtest"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/store/cluster"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// kvCalls counts the KV round trips one client makes, by kind. The engine's
// background freshness reads (count-only Ranges) are left out.
type kvCalls struct {
	mu             sync.Mutex
	on             bool
	ranges, reads  int // Range calls; read-only Txns (a Prefetch batch)
	commits, other int // Txns that write; anything else on KV
}

func (c *kvCalls) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	c.mu.Lock()
	if c.on && strings.HasPrefix(method, "/etcdserverpb.KV/") {
		switch r := req.(type) {
		case *pb.RangeRequest:
			if !r.CountOnly {
				c.ranges++
			}
		case *pb.TxnRequest:
			write := false
			for _, op := range append(r.Success, r.Failure...) {
				if op.GetRequestRange() == nil {
					write = true
				}
			}
			if write {
				c.commits++
			} else {
				c.reads++
			}
		default:
			c.other++
		}
	}
	c.mu.Unlock()
	return invoker(ctx, method, req, reply, cc, opts...)
}

func (c *kvCalls) count(f func()) string {
	c.mu.Lock()
	c.on, c.ranges, c.reads, c.commits, c.other = true, 0, 0, 0, 0
	c.mu.Unlock()
	f()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = false
	return fmt.Sprintf("%d Range, %d read Txn, %d commit Txn, %d other", c.ranges, c.reads, c.commits, c.other)
}

// A token create on etcd reads once and commits once: the holder, their live
// set with its tokens, the new id and the audit counter come in one batch
// (kv.Prefetch), so a create costs what a bare Get + Txn costs in round
// trips (issue 12's ≤ 2× row). The first create for a holder has no hint
// about their tokens and may read twice; a holder with tokens created
// elsewhere (the hint is stale) still gets the right count. Revoking one's
// own token reads once as well.
func TestCreateReadsOnceThenCommits(t *testing.T) {
	t.Parallel()
	c := etcdtest.Shared(t)
	calls := &kvCalls{}
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second,
		Logger: etcdtest.Logger(), DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(calls.intercept)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	prefix := c.Prefix(t)
	e, err := cluster.OpenEngine(ctx, cli, prefix, cluster.EngineOptions{OwnClient: true})
	if err != nil {
		cli.Close()
		t.Fatal(err)
	}
	sec := store.Secrets{Dir: t.TempDir(), Pepper: key(t), Seal: key(t)}
	s, err := store.OpenEngine(e, sec, store.Options{})
	if err != nil {
		e.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	other, _ := openStore(t, c, prefix, sec) // another server on the same organization
	owner, err := s.Init(store.NewUser{Name: "Olive Owner", Email: "olive@example.com"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.AddUser(store.Actor{UserID: owner.ID, Via: "test"}, store.NewUser{Name: "Uma", Email: "uma@example.com", Role: models.RoleUser})
	if err != nil {
		t.Fatal(err)
	}
	uma := store.Actor{UserID: u.ID, Via: "test"}
	create := func(s *store.Store, i int) string {
		return calls.count(func() {
			if _, _, err := s.CreateToken(uma, store.TokenSpec{Name: fmt.Sprintf("t%d", i)}); err != nil {
				t.Fatal(err)
			}
		})
	}
	const once = "0 Range, 1 read Txn, 1 commit Txn, 0 other"
	for i := 0; i < 5; i++ {
		if got := create(s, i); got != once {
			t.Fatalf("create %d of a holder made %s; want %s", i+1, got, once)
		}
	}
	// Tokens made on the other server are not in this one's hint: the next
	// create here reads them in a second batch, counts them, and the one
	// after reads once again.
	for i := 0; i < 3; i++ {
		if _, _, err := other.CreateToken(uma, store.TokenSpec{Name: fmt.Sprintf("b%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := create(s, 5), "0 Range, 2 read Txn, 1 commit Txn, 0 other"; got != want {
		t.Fatalf("create after the other server's made %s; want %s", got, want)
	}
	if got := create(s, 6); got != once {
		t.Fatalf("create after that made %s; want %s", got, once)
	}
	// A revoke of one's own token reads once too.
	toks, err := s.ListTokens(uma, store.TokenQuery{})
	if err != nil || len(toks.Tokens) == 0 {
		t.Fatalf("list: %d tokens, %v", len(toks.Tokens), err)
	}
	if got := calls.count(func() {
		if _, err := s.RevokeToken(uma, toks.Tokens[0].ID); err != nil {
			t.Fatal(err)
		}
	}); got != once {
		t.Fatalf("a revoke made %s; want %s", got, once)
	}
	// 9 live (10 made, one revoked); the limit still holds exactly with hints in play.
	n := 9
	for ; n < models.MaxTokensActive; n++ {
		if _, _, err := s.CreateToken(uma, store.TokenSpec{Name: fmt.Sprintf("c%d", n)}); err != nil {
			t.Fatalf("token %d: %v", n+1, err)
		}
	}
	if _, _, err := other.CreateToken(uma, store.TokenSpec{Name: "one too many"}); !errors.Is(err, models.ErrLimit) {
		t.Fatalf("a %d-th token on the other server: %v, want the limit", models.MaxTokensActive+1, err)
	}
	if _, _, err := s.CreateToken(uma, store.TokenSpec{Name: "one too many"}); !errors.Is(err, models.ErrLimit) {
		t.Fatalf("a %d-th token: %v, want the limit", models.MaxTokensActive+1, err)
	}
}
