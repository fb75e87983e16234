package api

import (
	"net/http"
	"sync/atomic"

	"github.com/keydesk/keydesk/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Exchange results, the values of keydesk_token_exchanges_total{result}.
const (
	resultOK          = "ok"
	resultInvalid     = "invalid"
	resultRateLimited = "rate_limited"
	resultError       = "error"
)

// metrics are the server's Prometheus series. Labels are bounded: routes are
// ServeMux patterns (never raw paths, which hold token ids) and results are the
// constants above.
type metrics struct {
	exchanges *prometheus.CounterVec
	// exchanged holds exchanges' counter per result, resolved once: looking
	// a label up hashes it on every exchange.
	exchanged    map[string]prometheus.Counter
	duration     *prometheus.HistogramVec
	inFlight     prometheus.Gauge
	authFailures prometheus.Counter
	connsRefused prometheus.Counter
	sessions     atomic.Pointer[func() float64]
	gatherer     prometheus.Gatherer
}

// storeMetrics are the store's series: commit latency (total time and
// count, so rate() gives the mean) and, on etcd, the watch's lag and whether
// the access cache is proven fresh.
func storeMetrics(health func() store.Health) []prometheus.Collector {
	if health == nil {
		return nil
	}
	g := func(name, help string, f func(store.Health) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "keydesk", Name: name, Help: help},
			func() float64 { return f(health()) })
	}
	c := func(name, help string, f func(store.Health) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "keydesk", Name: name, Help: help},
			func() float64 { return f(health()) })
	}
	return []prometheus.Collector{
		c("store_commits_total", "Store transactions committed (etcd engine).", func(h store.Health) float64 { return float64(h.Commits) }),
		c("store_commit_seconds_total", "Time spent in store commit round trips (etcd engine).", func(h store.Health) float64 { return h.CommitTime.Seconds() }),
		c("store_conflicts_total", "Store commits that lost to another server's and re-ran (etcd engine).", func(h store.Health) float64 { return float64(h.Conflicts) }),
		g("store_watch_lag_revisions", "Revisions the etcd watch is behind the last linearizable read.", func(h store.Health) float64 { return float64(h.WatchLag) }),
		g("store_watch_age_seconds", "Age of the linearizable read the watch is compared with.", func(h store.Health) float64 { return h.WatchAge.Seconds() }),
		g("store_cache_fresh", "1 while the access cache is proven current (etcd), else 0: checks read through.", func(h store.Health) float64 {
			if h.Cache == "fresh" || h.Engine == "bbolt" {
				return 1
			}
			return 0
		}),
	}
}

func newMetrics(reg prometheus.Registerer, health func() store.Health) (*metrics, error) {
	m := &metrics{
		exchanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "keydesk", Name: "token_exchanges_total",
			Help: "Refresh-token exchanges for access tokens, by result.",
		}, []string{"result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "keydesk", Name: "http_request_duration_seconds",
			Help: "HTTP request latency by route pattern.",
			// Sub-millisecond buckets: most answers come from memory.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "keydesk", Name: "http_requests_in_flight",
			Help: "HTTP requests being served now.",
		}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "keydesk", Name: "http_auth_failures_total",
			Help: "Requests refused for a missing, unknown, malformed, expired or revoked credential.",
		}),
		connsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "keydesk", Name: "http_connections_refused_total",
			Help: "HTTP connections closed at accept because their address already held its limit.",
		}),
	}
	m.exchanged = map[string]prometheus.Counter{}
	for _, r := range []string{resultOK, resultInvalid, resultRateLimited, resultError} {
		m.exchanged[r] = m.exchanges.WithLabelValues(r) // also exports zeros, so rate() works from the start
	}
	sessions := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "keydesk", Name: "ssh_active_sessions",
		Help: "SSH sessions open now, as reported by the SSH server.",
	}, func() float64 {
		if f := m.sessions.Load(); f != nil {
			return (*f)()
		}
		return 0
	})

	own := prometheus.NewRegistry()
	m.gatherer = own
	if reg == nil {
		reg = own
		own.MustRegister(collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	} else if g, ok := reg.(prometheus.Gatherer); ok {
		m.gatherer = g
	}
	for _, c := range append([]prometheus.Collector{m.exchanges, m.duration, m.inFlight, m.authFailures, m.connsRefused, sessions}, storeMetrics(health)...) {
		if reg != own {
			// Keep our own copy too, so /metrics works even when the caller's
			// Registerer cannot be gathered.
			if err := own.Register(c); err != nil {
				return nil, err
			}
		}
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{})
}

// SetActiveSessionsFunc makes keydesk_ssh_active_sessions report f(). The SSH
// server calls it once at start; f must be safe to call from any goroutine.
func (srv *Server) SetActiveSessionsFunc(f func() float64) {
	if f == nil {
		srv.metrics.sessions.Store(nil)
		return
	}
	srv.metrics.sessions.Store(&f)
}
