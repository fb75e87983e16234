package faults

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/keydesk/keydesk/models"
)

// Op is one recorded operation: what porcupine checks (In, Out, times) plus
// the ids the audit post-check matches entries by.
type Op struct {
	In     Input
	Out    Output
	Client int
	Server int
	Call   time.Duration // since the history started
	Return time.Duration // -1: unknown (ambiguous), the end of the history
	// TokenID is the token operated on; NewID the token a create, assign
	// or rotate made; Holder the holder's user id; Email a user op's email.
	TokenID, NewID, Holder, Email string
	Err                           string
	// Door is how it reached the server: "ssh" (a command), "http" (an
	// exchange at the token endpoint), "http-me" (GET /v3/users/me with an
	// access token); empty: a store call in this process.
	Door string
}

// History records operations from many goroutines.
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []Op
	nums  map[string]int            // token id → its number within its holder
	next  map[string]int            // holder → next token number
	ids   map[string]map[int]string // holder → number → token id
}

// NewHistory starts an empty history; times are measured from now.
func NewHistory() *History {
	return &History{start: time.Now(), nums: map[string]int{}, next: map[string]int{}, ids: map[string]map[int]string{}}
}

// Now is the time since the history started (monotonic).
func (h *History) Now() time.Duration { return time.Since(h.start) }

// Num returns token id's number within holder's partition, giving it the
// next one on first sight. An empty id is -1.
func (h *History) Num(holder, id string) int {
	if id == "" {
		return -1
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.numLocked(holder, id)
}

func (h *History) numLocked(holder, id string) int {
	if n, ok := h.nums[id]; ok {
		return n
	}
	n := h.next[holder]
	h.next[holder] = n + 1
	h.nums[id] = n
	if h.ids[holder] == nil {
		h.ids[holder] = map[int]string{}
	}
	h.ids[holder][n] = id
	return n
}

// Add records op; its token numbers are filled in from its ids.
func (h *History) Add(op Op) {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.In.Tok, op.Out.New = -1, -1
	if op.TokenID != "" {
		op.In.Tok = h.numLocked(op.Holder, op.TokenID)
	}
	if op.NewID != "" {
		op.Out.New = h.numLocked(op.Holder, op.NewID)
	}
	h.ops = append(h.ops, op)
}

// Ops is a copy of what has been recorded.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// Porcupine converts ops for the checker. Unknown operations return at the
// end of the history (after every other event), as etcd's robustness tests
// do: they may take effect at any point after their call, or never. An
// acceptance's call is moved back by staleness, the bound the freshness rule
// gives a cached answer (a server trusts its cache only while it has caught
// up with a linearizable revision read at most that long before).
func Porcupine(ops []Op, staleness time.Duration) []porcupine.Operation {
	var end time.Duration
	for _, op := range ops {
		end = max(end, op.Call, op.Return)
	}
	end += time.Second
	out := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		call, ret := op.Call, op.Return
		if ret < 0 {
			ret = end
		}
		if op.In.Kind == Accept {
			call -= staleness
		}
		out = append(out, porcupine.Operation{ClientId: op.Client, Input: op.In, Output: op.Out,
			Call: int64(call), Return: int64(ret)})
	}
	return out
}

// Stats summarise a history for the report.
type Stats struct {
	Ops, Unknown, Writes, Acked int
	HTTP                        int // acceptances over HTTP (the token endpoint)
	HTTPMe                      int // acceptances of an access token at GET /v3/users/me
	SSH, SSHAcked               int // commands over SSH, and those acknowledged
	ByKind                      map[Kind]int
}

// Summary counts ops by kind and outcome.
func Summary(ops []Op) Stats {
	s := Stats{ByKind: map[Kind]int{}}
	for _, op := range ops {
		s.Ops++
		s.ByKind[op.In.Kind]++
		switch op.Door {
		case "http":
			s.HTTP++
		case "http-me":
			s.HTTPMe++
		case "ssh":
			s.SSH++
			if op.Out.Result == OK {
				s.SSHAcked++
			}
		}
		if op.Out.Result == Unknown {
			s.Unknown++
		}
		if op.In.Kind != Accept && op.In.Kind != Status {
			s.Writes++
			if op.Out.Result == OK {
				s.Acked++
			}
		}
	}
	return s
}

