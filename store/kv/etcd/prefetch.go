package etcd

import (
	"errors"
	"fmt"

	"github.com/keydesk/keydesk/store/kv"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// span is the server range [lo, hi) of a prefetched scan page.
type span struct{ lo, hi string }

var _ kv.Prefetcher = (*tx)(nil)

// Prefetch reads the announced keys, first scan pages and sequences in one
// read-only etcd Txn (kv.Prefetcher): etcd serves it linearizably, in one
// round trip, with every read at one revision, so it costs what one Get
// costs. The first read of a transaction fixes its revision R, a prefetch
// included; later ones read at R. What comes back only fills the caches Get,
// Scan and NextSequence look in first: a key is guarded at commit when Get
// returns it, a range when Scan visits it, a sequence when NextSequence takes
// from it, exactly as if each had read the server itself. Descending scans
// are not fetched (their first page depends on mirrors and windows).
func (t *tx) Prefetch(reads ...kv.Read) error {
	if t.restart != nil {
		return t.restart
	}
	type fetch struct {
		op   func(rev int64) clientv3.Op
		fill func(r *clientv3.GetResponse)
	}
	var fs []fetch
	seen := map[string]bool{}
	for _, rd := range reads {
		if err := t.check(rd.Bucket); err != nil {
			return err
		}
		switch rd.Kind {
		case kv.ReadGet:
			fk := t.e.key(nsData, rd.Bucket, rd.Key)
			if t.known(rd.Bucket, fk) || seen[string(fk)] {
				continue
			}
			seen[string(fk)] = true
			fs = append(fs, fetch{
				op: func(rev int64) clientv3.Op { return clientv3.OpGet(string(fk), atRev(rev)...) },
				fill: func(r *clientv3.GetResponse) {
					if len(r.Kvs) == 0 {
						t.cache[string(fk)] = nil
						return
					}
					if val, live, err := decode(r.Kvs[0].Value); err == nil {
						t.cache[string(fk)] = liveValue(val, live)
					} // damaged: Get reads it again and reports it
				},
			})
		case kv.ReadScan:
			if rd.Range.Reverse {
				continue
			}
			lo, hi := bounds(rd.Range)
			if hi != nil && string(lo) >= string(hi) {
				continue
			}
			start, end, page := t.firstPage(rd.Bucket, lo, hi, rd.Range)
			sp := span{string(start), string(end)}
			if _, ok := t.scans[sp]; ok || seen["\x00"+sp.lo+"\x00"+sp.hi] {
				continue
			}
			seen["\x00"+sp.lo+"\x00"+sp.hi] = true
			fs = append(fs, fetch{
				op: func(rev int64) clientv3.Op {
					return clientv3.OpGet(string(start), append(atRev(rev), clientv3.WithRange(string(end)), clientv3.WithLimit(int64(page)))...)
				},
				fill: func(r *clientv3.GetResponse) {
					if t.scans == nil {
						t.scans = map[span]*clientv3.GetResponse{}
					}
					t.scans[sp] = r
				},
			})
		case kv.ReadSequence:
			if _, ok := t.seqs[rd.Bucket]; ok {
				continue
			}
			if _, ok := t.seqAt[rd.Bucket]; ok {
				continue
			}
			sk := t.e.seqKey(rd.Bucket)
			if seen[string(sk)] {
				continue
			}
			seen[string(sk)] = true
			b := rd.Bucket
			fs = append(fs, fetch{
				op: func(rev int64) clientv3.Op { return clientv3.OpGet(string(sk), atRev(rev)...) },
				fill: func(r *clientv3.GetResponse) {
					var n uint64
					if len(r.Kvs) == 1 {
						var err error
						if n, err = parseU64(r.Kvs[0].Value); err != nil {
							return // NextSequence reads it again and reports it
						}
					}
					if t.seqAt == nil {
						t.seqAt = map[kv.Bucket]uint64{}
					}
					t.seqAt[b] = n
				},
			})
		}
	}
	// etcd takes at most MaxTxnOps operations a request; the first batch
	// fixes R and the rest read at it.
	for len(fs) > 0 {
		n := min(len(fs), t.e.opts.MaxTxnOps-1) // a first read also reads the applying marker (stage.go)
		ops := make([]clientv3.Op, n)
		for i, f := range fs[:n] {
			ops[i] = f.op(t.rev)
		}
		resp, err := t.readTxn(ops)
		if err != nil {
			return err
		}
		for i, f := range fs[:n] {
			f.fill((*clientv3.GetResponse)(resp.Responses[i].GetResponseRange()))
		}
		fs = fs[n:]
	}
	return nil
}

// readTxn sends ops (all reads) as one Txn, linearizably: the first read of
// the transaction fixes R from its header.
func (t *tx) readTxn(ops []clientv3.Op) (*clientv3.TxnResponse, error) {
	c, cancel := t.e.rpc(t.ctx)
	defer cancel()
	var resp *clientv3.TxnResponse
	var err error
	if t.rev == 0 {
		resp, err = t.firstTxn(c, ops...) // waits out a staged commit being applied (stage.go)
	} else {
		resp, err = t.e.readOnlyTxn(c, ops...)
	}
	if err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			t.restart = fmt.Errorf("%w: etcd compacted revision %d during the transaction", kv.ErrConflict, t.rev)
			return nil, t.restart
		}
		return nil, unavailable(err)
	}
	if len(resp.Responses) != len(ops) {
		return nil, fmt.Errorf("etcd engine: a read of %d operations answered %d", len(ops), len(resp.Responses))
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
		t.e.noteLinearizable(t.rev)
	}
	return resp, nil
}

// known reports whether Get would answer fk without the server.
func (t *tx) known(b kv.Bucket, fk []byte) bool {
	if _, ok := t.writes[string(fk)]; ok {
		return true
	}
	if _, ok := t.cache[string(fk)]; ok {
		return true
	}
	return t.loaded[b]
}

// firstPage is the first server read serverScan makes for an ascending scan
// of [lo, hi) within b.
func (t *tx) firstPage(b kv.Bucket, lo, hi []byte, r kv.Range) (start, end []byte, page int) {
	page = 64
	if r.Limit > 0 && r.Limit+8 < page {
		page = r.Limit + 8
	}
	base := t.e.key(nsData, b, nil)
	start, end = cat(base, lo), prefixEnd(base)
	if hi != nil {
		end = cat(base, hi)
	}
	return start, end, page
}

func atRev(rev int64) []clientv3.OpOption {
	if rev == 0 {
		return nil
	}
	return []clientv3.OpOption{clientv3.WithRev(rev)}
}

// liveValue is what Get returns for a decoded value: nil for a tombstone,
// never nil for a present key.
func liveValue(val []byte, live bool) []byte {
	if !live {
		return nil
	}
	if val == nil {
		return []byte{}
	}
	return val
}
