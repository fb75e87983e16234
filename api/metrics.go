package api

import (
	"net/http"
	"sync/atomic"

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
	exchanges    *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	inFlight     prometheus.Gauge
	authFailures prometheus.Counter
	sessions     atomic.Pointer[func() float64]
	gatherer     prometheus.Gatherer
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
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
	}
	for _, r := range []string{resultOK, resultInvalid, resultRateLimited, resultError} {
		m.exchanges.WithLabelValues(r) // export zeros so rate() works from the start
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
	for _, c := range []prometheus.Collector{m.exchanges, m.duration, m.inFlight, m.authFailures, sessions} {
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