func (s Stats) String() string {
	var kinds []Kind
	for k := range s.ByKind {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return kinds[i] < kinds[j] })
	str := fmt.Sprintf("%d operations (%d writes, %d acknowledged, %d unknown; %d acceptances over HTTP, %d at /v3/users/me; %d SSH commands, %d acknowledged):",
		s.Ops, s.Writes, s.Acked, s.Unknown, s.HTTP, s.HTTPMe, s.SSH, s.SSHAcked)
	for _, k := range kinds {
		str += fmt.Sprintf(" %s %d", k, s.ByKind[k])
	}
	return str
}

// auditKey is what an audit entry is matched to an operation by.
type auditKey struct{ typ, id string }

func opAuditKey(op Op) (auditKey, bool) {
	switch op.In.Kind {
	case Create:
		return auditKey{models.AuditTokenCreated, op.NewID}, op.NewID != ""
	case Assign:
		return auditKey{models.AuditTokenAssigned, op.NewID}, op.NewID != ""
	case Reveal:
		return auditKey{models.AuditTokenRevealed, op.TokenID}, true
	case Rotate:
		return auditKey{models.AuditTokenRotated, op.TokenID}, true
	case Revoke:
		return auditKey{models.AuditTokenRevoked, op.TokenID}, true
	case AddUser:
		return auditKey{models.AuditUserAdded, op.Email}, true
	case DelUser:
		return auditKey{models.AuditUserRemoved, op.Email}, true
	}
	return auditKey{}, false
}

func entryKey(e models.AuditEntry) auditKey {
	switch e.Type {
	case models.AuditUserAdded, models.AuditUserRemoved:
		return auditKey{e.Type, e.TargetEmail}
	}
	return auditKey{e.Type, e.TokenID}
}

