package etcd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/keydesk/keydesk/store/kv"
	kvbolt "github.com/keydesk/keydesk/store/kv/bolt"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Export writes every bucket as of one revision into a bbolt file in
// keydesk's backup format (one bbolt bucket per bucket, its sequence set to
// the engine's), so a backup of an etcd organization opens like a bbolt one
// and doubles as the way to move an organization between engines.
func (e *Engine) Export(ctx context.Context, w io.Writer) (int64, error) {
	f, err := kvbolt.NewBackup()
	if err != nil {
		return 0, err
	}
	defer f.Close()
	err = e.View(ctx, func(t kv.Tx) error {
		tt := t.(*tx)
		return f.Fill(func(bb kvbolt.BackupBuilder) error {
			for _, b := range e.sortedBuckets() {
				n, err := tt.sequence(b)
				if err != nil {
					return err
				}
				if err := bb.SetSequence(b, n); err != nil {
					return err
				}
				if err := t.Scan(b, kv.Range{}, func(k, v []byte) error { return bb.Put(b, k, v) }); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	return f.WriteTo(w)
}

func (e *Engine) sortedBuckets() []kv.Bucket {
	out := make([]kv.Bucket, 0, len(e.buckets))
	for b := range e.buckets {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Check reads everything at one revision and reports values the engine did
// not write, mirrors that disagree with their bucket, malformed sequences, and
// the cluster's alarms (NOSPACE, CORRUPT).
func (e *Engine) Check(ctx context.Context, add func(format string, args ...any)) error {
	c, cancel := e.rpc(ctx)
	alarms, err := e.cli.AlarmList(c)
	cancel()
	if err != nil {
		return unavailable(err)
	}
	for _, a := range alarms.Alarms {
		add("etcd member %x raised alarm %s", a.MemberID, a.Alarm)
	}
	return e.View(ctx, func(t kv.Tx) error {
		tt := t.(*tx)
		for _, b := range e.sortedBuckets() {
			live := map[string][]byte{}
			base := e.key(nsData, b, nil)
			if err := tt.rawScan(base, func(k, v []byte) {
				val, ok, err := decode(v)
				switch {
				case err != nil:
					add("bucket %s key %q: %v", b, k, err)
				case ok && e.reversed[b]:
					live[string(k)] = bytes.Clone(val)
				}
			}); err != nil {
				return err
			}
			if _, err := tt.sequence(b); err != nil {
				add("bucket %s: sequence: %v", b, err)
			}
			if !e.reversed[b] {
				continue
			}
			mbase := e.key(nsMirror, b, nil)
			if err := tt.rawScan(mbase, func(mk, v []byte) {
				k, err := unrevKey(mk)
				if err != nil {
					add("bucket %s mirror key %q: %v", b, mk, err)
					return
				}
				val, ok, err := decode(v)
				want, has := live[string(k)]
				switch {
				case err != nil || !ok:
					add("bucket %s mirror of %q: bad value", b, k)
				case !has:
					add("bucket %s mirror of %q: the key itself is missing", b, k)
				case !bytes.Equal(val, want):
					add("bucket %s mirror of %q: value differs from the key's", b, k)
				}
				delete(live, string(k))
			}); err != nil {
				return err
			}
			for k := range live {
				add("bucket %s key %q: no mirror (newest-first pages would miss it)", b, k)
			}
		}
		return nil
	})
}

// rawScan visits every key under base at the transaction's revision.
func (t *tx) rawScan(base []byte, fn func(k, v []byte)) error {
	start, end := base, prefixEnd(base)
	for {
		r, err := t.get(start, clientv3.WithRange(string(end)), clientv3.WithLimit(512))
		if err != nil {
			return err
		}
		for _, kvp := range r.Kvs {
			fn(kvp.Key[len(base):], kvp.Value)
		}
		if !r.More || len(r.Kvs) == 0 {
			return nil
		}
		start = succ(r.Kvs[len(r.Kvs)-1].Key)
	}
}

// Import writes the buckets of a bbolt file in keydesk's backup format (what
// Export and the bbolt engine's Export write) into this engine, with their
// sequences, in transactions sized from Limits. It refuses when the
// organization's prefix holds any bucket key already. A failed import leaves
// what it wrote; the prefix is then not empty and must be cleared
// (`etcdctl del --prefix`) before importing again.
func (e *Engine) Import(ctx context.Context, path string) (keys int, err error) {
	c, cancel := e.rpc(ctx)
	r, err := e.cli.Get(c, string(e.prefix)+nsData, clientv3.WithPrefix(), clientv3.WithCountOnly())
	cancel()
	if err != nil {
		return 0, unavailable(err)
	}
	if r.Count > 0 {
		return 0, fmt.Errorf("%s already holds an organization (%d keys); copy only into an empty prefix", e.prefix, r.Count)
	}
	lim := e.Limits()
	type kvp struct{ k, v []byte }
	err = kvbolt.ReadBackup(path, func(b kv.Bucket, seq uint64, _ int, each func(func(k, v []byte) error) error) error {
		if !e.buckets[b] {
			return nil
		}
		var batch []kvp
		size := 0
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			err := e.Update(ctx, func(t kv.Tx) error {
				for _, p := range batch {
					if err := t.Put(b, p.k, p.v); err != nil {
						return err
					}
				}
				return nil
			})
			keys += len(batch)
			batch, size = batch[:0], 0
			return err
		}
		err := each(func(k, v []byte) error {
			if len(batch) >= lim.MaxOps || size+len(k)+len(v) > lim.MaxBytes/2 {
				if err := flush(); err != nil {
					return err
				}
			}
			batch = append(batch, kvp{bytes.Clone(k), bytes.Clone(v)})
			size += len(k) + len(v)
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			return err
		}
		if seq > 0 {
			c, cancel := e.rpc(ctx)
			_, err := e.cli.Put(c, string(e.seqKey(b)), string(u64(seq)))
			cancel()
			if err != nil {
				return unavailable(err)
			}
		}
		return nil
	})
	if err != nil {
		return keys, fmt.Errorf("import: %w", err)
	}
	return keys, nil
}
