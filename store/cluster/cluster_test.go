package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/etcdtest"
	"github.com/keydesk/keydesk/store/cluster"
	"github.com/keydesk/keydesk/store/kv"
	"github.com/keydesk/keydesk/store/kv/etcd"
	"github.com/keydesk/keydesk/store/storetest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestMain(m *testing.M) { etcdtest.Main(m) }

// etcdCluster is what the helpers need of a test cluster: embedded members
// (etcdtest.Cluster) or member processes (etcdtest.ProcCluster).
type etcdCluster interface {
	NewClient(endpoints ...string) (*clientv3.Client, error)
	Prefix(t testing.TB) string
}

// engine opens the store's etcd engine with its own client on prefix.
func engine(t testing.TB, c etcdCluster, prefix string, opts cluster.EngineOptions) (*etcd.Engine, error) {
	cli, err := c.NewClient()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts.OwnClient = true
	e, err := cluster.OpenEngine(ctx, cli, prefix, opts)
	if err != nil {
		cli.Close()
		return nil, err
	}
	return e, nil
}

// The store's behaviour suite on a one-member etcd.
func TestStoreBehaviourOnEtcd(t *testing.T) {
	t.Parallel() // on the shared member, with its own prefix
	c := etcdtest.Shared(t)
	storetest.Run(t, func(t testing.TB) storetest.Opener {
		prefix := c.Prefix(t)
		return func() (kv.Engine, error) { return engine(t, c, prefix, cluster.EngineOptions{}) }
	})
}
