package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keydesk/keydesk/store"
)

// Throughput of the exchange and of GET /v3/users/me over
// real loopback HTTP with concurrent clients, as a ratio to a bare net/http
// handler returning constant JSON, measured in the same run with the same
// client, concurrency and request headers. Reported metrics:
//
//	ratio        keydesk req/s ÷ bare req/s (target ≥ 0.5)
//	cpu-ratio    the same per CPU-second used (robust on a busy machine)
//	req/s        keydesk throughput; bare-req/s the baseline's
//	p50-µs/p99-µs     keydesk latency percentiles
//	bare-p50-µs/bare-p99-µs the baseline's
//
// Run: go test ./api -run '^$' -bench . -benchtime 20000x
func BenchmarkExchange(b *testing.B) {
	e := newEnv(b, envOpts{realClock: true})
	secrets := benchSecrets(e)
	benchAgainstBare(b, e.ts.URL, func(worker int, base string) *http.Request {
		r, _ := http.NewRequest("GET", base+"/oauth/access-token", nil)
		r.Header.Set("X-Refresh-Token", secrets[worker%len(secrets)])
		return r
	})
}

func BenchmarkUsersMe(b *testing.B) {
	e := newEnv(b, envOpts{realClock: true})
	secrets := benchSecrets(e)
	ats := make([]string, len(secrets))
	for i, s := range secrets {
		ats[i] = e.access(s)
	}
	benchAgainstBare(b, e.ts.URL, func(worker int, base string) *http.Request {
		r, _ := http.NewRequest("GET", base+"/v3/users/me", nil)
		r.Header.Set("Authorization", "Bearer "+ats[worker%len(ats)])
		return r
	})
}

// benchSecrets gives the clients distinct refresh tokens of two holders, as
// separate applications would have.
func benchSecrets(e *env) []string {
	var out []string
	for i := range 8 {
		for _, a := range []store.Actor{e.usr, e.adminA} {
			_, s := e.refresh(a, "bench "+string(rune('a'+i)))
			out = append(out, s)
		}
	}
	return out
}

const (
	benchClients = 16
	benchRounds  = 30
)

type loadResult struct {
	elapsed time.Duration
	cpu     time.Duration   // process CPU time, client and server together
	lat     []time.Duration // sorted before percentiles are read
}

func (l loadResult) add(o loadResult) loadResult {
	return loadResult{elapsed: l.elapsed + o.elapsed, cpu: l.cpu + o.cpu, lat: append(l.lat, o.lat...)}
}

func (l loadResult) pct(p float64) float64 {
	if len(l.lat) == 0 {
		return 0
	}
	i := int(float64(len(l.lat)-1) * p)
	return float64(l.lat[i]) / float64(time.Microsecond)
}

// load sends n requests from benchClients goroutines over keep-alive
// connections and times each one.
func load(b *testing.B, n int, base string, mk func(worker int, base string) *http.Request) loadResult {
	b.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	lats := make([][]time.Duration, benchClients)
	var wg sync.WaitGroup
	var failed sync.Once
	cpu0 := processCPU()
	start := time.Now()
	for w := range benchClients {
		share := n / benchClients
		if w < n%benchClients {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lats[w] = make([]time.Duration, 0, share)
			for range share {
				req := mk(w, base)
				t0 := time.Now()
				res, err := client.Do(req)
				if err != nil {
					failed.Do(func() { b.Error(err) })
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				lats[w] = append(lats[w], time.Since(t0))
				if res.StatusCode != http.StatusOK {
					failed.Do(func() { b.Errorf("%s: status %d", req.URL.Path, res.StatusCode) })
					return
				}
			}
		}()
	}
	wg.Wait()
	out := loadResult{elapsed: time.Since(start), cpu: processCPU() - cpu0}
	for _, l := range lats {
		out.lat = append(out.lat, l...)
	}
	return out
}

func benchAgainstBare(b *testing.B, keydeskURL string, mk func(worker int, base string) *http.Request) {
	body := []byte(`{"data":{"id":"usr_0000000000000","name":"Bench","email":"bench@example.com","role":"user"}}` + "\n")
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer bare.Close()
	// Warm both servers' connection pools and code paths outside the timing.
	load(b, benchClients*4, bare.URL, mk)
	load(b, benchClients*4, keydeskURL, mk)

	// Alternate short rounds so that anything else running on the machine
	// slows both sides alike instead of skewing the ratio.
	var base, kd loadResult
	b.ResetTimer()
	for i := range benchRounds {
		n := b.N / benchRounds
		if i < b.N%benchRounds {
			n++
		}
		base = base.add(load(b, n, bare.URL, mk))
		kd = kd.add(load(b, n, keydeskURL, mk))
	}
	b.StopTimer()
	slices.Sort(base.lat)
	slices.Sort(kd.lat)

	baseRPS := float64(b.N) / base.elapsed.Seconds()
	kdRPS := float64(b.N) / kd.elapsed.Seconds()
	b.ReportMetric(float64(kd.elapsed.Nanoseconds())/float64(b.N), "ns/op")
	b.ReportMetric(kdRPS/baseRPS, "ratio")
	if kd.cpu > 0 {
		// Requests per CPU-second relative to the baseline: the ratio a
		// dedicated machine would show, unaffected by other processes.
		b.ReportMetric(float64(base.cpu)/float64(kd.cpu), "cpu-ratio")
	}
	b.ReportMetric(kdRPS, "req/s")
	b.ReportMetric(baseRPS, "bare-req/s")
	b.ReportMetric(kd.pct(0.50), "p50-µs")
	b.ReportMetric(kd.pct(0.99), "p99-µs")
	b.ReportMetric(base.pct(0.50), "bare-p50-µs")
	b.ReportMetric(base.pct(0.99), "bare-p99-µs")
}

// The handler stack alone (recovery, metrics, routing, authentication, the
// handler, its body) without sockets, one request at a time: what keydesk
// adds to a request, as ns/op and allocs/op, steadier than the loopback
// ratios above on a shared machine.
//
// Run: go test ./api -run '^$' -bench Handler -benchmem
func BenchmarkHandlerUsersMe(b *testing.B) {
	e := newEnv(b, envOpts{realClock: true})
	_, secret := e.refresh(e.usr, "bench")
	at := e.access(secret)
	benchHandler(b, e, func() *http.Request {
		r := httptest.NewRequest("GET", "/v3/users/me", nil)
		r.Header.Set("Authorization", "Bearer "+at)
		return r
	})
}

func BenchmarkHandlerExchange(b *testing.B) {
	e := newEnv(b, envOpts{realClock: true})
	_, secret := e.refresh(e.usr, "bench")
	benchHandler(b, e, func() *http.Request {
		r := httptest.NewRequest("GET", "/oauth/access-token", nil)
		r.Header.Set("X-Refresh-Token", secret)
		return r
	})
}

// discardWriter is the least a ResponseWriter can be, so the figures are
// keydesk's work and not a recorder's.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }

func benchHandler(b *testing.B, e *env, mk func() *http.Request) {
	h := e.srv.Handler()
	reqs := make([]*http.Request, 64)
	for i := range reqs {
		reqs[i] = mk()
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		clear(w.h)
		w.status = 0
		r := reqs[i%len(reqs)]
		r.Pattern = ""
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}
