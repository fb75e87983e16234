package faults

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	"github.com/anishathalye/porcupine"
)

// Kind is what a recorded operation did.
type Kind uint8

// The operations clients run. Token operations belong to their holder's
// partition, user operations to their email's.
const (
	Create  Kind = iota + 1 // the holder creates a token (ErrLimit at 25 usable)
	Assign                  // the owner assigns the holder a token (sealed until revealed)
	Reveal                  // the holder reveals an assigned token's secret, once
	Rotate                  // the holder replaces an active token (the old one: grace)
	Revoke                  // the holder revokes a token
	Accept                  // an access check or exchange accepted the token
	Status                  // a linearizable read of the token's status
	AddUser                 // the owner adds a user with an email
	DelUser                 // the owner removes the user with an email
)

var kindNames = map[Kind]string{Create: "create", Assign: "assign", Reveal: "reveal", Rotate: "rotate",
	Revoke: "revoke", Accept: "accept", Status: "status", AddUser: "add-user", DelUser: "remove-user"}

func (k Kind) String() string { return kindNames[k] }

// Result is how an operation ended.
type Result uint8

// Results. Unknown is an ambiguous write: it may or may not have taken effect,
// and its return time in the history is the end of the history.
const (
	OK      Result = iota + 1
	Refused        // a definite refusal the model must justify (already revoked, not awaiting reveal, duplicate email…)
	Limit          // create or assign refused at the 25-token limit
	Unknown        // the store did not confirm the write
)

var resultNames = map[Result]string{0: "failed", OK: "ok", Refused: "refused", Limit: "limit", Unknown: "unknown"}

func (r Result) String() string { return resultNames[r] }

// Token statuses in the model (None: no such token yet).
const (
	None uint8 = iota
	Awaiting
	Active
	Rotated
	Revoked
)

var statusNames = []string{"none", "awaiting reveal", "active", "rotated", "revoked"}

// Input is an operation as invoked. Key names its partition ("h:<holder id>"
// or "e:<email>"); Tok is the holder's token number (the order the harness
// first learnt of it), -1 when none.
type Input struct {
	Kind Kind
	Key  string
	Tok  int
}

// Output is how it returned. New is the number of the token a create, assign
// or rotate made (-1 when unknown); Status is what a Status read saw.
type Output struct {
	Result Result
	New    int
	Status uint8
}

// holderState is one partition's state: each token's status by number, plus
// tokens that ambiguous creates may have made (Anon, all usable: the harness
// never learnt their ids, so nobody revokes them) and, for an email
// partition, whether a user has it.
type holderState struct {
	Toks   []uint8
	Anon   int
	Exists bool
	// From[j] is 1 + the number of the token j was rotated from (0: none).
	// It is set only by an acknowledged rotation, which also makes token j
	// exist, so two states with the same Toks have the same From: Equal and
	// Hash need not look at it.
	From []int
}

// rotatedFrom records that token next was made by rotating token old.
func (s holderState) rotatedFrom(next, old int) holderState {
	n := max(len(s.From), next+1)
	f := make([]int, n)
	copy(f, s.From)
	f[next] = old + 1
	s.From = f
	return s
}

// revoke marks token i revoked and, as the store does, every rotated
// predecessor still in its grace: revoking a token ends the grace of the
// secrets it replaced (store/tokens.go, endGrace).
func (s holderState) revoke(i int) holderState {
	s = s.with(i, Revoked)
	for cur := i; cur < len(s.From) && s.From[cur] > 0; {
		prev := s.From[cur] - 1
		if s.get(prev) != Rotated {
			break
		}
		s = s.with(prev, Revoked)
		cur = prev
	}
	return s
}

func (s holderState) get(i int) uint8 {
	if i < 0 || i >= len(s.Toks) {
		return None
	}
	return s.Toks[i]
}

func (s holderState) with(i int, st uint8) holderState {
	n := len(s.Toks)
	if i >= n {
		n = i + 1
	}
	t := make([]uint8, n)
	copy(t, s.Toks)
	t[i] = st
	s.Toks = t
	return s
}

// usable counts the tokens the 25 limit counts: active, awaiting reveal, and
// rotated ones in their grace period (their old secret still works; the
// harness's grace outlasts the test).
func (s holderState) usable() int {
	n := s.Anon
	for _, st := range s.Toks {
		if st == Active || st == Awaiting || st == Rotated {
			n++
		}
	}
	return n
}

// MaxUsable is the limit the model holds the store to (models.MaxTokensActive).
const MaxUsable = 25

