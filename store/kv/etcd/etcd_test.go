package etcd_test

import (
	"context"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/etcdtest"
	"github.com/keydesk/keydesk/store/kv"
	"github.com/keydesk/keydesk/store/kv/etcd"
	"github.com/keydesk/keydesk/store/kv/kvtest"
)

func TestMain(m *testing.M) { etcdtest.Main(m) }

// open opens an engine with its own client on prefix of the shared member.
func open(t *testing.T, c *etcdtest.Cluster, prefix string) *etcd.Engine {
	t.Helper()
	cli, err := c.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := etcd.Open(ctx, cli, etcd.Options{Prefix: prefix, Buckets: kvtest.Buckets,
		Reversed: kvtest.Reversed, OwnClient: true})
	if err != nil {
		cli.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestConformance(t *testing.T) {
	c := etcdtest.Shared(t)
	kvtest.RunConfig(t, kvtest.Config{
		Open: func(t *testing.T) kv.Engine { return open(t, c, c.Prefix(t)) },
		Peer: func(t *testing.T, first kv.Engine) kv.Engine {
			return open(t, c, first.(*etcd.Engine).Prefix())
		},
	})
}
