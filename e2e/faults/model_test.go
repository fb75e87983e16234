package faults

import (
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/keydesk/keydesk/models"
)

// op builds a recorded operation from seconds; ret < 0 is unknown.
func op(kind Kind, key string, tok int, res Result, newTok int, call, ret float64) Op {
	o := Op{In: Input{Kind: kind, Key: key, Tok: tok}, Out: Output{Result: res, New: newTok},
		Call: time.Duration(call * float64(time.Second)), Return: time.Duration(ret * float64(time.Second))}
	if ret < 0 {
		o.Return = -1
	}
	return o
}

func linearizable(ops []Op) bool {
	return porcupine.CheckOperations(Model.ToModel(), Porcupine(ops, 0))
}

// The model accepts what the store promises and rejects each thing it must
// never do.
func TestModel(t *testing.T) {
	h := "h:u"
	created := op(Create, h, -1, OK, 0, 0, 1)
	status := func(st uint8, call, ret float64) Op {
		o := op(Status, h, 0, OK, -1, call, ret)
		o.Out.Status = st
		return o
	}
	full := func() []Op {
		var ops []Op
		for i := 0; i < MaxUsable; i++ {
			ops = append(ops, op(Create, h, -1, OK, i, float64(i), float64(i)+0.5))
		}
		return ops
	}
	cases := []struct {
		name string
		ops  []Op
		ok   bool
	}{
		{"accept before revoke", []Op{created, op(Accept, h, 0, OK, -1, 2, 3), op(Revoke, h, 0, OK, -1, 4, 5)}, true},
		{"accept overlapping revoke", []Op{created, op(Revoke, h, 0, OK, -1, 2, 5), op(Accept, h, 0, OK, -1, 3, 4)}, true},
		{"accept after revoke returned", []Op{created, op(Revoke, h, 0, OK, -1, 2, 3), op(Accept, h, 0, OK, -1, 4, 5)}, false},
		{"accept after unknown revoke", []Op{created, op(Revoke, h, 0, Unknown, -1, 2, -1), op(Accept, h, 0, OK, -1, 4, 5)}, true},
		{"revoked twice", []Op{created, op(Revoke, h, 0, OK, -1, 2, 3), op(Revoke, h, 0, OK, -1, 4, 5)}, false},
		{"second revoke refused", []Op{created, op(Revoke, h, 0, OK, -1, 2, 3), op(Revoke, h, 0, Refused, -1, 4, 5)}, true},
		{"revealed once", []Op{op(Assign, h, -1, OK, 0, 0, 1), op(Reveal, h, 0, OK, -1, 2, 3), op(Reveal, h, 0, Refused, -1, 4, 5)}, true},
		{"revealed twice", []Op{op(Assign, h, -1, OK, 0, 0, 1), op(Reveal, h, 0, OK, -1, 2, 3), op(Reveal, h, 0, OK, -1, 4, 5)}, false},
		{"rotated stays usable", []Op{created, op(Rotate, h, 0, OK, 1, 2, 3), op(Accept, h, 0, OK, -1, 4, 5), status(Rotated, 6, 7)}, true},
		{"revoking the successor ends the grace", []Op{created, op(Rotate, h, 0, OK, 1, 2, 3), op(Revoke, h, 1, OK, -1, 4, 5), status(Revoked, 6, 7), op(Revoke, h, 0, Refused, -1, 8, 9)}, true},
		{"rotated outlives its revoked successor", []Op{created, op(Rotate, h, 0, OK, 1, 2, 3), op(Revoke, h, 1, OK, -1, 4, 5), op(Accept, h, 0, OK, -1, 6, 7)}, false},
		{"grace ends along the chain", []Op{created, op(Rotate, h, 0, OK, 1, 2, 3), op(Rotate, h, 1, OK, 2, 4, 5), op(Revoke, h, 2, OK, -1, 6, 7), status(Revoked, 8, 9)}, true},
		{"revoking the old leaves the successor", []Op{created, op(Rotate, h, 0, OK, 1, 2, 3), op(Revoke, h, 0, OK, -1, 4, 5), op(Accept, h, 1, OK, -1, 6, 7)}, true},
		{"lost revoke", []Op{created, op(Revoke, h, 0, OK, -1, 2, 3), status(Active, 4, 5)}, false},
		{"25 then limit", append(full(), op(Create, h, -1, Limit, -1, 30, 31)), true},
		{"26 usable", append(full(), op(Create, h, -1, OK, 25, 30, 31)), false},
		{"limit below 25", []Op{created, op(Create, h, -1, Limit, -1, 2, 3)}, false},
		{"rotation at the limit", append(full(), op(Rotate, h, 0, OK, 25, 30, 31)), false},
		{"unknown create may fill the limit", append(full()[:24], op(Create, h, -1, Unknown, -1, 30, -1), op(Create, h, -1, Limit, -1, 31, 32)), true},
		{"one user per email", []Op{op(AddUser, "e:x", -1, OK, -1, 0, 1), op(AddUser, "e:x", -1, Refused, -1, 2, 3)}, true},
		{"two users with one email", []Op{op(AddUser, "e:x", -1, OK, -1, 0, 1), op(AddUser, "e:x", -1, OK, -1, 2, 3)}, false},
		{"email reused after removal", []Op{op(AddUser, "e:x", -1, OK, -1, 0, 1), op(DelUser, "e:x", -1, OK, -1, 2, 3), op(AddUser, "e:x", -1, OK, -1, 4, 5)}, true},
	}
	for _, c := range cases {
		if got := linearizable(c.ops); got != c.ok {
			t.Errorf("%s: linearizable %v, want %v", c.name, got, c.ok)
		}
	}
}