// step returns the states op can lead to from s; none means op cannot have
// happened from s. Unknown writes lead to both "it happened" and "it did not".
func step(s holderState, in Input, out Output) []holderState {
	cur := s.get(in.Tok)
	maybe := func(next holderState, ok bool) []holderState {
		if ok {
			return []holderState{s, next}
		}
		return []holderState{s}
	}
	switch in.Kind {
	case Create, Assign:
		want := Active
		if in.Kind == Assign {
			want = Awaiting
		}
		switch out.Result {
		case OK:
			if s.get(out.New) != None || s.usable() >= MaxUsable {
				return nil
			}
			return []holderState{s.with(out.New, want)}
		case Limit:
			if s.usable() < MaxUsable {
				return nil
			}
			return []holderState{s}
		case Unknown:
			n := s
			n.Anon++
			return maybe(n, s.usable() < MaxUsable)
		}
	case Reveal:
		switch out.Result {
		case OK:
			if cur != Awaiting {
				return nil
			}
			return []holderState{s.with(in.Tok, Active)}
		case Refused:
			if cur == Awaiting {
				return nil
			}
			return []holderState{s}
		case Unknown:
			return maybe(s.with(in.Tok, Active), cur == Awaiting)
		}
	case Rotate:
		// The old token stays usable (grace), so a rotation adds one to the
		// count and is refused at the limit.
		switch out.Result {
		case OK:
			if cur != Active || s.get(out.New) != None || s.usable() >= MaxUsable {
				return nil
			}
			return []holderState{s.with(in.Tok, Rotated).with(out.New, Active).rotatedFrom(out.New, in.Tok)}
		case Refused:
			if cur == Active {
				return nil
			}
			return []holderState{s}
		case Limit:
			if cur != Active || s.usable() < MaxUsable {
				return nil
			}
			return []holderState{s}
		case Unknown:
			n := s.with(in.Tok, Rotated)
			n.Anon++
			return maybe(n, cur == Active && s.usable() < MaxUsable)
		}
	case Revoke:
		live := cur == Awaiting || cur == Active || cur == Rotated
		switch out.Result {
		case OK:
			if !live {
				return nil
			}
			return []holderState{s.revoke(in.Tok)}
		case Refused:
			if cur != Revoked {
				return nil
			}
			return []holderState{s}
		case Unknown:
			return maybe(s.revoke(in.Tok), live)
		}
	case Accept:
		// Only acceptances are recorded: a refusal is always allowed (a
		// server that cannot prove its cache current fails closed).
		if cur == Awaiting || cur == Active || cur == Rotated {
			return []holderState{s}
		}
		return nil
	case Status:
		if cur != out.Status {
			return nil
		}
		return []holderState{s}
	case AddUser:
		switch out.Result {
		case OK:
			if s.Exists {
				return nil
			}
			n := s
			n.Exists = true
			return []holderState{n}
		case Refused:
			if !s.Exists {
				return nil
			}
			return []holderState{s}
		case Unknown:
			n := s
			n.Exists = true
			return maybe(n, !s.Exists)
		}
	case DelUser:
		switch out.Result {
		case OK:
			if !s.Exists {
				return nil
			}
			n := s
			n.Exists = false
			return []holderState{n}
		case Refused:
			if s.Exists {
				return nil
			}
			return []holderState{s}
		case Unknown:
			n := s
			n.Exists = false
			return maybe(n, s.Exists)
		}
	}
	return nil
}

func equalState(a, b holderState) bool {
	if a.Anon != b.Anon || a.Exists != b.Exists {
		return false
	}
	// Trailing None entries are the same as absent ones.
	n := max(len(a.Toks), len(b.Toks))
	for i := 0; i < n; i++ {
		if a.get(i) != b.get(i) {
			return false
		}
	}
	return true
}

// Model is the token lifecycle as porcupine checks it, partitioned by holder
// (tokens) and by email (users), so each partition is small and checking
// stays fast.
var Model = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(Input).Key
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() []interface{} { return []interface{}{holderState{}} },
	Step: func(state, input, output interface{}) []interface{} {
		next := step(state.(holderState), input.(Input), output.(Output))
		out := make([]interface{}, len(next))
		for i, n := range next {
			out[i] = n
		}
		return out
	},
	Equal: func(a, b interface{}) bool { return equalState(a.(holderState), b.(holderState)) },
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(Input), output.(Output)
		s := in.Kind.String()
		if in.Tok >= 0 {
			s += fmt.Sprintf(" t%d", in.Tok)
		}
		s += " → " + out.Result.String()
		if out.New >= 0 && out.Result == OK && (in.Kind == Create || in.Kind == Assign || in.Kind == Rotate) {
			s += fmt.Sprintf(" t%d", out.New)
		}
		if in.Kind == Status {
			s += " " + statusNames[out.Status]
		}
		return s
	},
	DescribeState: func(state interface{}) string {
		s := state.(holderState)
		var b strings.Builder
		for i, st := range s.Toks {
			if st != None {
				fmt.Fprintf(&b, "t%d:%s ", i, statusNames[st])
			}
		}
		fmt.Fprintf(&b, "usable %d (unknown creates %d)", s.usable(), s.Anon)
		if s.Exists {
			b.WriteString(" user exists")
		}
		return b.String()
	},
}

func hashState(s holderState) uint64 {
	h := fnv.New64a()
	n := len(s.Toks)
	for n > 0 && s.Toks[n-1] == None {
		n--
	}
	_, _ = h.Write(s.Toks[:n])
	fmt.Fprintf(h, "|%d|%v", s.Anon, s.Exists)
	return h.Sum64()
}

func init() {
	Model.Hash = func(state interface{}) uint64 { return hashState(state.(holderState)) }
}
