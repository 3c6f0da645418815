package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type metrics struct {
	conns        prometheus.Gauge
	connsRefused *prometheus.CounterVec
	badFrames    prometheus.Counter
	// offsetsExpired counts partitions whose committed offset expired.
	offsetsExpired prometheus.Counter
	// fetchPurgatory is the number of fetches waiting in their long poll,
	// as Kafka's fetch purgatory size.
	fetchPurgatory prometheus.Gauge
	// requests is indexed by api key; its label values are made up front
	// from the version table.
	requests map[int16]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		conns: f.NewGauge(prometheus.GaugeOpts{
			Name: "strata_gateway_connections",
			Help: "Open Kafka client connections.",
		}),
		connsRefused: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_gateway_connections_refused_total",
			Help: "Connections closed on accept by a connection limit (max_connections, max_connections_per_ip, connection_creation_rate).",
		}, []string{"limit"}),
		badFrames: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_gateway_bad_requests_total",
			Help: "Connections closed for a malformed, oversized or unsupported request.",
		}),
		offsetsExpired: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_gateway_offsets_expired_total",
			Help: "Partitions whose committed offset expired (offsets.retention.minutes).",
		}),
		fetchPurgatory: f.NewGauge(prometheus.GaugeOpts{
			Name: "strata_gateway_fetch_purgatory",
			Help: "Fetch requests waiting in their long poll for data (Kafka's fetch purgatory size).",
		}),
		requests: make(map[int16]prometheus.Counter, len(apis)),
	}
	reqs := f.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_gateway_requests_total",
		Help: "Kafka requests decoded, by api.",
	}, []string{"api"})
	for _, a := range apis {
		m.requests[a.key] = reqs.WithLabelValues(kmsg.NameForKey(a.key))
	}
	return m
}
