package schedule

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/segment"
)

// Logs is what the scheduler needs of the partitions this gateway leads;
// tiered.Log implements it.
type Logs interface {
	// State returns a partition's committed state, claiming it if needed.
	State(ctx context.Context, tp index.TopicPartition) (index.Partition, error)
	// DeleteRecords moves a partition's log start offset up and drops the
	// index entries below it; it returns the new log start offset.
	DeleteRecords(ctx context.Context, tp index.TopicPartition, offset int64) (int64, error)
	// Merge rewrites a run of the partition's index entries into
	// per-partition segments of about target bytes, each spanning at most
	// maxSpan of record time (0: any), and commits them in its place.
	Merge(ctx context.Context, tp index.TopicPartition, run []segment.IndexEntry, target int64, maxSpan time.Duration) (index.RewriteStats, error)
	// Clean key-compacts the partition below upTo with the keys of the
	// batches from from on, keeping tombstones for deleteRetention.
	Clean(ctx context.Context, tp index.TopicPartition, from, upTo int64, deleteRetention time.Duration, target int64, maxSpan time.Duration) (index.RewriteStats, error)
}

// Topics is the coordinator's topic table.
type Topics interface {
	Topics() []coordinator.Topic
}

// DefaultInterval is Config.Interval's default: a look for work every
// 30 seconds (Kafka checks retention every 5 minutes,
// log.retention.check.interval.ms, and its cleaner backs off 15 seconds).
const DefaultInterval = 30 * time.Second

// DefaultMaxBytesPerSecond is Config.MaxBytesPerSecond's default: a small
// share of what one gateway moves to and from object storage.
const DefaultMaxBytesPerSecond = 64 << 20

// Config configures a Scheduler. Topics, Logs, Leads and Configs are
// required.
type Config struct {
	Topics Topics
	Logs   Logs
	// Leads reports whether this gateway leads a topic's partition now.
	Leads func(t coordinator.Topic, partition int32) bool
	// Configs returns a topic's effective configs, defaults included.
	Configs func(t coordinator.Topic) map[string]string
	// Interval is how often the scheduler looks for work. Default
	// DefaultInterval.
	Interval time.Duration
	// Merge tunes segment merging.
	Merge MergeConfig
	// MaxBytesPerSecond bounds what merging and cleaning read from object
	// storage, averaged over jobs, so that they never crowd out produce and
	// fetch: after a job the scheduler waits until its bytes fit the rate.
	// Default DefaultMaxBytesPerSecond.
	MaxBytesPerSecond int64
	// Now returns the current time. Default time.Now.
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Scheduler looks, every Interval, at each partition this gateway leads and
// runs the lifecycle jobs it needs. It is owned by the goroutine in Run.
type Scheduler struct {
	cfg     Config
	metrics *metrics
}

// New returns a Scheduler.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Topics == nil || cfg.Logs == nil || cfg.Leads == nil || cfg.Configs == nil {
		return nil, errors.New("schedule: Config.Topics, Logs, Leads and Configs are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBytesPerSecond <= 0 {
		cfg.MaxBytesPerSecond = DefaultMaxBytesPerSecond
	}
	cfg.Merge.ensureDefaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{cfg: cfg, metrics: newMetrics(cfg.Registerer)}, nil
}

// Run runs a pass every Interval until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s.Pass(ctx)
	}
}

// Pass looks at every partition this gateway leads once, runs what is due,
// and publishes each topic's usage. A partition's failure is logged and
// counted, and the pass goes on.
func (s *Scheduler) Pass(ctx context.Context) {
	start := s.cfg.Now()
	seen := map[string]bool{}
	for _, t := range s.cfg.Topics.Topics() {
		pol, err := ParsePolicy(s.cfg.Configs(t))
		if err != nil {
			s.cfg.Logger.Error("topic lifecycle skipped", "topic", t.Name, "err", err)
			continue
		}
		var usage Usage
		var logStarts int64
		led := 0
		for p := range t.Partitions {
			if ctx.Err() != nil {
				return
			}
			if !s.cfg.Leads(t, p) {
				continue
			}
			tp := index.TopicPartition{TopicID: t.ID, Partition: p}
			st, err := s.partition(ctx, tp, pol)
			if err != nil {
				if ctx.Err() == nil {
					s.cfg.Logger.Warn("partition lifecycle job failed", "topic", t.Name, "partition", p, "err", err)
				}
				if st.HighWatermark == 0 && len(st.Entries) == 0 {
					continue
				}
			}
			u := Measure(st)
			usage.Bytes += u.Bytes
			usage.DirtyBytes += u.DirtyBytes
			usage.Entries += u.Entries
			usage.Objects += u.Objects
			logStarts += st.LogStartOffset
			led++
		}
		if led > 0 {
			id := hex.EncodeToString(t.ID[:])
			seen[id] = true
			s.metrics.publish(id, usage, logStarts, pol.Compact)
		}
	}
	s.metrics.forgetExcept(seen)
	s.metrics.passSeconds.Observe(s.cfg.Now().Sub(start).Seconds())
}

