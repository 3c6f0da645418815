package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	// DefaultPrefix is the bucket name prefix when Config.Prefix is empty.
	DefaultPrefix = "strata"

	// maxRecordBytes caps every value the coordinator writes. NATS refuses
	// messages over the server's max_payload (1 MiB by default); staying
	// at half of that leaves room for headers and for servers configured
	// lower than the default.
	maxRecordBytes = 512 << 10

	// maxCASAttempts bounds every read-modify-CAS loop. Losing this many
	// times in a row means heavy contention on one key; the caller gets
	// ErrConflict rather than an unbounded wait.
	maxCASAttempts = 32
	// casBackoffMin and casBackoffMax bound the jittered pause between CAS
	// attempts, which spreads out writers that keep colliding.
	casBackoffMin = time.Millisecond
	casBackoffMax = 64 * time.Millisecond

	// maxReplicas is the most replicas JetStream allows for a stream.
	maxReplicas = 5
)

// validPrefix matches what JetStream allows in a bucket name.
var validPrefix = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Config configures a Store. The zero value of each field means its documented
// default.
type Config struct {
	// Prefix starts the name of every bucket the Store uses
	// ("<Prefix>_topics" and so on), so that several Strata clusters can
	// share one NATS account. Letters, digits, '-' and '_'.
	// Default: DefaultPrefix.
	Prefix string
	// Replicas is the number of JetStream replicas of each bucket: 3 in
	// production, 1 for the embedded single-node server. Open creates
	// missing buckets with it and refuses existing buckets that differ.
	// Default: 1.
	Replicas int
	// GatewayLease is how long a gateway's membership lasts without
	// renewal: the TTL of the gateways bucket, set when the bucket is
	// created (an existing bucket keeps its own). Default:
	// DefaultGatewayLease.
	GatewayLease time.Duration
	// Logger receives the Store's log lines. Default: nil, which discards
	// them.
	Logger *slog.Logger
}

// Store is the coordinator's metadata on JetStream KV. Its methods are safe for
// concurrent use. See the package documentation for the buckets, keys and
// compare-and-swap rules.
type Store struct {
	js          jetstream.JetStream
	cfg         Config
	log         *slog.Logger
	recordLimit int
	streams     []string // the buckets' streams

	topics     jetstream.KeyValue
	partitions jetstream.KeyValue
	chunks     jetstream.KeyValue
	counters   jetstream.KeyValue
	offsets    jetstream.KeyValue
	groups     jetstream.KeyValue
	gateways   jetstream.KeyValue
	leaders    jetstream.KeyValue
	schemas    jetstream.KeyValue
	txns       jetstream.KeyValue
	users      jetstream.KeyValue
	acls       jetstream.KeyValue
	quotas     jetstream.KeyValue

	// gatewayLease is the gateways bucket's TTL.
	gatewayLease time.Duration

	// idMu serialises AllocateProducerIDs within this Store, so that its
	// CAS loop contends only with other processes.
	idMu sync.Mutex

	// table is the topic cache; it has its own lock.
	table topicTable
	// partitionsSubject is the partitions bucket's key subject prefix, for
	// CommitPartitions' batches; atomicHeads is set when the server takes
	// atomic batches on that bucket.
	partitionsSubject string
	atomicHeads       bool

	// bucketStreams holds the buckets' streams as listings look them up
	// (listing.go), by bucket, so that a listing asks for their subjects
	// without first asking for the stream.
	bucketStreamsMu sync.Mutex
	bucketStreams   map[string]jetstream.Stream
	// headWrites and leaderWrites group-commit the single writes to the
	// partitions and leaders buckets (casBatcher).
	headWrites, leaderWrites *casBatcher
	// heads remembers partition heads by revision; it has its own lock.
	heads headCache
	// leaderEpochs is the watched copy of the leaders bucket; its own lock.
	leaderEpochs leaderTable
}

