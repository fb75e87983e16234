package store

import (
	"encoding/binary"
	"slices"
	"time"

	"github.com/keydesk/keydesk/internal/faultinject"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
	"github.com/keydesk/keydesk/store/kv/etcd"
)

// NewestFirst lists the buckets the store pages newest first by key. An
// engine that cannot stop a descending range early (etcd sorts it in memory)
// keeps a mirror of these.
func NewestFirst() []kv.Bucket { return []kv.Bucket{bucketTokens} }

// Numbered lists the buckets paged newest first whose keys are 8-byte
// big-endian sequence numbers (the audit log): an engine can page them
// backwards by number, without a mirror.
func Numbered() []kv.Bucket { return []kv.Bucket{bucketAudit} }

// fresher is implemented by engines shared with other processes
// (store/kv/etcd): Fresh says whether every change other processes committed
// up to a recent linearizable read has been applied here, and Applied is how
// the store reports what it applied from Changes.
type fresher interface {
	Fresh() bool
	Applied(rev int64)
	// FreshBound is how old a linearizable read may be and still prove a
	// cache fresh.
	FreshBound() time.Duration
}

// settle returns once no other server can still answer from a cache that
// predates the change just committed: a server trusts its cache only while
// it has caught up with a linearizable read taken at most FreshBound ago, so
// once FreshBound has passed since the commit, any such read came after it.
// Called after changes that take access away, it makes "revoked" mean what
// the caller is told when RevokeToken returns: refused by every server, not
// only by this one (the price is FreshBound, 100 ms by default, on revokes).
func (s *Store) settle() {
	if s.fresh != nil {
		time.Sleep(s.fresh.FreshBound())
	}
}

// trustCache says whether a cached answer may be used: always for an engine
// no one else writes (bbolt); for a shared engine only while it is fresh, else
// the caller reads through, and fails closed if that fails.
func (s *Store) trustCache() bool {
	if s.remote == nil || faultinject.TrustStaleCache.Load() {
		return true
	}
	return s.fresh != nil && s.fresh.Fresh()
}

// followChanges applies other processes' commits: it drops the cache entries
// they touch and tells subscribers, one event per audited change, after the
// whole commit has been applied. A reset (the engine lost its place in the
// history) drops the whole cache and tells subscribers to reload everything.
func (s *Store) followChanges(ch <-chan kv.Change) {
	defer s.wg.Done()
	var (
		rev     int64
		users   []string
		tokens  []string
		pending []Event
		more    bool // the last change said more of its commit follow
	)
	flush := func() {
		if len(users) > 0 || len(tokens) > 0 {
			s.access.invalidate(users, tokens)
			if s.list.on.Load() {
				s.list.markUsers(users...)
				s.list.markTokens(tokens...)
			}
		}
		for _, ev := range coalesce(pending) {
			if len(ev.TokenIDs) == 0 && len(tokens) > 0 {
				// A change to many tokens (revoke all of a person's) is one
				// audit entry naming none: the commit's tokens are its own.
				ev.TokenIDs = slices.Clone(tokens)
			}
			s.events.publish(ev)
		}
		if s.fresh != nil && rev != 0 {
			s.fresh.Applied(rev)
		}
		users, tokens, pending = users[:0], tokens[:0], pending[:0]
	}
	for {
		var c kv.Change
		var ok bool
		select {
		case <-s.quit:
			return
		default:
		}
		select {
		case c, ok = <-ch:
		default:
			if !more {
				flush() // caught up with what has arrived: apply the open commit
			}
			select {
			case c, ok = <-ch:
			case <-s.quit:
				return
			}
		}
		if !ok {
			return
		}
		more = c.More
		if c.Revision != rev {
			flush()
			rev = c.Revision
		}
		switch c.Bucket {
		case "":
			s.access.reset()
			s.list.reset()
			pending = append(pending, Event{Type: EventReload})
		case bucketMeta:
			if string(c.Key) == string(keySchema) && len(c.Value) == 8 {
				if v := binary.BigEndian.Uint64(c.Value); v > SchemaVersion && s.schemaAhead.Load() != v {
					s.schemaAhead.Store(v)
					s.opts.Logger.Error("another server moved the data to a newer schema; this server refuses writes until it is upgraded",
						"schema", v, "this", SchemaVersion)
				}
			}
		case bucketUsers:
			users = append(users, string(c.Key))
		case bucketTokens:
			tokens = append(tokens, string(c.Key))
		case bucketAudit:
			if c.Deleted {
				continue
			}
			e, err := decodeAudit(c.Value)
			if err != nil {
				s.opts.Logger.Warn("another server wrote an unreadable audit entry", "err", err)
				continue
			}
			ev := Event{Type: e.Type}
			for _, id := range []string{e.ActorID, e.TargetID} {
				if id != "" {
					ev.UserIDs = append(ev.UserIDs, id)
				}
			}
			if e.TokenID != "" {
				// What the API Tokens page wakes on, as for this server's own
				// changes (without it another server's token changes never
				// redrew a console here).
				ev.TokenIDs = []string{e.TokenID}
			}
			pending = append(pending, ev)
		}
	}
}

