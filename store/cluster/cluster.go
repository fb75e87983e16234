// Package cluster opens an organization kept in etcd, for several keydesk
// servers sharing it: the etcd engine on the store's buckets (with mirrors for
// the newest-first ones), the secrets every server must share (sealed in etcd
// under a key-encryption key that never enters it), and the store on top.
// bbolt organizations open through store.Open instead.
package cluster

import (
	"context"
	"log/slog"

	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/store/kv/etcd"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// EngineOptions tune OpenEngine; the zero value is what keydesk runs with.
type EngineOptions = etcd.Options

// OpenEngine opens the etcd engine for the organization under prefix (the
// default "/keydesk/" when empty) with the store's buckets.
func OpenEngine(ctx context.Context, cli *clientv3.Client, prefix string, opts EngineOptions) (*etcd.Engine, error) {
	opts.Prefix = prefix
	opts.Buckets = store.Buckets()
	opts.Reversed = store.NewestFirst()
	opts.Numbered = store.Numbered()
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return etcd.Open(ctx, cli, opts)
}
