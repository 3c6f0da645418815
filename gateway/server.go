package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/coordinator/group"
	"github.com/stratalog/strata/coordinator/placement"
	"github.com/stratalog/strata/tiered"
	"github.com/stratalog/strata/tiered/index"
)

// Defaults for Config's zero values.
const (
	// DefaultMaxRequestBytes is Kafka's socket.request.max.bytes.
	DefaultMaxRequestBytes = 100 << 20
	// DefaultMaxInFlightRequestBytes bounds the request bytes being served
	// across all connections (Kafka's queued.max.request.bytes).
	DefaultMaxInFlightRequestBytes = 512 << 20
	// DefaultMaxFetchResponseBytes bounds the record bytes fetch responses
	// hold across all connections, from their read until their write.
	DefaultMaxFetchResponseBytes = 256 << 20
	// DefaultMaxConnections bounds open client connections.
	DefaultMaxConnections = 10000
	// DefaultConnectionsMaxIdle is Kafka's connections.max.idle.ms.
	DefaultConnectionsMaxIdle = 10 * time.Minute
	// DefaultOffsetsRetention is Kafka's offsets.retention.minutes (7 days),
	// and DefaultOffsetsRetentionCheckInterval its
	// offsets.retention.check.interval.ms.
	DefaultOffsetsRetention              = 7 * 24 * time.Hour
	DefaultOffsetsRetentionCheckInterval = 10 * time.Minute
	// DefaultNumPartitions is Kafka's num.partitions, used for auto-created
	// topics and CreateTopics with NumPartitions -1.
	DefaultNumPartitions = 1
	// DefaultMaxIncrementalFetchSessionCacheSlots is Kafka's
	// max.incremental.fetch.session.cache.slots.
	DefaultMaxIncrementalFetchSessionCacheSlots = 1000
	// DefaultProduceTimeout applies when a produce request's timeout is not
	// positive.
	DefaultProduceTimeout = 30 * time.Second
)

// Topics is the topic metadata the gateway reads on every request: a local
// view kept current by the coordinator's watcher.
type Topics interface {
	Topic(name string) (coordinator.Topic, bool)
	TopicByID(id [16]byte) (coordinator.Topic, bool)
	Topics() []coordinator.Topic
}

// TopicAdmin changes topics. Each call is a compare-and-swap in the coordinator.
type TopicAdmin interface {
	CreateTopic(ctx context.Context, t coordinator.Topic) (coordinator.Topic, error)
	DeleteTopic(ctx context.Context, name string) (coordinator.Topic, error)
	UpdateTopic(ctx context.Context, name string, fn func(*coordinator.Topic) error) (coordinator.Topic, error)
}

// ProducerIDs hands out ranges of producer ids that are unique cluster-wide.
type ProducerIDs interface {
	AllocateProducerIDs(ctx context.Context, n int64) (first int64, err error)
}

// Logs is what produce, fetch and list-offsets need of partition logs; see
// tiered.Log for the contract of each method.
type Logs interface {
	Append(ctx context.Context, tp index.TopicPartition, batch []byte) (*tiered.Appended, error)
	AppendMarker(ctx context.Context, tp index.TopicPartition, m tiered.Marker) (*tiered.Appended, error)
	Read(ctx context.Context, tp index.TopicPartition, offset int64, maxBytes int, iso tiered.Isolation) (tiered.ReadResult, error)
	Offsets(ctx context.Context, tp index.TopicPartition) (tiered.Offsets, error)
	Watch(ctx context.Context, tp index.TopicPartition) (<-chan struct{}, error)
	OffsetForTimestamp(ctx context.Context, tp index.TopicPartition, ts int64) (offset, timestamp int64, found bool, err error)
	ReleaseUnless(keep func(index.TopicPartition) bool)
	LeaderEpoch(ctx context.Context, tp index.TopicPartition) (int32, error)
	// Load loads the partitions of tps not loaded yet, several at a
	// time, ahead of a request's use of each in turn.
	Load(ctx context.Context, tps []index.TopicPartition)
	// Loaded reports whether tp is loaded, or loading, as a partition
	// this gateway leads.
	Loaded(tp index.TopicPartition) bool
	// LoadedEpoch is the leader epoch of tp if it is loaded; it never
	// loads or waits.
	LoadedEpoch(tp index.TopicPartition) (int32, bool)
	// Replica reads, of partitions this gateway does not lead (KIP-392).
	ReadReplica(ctx context.Context, tp index.TopicPartition, offset int64, maxBytes int, iso tiered.Isolation) (tiered.ReadResult, error)
	ReplicaOffsets(ctx context.Context, tp index.TopicPartition) (tiered.Offsets, error)
	WatchReplica(ctx context.Context, tp index.TopicPartition) (<-chan struct{}, error)
	EndOffsetFor(ctx context.Context, tp index.TopicPartition, epoch int32) (leaderEpoch int32, endOffset int64, err error)
	// DeleteRecords moves a partition's log start offset up (-1: to the
	// high watermark) and returns it.
	DeleteRecords(ctx context.Context, tp index.TopicPartition, offset int64) (int64, error)
	Producers(ctx context.Context, tp index.TopicPartition) ([]tiered.ProducerState, error)
}

