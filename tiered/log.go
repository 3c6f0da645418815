package tiered

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/stratalog/strata/tiered/cache"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/wal"
)

// Index is what the log needs of the coordinator: each partition's committed
// state, replaced only by compare-and-swap on its revision.
type Index interface {
	// LoadPartition returns the committed state and its revision; a partition
	// never written returns the zero state and revision 0.
	LoadPartition(ctx context.Context, tp index.TopicPartition) (index.Partition, uint64, error)
	// LoadPartitions is LoadPartition for many partitions, in tps's order,
	// in fewer round trips.
	LoadPartitions(ctx context.Context, tps []index.TopicPartition) ([]index.Partition, []uint64, error)
	// CommitPartition stores next if the stored revision is still prevRevision
	// (0: nothing stored yet). It returns the state as stored, which may carry
	// updated Chunks, and its new revision. It fails with an error wrapping
	// index.ErrConflict when the revision moved, or index.ErrFenced when the
	// stored leader epoch is newer than next's.
	CommitPartition(ctx context.Context, tp index.TopicPartition, next index.Partition, prevRevision uint64) (index.Partition, uint64, error)
	// CommitPartitions makes several independent commits, each as
	// CommitPartition would, in fewer round trips; a flush commits every
	// partition it wrote with one call.
	CommitPartitions(ctx context.Context, commits []index.Commit) []index.CommitResult
	// PartitionRevision returns the revision of the committed state (0:
	// none), without reading the state.
	PartitionRevision(ctx context.Context, tp index.TopicPartition) (uint64, error)
}

// Defaults for Config's zero values.
const (
	DefaultFlushInterval = 250 * time.Millisecond
	DefaultFlushBytes    = 8 << 20
	// DefaultPartitionFlushBytes is Config.PartitionFlushBytes's default: a
	// partition taking 256 KiB/s or more at the default flush interval goes
	// into every flush.
	DefaultPartitionFlushBytes = 64 << 10
	DefaultCacheBytes          = 256 << 20
	// DefaultPrefetchBytes and DefaultPrefetchGets: a cold reader gets
	// 32 MiB read ahead of it, with up to 8 GETs in flight over all
	// partitions (about what saturates one object-store connection pool).
	DefaultPrefetchBytes = 32 << 20
	DefaultPrefetchGets  = 8
	// DefaultMaxTailBytes bounds what may wait for object storage before
	// Append pushes back, so an unreachable store cannot exhaust memory.
	DefaultMaxTailBytes = 256 << 20
	// DefaultProducerExpiry is Kafka's producer.id.expiration.ms (1 day): an
	// idempotent producer idle this long is forgotten.
	DefaultProducerExpiry = 24 * time.Hour
	// DefaultMaxTailAge is Config.MaxTailAge's default.
	DefaultMaxTailAge = 5 * time.Minute
	// DefaultVerifyRate is Config.VerifyRate's default: up to 500
	// partitions waiting at their high watermark are checked every second.
	DefaultVerifyRate = 500
	// DefaultWALPurgeInterval is Config.WALPurgeInterval's default. A purge
	// is a replicated JetStream operation, and nats-server's file store
	// scans every message between a subject's first and the purge point,
	// so in a shard shared by many partitions purging costs in proportion
	// to partitions × messages however often it runs; rarer purges cost
	// fewer round trips. Flushed messages wait on disk up to this long;
	// replay skips them.
	DefaultWALPurgeInterval = 10 * time.Second
	// DefaultWALIdleChainAge is Config.WALIdleChainAge's default: a live
	// gateway with any traffic appends far more often.
	DefaultWALIdleChainAge = 2 * time.Minute
)