// summaryOf maps an audit type that sums up a commit to the type of the
// entries it stands for: an import's users_imported covers each user_added
// of the same commit, so another server's consoles see one change, as the
// importing server's do.
var summaryOf = map[string]string{models.AuditUsersImported: models.AuditUserAdded}

// coalesce folds one commit's events of a summed-up type into its summary
// event (joining their people), leaving the others as they are.
func coalesce(evs []Event) []Event {
	summary := -1
	for i, ev := range evs {
		if _, ok := summaryOf[ev.Type]; ok {
			summary = i
		}
	}
	if summary < 0 || len(evs) < 2 {
		return evs
	}
	sum, part := evs[summary], summaryOf[evs[summary].Type]
	seen := map[string]bool{}
	var ids []string
	join := func(us []string) {
		for _, id := range us {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	join(sum.UserIDs)
	out := make([]Event, 0, len(evs))
	for i, ev := range evs {
		switch {
		case i == summary:
		case ev.Type == part:
			join(ev.UserIDs)
		default:
			out = append(out, ev)
		}
	}
	sum.UserIDs = ids
	return append(out, sum)
}

// EventReload is the type of an event that says anything may have changed
// (another server's changes could not be followed one by one).
const EventReload = "reload"

// Health is the store as /healthz and /metrics report it.
type Health struct {
	Store  string `json:"store"`  // where: a data directory or an etcd URL
	Engine string `json:"engine"` // "bbolt" or "etcd"
	// Cache is "fresh" when the access cache is proven current, "reading
	// through" when it is not (every check then reads etcd, and fails closed
	// if etcd cannot answer); empty for bbolt.
	Cache string `json:"cache,omitempty"`
	// WatchLag is how many revisions the watch is behind the last
	// linearizable read, and WatchAge how long ago that read was.
	WatchLag int64         `json:"watch_lag_revisions,omitempty"`
	WatchAge time.Duration `json:"-"`
	// Commits, CommitTime, Conflicts and Ambiguous count engine commits.
	Commits, Conflicts, Ambiguous int64         `json:"-"`
	CommitTime                    time.Duration `json:"-"`
}

// Health reports the store's engine and, for etcd, whether its cache is
// fresh. It reads nothing.
func (s *Store) Health() Health {
	h := Health{Store: s.Location(), Engine: "bbolt"}
	e, ok := s.engine.(*etcd.Engine)
	if !ok {
		return h
	}
	h.Engine = "etcd"
	f := e.Freshness()
	h.Cache = "reading through"
	if f.Fresh {
		h.Cache = "fresh"
	}
	h.WatchLag = max(0, f.Linearizable-f.Caught)
	h.WatchAge = f.Age
	st := e.Stats()
	h.Commits, h.Conflicts, h.Ambiguous = st.Commits.Load(), st.Conflicts.Load(), st.Ambiguous.Load()
	h.CommitTime = time.Duration(st.CommitNano.Load())
	return h
}