// The audit post-check finds a missing entry, a duplicate, a gap, an entry
// nobody asked for and entries out of commit order.
func TestCheckAudit(t *testing.T) {
	mk := func(seq uint64, typ, tok string) models.AuditEntry {
		return models.AuditEntry{Seq: seq, Type: typ, TokenID: tok, TargetID: "u"}
	}
	create := func(id string, call, ret float64) Op {
		o := op(Create, "h:u", -1, OK, 0, call, ret)
		o.NewID, o.Holder = id, "u"
		return o
	}
	org := mk(1, models.AuditOrgCreated, "")
	ops := []Op{create("a", 0, 1), create("b", 2, 3)}
	good := []models.AuditEntry{org, mk(2, models.AuditTokenCreated, "a"), mk(3, models.AuditTokenCreated, "b")}
	if bad := CheckAudit(good, ops); len(bad) != 0 {
		t.Fatalf("a good log: %q", bad)
	}
	// A creation nobody was told of is explained by an unconfirmed create
	// invoked before it committed, and by no later one.
	unconfirmed := func(call float64) Op {
		o := op(Create, "h:u", -1, Unknown, -1, call, -1)
		o.Holder = "u"
		return o
	}
	hidden := []models.AuditEntry{org, mk(2, models.AuditTokenCreated, "x"), mk(3, models.AuditTokenCreated, "a"), mk(4, models.AuditTokenCreated, "b")}
	if bad := CheckAudit(hidden, append(ops, unconfirmed(0.5))); len(bad) != 0 {
		t.Errorf("an unconfirmed create invoked before the hidden one committed explains it: %q", bad)
	}
	if bad := CheckAudit(hidden, append(ops, unconfirmed(5))); len(bad) == 0 || !strings.Contains(bad[0], "before any unconfirmed create") {
		t.Errorf("an unconfirmed create invoked after the hidden one committed cannot explain it: %q", bad)
	}
	// A revoke of a rotated token's successor also revokes it: one entry.
	rotate := op(Rotate, "h:u", 0, OK, 1, 4, 5)
	rotate.TokenID, rotate.NewID = "a", "c"
	revoke := op(Revoke, "h:u", 1, OK, -1, 6, 7)
	revoke.TokenID = "c"
	ended := append(append([]models.AuditEntry(nil), good...), mk(4, models.AuditTokenRotated, "a"), mk(5, models.AuditTokenRevoked, "c"), mk(6, models.AuditTokenRevoked, "a"))
	if bad := CheckAudit(ended, append(ops, rotate, revoke)); len(bad) != 0 {
		t.Errorf("a predecessor revoked with its successor: %q", bad)
	}
	if bad := CheckAudit(append(ended, mk(7, models.AuditTokenRevoked, "a")), append(ops, rotate, revoke)); len(bad) == 0 {
		t.Error("two entries for one end of a grace passed")
	}
	for name, c := range map[string]struct {
		log  []models.AuditEntry
		want string
	}{
		"missing":       {[]models.AuditEntry{org, mk(2, models.AuditTokenCreated, "a")}, "1 acknowledged"},
		"duplicate":     {append(good, mk(4, models.AuditTokenCreated, "b")), "2 audit entries"},
		"gap":           {[]models.AuditEntry{org, mk(2, models.AuditTokenCreated, "a"), mk(4, models.AuditTokenCreated, "b")}, "gap"},
		"unasked":       {append(good, mk(4, models.AuditTokenRevoked, "a")), "matches no change"},
		"hidden create": {append(good, mk(4, models.AuditTokenCreated, "x")), "no client was told of"},
		"out of order":  {[]models.AuditEntry{org, mk(2, models.AuditTokenCreated, "b"), mk(3, models.AuditTokenCreated, "a")}, "not commit order"},
	} {
		bad := CheckAudit(c.log, ops)
		if len(bad) == 0 || !strings.Contains(strings.Join(bad, "\n"), c.want) {
			t.Errorf("%s: got %q, want a line with %q", name, bad, c.want)
		}
	}
}