// LeaderEpochs tells Metadata and ListOffsets what is known of each
// partition's claims; coordinator.Store implements it.
type LeaderEpochs interface {
	// LeaderEpoch is the latest published epoch, -1 when none is known.
	LeaderEpoch(tp index.TopicPartition) int32
	// LeaderClaim is the latest published claim (epoch, node id and
	// incarnation), false when none is known.
	LeaderClaim(tp index.TopicPartition) (coordinator.LeaderClaim, bool)
	// PartitionRevision reads, from the store, the revision of tp's
	// committed head: 0 when it was never claimed. A claim writes the
	// head before any record is appended, so 0 means the partition holds
	// no record.
	PartitionRevision(ctx context.Context, tp index.TopicPartition) (uint64, error)
	// PublishLeaderEpoch records that the run incarnation of node claimed
	// tp at epoch, unless a later epoch is already published.
	PublishLeaderEpoch(ctx context.Context, tp index.TopicPartition, node int32, incarnation string, epoch int32) error
}

// Config configures a Server. Zero values mean the documented defaults.
type Config struct {
	// Listeners are the gateway's Kafka listeners (see listeners.go); the
	// first is the one other gateways send their requests to. At least one
	// is required.
	Listeners []Listener
	// SSLPrincipal names the principal of a TLS client certificate, without
	// the "User:" prefix (Kafka's ssl.principal.mapping.rules). Default:
	// the subject's distinguished name.
	SSLPrincipal func(*x509.Certificate) (string, error)
	// NodeID is this gateway's broker id. Default 0.
	NodeID int32
	// Rack is this gateway's rack (broker.rack), if any.
	Rack string
	// Incarnation tells this run of NodeID apart from earlier ones in the
	// cluster membership (coordinator.Gateway.Incarnation). Give the same
	// value to the log's claim check (placement.Claims). Default: a random
	// one (placement.NewIncarnation).
	Incarnation string
	// ClusterID is returned in metadata. Required.
	ClusterID string

	Topics      Topics
	TopicAdmin  TopicAdmin
	ProducerIDs ProducerIDs
	Logs        Logs
	Offsets     GroupOffsets
	// GroupStore keeps consumer group membership so that groups outlive a
	// gateway restart without a rebalance; nil keeps it in memory only.
	GroupStore group.GroupStore
	// Members makes this gateway one of a cluster (see cluster.go); nil
	// runs it alone, leading every partition and coordinating every group.
	Members Members
	// Schemas, if set, is the schema registry that topics with schema
	// validation check record ids against; nil refuses every record of such
	// topics.
	Schemas Schemas
	// Transactions keeps the transaction coordinator's records; nil
	// refuses transactions (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
	Transactions Transactions
	// ClusterSecret is what the cluster's gateways present to one another
	// on requests only a gateway may send (transaction markers): the same
	// on every gateway (coordinator.Store.ClusterSecret). Required with
	// Transactions.
	ClusterSecret string
	// PeerTLS, when set, is the TLS client configuration for requests to
	// other gateways, whose listeners then serve TLS.
	PeerTLS *tls.Config
	// TransactionMaxTimeout is Kafka's transaction.max.timeout.ms, and
	// TransactionalIDExpiration its transactional.id.expiration.ms.
	// Defaults 15 minutes and 7 days.
	TransactionMaxTimeout     time.Duration
	TransactionalIDExpiration time.Duration
	// TransactionScanInterval is how often the transaction coordinator
	// looks for timed-out transactions, unfinished ends and expired ids
	// (Kafka's transaction.abort.timed.out.transaction.cleanup.interval.ms).
	// Default 5 s.
	TransactionScanInterval time.Duration
	// LeaderEpochs, if set, gives Metadata the partitions' leader epochs,
	// and lets ListOffsets answer partitions never written without
	// claiming them; nil reports -1 (unknown), so clients do not validate
	// epochs.
	LeaderEpochs LeaderEpochs
	// StepHook, if set, is called at the steps of a transaction's end:
	// "txn:prepared" (the decision stored, no marker written yet) and
	// "txn:marked" (every marker written, the transaction not yet
	// complete). Fault injection for tests.
	StepHook func(step string)
	// OnServing, if set, is called by Run once the gateway holds its
	// membership and starts accepting connections.
	OnServing func()

	// AutoCreateTopics is Kafka's auto.create.topics.enable. Default true
	// (set DisableAutoCreateTopics to turn it off).
	DisableAutoCreateTopics bool
	// NumPartitions is Kafka's num.partitions. Default 1.
	NumPartitions int32
	// MaxRequestBytes caps a request frame (socket.request.max.bytes);
	// larger frames close the connection before anything is allocated.
	// Default 100 MiB. Requests other than Produce are capped lower still
	// (maxControlRequestBytes).
	MaxRequestBytes int32
	// MaxInFlightRequestBytes caps the bytes of requests read but not yet
	// answered, across all connections: a reader waits before allocating a
	// frame that does not fit, which bounds the memory that decoding (which
	// can expand a frame several times) may take. Default 512 MiB, and never
	// below MaxRequestBytes.
	MaxInFlightRequestBytes int64
	// MaxFetchResponseBytes caps the record bytes fetch responses hold
	// across all connections, from their read until their write: a fetch
	// gets less than its MaxBytes while others hold them, and at least
	// 1 MiB. Default DefaultMaxFetchResponseBytes.
	MaxFetchResponseBytes int64
	// MaxConnections caps open client connections; more are closed on
	// accept. Default 10000.
	MaxConnections int
	// ConnectionsMaxIdle closes a connection that sends no request for this
	// long (Kafka's connections.max.idle.ms). Default 10 minutes.
	ConnectionsMaxIdle time.Duration
	// MaxConnectionsPerIP caps open connections from one address (Kafka's
	// max.connections.per.ip); 0: no cap. MaxConnectionsPerIPOverrides
	// gives some addresses another cap (max.connections.per.ip.overrides;
	// 0 refuses the address).
	MaxConnectionsPerIP          int
	MaxConnectionsPerIPOverrides map[netip.Addr]int
	// MaxConnectionCreationRate caps new connections per second on each
	// listener (max.connection.creation.rate, KIP-612); 0: no cap.
	MaxConnectionCreationRate float64
	// MaxIncrementalFetchSessionCacheSlots caps the fetch sessions (KIP-227)
	// this gateway keeps (Kafka's max.incremental.fetch.session.cache.slots;
	// see fetch_sessions.go for eviction). Default 1000; negative: none, so
	// every fetch is a full one.
	MaxIncrementalFetchSessionCacheSlots int
	// GroupConsumerSessionTimeout and GroupConsumerHeartbeatInterval time
	// consumer-protocol group members (KIP-848): Kafka's
	// group.consumer.session.timeout.ms and
	// group.consumer.heartbeat.interval.ms. Defaults 45 s and 5 s.
	GroupConsumerSessionTimeout    time.Duration
	GroupConsumerHeartbeatInterval time.Duration
	// OffsetsRetention is Kafka's offsets.retention.minutes: how long
	// committed offsets outlive their group's activity (see
	// offset_retention.go). Default 7 days.
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is how often expiry runs
	// (offsets.retention.check.interval.ms). Default 10 minutes.
	OffsetsRetentionCheckInterval time.Duration

	// Authorizer, if set, enforces Kafka ACLs on every request (see
	// authorize.go) and, when it is an ACLAdmin, serves CreateAcls,
	// DescribeAcls and DeleteAcls; ACLAuthorizer keeps the cluster's ACLs
	// from the coordinator. nil checks nothing, and the ACL APIs answer
	// SECURITY_DISABLED, as a Kafka broker without authorizer.class.name.
	Authorizer Authorizer
	// SuperUsers are principals ("User:admin") allowed everything (Kafka's
	// super.users).
	SuperUsers []string
	// AllowEveryoneIfNoACLFound is Kafka's allow.everyone.if.no.acl.found:
	// a resource no ACL names at all is open to every principal. Default
	// false: closed.
	AllowEveryoneIfNoACLFound bool

	// Credentials keeps the users' salted SCRAM credentials (sasl.go):
	// what logins on SASL_PLAINTEXT and SASL_SSL listeners are checked
	// against, and what DescribeUserScramCredentials and
	// AlterUserScramCredentials (KIP-554) manage; coordinator.Store
	// implements it. Required with a SASL listener; without it those two
	// APIs answer SECURITY_DISABLED.
	Credentials Credentials
	// SASLMechanisms is Kafka's sasl.enabled.mechanisms, of PLAIN,
	// SCRAM-SHA-256 and SCRAM-SHA-512. Default: all three.
	SASLMechanisms []string
	// ConnectionsMaxReauth is Kafka's connections.max.reauth.ms (KIP-368):
	// how long a SASL login lasts before the client must log in again on
	// the same connection, which is otherwise closed at its next request.
	// Default 0: a login lasts as long as its connection.
	ConnectionsMaxReauth time.Duration

	// Quotas keeps the cluster's client quotas (quotas.go), managed with
	// DescribeClientQuotas and AlterClientQuotas and enforced by every
	// gateway; coordinator.Store implements it. nil enforces none, and
	// those two APIs answer UNSUPPORTED_VERSION.
	Quotas QuotaStore
	// QuotaWindow and QuotaWindows are Kafka's quota.window.size.seconds
	// and quota.window.num: a client's rate is measured over QuotaWindows
	// windows of QuotaWindow. Defaults 1 s and 11.
	QuotaWindow  time.Duration
	QuotaWindows int

	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (c *Config) ensureDefaults() error {
	switch {
	case len(c.Listeners) == 0:
		return errors.New("gateway: Config.Listeners needs at least one listener")
	case c.ClusterID == "":
		return errors.New("gateway: Config.ClusterID is required")
	case c.Topics == nil || c.TopicAdmin == nil || c.ProducerIDs == nil || c.Logs == nil || c.Offsets == nil:
		return errors.New("gateway: Config.Topics, TopicAdmin, ProducerIDs, Logs and Offsets are required")
	case c.Transactions != nil && c.ClusterSecret == "":
		return errors.New("gateway: Config.ClusterSecret is required with Transactions")
	}
	if c.TransactionMaxTimeout <= 0 {
		c.TransactionMaxTimeout = DefaultTransactionMaxTimeout
	}
	if c.TransactionalIDExpiration <= 0 {
		c.TransactionalIDExpiration = DefaultTransactionalIDExpiration
	}
	if c.TransactionScanInterval <= 0 {
		c.TransactionScanInterval = DefaultTransactionScanInterval
	}
	if c.SSLPrincipal == nil {
		c.SSLPrincipal = subjectDN
	}
	if c.Incarnation == "" {
		c.Incarnation = placement.NewIncarnation()
	}
	if c.NumPartitions <= 0 {
		c.NumPartitions = DefaultNumPartitions
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxInFlightRequestBytes <= 0 {
		c.MaxInFlightRequestBytes = DefaultMaxInFlightRequestBytes
	}
	c.MaxInFlightRequestBytes = max(c.MaxInFlightRequestBytes, int64(c.MaxRequestBytes))
	if c.MaxConnections <= 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.ConnectionsMaxIdle <= 0 {
		c.ConnectionsMaxIdle = DefaultConnectionsMaxIdle
	}
	if c.MaxFetchResponseBytes <= 0 {
		c.MaxFetchResponseBytes = DefaultMaxFetchResponseBytes
	}
	if c.MaxIncrementalFetchSessionCacheSlots == 0 {
		c.MaxIncrementalFetchSessionCacheSlots = DefaultMaxIncrementalFetchSessionCacheSlots
	}
	if c.OffsetsRetention <= 0 {
		c.OffsetsRetention = DefaultOffsetsRetention
	}
	if c.OffsetsRetentionCheckInterval <= 0 {
		c.OffsetsRetentionCheckInterval = DefaultOffsetsRetentionCheckInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c.saslDefaults()
}

// Server serves the Kafka protocol on one listener.
type Server struct {
	cfg Config
	// listeners are Config.Listeners, the inter-broker one first.
	listeners []*listener
	metrics   *metrics
	pids      *producerIDBlock
	groups    *group.Coordinator
	view      *clusterView
	now       func() time.Time
	// sasl serves the SASL mechanisms; nil without Config.Credentials.
	sasl saslServer
	// quotas enforces Config.Quotas; nil without them.
	quotas *quotaEnforcer
	// inflight holds MaxInFlightRequestBytes of request bytes, fetchBytes
	// MaxFetchResponseBytes of fetch responses' record bytes.
	inflight, fetchBytes *byteBudget
	// decoders pools the scratch decoders produce checks records with.
	decoders sync.Pool
	// txns is the transaction coordinator, nil without Config.Transactions;
	// verified remembers transactional producers checked against it.
	txns     *txnCoordinator
	verified verifiedTxns

	// conns counts open connections against the connection limits.
	conns *connLimits
	// fetchSessions are the incremental fetch sessions (KIP-227).
	fetchSessions *fetchSessionCache
	// unwritten are the led partitions fetches found never written
	// (unwritten.go).
	unwritten *unwrittenParts
}

// New validates cfg and returns a Server; Run serves.
func New(cfg Config) (*Server, error) {
	if err := cfg.ensureDefaults(); err != nil {
		return nil, err
	}
	srv, err := newSASLServer(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:        cfg,
		sasl:       srv,
		metrics:    newMetrics(cfg.Registerer),
		pids:       &producerIDBlock{ids: cfg.ProducerIDs},
		now:        time.Now,
		inflight:   newByteBudget(cfg.MaxInFlightRequestBytes),
		fetchBytes: newByteBudget(cfg.MaxFetchResponseBytes),

		fetchSessions: newFetchSessionCache(cfg),
		unwritten:     newUnwrittenParts(),
	}
	var ipQuota func(string) (float64, bool)
	if cfg.Quotas != nil {
		s.quotas = newQuotaEnforcer(&s.cfg)
		ipQuota = s.quotas.limits.ConnectionRate
	}
	s.conns = newConnLimits(&s.cfg, ipQuota)
	self := coordinator.Gateway{NodeID: cfg.NodeID, Rack: cfg.Rack, Incarnation: cfg.Incarnation, Listeners: map[string]string{}, ChainTakeover: true, ChainFenceSubjects: true}
	for _, l := range cfg.Listeners {
		ln, err := newListener(l)
		if err != nil {
			return nil, err
		}
		if _, dup := self.Listeners[l.Name]; dup || l.Name == "" {
			return nil, fmt.Errorf("gateway: listener name %q is empty or used twice", l.Name)
		}
		if _, err := ParseSecurityProtocol(string(l.Protocol)); err != nil {
			return nil, fmt.Errorf("gateway: listener %s: %w", l.Name, err)
		}
		s.listeners = append(s.listeners, ln)
		self.Listeners[l.Name] = ln.Advertise
	}
	self.Addr = s.listeners[0].Advertise
	s.view = newClusterView(self, cfg.Members, s.membershipChanged)
	if cfg.Transactions != nil {
		s.txns = newTxnCoordinator(s)
	}
	s.groups = group.New(group.Config{
		ConsumerSessionTimeout:    cfg.GroupConsumerSessionTimeout,
		ConsumerHeartbeatInterval: cfg.GroupConsumerHeartbeatInterval,
		Topics:                    s.groupTopics,
		Store:                     cfg.GroupStore,
		Coordinates:               s.coordinates,
		Logger:                    cfg.Logger,
	})
	return s, nil
}

// Run accepts connections on every listener until ctx is done, then closes the
// listeners and every connection and returns once all connection goroutines
// have exited.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()

	stop := context.AfterFunc(ctx, func() {
		for _, l := range s.listeners {
			l.Listener.Listener.Close()
		}
	})
	defer stop()
	if err := s.view.join(ctx); err != nil {
		return fmt.Errorf("gateway: join the cluster: %w", err)
	}
	wg.Go(func() { s.view.run(ctx, func(msg string, args ...any) { s.cfg.Logger.Warn(msg, args...) }) })
	wg.Go(func() { s.expireOffsetsLoop(ctx) })
	if q := s.quotas; q != nil {
		wg.Go(func() { q.run(ctx) })
	}
	if s.txns != nil {
		wg.Go(func() { s.txns.run(ctx) })
	}
	if s.cfg.OnServing != nil {
		s.cfg.OnServing()
	}

	errs := make(chan error, len(s.listeners))
	for _, l := range s.listeners {
		wg.Go(func() { errs <- s.accept(ctx, &wg, l) })
	}
	for range s.listeners {
		if err := <-errs; err != nil {
			cancel()
			return err
		}
	}
	return nil
}

// accept serves l's connections until ctx is done or accepting fails.
func (s *Server) accept(ctx context.Context, wg *sync.WaitGroup, l *listener) error {
	var delay time.Duration // backoff for temporary accept errors, as net/http
	pace := newAcceptRate(s.cfg.MaxConnectionCreationRate)
	for {
		if err := waitAccept(ctx, pace); err != nil {
			return nil // ctx ended
		}
		nc, err := l.Listener.Listener.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if delay = min(max(2*delay, 5*time.Millisecond), time.Second); isTemporary(err) {
				s.cfg.Logger.Warn("accept failed, retrying", "listener", l.Name, "err", err, "delay", delay)
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
				continue
			}
			return fmt.Errorf("gateway: accept on %s: %w", l.Name, err)
		}
		delay = 0
		if !s.admit(nc) {
			continue
		}
		wg.Go(func() {
			defer s.release(nc)
			newConn(s, l, nc).serve(ctx)
		})
	}
}

// admit counts a new connection, or closes it when a connection limit
// refuses it; it reports whether the connection was admitted.
func (s *Server) admit(nc net.Conn) bool {
	addr := remoteAddr(nc)
	if reason := s.conns.admit(addr, s.now()); reason != admitted {
		s.metrics.connsRefused.WithLabelValues(string(reason)).Inc()
		s.cfg.Logger.Debug("connection refused", "remote", nc.RemoteAddr().String(), "limit", string(reason))
		nc.Close()
		return false
	}
	s.metrics.conns.Inc()
	return true
}

func (s *Server) release(nc net.Conn) {
	s.conns.release(remoteAddr(nc))
	s.metrics.conns.Dec()
}

func isTemporary(err error) bool {
	var ne interface{ Temporary() bool }
	return errors.As(err, &ne) && ne.Temporary()
}

// Leads reports whether this gateway leads a topic's partition by its current
// view of the cluster: the lifecycle scheduler runs jobs for those.
func (s *Server) Leads(t coordinator.Topic, partition int32) bool {
	return s.view.leads(t, index.TopicPartition{TopicID: t.ID, Partition: partition})
}

// RunsJob reports whether this gateway runs the cluster-wide job named key
// (garbage collection) by its current view of the cluster.
func (s *Server) RunsJob(key string) bool {
	return s.view.member() && placement.JobOwner(key, s.view.gateways()) == s.cfg.NodeID
}