// Open creates the Store's buckets, or binds them when they exist, and
// returns a Store using them. Buckets use file storage, history 1 and
// cfg.Replicas; an existing bucket with other replicas or storage is refused
// with ErrBucketConfig. Open also turns off direct gets on each bucket (see
// openBucket), and turns on atomic batch publish on the partitions and
// leaders buckets where the server has it (see CommitPartitions and
// casBatcher). It is safe for several processes to Open the same buckets at
// once.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if !validPrefix.MatchString(cfg.Prefix) {
		return nil, fmt.Errorf("coordinator: invalid bucket prefix %q: letters, digits, '-' and '_' only", cfg.Prefix)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.GatewayLease <= 0 {
		cfg.GatewayLease = DefaultGatewayLease
	}
	if cfg.Replicas < 1 || cfg.Replicas > maxReplicas {
		return nil, fmt.Errorf("coordinator: replicas %d out of range 1..%d", cfg.Replicas, maxReplicas)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{js: js, cfg: cfg, log: log, recordLimit: maxRecordBytes}
	if mp := js.Conn().MaxPayload(); mp > 0 && int(mp/2) < s.recordLimit {
		s.recordLimit = int(mp / 2)
	}
	s.table.init()
	for _, b := range []struct {
		kv          *jetstream.KeyValue
		suffix, doc string
		ttl         time.Duration
	}{
		{&s.topics, "topics", "Strata topics by name", 0},
		{&s.partitions, "partitions", "Strata partition state (segment index heads)", 0},
		{&s.chunks, "chunks", "Strata immutable segment index chunks", 0},
		{&s.counters, "counters", "Strata id counters", 0},
		{&s.offsets, "offsets", "Strata committed consumer group offsets", 0},
		{&s.groups, "groups", "Strata consumer group membership", 0},
		{&s.gateways, "gateways", "Strata live gateways (leases)", cfg.GatewayLease},
		{&s.leaders, "leaders", "Strata partitions' latest leader epochs", 0},
		{&s.schemas, "schemas", "Strata schema registry: schemas, subjects, configs and modes", 0},
		{&s.txns, "txns", "Strata transactional ids: one record per id, written by compare-and-swap", 0},
		{&s.users, "users", "Strata SASL users: salted SCRAM credentials by mechanism and user", 0},
		{&s.acls, "acls", "Strata ACL bindings: one record per binding", 0},
		{&s.quotas, "quotas", "Strata client quotas: one record per user and client id entity", 0},
	} {
		kv, err := s.openBucket(ctx, cfg.Prefix+"_"+b.suffix, b.doc, b.ttl)
		if err != nil {
			return nil, err
		}
		*b.kv = kv
		s.streams = append(s.streams, "KV_"+cfg.Prefix+"_"+b.suffix)
	}
	s.partitionsSubject = "$KV." + cfg.Prefix + "_partitions."
	atomic, err := s.enableAtomicBatches(ctx, "KV_"+cfg.Prefix+"_partitions")
	if err != nil {
		return nil, err
	}
	s.atomicHeads = atomic
	s.headWrites = &casBatcher{kv: s.partitions, nc: js.Conn(), subject: s.partitionsSubject, atomic: atomic}
	atomic, err = s.enableAtomicBatches(ctx, "KV_"+cfg.Prefix+"_leaders")
	if err != nil {
		return nil, err
	}
	s.leaderWrites = &casBatcher{kv: s.leaders, nc: js.Conn(), subject: "$KV." + cfg.Prefix + "_leaders.", atomic: atomic}
	s.gatewayLease = cfg.GatewayLease
	if st, err := s.gateways.Status(ctx); err == nil && st.TTL() > 0 && st.TTL() != cfg.GatewayLease {
		s.log.Warn("gateways bucket keeps its own lease length", "lease", st.TTL(), "configured", cfg.GatewayLease)
		s.gatewayLease = st.TTL()
	}
	return s, nil
}

// StreamNames returns the JetStream streams behind the Store's buckets, for
// durability checks.
func (s *Store) StreamNames() []string { return slices.Clone(s.streams) }

// RecordLimit is the largest value, in bytes, the Store writes; bigger ones
// fail with ErrTooLarge.
func (s *Store) RecordLimit() int { return s.recordLimit }

