package tiered

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	puts         prometheus.Counter
	putErrors    prometheus.Counter
	putBytes     prometheus.Counter
	flushSeconds prometheus.Histogram
	// The flush's phases: the segment PUT (with its retries) and one
	// partition's index commit.
	putSeconds    prometheus.Histogram
	commitSeconds prometheus.Histogram
	backpressure  prometheus.Counter
	readBytes     prometheus.Counter
	// logStartMoves counts commits that moved a log start offset
	// (retention, DeleteRecords).
	logStartMoves prometheus.Counter
	// What merges and key compaction read and wrote, by kind (merge,
	// clean).
	rewriteBytesRead, rewriteBytesWritten *prometheus.CounterVec
	rewriteGets, rewritePuts              *prometheus.CounterVec
	cacheMisses                           prometheus.Counter
	// prefetchGets and prefetchBytes count read-ahead GETs (prefetch.go).
	prefetchGets, prefetchBytes prometheus.Counter

	// Per topic (label topic_id, hex): segments holding its data and its
	// bytes in them.
	topicPuts  *prometheus.CounterVec
	topicBytes *prometheus.CounterVec

	walAppendSeconds prometheus.Histogram
	walBytes         prometheus.Counter
	walErrors        prometheus.Counter
}

// newMetrics registers the log's metrics with reg; a nil reg registers nothing.
// tail reports what waits for object storage, read at each scrape.
func newMetrics(reg prometheus.Registerer, tail func() (int, time.Duration)) *metrics {
	f := promauto.With(reg)
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "strata_tiered_tail_bytes",
		Help: "Bytes acknowledged or queued but not yet in object storage (on the wal tier: the WAL tail this gateway holds).",
	}, func() float64 { n, _ := tail(); return float64(n) })
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "strata_tiered_tail_age_seconds",
		Help: "Age of the oldest batch not yet in object storage (0 when none waits).",
	}, func() float64 { _, age := tail(); return age.Seconds() })
	m := &metrics{
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
		putSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_tiered_segment_put_duration_seconds",
			Help:    "Time to PUT a flush's segment, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		commitSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_tiered_index_commit_duration_seconds",
			Help:    "Time to commit a flush's index states together after its PUT (partitions the multi-partition commit failed are retried one at a time, not counted here).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		backpressure: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiered_backpressure_total",
			Help: "Appends refused because too much, or too old, was waiting for object storage.",
		}),
		rewriteBytesRead: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_tiered_rewrite_read_bytes_total",
			Help: "Bytes segment merging and key compaction read from object storage, by kind (merge, clean).",
		}, []string{"kind"}),
		rewriteBytesWritten: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_tiered_rewrite_written_bytes_total",
			Help: "Bytes segment merging and key compaction wrote to object storage, by kind (merge, clean).",
		}, []string{"kind"}),
		rewriteGets: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_tiered_rewrite_gets_total",
			Help: "Ranged GETs made by segment merging and key compaction, by kind (merge, clean); reads for consumers count in strata_tiered_cache_misses_total, flush PUTs in strata_tiered_segment_puts_total, garbage collection's DELETEs in strata_gc_deleted_total.",
		}, []string{"kind"}),
		rewritePuts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_tiered_rewrite_puts_total",
			Help: "Segment PUTs made by segment merging and key compaction, by kind (merge, clean).",
		}, []string{"kind"}),
		logStartMoves: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiered_log_start_moves_total",
			Help: "Index commits that moved a partition's log start offset (retention, DeleteRecords).",
		}),
		readBytes: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiered_read_bytes_total",
			Help: "Record batch bytes returned by reads.",
		}),
		cacheMisses: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiered_block_cache_misses_total",
			Help: "Block reads that went to object storage.",
		}),
		prefetchGets: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiered_prefetch_gets_total",
			Help: "Read-ahead GETs of blocks following a cold read.",
		}),
		prefetchBytes: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiered_prefetch_bytes_total",
			Help: "Bytes fetched by read-ahead GETs.",
		}),
		topicPuts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_tiered_topic_segment_puts_total",
			Help: "Segments written that hold data of the topic.",
		}, []string{"topic_id"}),
		topicBytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_tiered_topic_segment_bytes_total",
			Help: "Record batch bytes of the topic written to object storage.",
		}, []string{"topic_id"}),
		walAppendSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_tiered_wal_append_duration_seconds",
			Help:    "Time for one WAL append to be stored by a JetStream quorum.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}),
		walBytes: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiered_wal_bytes_total",
			Help: "Record batch bytes appended to the WAL.",
		}),
		walErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiered_wal_append_errors_total",
			Help: "WAL appends that failed (fenced, or outcome unknown); the partition reloads.",
		}),
	}
	for _, kind := range []string{"merge", "clean"} {
		for _, c := range []*prometheus.CounterVec{m.rewriteBytesRead, m.rewriteBytesWritten, m.rewriteGets, m.rewritePuts} {
			c.WithLabelValues(kind)
		}
	}
	return m
}