// partition runs the jobs tp needs, one of each kind at most, and returns
// its state after them: expiry, then key compaction, then merging.
func (s *Scheduler) partition(ctx context.Context, tp index.TopicPartition, pol Policy) (index.Partition, error) {
	st, err := s.cfg.Logs.State(ctx, tp)
	if err != nil {
		return index.Partition{}, fmt.Errorf("state: %w", err)
	}
	nowMs := s.cfg.Now().UnixMilli()
	if start := RetentionStart(st, pol, nowMs); start > st.LogStartOffset || NeedsTrim(st) {
		err := s.job(ctx, "expire", func() (int64, error) {
			_, err := s.cfg.Logs.DeleteRecords(ctx, tp, start)
			return 0, err
		})
		if err != nil {
			return index.Partition{}, fmt.Errorf("expire below %d: %w", start, err)
		}
		if st, err = s.cfg.Logs.State(ctx, tp); err != nil {
			return index.Partition{}, fmt.Errorf("state: %w", err)
		}
	}
	target, span := s.cfg.Merge.Target(pol), time.Duration(pol.SegmentMs)*time.Millisecond
	if from, upTo, due := PlanClean(st, pol, nowMs); due {
		err := s.job(ctx, "clean", func() (int64, error) {
			r, err := s.cfg.Logs.Clean(ctx, tp, from, upTo, time.Duration(pol.DeleteRetentionMs)*time.Millisecond, target, span)
			return r.BytesRead, err
		})
		if err != nil {
			return st, fmt.Errorf("clean [%d, %d): %w", from, upTo, err)
		}
		if st, err = s.cfg.Logs.State(ctx, tp); err != nil {
			return index.Partition{}, fmt.Errorf("state: %w", err)
		}
	}
	if run := PlanMerge(st, pol, s.cfg.Merge); run != nil {
		err := s.job(ctx, "merge", func() (int64, error) {
			r, err := s.cfg.Logs.Merge(ctx, tp, run, target, span)
			return r.BytesRead, err
		})
		if err != nil {
			return st, fmt.Errorf("merge %d entries from %d: %w", len(run), run[0].BaseOffset, err)
		}
		if st, err = s.cfg.Logs.State(ctx, tp); err != nil {
			return index.Partition{}, fmt.Errorf("state: %w", err)
		}
	}
	return st, nil
}

// job runs one job of kind, times it, and then waits as long as the bytes it
// read take at MaxBytesPerSecond.
func (s *Scheduler) job(ctx context.Context, kind string, run func() (read int64, err error)) error {
	start := s.cfg.Now()
	read, err := run()
	took := s.cfg.Now().Sub(start)
	s.metrics.jobSeconds.WithLabelValues(kind).Observe(took.Seconds())
	if err != nil {
		s.metrics.failures.WithLabelValues(kind).Inc()
		return err
	}
	if pause := time.Duration(float64(read)/float64(s.cfg.MaxBytesPerSecond)*float64(time.Second)) - took; pause > 0 {
		t := time.NewTimer(pause)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	return nil
}

type metrics struct {
	passSeconds prometheus.Histogram
	jobSeconds  *prometheus.HistogramVec
	failures    *prometheus.CounterVec
	// Per topic (label topic_id, hex), over the partitions this gateway
	// leads: sum them over gateways.
	bytes, entries, objects, logStart, dirty *prometheus.GaugeVec
	// published is the topics the gauges hold values for.
	published map[string]bool
}

var jobKinds = []string{"expire", "merge", "clean"}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		published: map[string]bool{},
		passSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_schedule_pass_duration_seconds",
			Help:    "Time a scheduler pass over this gateway's partitions took, jobs included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
		}),
		jobSeconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_schedule_job_duration_seconds",
			Help:    "Time a lifecycle job took, by kind (expire, merge, clean).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
		}, []string{"kind"}),
		failures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_schedule_job_failures_total",
			Help: "Lifecycle jobs that failed, by kind (expire, merge, clean).",
		}, []string{"kind"}),
		bytes: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_topic_stored_bytes",
			Help: "Bytes of a topic's retained blocks in object storage, over the partitions this gateway leads.",
		}, []string{"topic_id"}),
		entries: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_topic_index_entries",
			Help: "Segment index entries of a topic, over the partitions this gateway leads.",
		}, []string{"topic_id"}),
		objects: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_topic_objects",
			Help: "Segment objects a topic's index references (an object shared by partitions counts once per partition), over the partitions this gateway leads.",
		}, []string{"topic_id"}),
		dirty: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_topic_dirty_ratio",
			Help: "For a compacted topic, the share of its retained bytes that key compaction has not cleaned yet (Kafka's dirty ratio, compared with min.cleanable.dirty.ratio), over the partitions this gateway leads.",
		}, []string{"topic_id"}),
		logStart: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_topic_log_start_offset_sum",
			Help: "Sum of a topic's partitions' log start offsets, over the partitions this gateway leads.",
		}, []string{"topic_id"}),
	}
	for _, k := range jobKinds {
		m.jobSeconds.WithLabelValues(k)
		m.failures.WithLabelValues(k)
	}
	return m
}

func (m *metrics) publish(topicID string, u Usage, logStarts int64, compacted bool) {
	m.published[topicID] = true
	if compacted && u.Bytes > 0 {
		m.dirty.WithLabelValues(topicID).Set(float64(u.DirtyBytes) / float64(u.Bytes))
	} else {
		m.dirty.DeleteLabelValues(topicID)
	}
	m.bytes.WithLabelValues(topicID).Set(float64(u.Bytes))
	m.entries.WithLabelValues(topicID).Set(float64(u.Entries))
	m.objects.WithLabelValues(topicID).Set(float64(u.Objects))
	m.logStart.WithLabelValues(topicID).Set(float64(logStarts))
}

// forgetExcept drops the gauges of topics not in live (deleted, or no longer
// led here).
func (m *metrics) forgetExcept(live map[string]bool) {
	for id := range m.published {
		if live[id] {
			continue
		}
		for _, g := range []*prometheus.GaugeVec{m.bytes, m.entries, m.objects, m.logStart, m.dirty} {
			g.DeleteLabelValues(id)
		}
		delete(m.published, id)
	}
}
