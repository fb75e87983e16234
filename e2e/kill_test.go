package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/doortest"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/wire"
)

// buildKeydesk compiles the real binary once for the test.
func buildKeydesk(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "keydesk")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freePort finds a port nobody listens on; the server is restarted on the
// same port every round, which SO_REUSEADDR allows right after a SIGKILL.
func freePort(t *testing.T) string {
	t.Helper()
	addr, err := doortest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// runBin runs the binary locally on the data directory (the server is down).
func runBin(t *testing.T, bin, dir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--data", dir}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return out.String(), errb.String(), code
}

// ktok is one token as the kill test's clients know it. Only acknowledged
// facts (ack*) are promises; the rest is what the database showed afterwards,
// so in-doubt operations can be cleaned up.
type ktok struct {
	id, holder, secret string
	kind               string // "created" or "assigned": which audit entry acknowledges it
	ackCreated         bool
	ackRevealed        bool
	ackRevoked         bool
	ackRevokedRound    int
	dbRevoked          bool // revoked in the database (acknowledged or not)
	claimed            bool
	access             []string
}

type killLedger struct {
	mu   sync.Mutex
	toks map[string]*ktok
}

func (l *killLedger) get(id, holder string) *ktok {
	t := l.toks[id]
	if t == nil {
		t = &ktok{id: id, holder: holder}
		l.toks[id] = t
	}
	return t
}

func (l *killLedger) live(holder string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, t := range l.toks {
		if t.holder == holder && !t.dbRevoked && !t.ackRevoked {
			n++
		}
	}
	return n
}

// claim picks a live, unclaimed token of holder that want accepts.
func (l *killLedger) claim(r *rand.Rand, holder string, want func(*ktok) bool) *ktok {
	l.mu.Lock()
	defer l.mu.Unlock()
	var pool []*ktok
	for _, t := range l.toks {
		if t.holder == holder && !t.dbRevoked && !t.ackRevoked && !t.claimed && (want == nil || want(t)) {
			pool = append(pool, t)
		}
	}
	if len(pool) == 0 {
		return nil
	}
	t := pool[r.IntN(len(pool))]
	t.claimed = true
	return t
}

// TestKillKeepsAcknowledgedChanges runs `keydesk serve` as a subprocess,
// drives creates, assigns, reveals, revokes and exchanges over SSH and HTTP
// from several clients at once, and SIGKILLs it at a random moment, round
// after round. After each kill: `keydesk check` passes; every acknowledged
// token exists with its holder and audit entry; every acknowledged revoke is
// still revoked, audited, and after the restart its refresh token and every
// access token minted from it get 401.
func TestKillKeepsAcknowledgedChanges(t *testing.T) {
	rounds := 24
	if testing.Short() {
		rounds = 4
	}
	bin := buildKeydesk(t)
	dir := t.TempDir()
	ownerKey, umaKey, benKey := newSigner(t), newSigner(t), newSigner(t)
	for _, args := range [][]string{
		{"init", "--owner-name", "Olive Owner", "--owner-email", "olive@example.com", "--owner-key", authorizedKey(ownerKey)},
		{"user", "add", "--name", "Uma User", "--email", "uma@example.com", "--role", "user", "--key", authorizedKey(umaKey)},
		{"user", "add", "--name", "Ben Admin", "--email", "ben@example.com", "--role", "admin", "--key", authorizedKey(benKey)},
	} {
		if out, errs, code := runBin(t, bin, dir, args...); code != 0 {
			t.Fatalf("%v: %d %s %s", args, code, out, errs)
		}
	}
	ids := map[string]string{} // email → user id
	{
		out, errs, code := runBin(t, bin, dir, "user", "list", "--json")
		var users []models.User
		if code != 0 || json.Unmarshal([]byte(out), &users) != nil {
			t.Fatalf("user list: %d %s %s", code, out, errs)
		}
		for _, u := range users {
			ids[u.Email] = u.ID
		}
	}
	owner, uma, ben := ids["olive@example.com"], ids["uma@example.com"], ids["ben@example.com"]

	sshAddr, httpAddr := freePort(t), freePort(t)
	base := "http://" + httpAddr
	l := &killLedger{toks: map[string]*ktok{}}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	var acks struct {
		sync.Mutex
		created, assigned, revealed, revoked, exchanged int
	}
	ack := func(n *int) { acks.Lock(); *n++; acks.Unlock() }
	client := httpClient()

	for round := 1; round <= rounds; round++ {
		// Start the server and wait until both ports answer.
		var logs bytes.Buffer
		srv := exec.Command(bin, "--data", dir, "serve", "--ssh-addr", sshAddr, "--http-addr", httpAddr)
		srv.Stdout, srv.Stderr = &logs, &logs
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- srv.Wait() }()
		ready := time.Now().Add(15 * time.Second)
		for {
			select {
			case err := <-exited:
				t.Fatalf("round %d: serve exited early: %v\n%s", round, err, logs.String())
			default:
			}
			if time.Now().After(ready) {
				_ = srv.Process.Kill()
				t.Fatalf("round %d: serve did not come up\n%s", round, logs.String())
			}
			if c, err := net.DialTimeout("tcp", sshAddr, time.Second); err == nil {
				c.Close()
				if res, err := client.Get(base + "/healthz"); err == nil {
					res.Body.Close()
					if res.StatusCode == http.StatusOK {
						break
					}
				}
			}
			time.Sleep(5 * time.Millisecond)
		}

		// After a restart: every acknowledged revoke is refused over HTTP,
		// the refresh token and every access token minted from it.
		verifyRevokedOverHTTP(t, client, base, l, round, r)
		if t.Failed() {
			_ = srv.Process.Kill()
			<-exited
			t.FailNow()
		}

		// Drive the clients until a random moment, then SIGKILL.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		worker := func(seed uint64, step func(r *rand.Rand, i int)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(seed, uint64(round)))
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					step(r, i)
				}
			}()
		}
		// The owner over SSH: own tokens, created and revoked.
		worker(1, func(r *rand.Rand, i int) {
			if l.live(owner) >= 10 {
				if tk := l.claim(r, owner, nil); tk != nil {
					if res := sshRun(sshAddr, ownerKey, "token revoke "+tk.id, nil); res.code == 0 {
						l.mu.Lock()
						tk.ackRevoked, tk.ackRevokedRound = true, round
						l.mu.Unlock()
						ack(&acks.revoked)
					}
				}
				return
			}
			res := sshRun(sshAddr, ownerKey, fmt.Sprintf("token create --name r%d-o%d --json", round, i), nil)
			var out wire.Secret
			if res.code == 0 && json.Unmarshal([]byte(res.stdout), &out) == nil && strings.HasPrefix(out.RefreshToken, "kdr_") {
				l.mu.Lock()
				tk := l.get(out.ID, owner)
				tk.secret, tk.kind, tk.ackCreated = out.RefreshToken, "created", true
				l.mu.Unlock()
				ack(&acks.created)
			}
		})
		// The owner assigns to Uma over SSH; Uma reveals over SSH; her
		// tokens are revoked over HTTP by secret (RFC 7009) or by the owner.
		worker(2, func(r *rand.Rand, i int) {
			if l.live(uma) >= 10 {
				tk := l.claim(r, uma, nil)
				if tk == nil {
					return
				}
				ok := false
				if tk.secret != "" {
					code, err := revokeOverHTTP(client, base, tk.secret)
					ok = err == nil && code == http.StatusOK
				} else {
					ok = sshRun(sshAddr, ownerKey, "token revoke "+tk.id, nil).code == 0
				}
				if ok {
					l.mu.Lock()
					tk.ackRevoked, tk.ackRevokedRound = true, round
					l.mu.Unlock()
					ack(&acks.revoked)
				}
				return
			}
			res := sshRun(sshAddr, ownerKey, fmt.Sprintf("token create --for uma@example.com --name r%d-a%d --json", round, i), nil)
			var toks []models.Token
			if res.code != 0 || json.Unmarshal([]byte(res.stdout), &toks) != nil || len(toks) != 1 {
				return
			}
			l.mu.Lock()
			tk := l.get(toks[0].ID, uma)
			tk.kind, tk.ackCreated = "assigned", true
			l.mu.Unlock()
			ack(&acks.assigned)
			res = sshRun(sshAddr, umaKey, "token reveal "+toks[0].ID+" --json", nil)
			var rev struct {
				Secret string `json:"refresh_token"`
			}
			if res.code == 0 && json.Unmarshal([]byte(res.stdout), &rev) == nil && strings.HasPrefix(rev.Secret, "kdr_") {
				l.mu.Lock()
				tk.secret, tk.ackRevealed = rev.Secret, true
				l.mu.Unlock()
				ack(&acks.revealed)
			}
		})
		// Ben (an admin) creates his own over SSH, exchanges them over HTTP
		// and revokes them over SSH.
		worker(3, func(r *rand.Rand, i int) {
			if l.live(ben) >= 10 {
				if tk := l.claim(r, ben, nil); tk != nil {
					if res := sshRun(sshAddr, benKey, "token revoke "+tk.id, nil); res.code == 0 {
						l.mu.Lock()
						tk.ackRevoked, tk.ackRevokedRound = true, round
						l.mu.Unlock()
						ack(&acks.revoked)
					}
				}
				return
			}
			res := sshRun(sshAddr, benKey, fmt.Sprintf("token create --name r%d-b%d --json", round, i), nil)
			var out wire.Secret
			if res.code != 0 || json.Unmarshal([]byte(res.stdout), &out) != nil || !strings.HasPrefix(out.RefreshToken, "kdr_") {
				return
			}
			l.mu.Lock()
			tk := l.get(out.ID, ben)
			tk.secret, tk.kind, tk.ackCreated = out.RefreshToken, "created", true
			l.mu.Unlock()
			ack(&acks.created)
			if access, code, err := exchange(client, base, out.RefreshToken); err == nil && code == http.StatusOK {
				l.mu.Lock()
				tk.access = append(tk.access, access)
				l.mu.Unlock()
				ack(&acks.exchanged)
			}
		})
		// An HTTP client exchanges whatever secrets are known.
		worker(4, func(r *rand.Rand, i int) {
			l.mu.Lock()
			var pool []*ktok
			for _, tk := range l.toks {
				if tk.secret != "" && !tk.dbRevoked && !tk.ackRevoked && len(tk.access) < 3 {
					pool = append(pool, tk)
				}
			}
			l.mu.Unlock()
			if len(pool) == 0 {
				select {
				case <-stop:
				case <-time.After(5 * time.Millisecond):
				}
				return
			}
			tk := pool[r.IntN(len(pool))]
			if access, code, err := exchange(client, base, tk.secret); err == nil && code == http.StatusOK {
				l.mu.Lock()
				tk.access = append(tk.access, access)
				l.mu.Unlock()
				ack(&acks.exchanged)
			}
		})

		time.Sleep(time.Duration(80+r.IntN(600)) * time.Millisecond) // the random moment
		if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-exited
		close(stop)
		wg.Wait()

		verifyAfterKill(t, bin, dir, l, round)
		if t.Failed() {
			t.Logf("server log of round %d:\n%s", round, logs.String())
			t.FailNow()
		}
	}
	t.Logf("%d kill rounds; acknowledged: %d created, %d assigned, %d revealed, %d revoked, %d exchanges",
		rounds, acks.created, acks.assigned, acks.revealed, acks.revoked, acks.exchanged)
	if acks.created == 0 || acks.revoked == 0 || acks.exchanged == 0 {
		t.Fatal("the clients got too few acknowledgements for the test to mean anything")
	}
}