// Config configures a Log. The zero value of each field means its documented
// default; Bucket and Index are required.
type Config struct {
	// Bucket is where segment objects go.
	Bucket objstore.Bucket
	// Index stores each partition's committed state.
	Index Index
	// NodeID names this gateway in object keys, so keys from different
	// gateways never collide. Default "0".
	NodeID string
	// FlushInterval is how often a flush runs. Default 250ms.
	FlushInterval time.Duration
	// FlushBytes starts a flush early once this many bytes are queued.
	// Default 8 MiB.
	FlushBytes int
	// PartitionFlushBytes and PartitionFlushAge let a wal-tier partition
	// that trickles skip flushes. Every flush commits each partition it
	// carries to the index, one replicated write per partition, so a
	// thousand partitions at a few KB/s each would cost a thousand commits
	// per FlushInterval while the segments stay small. A partition's
	// batches go into a flush once it has PartitionFlushBytes queued or its
	// oldest queued batch has waited PartitionFlushAge (spread over ½ to 1½
	// of it by the partition's hash, so partitions come due at different
	// flushes); until then they wait durable in the WAL, served from
	// memory. s3-tier batches, whose producers wait for the flush, go into
	// every flush. Defaults DefaultPartitionFlushBytes and 8 × FlushInterval.
	PartitionFlushBytes int
	PartitionFlushAge   time.Duration
	// MaxTailBytes is how many bytes may wait for object storage (on the
	// wal tier: the tail, held in memory until flushed) before Append
	// returns ErrBackpressure. Default 256 MiB.
	MaxTailBytes int
	// CacheBytes is the block cache budget. Default 256 MiB.
	CacheBytes int64
	// PrefetchBytes is how far ahead of a cold reader a partition's blocks
	// are fetched (prefetch.go); PrefetchGets bounds the read-ahead GETs in
	// flight over all partitions. Defaults DefaultPrefetchBytes and
	// DefaultPrefetchGets; negative turns read-ahead off.
	PrefetchBytes int64
	PrefetchGets  int
	// BlockSize is the largest block a partition's run in a segment is cut
	// into, for ranged reads. Default segment.DefaultBlockSize.
	BlockSize int
	// ProducerExpiry is how long an idle idempotent producer is remembered.
	// Default 24h.
	ProducerExpiry time.Duration
	// Logger receives the log's logs. Default: discard.
	Logger *slog.Logger
	// Registerer receives the log's metrics. Default: none.
	Registerer prometheus.Registerer
	// Now returns the current time. Default time.Now; tests inject a clock.
	Now func() time.Time
	// MayClaim, if set, is asked before a partition is claimed (loaded with
	// the next leader epoch); an error refuses the claim, and the use that
	// needed it fails with ErrNotLeader. A gateway checks there, against the
	// freshest membership, that it leads the partition, so that a stale view
	// does not fence the real leader.
	MayClaim func(ctx context.Context, tp index.TopicPartition) error
	// OnClaim, if set, is told each claim's leader epoch once it is
	// committed, before the partition serves: the gateway publishes it for
	// Metadata (coordinator.PublishLeaderEpoch).
	OnClaim func(ctx context.Context, tp index.TopicPartition, epoch int32)
	// ReplicaRefresh is how often, at most, a replica read (ReadReplica)
	// rereads a partition it does not lead. Default
	// DefaultReplicaRefresh.
	ReplicaRefresh time.Duration
	// VerifyInterval is how often, at most, a read at a partition's high
	// watermark checks that no other gateway has committed to the partition
	// since this one claimed it (see Read). Default 1s.
	VerifyInterval time.Duration
	// VerifyRate is how many of those checks the Log makes a second at
	// most, over all its partitions: each costs two store reads, so a
	// consumer waiting on 10,000 partitions must not cost 20,000 reads a
	// second. A partition is then checked every VerifyInterval or every
	// partitions/VerifyRate seconds, whichever is longer. Default
	// DefaultVerifyRate.
	VerifyRate int
	// WAL, if set, is the write-ahead tail (tail.go): partitions on the wal
	// tier acknowledge a batch once it is there, and every partition
	// replays it when loaded. Without it every partition is on the s3
	// tier.
	WAL WAL
	// Durability, if set, returns a partition's tier; it is asked when the
	// partition is loaded. Default: DurabilityWAL when WAL is set.
	Durability func(ctx context.Context, tp index.TopicPartition) (Durability, error)
	// MaxTailAge is how old the oldest batch not yet in object storage may
	// grow before Append returns ErrBackpressure, so that an unreachable
	// store stops acknowledgements rather than growing the tail without
	// end. Default 5m.
	MaxTailAge time.Duration
	// WALPurgeInterval is how often flushed messages are purged from the
	// WAL. Default DefaultWALPurgeInterval.
	WALPurgeInterval time.Duration
	// WALChains appends every partition's records to this Log's own WAL
	// writer chain (chain.go) rather than to each partition's subject: one
	// WAL message per round per shard, whatever the partition count.
	WALChains bool
	// WALIdleChainAge is how long another writer's chain must have been
	// idle before the purger reads it, to drop it once every partition it
	// holds records of has moved on (chain.go): a gateway that died leaves
	// its chain behind. Default DefaultWALIdleChainAge.
	WALIdleChainAge time.Duration
	// ObjectGrace is the garbage collector's grace period (tiered/gc): an
	// object unreferenced and older than it may be deleted. A commit that
	// would reference an object created ObjectGrace ago or more is
	// abandoned instead (the flush's batches are failed, or replayed from
	// the WAL by the next load), so a slow commit never points the index
	// at a deleted object. Default DefaultObjectGrace.
	ObjectGrace time.Duration
	// CleanerMemory bounds the key map of one key compaction (Kafka's
	// log.cleaner.dedupe.buffer.size): a cleaning whose dirty part has more
	// keys stops where the map filled and goes on at the next. Default
	// DefaultCleanerMemory.
	CleanerMemory int64
	// StepHook, if set, is called at each step of a merge or key compaction
	// with the step's name: "merge:written" and "clean:written" once its
	// new objects are PUT and before the index commit, "merge:committed"
	// and "clean:committed" once the commit landed. Crash tests stop the
	// process there (a fault a real crash produces only by chance); nil in
	// production.
	StepHook func(step string)
}