// openBucket binds the bucket, creating it if missing, checks its
// configuration and makes sure reads go to the stream leader.
//
// nats.go's KV reads with "direct get" whenever the stream allows it: any
// replica answers, possibly from before the latest write. The architecture's
// rule is that every coordinator decision is a compare-and-swap on the KV
// revision, never a plain or direct read: a stale read would hand a CAS loop
// an old revision (it would only lose, but it might also report a fenced
// leader as current, or a deleted topic as present). So Open switches
// AllowDirect off on the bucket's stream and binds again, since the client
// picks direct or leader reads from the stream info it bound with.
func (s *Store) openBucket(ctx context.Context, bucket, description string, ttl time.Duration) (jetstream.KeyValue, error) {
	if err := s.ensureBucket(ctx, bucket, description, ttl); err != nil {
		return nil, err
	}
	stream := "KV_" + bucket
	// nats.go's CreateKeyValue, run by another process racing to create
	// the bucket, rewrites an existing stream whose config differs from a
	// fresh bucket's only in AllowDirect. Against nats-server 2.15 it does
	// not (the server adds metadata to the stream config), but should that
	// change, a few rounds of check-update-bind settle it.
	for range 3 {
		info, err := s.streamConfig(ctx, stream)
		if err != nil {
			return nil, err
		}
		if info.Replicas != s.cfg.Replicas {
			return nil, fmt.Errorf("bucket %s has %d replicas, want %d: %w", bucket, info.Replicas, s.cfg.Replicas, ErrBucketConfig)
		}
		if info.Storage != jetstream.FileStorage {
			return nil, fmt.Errorf("bucket %s uses %s storage, want file: %w", bucket, info.Storage, ErrBucketConfig)
		}
		if info.AllowDirect {
			info.AllowDirect = false
			if _, err := s.js.UpdateStream(ctx, info); err != nil {
				return nil, fmt.Errorf("turn off direct gets on stream %s: %w", stream, err)
			}
			s.log.Info("turned off direct gets on bucket", "bucket", bucket)
		}
		kv, err := s.js.KeyValue(ctx, bucket)
		if err != nil {
			return nil, fmt.Errorf("bind bucket %s: %w", bucket, err)
		}
		info, err = s.streamConfig(ctx, stream)
		if err != nil {
			return nil, err
		}
		if !info.AllowDirect {
			return kv, nil
		}
	}
	return nil, fmt.Errorf("bucket %s: direct gets keep being turned back on", bucket)
}

// ensureBucket creates the bucket unless it exists; ttl, when set, expires
// keys not written for that long.
func (s *Store) ensureBucket(ctx context.Context, bucket, description string, ttl time.Duration) error {
	_, err := s.js.KeyValue(ctx, bucket)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("bind bucket %s: %w", bucket, err)
	}
	_, err = s.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: description,
		History:     1,
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
		Replicas:    s.cfg.Replicas,
	})
	switch {
	case err == nil:
		s.log.Info("created bucket", "bucket", bucket, "replicas", s.cfg.Replicas)
		return nil
	case errors.Is(err, jetstream.ErrBucketExists):
		// Another process created it first; openBucket checks it.
		return nil
	default:
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
}

func (s *Store) streamConfig(ctx context.Context, stream string) (jetstream.StreamConfig, error) {
	st, err := s.js.Stream(ctx, stream)
	if err != nil {
		return jetstream.StreamConfig{}, fmt.Errorf("look up stream %s: %w", stream, err)
	}
	return st.CachedInfo().Config, nil
}

// encode marshals v to JSON, refusing values over the record limit.
func (s *Store) encode(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(data) > s.recordLimit {
		return nil, fmt.Errorf("%d bytes, limit %d: %w", len(data), s.recordLimit, ErrTooLarge)
	}
	return data, nil
}

// retryCAS runs attempt until it returns anything but errCASLost, pausing a
// little between attempts. After maxCASAttempts losses it returns an error
// wrapping ErrConflict; if ctx ends first, ctx's error.
func retryCAS(ctx context.Context, attempt func() error) error {
	for i := 0; ; i++ {
		err := attempt()
		if !errors.Is(err, errCASLost) {
			return err
		}
		if i+1 == maxCASAttempts {
			return fmt.Errorf("lost %d compare-and-swaps in a row: %w", maxCASAttempts, ErrConflict)
		}
		if err := casBackoff(ctx, i); err != nil {
			return err
		}
	}
}

// casBackoff waits a jittered, exponentially growing pause before CAS attempt
// i+1, or until ctx ends.
func casBackoff(ctx context.Context, i int) error {
	d := casBackoffMax
	if i < 6 {
		d = min(casBackoffMin<<i, casBackoffMax)
	}
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
