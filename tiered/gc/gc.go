package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
)

// Index is what the collector needs of the coordinator.
type Index interface {
	// Partitions lists every partition with committed state, deleted
	// topics' included.
	Partitions(ctx context.Context) ([]index.TopicPartition, error)
	// LoadPartition returns a partition's committed state and revision.
	LoadPartition(ctx context.Context, tp index.TopicPartition) (index.Partition, uint64, error)
	// DeletePartition removes a partition's state if still at revision.
	DeletePartition(ctx context.Context, tp index.TopicPartition, revision uint64) error
	// Chunks calls fn with every stored chunk record.
	Chunks(ctx context.Context, fn func(index.StoredChunk) error) error
	// DeleteChunk removes a chunk record if still at its revision.
	DeleteChunk(ctx context.Context, c index.StoredChunk) error
}

// DefaultPrefix is where the tiered log writes segment objects.
const DefaultPrefix = "segments/"

// Config configures a Collector. Bucket, Index and Live are required.
type Config struct {
	Bucket objstore.Bucket
	Index  Index
	// Live reports whether a topic id names an existing topic.
	Live func(topicID [16]byte) bool
	// Owner reports whether this gateway runs collection now (one gateway
	// at a time, by placement); nil: always.
	Owner func() bool
	// Grace is how long something must have been unreferenced, and an
	// object must have existed, before it is deleted. Default 5m (the
	// tiered log's DefaultObjectGrace, which must be the same value).
	Grace time.Duration
	// Interval is how often a pass runs. Default Grace/2.
	Interval time.Duration
	// Prefix is the key prefix of segment objects. Default DefaultPrefix.
	Prefix string
	// StepHook, if set, is called at each step of a pass: "gc:marked" once
	// marking is complete and before anything is deleted, "gc:deleted"
	// after the first object deleted. Crash tests stop the process there;
	// nil in production.
	StepHook func(step string)
	// Now returns the current time. Default time.Now.
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (c *Config) ensureDefaults() error {
	if c.Bucket == nil || c.Index == nil || c.Live == nil {
		return errors.New("gc: Config.Bucket, Index and Live are required")
	}
	if c.Grace <= 0 {
		c.Grace = 5 * time.Minute
	}
	if c.Interval <= 0 {
		c.Interval = c.Grace / 2
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.StepHook == nil {
		c.StepHook = func(string) {}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Collector deletes what no committed index references. Create it with New;
// Run runs passes until its context ends. Its state (what each pass found
// unreferenced, and when first) is owned by the goroutine running passes.
type Collector struct {
	cfg     Config
	metrics *metrics

	// Candidates found unreferenced, by kind, with when they were first
	// found so. A pass rebuilds each map from what it finds, so something
	// referenced again drops out.
	objects    map[string]time.Time
	chunks     map[string]time.Time
	partitions map[index.TopicPartition]time.Time
}

// New returns a Collector.
func New(cfg Config) (*Collector, error) {
	if err := cfg.ensureDefaults(); err != nil {
		return nil, err
	}
	return &Collector{
		cfg:        cfg,
		metrics:    newMetrics(cfg.Registerer),
		objects:    map[string]time.Time{},
		chunks:     map[string]time.Time{},
		partitions: map[index.TopicPartition]time.Time{},
	}, nil
}

// Run runs a pass every Interval while this gateway is the owner, until ctx
// ends. A failed pass is logged; the next one starts afresh.
func (c *Collector) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if c.cfg.Owner != nil && !c.cfg.Owner() {
			// Another gateway collects; what this one remembered is stale
			// when it takes over again.
			clear(c.objects)
			clear(c.chunks)
			clear(c.partitions)
			continue
		}
		if _, err := c.Pass(ctx); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Warn("garbage collection pass failed; nothing more deleted", "err", err)
		}
	}
}

// Stats is what one pass did.
type Stats struct {
	Partitions, Chunks, Objects                      int // kept: referenced, or not yet past the grace
	PartitionsDeleted, ChunksDeleted, ObjectsDeleted int
}

// Pass marks everything the committed indexes reference, then deletes what
// has been unreferenced for the grace period. An error from the coordinator
// before the deletions start ends the pass with nothing deleted.
func (c *Collector) Pass(ctx context.Context) (Stats, error) {
	start := c.cfg.Now()
	var st Stats
	objects, chunks, err := c.mark(ctx, start, &st)
	c.metrics.passes.Inc()
	if err != nil {
		c.metrics.failures.Inc()
		return st, err
	}
	c.cfg.StepHook("gc:marked")
	if err := c.sweepChunks(ctx, start, chunks, &st); err != nil {
		c.metrics.failures.Inc()
		return st, err
	}
	if err := c.sweepObjects(ctx, start, objects, &st); err != nil {
		c.metrics.failures.Inc()
		return st, err
	}
	c.metrics.seconds.Observe(c.cfg.Now().Sub(start).Seconds())
	c.metrics.objects.Set(float64(st.Objects))
	return st, nil
}

// mark reads every partition's committed state and returns the objects and
// chunks they reference. Partitions of topics that no longer exist are
// deleted once found so in passes a grace period apart; their objects and
// chunks are not marked.
func (c *Collector) mark(ctx context.Context, now time.Time, st *Stats) (objects, chunks map[string]bool, err error) {
	tps, err := c.cfg.Index.Partitions(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list partitions: %w", err)
	}
	objects, chunks = map[string]bool{}, map[string]bool{}
	dead := map[index.TopicPartition]time.Time{}
	type doomed struct {
		tp  index.TopicPartition
		rev uint64
	}
	var remove []doomed
	for _, tp := range tps {
		p, rev, err := c.cfg.Index.LoadPartition(ctx, tp)
		if err != nil {
			return nil, nil, fmt.Errorf("load partition %x/%d: %w", tp.TopicID, tp.Partition, err)
		}
		if rev != 0 && !c.cfg.Live(tp.TopicID) {
			first := c.partitions[tp]
			if first.IsZero() {
				first = now
			}
			dead[tp] = first
			if now.Sub(first) >= c.cfg.Grace {
				remove = append(remove, doomed{tp, rev})
				continue
			}
		}
		for _, e := range p.Entries {
			objects[e.Object] = true
		}
		for _, ch := range p.Chunks {
			chunks[ch.Key] = true
		}
	}
	c.partitions = dead
	// Only now that marking is complete: deleting a head makes its objects
	// garbage for this very pass's sweep (once they are past the grace).
	for _, d := range remove {
		if err := c.cfg.Index.DeletePartition(ctx, d.tp, d.rev); err != nil {
			c.cfg.Logger.Warn("deleted topic's partition state not removed", "partition", d.tp.Partition, "err", err)
			continue
		}
		delete(c.partitions, d.tp)
		st.PartitionsDeleted++
		c.metrics.deleted.WithLabelValues("partition").Inc()
	}
	st.Partitions = len(tps) - st.PartitionsDeleted
	return objects, chunks, nil
}

// sweepChunks deletes chunk records no head references, once unreferenced
// for the grace period and written longer ago than that.
func (c *Collector) sweepChunks(ctx context.Context, now time.Time, referenced map[string]bool, st *Stats) error {
	found := map[string]time.Time{}
	var doomed []index.StoredChunk
	err := c.cfg.Index.Chunks(ctx, func(ch index.StoredChunk) error {
		if referenced[ch.Key] || now.Sub(ch.Written) < c.cfg.Grace {
			st.Chunks++
			return nil
		}
		first := c.chunks[ch.Key]
		if first.IsZero() {
			first = now
		}
		found[ch.Key] = first
		if now.Sub(first) >= c.cfg.Grace {
			doomed = append(doomed, ch)
		} else {
			st.Chunks++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list chunks: %w", err)
	}
	c.chunks = found
	for _, ch := range doomed {
		if err := c.cfg.Index.DeleteChunk(ctx, ch); err != nil {
			c.cfg.Logger.Debug("chunk not removed", "key", ch.Key, "err", err)
			st.Chunks++
			continue
		}
		delete(c.chunks, ch.Key)
		st.ChunksDeleted++
		c.metrics.deleted.WithLabelValues("chunk").Inc()
	}
	return nil
}

// sweepObjects lists the segment objects page by page and deletes those no
// index references, once unreferenced for the grace period and created
// longer ago than that (by the time in their key). Keys it cannot date are
// never deleted. Memory: the referenced set and the candidates, not the
// listing.
func (c *Collector) sweepObjects(ctx context.Context, now time.Time, referenced map[string]bool, st *Stats) error {
	found := map[string]time.Time{}
	var doomed []string
	err := c.cfg.Bucket.List(ctx, c.cfg.Prefix, func(key string) error {
		created, ok := ObjectTime(key)
		if !ok || referenced[key] || now.Sub(created) < c.cfg.Grace {
			st.Objects++
			return nil
		}
		first := c.objects[key]
		if first.IsZero() {
			first = now
		}
		found[key] = first
		if now.Sub(first) >= c.cfg.Grace {
			doomed = append(doomed, key)
		} else {
			st.Objects++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list objects: %w", err)
	}
	c.objects = found
	for _, key := range doomed {
		if err := c.cfg.Bucket.Delete(ctx, key); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.cfg.Logger.Warn("object not deleted", "object", key, "err", err)
			st.Objects++
			continue
		}
		delete(c.objects, key)
		st.ObjectsDeleted++
		if st.ObjectsDeleted == 1 {
			c.cfg.StepHook("gc:deleted")
		}
		c.metrics.deleted.WithLabelValues("object").Inc()
	}
	return nil
}

// ObjectTime returns when a segment object was created, from its key
// (segments/<node>/<date>/<unix nanoseconds>-<random>.seg, as the tiered log
// names them).
func ObjectTime(key string) (time.Time, bool) {
	base := path.Base(key)
	ns, _, ok := strings.Cut(base, "-")
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}

type metrics struct {
	passes, failures prometheus.Counter
	seconds          prometheus.Histogram
	deleted          *prometheus.CounterVec
	objects          prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		passes: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_gc_passes_total",
			Help: "Garbage collection passes run by this gateway.",
		}),
		failures: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_gc_pass_failures_total",
			Help: "Garbage collection passes that stopped on an error.",
		}),
		seconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_gc_pass_duration_seconds",
			Help:    "Time a garbage collection pass took.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		deleted: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_gc_deleted_total",
			Help: "What garbage collection deleted, by kind: object (segment DELETEs), chunk (index chunk records), partition (deleted topics' partition state).",
		}, []string{"kind"}),
		objects: f.NewGauge(prometheus.GaugeOpts{
			Name: "strata_gc_objects",
			Help: "Segment objects kept by the last pass.",
		}),
	}
	for _, k := range []string{"object", "chunk", "partition"} {
		m.deleted.WithLabelValues(k)
	}
	return m
}
