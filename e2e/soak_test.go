package e2e

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keydesk/keydesk/store"
)

// resources is what a leak would grow.
type resources struct {
	goroutines int
	fds        int
	heap       uint64
}

func (r resources) String() string {
	return fmt.Sprintf("%d goroutines, %d open files, %.1f MB heap", r.goroutines, r.fds, float64(r.heap)/(1<<20))
}

func measure(t *testing.T) resources {
	t.Helper()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return resources{goroutines: runtime.NumGoroutine(), fds: len(fds), heap: m.HeapAlloc}
}

// TestSoakReturnsToBaseline opens and closes SSH connections (running
// commands) and HTTP exchanges against in-process servers for 60 s (a few
// seconds with -short), then waits until goroutines, open files and heap are
// back near where they started.
func TestSoakReturnsToBaseline(t *testing.T) {
	dur := 60 * time.Second
	if testing.Short() {
		dur = 3 * time.Second
	}
	w := newWorld(t, worldOpts{users: 2})
	_, secret, err := w.s.CreateToken(w.act(w.users[0]), store.TokenSpec{Name: "soak"})
	if err != nil {
		t.Fatal(err)
	}
	c := httpClient()
	// Warm up every path once so lazily built state counts as baseline.
	if r := w.ssh(w.users[0], "whoami"); r.code != 0 {
		t.Fatalf("warm-up ssh: %v", r)
	}
	// Authenticated calls reuse one access token: the API memoizes verified
	// access tokens in a cache bounded at 65,536 entries (api/keys.go), which
	// a minute of fresh tokens would grow by design, not by leaking.
	warm, code, err := exchange(c, w.base, secret)
	if err != nil || code != http.StatusOK {
		t.Fatalf("warm-up exchange: %d %v", code, err)
	}
	if code, err := whoAmI(c, w.base, warm); err != nil || code != http.StatusOK {
		t.Fatalf("warm-up call: %d %v", code, err)
	}
	c.CloseIdleConnections()
	base := measure(t)

	var sshN, httpN, failures atomic.Int64
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if i%2 == 0 {
					u := w.users[i/2%len(w.users)]
					if r := w.ssh(u, "token list --json"); r.code != 0 {
						failures.Add(1)
						t.Errorf("ssh: %v", r)
						return
					}
					sshN.Add(1)
					continue
				}
				_, code, err := exchange(c, w.base, secret)
				if err != nil || code != http.StatusOK {
					failures.Add(1)
					t.Errorf("exchange: %d %v", code, err)
					return
				}
				if code, err := whoAmI(c, w.base, warm); err != nil || code != http.StatusOK {
					failures.Add(1)
					t.Errorf("users/me: %d %v", code, err)
					return
				}
				httpN.Add(1)
			}
		}()
	}
	wg.Wait()
	c.CloseIdleConnections()
	if t.Failed() {
		return
	}

	// Servers finish closing connections asynchronously: wait for the
	// numbers to come back, with a deadline.
	var now resources
	settle := time.Now().Add(15 * time.Second)
	for {
		now = measure(t)
		ok := now.goroutines <= base.goroutines+3 && now.fds <= base.fds+3 && now.heap <= base.heap+2<<20
		if ok {
			break
		}
		if time.Now().After(settle) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("after %v soak (%d SSH sessions, %d HTTP exchanges): %v, baseline %v\n%s", dur, sshN.Load(), httpN.Load(), now, base, buf[:n])
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%v soak: %d SSH sessions, %d HTTP exchange+call pairs; baseline %v; after %v", dur, sshN.Load(), httpN.Load(), base, now)
	if sshN.Load() == 0 || httpN.Load() == 0 {
		t.Fatal("soak did no work")
	}
}
