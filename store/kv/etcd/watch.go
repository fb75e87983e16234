package etcd

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/keydesk/keydesk/store/kv"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Changes starts, on first call, a watch on the organization's prefix from
// the revision Open read, and delivers other processes' commits in commit
// order (this engine's own commits are recognised by their nonce and
// skipped). A Change with an empty Bucket is a reset: the watch could not
// resume (etcd compacted the revisions it needed), so anything cached may be
// stale and must be dropped; its Revision is where delivery resumes.
//
// The consumer reports progress with Applied; Fresh uses it.
func (e *Engine) Changes() <-chan kv.Change {
	e.watch.once.Do(func() {
		e.watch.ch = make(chan kv.Change, 1024)
		e.wg.Add(2)
		go e.watchLoop()
		go e.freshLoop()
	})
	return e.watch.ch
}

// Applied tells the engine that every change up to rev has been applied to
// the consumer's caches.
func (e *Engine) Applied(rev int64) {
	e.watch.mu.Lock()
	e.watch.applied = max(e.watch.applied, rev)
	e.watch.mu.Unlock()
}

// Freshness is what the engine can prove about its watch.
type Freshness struct {
	Linearizable int64         // a revision read through the leader …
	Age          time.Duration // … this long ago
	Caught       int64         // every change up to here has been applied
	Fresh        bool          // Caught ≥ Linearizable and Age is recent
}

// Fresh reports whether a cache fed by Changes is provably current: a
// linearizable revision read less than 2×FreshEvery ago has been reached by
// the watch, and every change the watch sent up to it has been applied. When
// it is false, read through (View) and fail closed if that fails.
func (e *Engine) Fresh() bool { return e.Freshness().Fresh }

// Freshness reports the watch's position against the last linearizable read.
func (e *Engine) Freshness() Freshness {
	e.watch.mu.Lock()
	defer e.watch.mu.Unlock()
	caught := e.watch.watched
	if e.watch.applied < e.watch.sent {
		caught = e.watch.applied
	}
	f := Freshness{Linearizable: e.watch.lin, Caught: caught}
	if !e.watch.linAt.IsZero() {
		f.Age = time.Since(e.watch.linAt)
		f.Fresh = caught >= e.watch.lin && f.Age <= e.FreshBound()
	}
	return f
}

// FreshBound is how long a linearizable read proves the watch current: a
// cache is trusted only while its last proof is younger than this (2×FreshEvery).
// A change that takes access away is refused by every server once this long
// has passed since it committed (store.settle relies on it).
func (e *Engine) FreshBound() time.Duration { return 2 * e.opts.FreshEvery }