// DefaultObjectGrace is Config.ObjectGrace's default: long enough for any
// flush's commit and any reader's fetch, short enough that garbage does not
// pile up (Kafka's file.delete.delay.ms is one minute).
const DefaultObjectGrace = 5 * time.Minute

func (c *Config) ensureDefaults() error {
	if c.Bucket == nil {
		return errors.New("tiered: Config.Bucket is required")
	}
	if c.Index == nil {
		return errors.New("tiered: Config.Index is required")
	}
	if c.NodeID == "" {
		c.NodeID = "0"
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.FlushBytes <= 0 {
		c.FlushBytes = DefaultFlushBytes
	}
	if c.PartitionFlushBytes <= 0 {
		c.PartitionFlushBytes = DefaultPartitionFlushBytes
	}
	if c.PartitionFlushAge <= 0 {
		c.PartitionFlushAge = 8 * c.FlushInterval
	}
	if c.MaxTailBytes <= 0 {
		c.MaxTailBytes = DefaultMaxTailBytes
	}
	if c.MaxTailBytes < c.FlushBytes {
		c.MaxTailBytes = c.FlushBytes
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = DefaultCacheBytes
	}
	if c.PrefetchBytes == 0 {
		c.PrefetchBytes = DefaultPrefetchBytes
	}
	if c.PrefetchGets == 0 {
		c.PrefetchGets = DefaultPrefetchGets
	}
	if c.ProducerExpiry <= 0 {
		c.ProducerExpiry = DefaultProducerExpiry
	}
	if c.ReplicaRefresh <= 0 {
		c.ReplicaRefresh = DefaultReplicaRefresh
	}
	if c.VerifyInterval <= 0 {
		c.VerifyInterval = time.Second
	}
	if c.VerifyRate <= 0 {
		c.VerifyRate = DefaultVerifyRate
	}
	if c.MaxTailAge <= 0 {
		c.MaxTailAge = DefaultMaxTailAge
	}
	if c.WALIdleChainAge <= 0 {
		c.WALIdleChainAge = DefaultWALIdleChainAge
	}
	if c.WALPurgeInterval <= 0 {
		c.WALPurgeInterval = DefaultWALPurgeInterval
	}
	if c.ObjectGrace <= 0 {
		c.ObjectGrace = DefaultObjectGrace
	}
	if c.CleanerMemory <= 0 {
		c.CleanerMemory = DefaultCleanerMemory
	}
	if c.StepHook == nil {
		c.StepHook = func(string) {}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Log is the set of partitions this gateway serves. Create it with New and run
// its flusher with Run.
type Log struct {
	cfg      Config
	cache    *cache.Cache
	metrics  *metrics
	prefetch *prefetcher // nil when off
	// verifies budgets verifyClaim's store reads (Config.VerifyRate), in a
	// burst of at most a tenth of a second's worth, so a fetch of many
	// partitions is not held up by all their checks at once.
	verifies *rate.Limiter

	// commitMu serialises the flush's index commits with lifecycle edits
	// (lifecycle.go), so that each builds on what the other committed. It
	// is held across the commits' I/O, and taken before any partition's mu.
	commitMu sync.Mutex

	// flushNow has room for one signal: Append sends when FlushBytes are
	// queued, and a send that finds it full is dropped (a flush is coming).
	flushNow chan struct{}
	// segmentBuf is the last flush's segment buffer, which the next one
	// writes into: flushes run one at a time (Run), and nothing keeps a
	// segment's bytes once its flush returns (cacheBlocks copies). A new
	// buffer per flush, tens of megabytes to allocate and clear several
	// times a second, was a tenth of a producing gateway's CPU.
	segmentBuf []byte
	// idleFlushes counts the flushes in a row that found nothing to write.
	idleFlushes int

	// ctx bounds the WAL senders; stop cancels it once shutdown has
	// waited for them.
	ctx     context.Context
	stop    context.CancelFunc
	senders sync.WaitGroup

	// writer is this Log's WAL writer with Config.WALChains, else nil.
	writer *wal.Writer
	// floorsMu guards chainFloors: per partition, the sequence of the
	// first message of this writer's chain holding its batches not yet in
	// the index (chain.go). It is taken under partitions' mu.
	floorsMu    sync.Mutex
	chainFloors map[index.TopicPartition]uint64
	// released is, per partition, the last of it this Log gave up
	// (noteReleased): what its floor waits for.
	released map[index.TopicPartition]*partition
	// shardPurged is, per shard, what the purger last removed this
	// writer's chains below, and idleChains what it learned of other
	// writers' idle chains; only the purge loop uses them.
	shardPurged map[int]uint64
	idleChains  map[idleChainKey]*idleChain

	mu    sync.Mutex
	parts map[index.TopicPartition]*partition
	// draining are partitions taken out of parts that the flush still
	// commits for (drain).
	draining map[*partition]struct{}
	// replicas are partitions read as a follower (replica.go).
	replicas map[index.TopicPartition]*replica
	queued   int // bytes queued in all partitions, not yet taken by a flush
	// deferred is what the last flush left queued (Config.PartitionFlushAge):
	// flushIfFull counts only what was queued since.
	deferred int
	flushing int  // bytes the running flush took, until it ends
	closed   bool // set by Run on shutdown; Append then fails with ErrClosed
	// durableBefore is when the last flush took its batches, or when the
	// oldest batch it left waiting was queued: everything queued before
	// then is in object storage (or failed). The tail's age is measured
	// from it.
	durableBefore time.Time
}

// New returns a Log. It does no I/O: partitions are loaded when first used.
func New(cfg Config) (*Log, error) {
	if err := cfg.ensureDefaults(); err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	l := &Log{
		cfg:           cfg,
		cache:         cache.New(cfg.CacheBytes),
		flushNow:      make(chan struct{}, 1),
		ctx:           ctx,
		stop:          stop,
		parts:         make(map[index.TopicPartition]*partition),
		draining:      make(map[*partition]struct{}),
		replicas:      make(map[index.TopicPartition]*replica),
		durableBefore: cfg.Now(),
		verifies:      rate.NewLimiter(rate.Limit(cfg.VerifyRate), max(1, cfg.VerifyRate/10)),
	}
	if cfg.WALChains && cfg.WAL != nil {
		w, err := cfg.WAL.Writer(newWriterID(cfg.NodeID))
		if err != nil {
			stop()
			return nil, err
		}
		l.writer, l.chainFloors = w, make(map[index.TopicPartition]uint64)
		l.released = make(map[index.TopicPartition]*partition)
		l.shardPurged = make(map[int]uint64)
		l.idleChains = make(map[idleChainKey]*idleChain)
	}
	l.metrics = newMetrics(cfg.Registerer, l.tailStats)
	l.prefetch = newPrefetcher(l)
	return l, nil
}

// tailStats returns the bytes waiting for object storage and the age of the
// oldest of them, for backpressure and metrics.
func (l *Log) tailStats() (bytes int, age time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.queued + l.flushing, l.tailAgeLocked()
}

// TailBytes returns the bytes waiting for object storage, for the memory
// budget's metrics.
func (l *Log) TailBytes() int64 {
	n, _ := l.tailStats()
	return int64(n)
}

// CachedBytes returns the bytes the block cache holds.
func (l *Log) CachedBytes() int64 { return l.cache.Size() }

func (l *Log) tailAgeLocked() time.Duration {
	if l.queued+l.flushing == 0 {
		return 0
	}
	return l.cfg.Now().Sub(l.durableBefore)
}

// flushIfFull starts a flush early once FlushBytes have been queued since the
// last flush. Append calls it for a batch queued for the flush, the WAL sender
// once the WAL holds what it sent: a batch still on its way to the WAL cannot
// be flushed yet.
func (l *Log) flushIfFull() {
	l.mu.Lock()
	full := l.queued-l.deferred >= l.cfg.FlushBytes
	l.mu.Unlock()
	if full {
		l.flushSoon()
	}
}

// shutdownFlushTimeout bounds the last flush on shutdown: long enough for a slow
// PUT, short enough that a dead store does not hang the process.
const shutdownFlushTimeout = 30 * time.Second

// Run flushes until ctx is done, then stops accepting appends, flushes what is
// queued (bounded by shutdownFlushTimeout), fails anything left, and returns.
func (l *Log) Run(ctx context.Context) error {
	ticker := time.NewTicker(l.cfg.FlushInterval)
	defer ticker.Stop()
	if l.cfg.WAL != nil {
		pctx, stopPurges := context.WithCancel(ctx)
		purges := make(chan struct{})
		go func() {
			defer close(purges)
			l.purgeLoop(pctx)
		}()
		defer func() {
			stopPurges()
			<-purges
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return l.shutdown(ctx)
		case <-ticker.C:
		case <-l.flushNow:
		}
		if err := l.flush(ctx, false); err != nil && ctx.Err() == nil {
			l.cfg.Logger.Warn("flush failed", "err", err)
		}
	}
}

// shutdown runs in order: 1. refuse new appends; 2. let the WAL senders
// finish what they took; 3. flush what is queued; 4. fail whatever could not
// be flushed, so no producer waits forever.
func (l *Log) shutdown(ctx context.Context) error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.senders.Wait()
	defer func() {
		l.stop()
		l.prefetch.close()
	}()

	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownFlushTimeout)
	defer cancel()
	err := l.flush(fctx, true)

	l.mu.Lock()
	parts := make([]*partition, 0, len(l.parts))
	for _, p := range l.parts {
		parts = append(parts, p)
	}
	l.mu.Unlock()
	for _, p := range parts {
		l.drop(p, p.failQueued(ErrClosed))
	}
	if err != nil {
		return fmt.Errorf("final flush: %w", err)
	}
	return nil
}

// partition returns the loaded partition, loading it on first use. Loading reads
// the committed state and claims it with the next leader epoch, fencing any
// earlier writer.
func (l *Log) partition(ctx context.Context, tp index.TopicPartition) (*partition, error) {
	return l.partitionFrom(ctx, tp, nil)
}

// partitionFrom is partition, with the committed state read beforehand
// (Load) when stored is not nil.
func (l *Log) partitionFrom(ctx context.Context, tp index.TopicPartition, stored *storedState) (*partition, error) {
	l.mu.Lock()
	p, ok := l.parts[tp]
	if !ok {
		p = newPartition(tp, l.flushAge(tp))
		l.parts[tp] = p
		l.mu.Unlock()
		l.load(ctx, p, stored)
		p.mu.Lock()
		broken, draining := p.broken, p.draining
		p.mu.Unlock()
		switch {
		case p.loadErr != nil:
			l.drop(p, 0)
		case broken: // its topic was deleted while it loaded
			l.drop(p, p.failQueued(ErrNotLeader))
		case draining: // released while it loaded: what it replayed is queued
			l.drain(p, 0)
		}
	} else {
		l.mu.Unlock()
		select {
		case <-p.loaded:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if p.loadErr != nil {
		return nil, p.loadErr
	}
	return p, nil
}

// loadParallelism bounds the partitions Load loads at once: each load is a
// few coordinator round trips (claim, head, leader epoch) and a WAL read.
// Enough run at once for the coordinator to group-commit their claims'
// writes (its batches start at 64): 20,000 first writes took 10.9 s at 32
// at once, 8.4 s at 256, and 6.4 s at 256 with the batches.
const loadParallelism = 256

// readTogether is the fewest partitions Load reads the committed states of
// in one Index.LoadPartitions, before it claims them.
const readTogether = 64

// storedState is a partition's committed state and its revision, read
// before its load.
type storedState struct {
	state    index.Partition
	revision uint64
}

// Load loads those of tps not loaded yet, loadParallelism at a time, so that
// a request naming many partitions for the first time (a produce or fetch
// of a 10,000-partition topic) does not load them one after another. From
// readTogether on, their committed states are read in one LoadPartitions
// first. It reports nothing: a partition that failed to load is dropped, and
// its next use loads it again and reports the error.
func (l *Log) Load(ctx context.Context, tps []index.TopicPartition) {
	var missing []index.TopicPartition
	l.mu.Lock()
	for _, tp := range tps {
		if _, ok := l.parts[tp]; !ok {
			missing = append(missing, tp)
		}
	}
	l.mu.Unlock()
	if len(missing) < 2 {
		return // the caller's own use loads a single one
	}
	stored := make([]*storedState, len(missing))
	if len(missing) >= readTogether {
		// A claim's compare-and-swap on the revision catches a state that
		// moved since: that load fails, and the next use reads afresh.
		states, revs, err := l.cfg.Index.LoadPartitions(ctx, missing)
		if err != nil {
			l.cfg.Logger.Warn("reading partition states together failed; reading each", "partitions", len(missing), "err", err)
		} else {
			for i := range missing {
				stored[i] = &storedState{state: states[i], revision: revs[i]}
			}
		}
	}
	var g errgroup.Group
	g.SetLimit(loadParallelism)
	for i, tp := range missing {
		g.Go(func() error {
			_, _ = l.partitionFrom(ctx, tp, stored[i])
			return nil
		})
	}
	_ = g.Wait()
}

// Loaded reports whether tp is loaded, or loading, as a partition this Log
// leads.
func (l *Log) Loaded(tp index.TopicPartition) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.parts[tp]
	return ok
}

// drop forgets p, if it is still the one loaded, so the next use of its
// partition reloads the state from the index, and releases queuedBytes of its
// failed batches from the queue budget.
func (l *Log) drop(p *partition, queuedBytes int) {
	l.mu.Lock()
	l.queued -= queuedBytes
	if l.parts[p.tp] == p {
		delete(l.parts, p.tp)
	}
	delete(l.draining, p)
	l.mu.Unlock()
	l.noteReleased(p)
}

// drain takes p out of the Log, so that its next use loads it afresh, and
// keeps it for the flush until the batches the WAL acknowledged for it (or,
// on the s3 tier, those queued) are committed, or fail because a later
// leader claimed the partition meanwhile and replays them itself. Without
// it, a partition given up with acknowledged batches would hold its writer
// chain until its next leader moved them, which may be never (chain.go).
// unqueued is the bytes the caller took off p's queues.
func (l *Log) drain(p *partition, unqueued int) {
	// In the set before draining is seen, so that whoever sees p drained
	// (finishDrain) finds it there.
	l.mu.Lock()
	l.queued -= unqueued
	if l.parts[p.tp] == p {
		delete(l.parts, p.tp)
	}
	l.draining[p] = struct{}{}
	l.mu.Unlock()
	l.noteReleased(p)
	p.mu.Lock()
	p.draining = true
	drained := p.drained()
	p.mu.Unlock()
	if drained {
		l.finishDrain(p)
		return
	}
	l.flushSoon()
}

// drained reports whether a draining partition has nothing left to flush:
// no batch queued, in a flush, or on its way to the WAL. The caller holds
// p.mu.
func (p *partition) drained() bool {
	return len(p.queued) == 0 && len(p.inflight) == 0 && len(p.walInflight) == 0
}

// finishDrain lets go of a drained partition.
func (l *Log) finishDrain(p *partition) {
	l.mu.Lock()
	delete(l.draining, p)
	l.mu.Unlock()
}

// flushSoon asks for a flush now rather than at the next interval.
func (l *Log) flushSoon() {
	select {
	case l.flushNow <- struct{}{}:
	default: // a flush is already signalled
	}
}

// ForgetTopic drops every loaded partition of a deleted topic, led or read
// as a replica. What was queued for them fails with ErrNotLeader.
func (l *Log) ForgetTopic(topicID [16]byte) {
	l.mu.Lock()
	var gone []*partition
	for tp, p := range l.parts {
		if tp.TopicID == topicID {
			gone = append(gone, p)
			delete(l.parts, tp)
		}
	}
	for p := range l.draining {
		if p.tp.TopicID == topicID {
			gone = append(gone, p)
		}
	}
	for tp := range l.replicas {
		if tp.TopicID == topicID {
			delete(l.replicas, tp)
		}
	}
	l.mu.Unlock()
	for _, p := range gone {
		l.drop(p, p.failQueued(ErrNotLeader))
	}
	l.prefetch.forget(func(tp index.TopicPartition) bool { return tp.TopicID != topicID })
}

// ReleaseUnless gives up every loaded partition for which keep is false
// (one this gateway no longer leads): appends waiting for the WAL fail with
// ErrNotLeader, and what the WAL acknowledged is flushed as the partition
// drains (drain). A later use loads it afresh and claims it with the next
// leader epoch.
func (l *Log) ReleaseUnless(keep func(index.TopicPartition) bool) {
	l.mu.Lock()
	var gone []*partition
	for tp, p := range l.parts {
		if !keep(tp) {
			gone = append(gone, p)
		}
	}
	l.mu.Unlock()
	for _, p := range gone {
		p.mu.Lock()
		waiting := p.walQueued
		p.walQueued = nil
		p.mu.Unlock()
		l.drain(p, pendingBytes(waiting))
		finishAll(waiting, ErrNotLeader)
	}
	l.prefetch.forget(keep)
}

// newObjectKey returns a key never used before: the node id, the time, and
// random bits, so that neither a restart nor a clock step reuses one.
func (l *Log) newObjectKey() string {
	var r [8]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never returns an error
	now := l.cfg.Now().UTC()
	return fmt.Sprintf("segments/%s/%s/%020d-%s.seg", l.cfg.NodeID, now.Format("2006-01-02"), now.UnixNano(), hex.EncodeToString(r[:]))
}
