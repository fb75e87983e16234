package kvtest_test

import (
	"path/filepath"
	"testing"

	"github.com/keydesk/keydesk/store/kv"
	"github.com/keydesk/keydesk/store/kv/bolt"
	"github.com/keydesk/keydesk/store/kv/kvtest"
)

// The bbolt engine passes the same conformance suite as etcd. bbolt
// serializes writers, so the suite's interleaving tests (Config.Peer) do not
// apply; its concurrent ones run on one engine.
func TestBoltConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Engine {
		e, err := bolt.Open(filepath.Join(t.TempDir(), bolt.File), kvtest.Buckets, bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	})
}
