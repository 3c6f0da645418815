package tiered

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	puts         prometheus.Counter
	putErrors    prometheus.Counter
	putBytes     prometheus.Counter
	flushSeconds prometheus.Histogram
	backpressure prometheus.Counter
	readBytes    prometheus.Counter
	cacheMisses  prometheus.Counter
}

// newMetrics registers the log's metrics with reg; a nil reg registers nothing.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		puts: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiered_segment_puts_total",
			Help: "Segment PUT attempts.",
		}),
		putErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiered_segment_put_errors_total",
			Help: "Segment PUT attempts that failed and were retried.",
		}),
		putBytes: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiered_segment_put_bytes_total",
			Help: "Bytes of segments written to object storage.",
		}),
		flushSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_tiered_flush_duration_seconds",
			Help:    "Time from taking queued batches to the last index commit of a flush.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		backpressure: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiered_backpressure_total",
			Help: "Appends refused because too much was queued for object storage.",
		}),
		readBytes: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiered_read_bytes_total",
			Help: "Record batch bytes returned by reads.",
		}),
		cacheMisses: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiered_block_cache_misses_total",
			Help: "Block reads that went to object storage.",
		}),
	}
}