// CheckAudit is the post-check over the final audit log (entries in
// ascending sequence): sequence numbers are dense from 1; every acknowledged
// change has exactly one entry and every ambiguous one at most one; no entry
// lacks a change that could have written it; and the log's order is commit
// order: a change acknowledged before another was invoked has the smaller
// sequence number. It returns one line per problem.
func CheckAudit(entries []models.AuditEntry, ops []Op) []string {
	var bad []string
	add := func(f string, a ...any) {
		if len(bad) < 50 {
			bad = append(bad, fmt.Sprintf(f, a...))
		}
	}
	count := map[auditKey]int{}
	seqOf := map[auditKey]uint64{}
	anonCreated := map[string][]uint64{} // holder → sequence numbers of created/assigned entries no known op made
	for i, e := range entries {
		if e.Seq != uint64(i+1) {
			add("audit entry %d has sequence %d: the sequence has a gap or is out of order", i+1, e.Seq)
		}
		k := entryKey(e)
		count[k]++
		seqOf[k] = e.Seq
	}
	acked := map[auditKey]int{}
	unknown := map[auditKey]int{}
	unknownNew := map[string][]time.Duration{} // holder → calls of ambiguous creates/assigns (their new id unknown)
	for _, op := range ops {
		if op.Out.Result == Unknown && (op.In.Kind == Create || op.In.Kind == Assign) {
			unknownNew[op.Holder] = append(unknownNew[op.Holder], op.Call)
			continue
		}
		k, ok := opAuditKey(op)
		if !ok {
			continue
		}
		switch op.Out.Result {
		case OK:
			acked[k]++
		case Unknown:
			unknown[k]++
		}
	}
	// Revoking a token also revokes its rotated predecessors still in their
	// grace (store/tokens.go, endGrace): each has one entry nobody asked for
	// by its own id, written by a revoke of a token rotated from it.
	rotatedFrom := map[string]string{} // new id → the id it was rotated from
	for _, op := range ops {
		if op.In.Kind == Rotate && op.NewID != "" {
			rotatedFrom[op.NewID] = op.TokenID
		}
	}
	graceEnded := map[string]bool{}
	for _, op := range ops {
		if op.In.Kind != Revoke || (op.Out.Result != OK && op.Out.Result != Unknown) {
			continue
		}
		seen := map[string]bool{op.TokenID: true}
		for prev := rotatedFrom[op.TokenID]; prev != "" && !seen[prev]; prev = rotatedFrom[prev] {
			seen[prev] = true
			graceEnded[prev] = true
		}
	}
	for k, n := range acked {
		if c := count[k]; c < n || c > n+unknown[k] {
			add("%s %s: %d acknowledged (%d unknown) but %d audit entries", k.typ, k.id, n, unknown[k], c)
		}
	}
	for _, e := range entries {
		k := entryKey(e)
		if acked[k] > 0 {
			continue
		}
		switch {
		case e.Type == models.AuditOrgCreated && e.Seq == 1:
		case unknown[k] > 0:
			if count[k] > unknown[k] {
				add("%s %s: %d audit entries for %d unacknowledged attempts", k.typ, k.id, count[k], unknown[k])
			}
		case e.Type == models.AuditTokenRevoked && graceEnded[k.id]:
			if count[k] > 1 {
				add("%s %s: %d audit entries for one end of its rotation grace", k.typ, k.id, count[k])
			}
		case e.Type == models.AuditTokenCreated || e.Type == models.AuditTokenAssigned:
			anonCreated[e.TargetID] = append(anonCreated[e.TargetID], e.Seq)
		case e.Type == models.AuditUserAdded && isSetupEmail(e.TargetEmail):
		case e.Type == models.AuditSSHSessionOpened: // a login at the SSH door, not a change
		default:
			add("audit entry %d (%s %s) matches no change any client asked for", e.Seq, e.Type, k.id)
		}
	}
	// Commit order against real time, over acknowledged changes with one entry.
	type timed struct {
		call, ret time.Duration
		seq       uint64
		what      string
	}
	var ts []timed
	for _, op := range ops {
		if op.Out.Result != OK {
			continue
		}
		k, ok := opAuditKey(op)
		if !ok || count[k] != 1 {
			continue
		}
		ts = append(ts, timed{op.Call, op.Return, seqOf[k], k.typ + " " + k.id})
	}
	// A creation nobody was told of must be one unconfirmed create or assign
	// of its holder's, invoked before the entry was committed: before any
	// acknowledged change with a later sequence number returned.
	bySeq := append([]timed(nil), ts...)
	sort.Slice(bySeq, func(i, j int) bool { return bySeq[i].seq > bySeq[j].seq })
	committedBy := func(seq uint64) time.Duration { // the entry was committed before this
		by := time.Duration(1 << 62)
		for _, x := range bySeq {
			if x.seq <= seq {
				break
			}
			by = min(by, x.ret)
		}
		return by
	}
	for holder, seqs := range anonCreated {
		bounds := make([]time.Duration, len(seqs))
		for i, seq := range seqs {
			bounds[i] = committedBy(seq)
		}
		sort.Slice(bounds, func(i, j int) bool { return bounds[i] < bounds[j] })
		calls := append([]time.Duration(nil), unknownNew[holder]...)
		sort.Slice(calls, func(i, j int) bool { return calls[i] < calls[j] })
		// Greedy: the earliest-committed entries take the earliest calls.
		if len(calls) < len(bounds) {
			add("holder %s: %d token creations in the audit that no client was told of, only %d unconfirmed", holder, len(bounds), len(calls))
			continue
		}
		for i, b := range bounds {
			if calls[i] >= b {
				add("holder %s: a token creation in the audit that no client was told of, committed before %.3fs, before any unconfirmed create that could have made it", holder, b.Seconds())
				break
			}
		}
	}
	byRet := append([]timed(nil), ts...)
	sort.Slice(byRet, func(i, j int) bool { return byRet[i].ret < byRet[j].ret })
	sort.Slice(ts, func(i, j int) bool { return ts[i].call < ts[j].call })
	var maxSeq uint64
	maxWhat := ""
	j := 0
	for _, b := range ts {
		for j < len(byRet) && byRet[j].ret < b.call {
			if byRet[j].seq > maxSeq {
				maxSeq, maxWhat = byRet[j].seq, byRet[j].what
			}
			j++
		}
		if maxSeq > b.seq {
			add("audit order is not commit order: %s (seq %d) was acknowledged before %s (seq %d) was asked for", maxWhat, maxSeq, b.what, b.seq)
		}
	}
	return bad
}

// isSetupEmail is true for the setup's users (holders), added before the history
// started; their entries are expected.
func isSetupEmail(email string) bool { return len(email) > 7 && email[:7] == "holder-" }