// verifyAfterKill checks the database with the server down, using the binary.
func verifyAfterKill(t *testing.T, bin, dir string, l *killLedger, round int) {
	t.Helper()
	if out, errs, code := runBin(t, bin, dir, "check"); code != 0 {
		t.Errorf("round %d: keydesk check exit %d:\n%s%s", round, code, out, errs)
		return
	}
	out, errs, code := runBin(t, bin, dir, "token", "list", "--all", "--json")
	var toks []struct {
		models.Token
		Status models.TokenStatus `json:"status"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &toks) != nil {
		t.Errorf("round %d: token list: %d %s", round, code, errs)
		return
	}
	out, errs, code = runBin(t, bin, dir, "audit", "--json", "--limit", "100000000")
	var entries []models.AuditEntry
	if code != 0 || json.Unmarshal([]byte(out), &entries) != nil {
		t.Errorf("round %d: audit: %d %s", round, code, errs)
		return
	}
	audited := map[string]bool{} // type + token id
	for _, e := range entries {
		audited[e.Type+" "+e.TokenID] = true
	}
	inDB := map[string]models.TokenStatus{}
	holder := map[string]string{}
	for _, tk := range toks {
		inDB[tk.ID], holder[tk.ID] = tk.Status, tk.HolderID
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	for _, tk := range l.toks {
		tk.claimed = false
		st, ok := inDB[tk.id]
		if tk.ackCreated {
			switch {
			case !ok:
				t.Errorf("round %d: acknowledged token %s is gone", round, tk.id)
				continue
			case holder[tk.id] != tk.holder:
				t.Errorf("round %d: token %s held by %s, want %s", round, tk.id, holder[tk.id], tk.holder)
			}
			typ := models.AuditTokenCreated
			if tk.kind == "assigned" {
				typ = models.AuditTokenAssigned
			}
			if !audited[typ+" "+tk.id] {
				t.Errorf("round %d: acknowledged %s of %s has no audit entry", round, typ, tk.id)
			}
		}
		if tk.ackRevealed && !audited[models.AuditTokenRevealed+" "+tk.id] {
			t.Errorf("round %d: acknowledged reveal of %s has no audit entry", round, tk.id)
		}
		if tk.ackRevoked {
			if st != models.StatusRevoked {
				t.Errorf("round %d: token %s was revoked (acknowledged in round %d) but is %q", round, tk.id, tk.ackRevokedRound, st)
			}
			if !audited[models.AuditTokenRevoked+" "+tk.id] {
				t.Errorf("round %d: acknowledged revoke of %s has no audit entry", round, tk.id)
			}
		}
		tk.dbRevoked = st == models.StatusRevoked
	}
	// Tokens whose creation was in doubt exist now: learn them, so their
	// holder's limit is accounted for and they can be revoked by id.
	for _, tk := range toks {
		if l.toks[tk.ID] == nil {
			n := l.get(tk.ID, tk.HolderID)
			n.dbRevoked = tk.Status == models.StatusRevoked
		}
	}
}

// verifyRevokedOverHTTP runs after a restart: every token revoked in the last
// round, and a sample of older ones, is refused with 401 — its refresh token
// and each access token minted from it — while a live token still works.
func verifyRevokedOverHTTP(t *testing.T, c *http.Client, base string, l *killLedger, round int, r *rand.Rand) {
	t.Helper()
	l.mu.Lock()
	var check []*ktok
	var live *ktok
	for _, tk := range l.toks {
		switch {
		case tk.ackRevoked && (tk.ackRevokedRound == round-1 || r.IntN(20) == 0):
			check = append(check, tk)
		case tk.ackCreated && !tk.dbRevoked && !tk.ackRevoked && tk.secret != "" && live == nil:
			live = tk
		}
	}
	l.mu.Unlock()
	for _, tk := range check {
		if tk.secret != "" {
			if _, code, err := exchange(c, base, tk.secret); err != nil || code != http.StatusUnauthorized {
				t.Errorf("round %d: revoked %s exchanged with status %d (%v), want 401", round, tk.id, code, err)
			}
		}
		for _, a := range tk.access {
			if code, err := whoAmI(c, base, a); err != nil || code != http.StatusUnauthorized {
				t.Errorf("round %d: access token of revoked %s got %d (%v), want 401", round, tk.id, code, err)
			}
		}
	}
	if live != nil {
		if _, code, err := exchange(c, base, live.secret); err != nil || code != http.StatusOK {
			t.Errorf("round %d: live token %s exchanged with %d (%v), want 200", round, live.id, code, err)
		}
	}
}
