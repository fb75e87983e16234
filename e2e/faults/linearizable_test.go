package faults

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/etcdtest"
)

func TestMain(m *testing.M) { etcdtest.Main(m) }

// long selects the long run: go test -race -run Linearizable ./e2e/faults -args -faults.long
// (CI's go test ./... runs the short one; so does -short).
var long = flag.Bool("faults.long", false, "run the long fault harness (two rounds, thousands of operations)")

// waitOps polls until n more operations have been recorded (clients are
// making progress under the fault), or the deadline passes.
func (r *rig) waitOps(n int, within time.Duration) {
	r.t.Helper()
	base := len(r.hist.Ops())
	deadline := time.Now().Add(within)
	for len(r.hist.Ops()) < base+n {
		if time.Now().After(deadline) {
			r.t.Fatalf("clients recorded %d of %d operations in %v under the current fault", len(r.hist.Ops())-base, n, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// explainStall logs, for a write stall over the 5 s target, the writes in
// flight around it: where each ran, when it started relative to the fault,
// how long it took and how it ended (the clients keep running meanwhile).
func (r *rig) explainStall(t0, stall time.Duration) {
	if stall <= 5*time.Second || !testing.Verbose() {
		return
	}
	r.faultMu.Lock()
	in := append([]Op(nil), r.dropped...)
	r.faultMu.Unlock()
	for i := range in {
		in[i].Out.Result = 0 // shown as failed: nothing happened
	}
	var all []Op
	for _, op := range append(r.hist.Ops(), in...) {
		end := op.Return
		if end < 0 {
			end = op.Call + 10*time.Second // unconfirmed: shown when it started shortly before
		}
		if op.In.Kind != Accept && op.In.Kind != Status && op.Call < t0+stall && end > t0-time.Second {
			all = append(all, op)
		}
	}
	in = all
	sort.Slice(in, func(i, j int) bool { return in[i].Call < in[j].Call })
	var b strings.Builder
	for i, op := range in {
		if i == 40 {
			fmt.Fprintf(&b, "\n  … %d more", len(in)-i)
			break
		}
		took := "unconfirmed"
		if op.Return >= 0 {
			took = (op.Return - op.Call).Round(time.Millisecond).String()
		}
		fmt.Fprintf(&b, "\n  %+8.3fs server %d %-4s %-11s %s %s %s", (op.Call - t0).Seconds(), op.Server, op.Door, op.In.Kind, took, op.Out.Result, op.Err)
	}
	r.t.Logf("a %v write stall: the writes around it (start relative to the fault):%s", stall.Round(time.Millisecond), b.String())
}

// waitOpsOn polls until n more operations on server s have been recorded.
func (r *rig) waitOpsOn(s *server, n int, within time.Duration) {
	r.t.Helper()
	count := func() int {
		c := 0
		for _, op := range r.hist.Ops() {
			if op.Server == s.i {
				c++
			}
		}
		return c
	}
	base := count()
	deadline := time.Now().Add(within)
	for count() < base+n {
		if time.Now().After(deadline) {
			r.t.Fatalf("server %d recorded %d of %d operations in %v under the current fault", s.i, count()-base, n, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeAckAfter polls until a write invoked at or after t has been
// acknowledged and returns how long after t that was.
func (r *rig) writeAckAfter(t time.Duration, within time.Duration) time.Duration {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for {
		best := time.Duration(-1)
		for _, op := range r.hist.Ops() {
			if op.Call >= t && op.Out.Result == OK && op.In.Kind != Accept && op.In.Kind != Status {
				if best < 0 || op.Return < best {
					best = op.Return
				}
			}
		}
		if best >= 0 {
			return best - t
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no write acknowledged within %v of the fault", within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLeader waits until the running members agree on a leader.
func (r *rig) waitLeader() int {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lead, err := r.c.WaitLeader(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	return lead
}

// restartAfter lets the clients record per operations under the fault in
// place, then undoes it with restart and notes that.
func (r *rig) restartAfter(per int, restart func() error, format string, args ...any) {
	r.t.Helper()
	r.waitOps(per, r.patience)
	if err := restart(); err != nil {
		r.t.Fatal(err)
	}
	r.fault(format, args...)
}

// nemesis injects the faults of one round while the clients run; per is how
// many operations the clients must record under each fault before it heals,
// kills how many times the leader is killed.
func (r *rig) nemesis(round, per, kills int) {
	ctx := context.Background()
	n := len(r.inproc)
	victim := r.inproc[round%n]
	other := r.inproc[(round+1)%n]

	// The etcd leader, killed without a leadership transfer, then restarted
	// (kills times: each kill is one sample of the write stall).
	for k := 0; k < kills; k++ {
		lead := r.waitLeader()
		t0 := r.hist.Now()
		r.c.HardStop(lead)
		r.fault("HardStop etcd leader m%d", lead)
		stall := r.writeAckAfter(t0, 60*time.Second)
		r.stalls = append(r.stalls, stall)
		r.explainStall(t0, stall)
		r.waitOps(per, r.patience)
		if err := r.c.Restart(lead); err != nil {
			r.t.Fatal(err)
		}
		r.fault("restart m%d (write stall after the kill: %v)", lead, stall.Round(time.Millisecond))
	}

	// A follower.
	lead := r.waitLeader()
	f := (lead + 1 + round%2) % 3
	r.c.HardStop(f)
	r.fault("HardStop etcd follower m%d", f)
	r.restartAfter(per, func() error { return r.c.Restart(f) }, "restart m%d", f)

	// Every link between members cut: no quorum, the leader steps down (check
	// quorum), writes and linearizable reads stop; then healed.
	r.c.CutPeers(true)
	r.fault("cut every link between etcd members")
	waitFor(r.t, 60*time.Second, "the leader steps down without a quorum", func() bool { return r.c.Leader() < 0 })
	r.c.CutPeers(false)
	r.fault("heal the links between members (leader lost)")
	r.waitOps(per, r.patience)

	// One follower cut off from the other two members: the leader keeps its
	// quorum; clients of the cut-off member's client port get nothing
	// linearizable from it.
	lead = r.waitLeader()
	f = (lead + 2 - round%2) % 3
	r.c.Isolate(f, true)
	r.fault("isolate etcd follower m%d from the other members", f)
	r.waitOps(per, r.patience)
	r.c.Isolate(f, false)
	r.fault("heal m%d's links", f)

	// The leader cut off from the other two: the majority elects a new one,
	// the old one steps down (check quorum) and must acknowledge nothing
	// (the history would show it). The write stall is measured here too.
	lead = r.waitLeader()
	t0 := r.hist.Now()
	r.c.Isolate(lead, true)
	r.fault("isolate etcd leader m%d from the other members", lead)
	waitFor(r.t, 60*time.Second, "a new leader on the majority side", func() bool {
		l := r.c.Leader()
		return l >= 0 && l != lead && r.c.Members[lead].Etcd().Server.Leader() != r.c.Members[lead].Etcd().Server.MemberID()
	})
	r.fault("m%d leads the majority; m%d stepped down", r.c.Leader(), lead)
	stall := r.writeAckAfter(t0, 60*time.Second)
	r.isoStalls = append(r.isoStalls, stall)
	r.explainStall(t0, stall)
	r.waitOps(per, r.patience)
	r.c.Isolate(lead, false)
	r.fault("heal m%d's links (write stall after its isolation: %v)", lead, stall.Round(time.Millisecond))

	// A keydesk server crashes and comes back on a new connection.
	r.crash(victim)
	r.fault("crash keydesk server %d", victim.i)
	r.restartAfter(per, func() error { return r.open(victim) }, "restart keydesk server %d", victim.i)

	// A `keydesk serve` process SIGKILLed under its clients (SSH commands
	// in flight die with their connections: ambiguous), restarted on the
	// same ports and data directory; then cut off from etcd.
	if len(r.procs) > 0 {
		pv := r.procs[round%len(r.procs)]
		r.killProc(pv)
		r.fault("SIGKILL keydesk serve (server %d)", pv.i)
		r.restartAfter(per, func() error { return r.startProc(pv) }, "restart keydesk serve (server %d) on its ports", pv.i)
		r.waitOps(per, r.patience)
		pv.partition(true)
		r.fault("partition keydesk serve (server %d) from etcd", pv.i)
		r.waitOps(per, r.patience)
		pv.partition(false)
		r.fault("heal the partition of server %d", pv.i)
	}

	// One server cut off from one member only (the leader), the connection
	// left open and silent: its client must stop using that member
	// (keepalive) and go on through the other two.
	lead = r.waitLeader()
	t0 = r.hist.Now()
	victim.proxies[lead].Blackhole(true)
	r.fault("cut server %d from etcd member m%d only", victim.i, lead)
	r.waitOpsOn(victim, per, r.patience)
	victim.proxies[lead].Blackhole(false)
	r.fault("heal server %d ↔ m%d (%d operations on server %d took %v)", victim.i, lead, per, victim.i, (r.hist.Now() - t0).Round(time.Millisecond))

	// One server cut off from every etcd member.
	victim.partition(true)
	r.fault("partition keydesk server %d from etcd", victim.i)
	r.waitOps(per, r.patience)
	victim.partition(false)
	r.fault("heal the partition of server %d", victim.i)

	// Its clock 2 s ahead, then 2 s behind.
	other.skew.Store(int64(2 * time.Second))
	r.fault("clock of server %d +2 s", other.i)
	r.waitOps(per, r.patience)
	other.skew.Store(int64(-2 * time.Second))
	r.fault("clock of server %d −2 s", other.i)
	r.waitOps(per, r.patience)
	other.skew.Store(0)

	// Every packet between one server and etcd delayed.
	for _, p := range other.proxies {
		p.Delay(20 * time.Millisecond)
	}
	r.fault("delay server %d ↔ etcd by 20 ms each way", other.i)
	r.waitOps(per, r.patience)
	for _, p := range other.proxies {
		p.Delay(0)
	}

	// Compaction beyond a server's watch: cut it off, let the others write,
	// compact etcd's history to now, heal: its watch cannot resume and must
	// drop its caches and reload.
	_, eng := victim.get()
	resets := eng.Stats().Resets.Load()
	victim.partition(true)
	r.fault("partition server %d for compaction", victim.i)
	r.waitOps(per, r.patience)
	admin, err := r.c.NewClient()
	if err != nil {
		r.t.Fatal(err)
	}
	defer admin.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	resp, err := admin.Get(cctx, "/", clientWithCountOnly()...)
	if err == nil {
		_, err = admin.Compact(cctx, resp.Header.Revision)
	}
	cancel()
	if err != nil {
		r.t.Fatal(err)
	}
	r.fault("compact etcd to revision %d (beyond server %d's watch)", resp.Header.Revision, victim.i)
	victim.partition(false)
	deadline := time.Now().Add(60 * time.Second)
	for eng.Stats().Resets.Load() == resets {
		if time.Now().After(deadline) {
			r.t.Fatalf("server %d's watch never noticed the compaction", victim.i)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.fault("server %d's watch reset after the compaction and reloaded", victim.i)
	r.waitOps(per, r.patience)
}

// Run the cluster under faults while clients record a history, then check
// it: porcupine against the token-lifecycle model, and the audit post-check.
// By default (CI) one round of each fault with a few thousand operations;
// -short the same round with fewer operations under each fault; with
// -args -faults.long two rounds and many more operations under each fault.
func TestLinearizable(t *testing.T) {
	rounds, per, kills, holders, patience := 1, 80, 1, 5, 2*time.Minute
	if testing.Short() {
		per, holders = 15, 3
	}
	if *long {
		rounds, per, kills, holders, patience = 2, 80, 4, 6, 3*time.Minute
	}
	// Two stores in this process (store API and HTTP) and two `keydesk
	// serve` processes (SSH and HTTP).
	r := newRigWith(t, 2, 2)
	r.patience = patience
	hs := r.addHolders(holders)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	client := 0
	for _, h := range hs {
		for j := 0; j < 2; j++ {
			wg.Add(1)
			go func(c int, h *holder) { defer wg.Done(); r.runHolder(ctx, c, h, 1) }(client, h)
			client++
		}
	}
	emails := []string{"dup-a@example.com", "dup-b@example.com", "dup-c@example.com"}
	for j := 0; j < 2; j++ {
		wg.Add(1)
		go func(c int) { defer wg.Done(); r.runEmails(ctx, c, emails, 2) }(client)
		client++
	}
	r.waitOps(per, r.patience) // a calm start
	calm := r.hist.Now()
	for round := 0; round < rounds; round++ {
		r.nemesis(round, per, kills)
	}
	cancel()
	wg.Wait()
	r.heal()
	r.finalReads(hs)
	bad := r.verdict("linearizable")
	ops := r.hist.Ops()
	sort.Slice(r.stalls, func(i, j int) bool { return r.stalls[i] < r.stalls[j] })
	t.Logf("%s", Summary(ops))
	t.Logf("mean latency by kind: %s", latencies(ops))
	seen := map[string]bool{}
	for _, op := range ops {
		if op.Out.Result == Unknown && !seen[op.Err] && len(seen) < 6 {
			seen[op.Err] = true
			t.Logf("unconfirmed %s on server %d (%s): %s", op.In.Kind, op.Server, op.Door, op.Err)
		}
	}
	t.Logf("%d faults injected:\n  %s", len(r.faults), strings.Join(r.faults, "\n  "))
	var calmWrites []time.Duration
	for _, op := range ops {
		if op.Return >= 0 && op.Return < calm && op.Out.Result == OK && op.In.Kind != Accept && op.In.Kind != Status {
			calmWrites = append(calmWrites, op.Return-op.Call)
		}
	}
	if len(calmWrites) > 0 {
		t.Logf("write latency before the first fault (%d writes): p50 %v, max %v", len(calmWrites),
			pct(calmWrites, 0.5).Round(time.Millisecond), pct(calmWrites, 1).Round(time.Millisecond))
	}
	sort.Slice(r.isoStalls, func(i, j int) bool { return r.isoStalls[i] < r.isoStalls[j] })
	if len(r.isoStalls) > 0 {
		t.Logf("write stall after the leader's isolation over %d rounds: p50 %v, max %v",
			len(r.isoStalls), r.isoStalls[(len(r.isoStalls)-1)/2].Round(time.Millisecond), r.isoStalls[len(r.isoStalls)-1].Round(time.Millisecond))
	}
	if len(r.stalls) > 0 {
		t.Logf("write stall after a leader kill over %d rounds: p50 %v, max %v (target ≤ 5 s)",
			len(r.stalls), r.stalls[(len(r.stalls)-1)/2].Round(time.Millisecond), r.stalls[len(r.stalls)-1].Round(time.Millisecond))
	}
	for _, s := range r.servers {
		if _, eng := s.get(); eng != nil {
			st := eng.Stats()
			t.Logf("server %d engine (since its last start): %d commits, %d conflicts re-run, %d ambiguous (%d had landed), %d watch resets",
				s.i, st.Commits.Load(), st.Conflicts.Load(), st.Ambiguous.Load(), st.Landed.Load(), st.Resets.Load())
		}
	}
	t.Logf("anomalies: %d", len(bad))
	for _, b := range bad {
		t.Error(b)
	}
	if s := Summary(ops); s.Acked == 0 || s.ByKind[Accept] == 0 || s.SSH == 0 || s.HTTPMe == 0 {
		t.Fatalf("the history proves nothing (or one door never answered): %s", s)
	}
}

// latencies is the mean time each kind of operation took (unknown ones left out).
func latencies(ops []Op) string {
	sum, n := map[Kind]time.Duration{}, map[Kind]int{}
	for _, op := range ops {
		if op.Return >= 0 {
			sum[op.In.Kind] += op.Return - op.Call
			n[op.In.Kind]++
		}
	}
	var parts []string
	for k := Create; k <= DelUser; k++ {
		if n[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %v", k, (sum[k]/time.Duration(n[k])).Round(100*time.Microsecond)))
		}
	}
	return strings.Join(parts, ", ")
}
