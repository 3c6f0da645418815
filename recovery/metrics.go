package recovery

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the Snapshotter's: whether snapshots are being written, how
// long they take and how large they are. An alert on the age of the last
// success (time() - strata_metadata_snapshot_last_success_seconds) bounds
// what a recovery would lose of the metadata.
type metrics struct {
	written, failures prometheus.Counter
	lastSuccess       prometheus.Gauge
	bytes             prometheus.Gauge
	seconds           prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		written: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_metadata_snapshots_total",
			Help: "Metadata snapshots this gateway wrote to the object store.",
		}),
		failures: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_metadata_snapshot_failures_total",
			Help: "Metadata snapshots this gateway failed to write.",
		}),
		lastSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "strata_metadata_snapshot_last_success_seconds",
			Help: "When this gateway last wrote a metadata snapshot (Unix seconds; 0: never).",
		}),
		bytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "strata_metadata_snapshot_bytes",
			Help: "Size of the last metadata snapshot this gateway wrote (compressed).",
		}),
		seconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_metadata_snapshot_duration_seconds",
			Help:    "Time reading the coordinator and writing one metadata snapshot took.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
	}
}