// WaitFresh polls until Fresh or ctx ends.
func (e *Engine) WaitFresh(ctx context.Context) error {
	for !e.Fresh() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

func (e *Engine) noteLinearizable(rev int64) {
	e.watch.mu.Lock()
	if e.watch.openRev == 0 {
		e.watch.openRev = rev
	}
	e.watch.mu.Unlock()
}

// freshLoop reads a linearizable revision every FreshEvery and asks the
// watch for a progress notification, so an idle watch still proves it has
// caught up.
func (e *Engine) freshLoop() {
	defer e.wg.Done()
	tick := time.NewTicker(e.opts.FreshEvery)
	defer tick.Stop()
	reachable, lostAt := true, time.Time{} // logged once per change, not per tick
	for {
		start := time.Now()
		// Through read, so an unanswered attempt is sent on to the next
		// member: one silent member does not make etcd "unreachable".
		r, err := e.read(e.ctx, func(c context.Context) (*clientv3.GetResponse, error) {
			return e.cli.Get(c, string(e.prefix)+nsSeq, clientv3.WithCountOnly())
		})
		e.unreachable.Store(err != nil && e.ctx.Err() == nil)
		if err != nil && reachable && e.ctx.Err() == nil {
			reachable, lostAt = false, start
			e.log.Warn("etcd does not answer: the cache is no longer proven fresh; access checks read through and fail closed until it does", "err", err)
		}
		if err == nil && !reachable {
			reachable = true
			e.log.Warn("etcd answers again: the watch is catching up", "revision", r.Header.Revision, "unreachable_for", time.Since(lostAt).Round(time.Millisecond))
		}
		if err == nil {
			e.watch.mu.Lock()
			if r.Header.Revision >= e.watch.lin {
				e.watch.lin, e.watch.linAt = r.Header.Revision, start
			}
			e.watch.mu.Unlock()
			c, cancel := e.rpc(clientv3.WithRequireLeader(e.ctx))
			_ = e.cli.RequestProgress(c)
			cancel()
		}
		select {
		case <-e.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (e *Engine) watchLoop() {
	defer e.wg.Done()
	defer close(e.watch.ch)
	e.watch.mu.Lock()
	from := e.watch.openRev + 1
	e.watch.watched = e.watch.openRev
	e.watch.mu.Unlock()
	own := cat(e.prefix, []byte(nsNonce), []byte(e.id), []byte{'/'})
	data := cat(e.prefix, []byte(nsData))
	var hold stageHold
	e.holdAt(&hold, from-1)
	for attempt := 1; e.ctx.Err() == nil; attempt++ {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(e.ctx))
		wch := e.cli.Watch(wctx, string(e.prefix), clientv3.WithPrefix(), clientv3.WithRev(from))
		for wr := range wch {
			if wr.CompactRevision != 0 {
				// The revisions we needed are gone: resume from now and
				// tell the consumer to drop what it cached.
				rev, err := e.linearizableRev(e.ctx)
				if err != nil {
					break
				}
				e.stats.Resets.Add(1)
				e.log.Warn("etcd watch fell behind compaction; caches dropped", "compacted", wr.CompactRevision, "resume", rev+1)
				if !e.send(kv.Change{Revision: rev}) {
					cancel()
					return
				}
				e.setWatched(rev)
				e.holdAt(&hold, rev)
				from = rev + 1
				break
			}
			if err := wr.Err(); err != nil {
				if !errors.Is(err, context.Canceled) && e.ctx.Err() == nil {
					e.log.Warn("etcd watch interrupted; resuming", "from", from, "err", err)
				}
				break
			}
			attempt = 0
			if wr.IsProgressNotify() {
				e.setWatched(wr.Header.Revision)
				continue
			}
			evs := wr.Events
			for len(evs) > 0 {
				rev := evs[0].Kv.ModRevision
				n := 1
				for n < len(evs) && evs[n].Kv.ModRevision == rev {
					n++
				}
				group := evs[:n]
				evs = evs[n:]
				mine := false
				for _, ev := range group {
					if bytes.HasPrefix(ev.Kv.Key, own) {
						mine = true
						break
					}
				}
				if !e.deliver(&hold, group, mine, data) {
					cancel()
					return
				}
				e.setWatched(rev)
				from = rev + 1
			}
		}
		cancel()
		if e.ctx.Err() != nil {
			return
		}
		backoff(e.ctx, attempt)
	}
}

// change translates a watch event on a bucket's key; ok is false for the
// engine's own bookkeeping (mirrors, sequences, nonces) and for the expiry of
// a tombstone (the deletion was already delivered when it was written).
func (e *Engine) change(ev *clientv3.Event, data []byte) (kv.Change, bool) {
	if ev.Type != mvccpb.PUT || !bytes.HasPrefix(ev.Kv.Key, data) {
		return kv.Change{}, false
	}
	rest := ev.Kv.Key[len(data):]
	i := bytes.IndexByte(rest, '/')
	if i < 0 {
		return kv.Change{}, false
	}
	val, live, err := decode(ev.Kv.Value)
	if err != nil {
		return kv.Change{}, false
	}
	c := kv.Change{Bucket: kv.Bucket(rest[:i]), Key: rest[i+1:], Revision: ev.Kv.ModRevision}
	if live {
		c.Value = val
		if c.Value == nil {
			c.Value = []byte{}
		}
	} else {
		c.Deleted = true
	}
	return c, true
}

func (e *Engine) send(c kv.Change) bool {
	select {
	case e.watch.ch <- c:
	case <-e.ctx.Done():
		return false
	}
	e.watch.mu.Lock()
	e.watch.sent = max(e.watch.sent, c.Revision)
	e.watch.mu.Unlock()
	return true
}

func (e *Engine) setWatched(rev int64) {
	e.watch.mu.Lock()
	e.watch.watched = max(e.watch.watched, rev)
	e.watch.mu.Unlock()
}

// compactLoop keeps etcd's history bounded: every CompactRetention/4 it
// notes the current revision and compacts to the newest noted one that is
// older than CompactRetention.
func (e *Engine) compactLoop() {
	defer e.wg.Done()
	type sample struct {
		at  time.Time
		rev int64
	}
	var samples []sample
	tick := time.NewTicker(e.opts.CompactRetention / 4)
	defer tick.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-tick.C:
		}
		rev, err := e.linearizableRev(e.ctx)
		if err != nil {
			continue
		}
		now := time.Now()
		samples = append(samples, sample{now, rev})
		target := int64(0)
		for len(samples) > 0 && now.Sub(samples[0].at) >= e.opts.CompactRetention {
			target = samples[0].rev
			samples = samples[1:]
		}
		if target == 0 {
			continue
		}
		c, cancel := e.rpc(e.ctx)
		_, err = e.cli.Compact(c, target)
		cancel()
		if err != nil && !errors.Is(err, rpctypes.ErrCompacted) && e.ctx.Err() == nil {
			e.log.Warn("etcd compaction failed", "revision", target, "err", err)
		}
	}
}
