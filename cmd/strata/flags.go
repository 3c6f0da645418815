package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/stratalog/strata/coordinator/schedule"
	"github.com/stratalog/strata/gateway"
	"github.com/stratalog/strata/internal/tlsfiles"
	"github.com/stratalog/strata/schemaregistry"
	"github.com/stratalog/strata/security/principal"
	"github.com/stratalog/strata/tiered"
)

// serveConfig is everything `strata serve` is told, from flags and environment.
type serveConfig struct {
	storeConfig
	// Listeners, AdvertisedListeners, ListenerSecurityProtocolMap and
	// InterBrokerListenerName are Kafka's settings of those names; check
	// resolves them into listeners.
	Listeners                   string
	AdvertisedListeners         string
	ListenerSecurityProtocolMap string
	InterBrokerListenerName     string
	listeners                   []listenerSpec
	// SSL is the TLS setup of the SSL and SASL_SSL listeners.
	SSL tlsfiles.Files
	// SSLPrincipalMappingRules is ssl.principal.mapping.rules, parsed into
	// principalRules.
	SSLPrincipalMappingRules string
	principalRules           *principal.Rules
	// AllowUnauthenticatedListeners lets a listener reachable from other
	// hosts serve clients it does not authenticate.
	AllowUnauthenticatedListeners bool
	HTTPListen                    string
	// HTTPTLS serves the admin endpoint and the schema registry over
	// HTTPS with SSL's certificate; HTTPAuth is none or basic.
	HTTPTLS  bool
	HTTPAuth string
	// SASLEnabledMechanisms and ConnectionsMaxReauth are Kafka's
	// sasl.enabled.mechanisms and connections.max.reauth.ms; AddScram
	// creates SASL users at start (kafka-storage format --add-scram).
	SASLEnabledMechanisms string
	ConnectionsMaxReauth  time.Duration
	AddScram              scramUsers
	// Connection limits: Kafka's max.connections, max.connections.per.ip
	// (and its overrides, address:count comma-separated) and
	// max.connection.creation.rate.
	MaxConnections     int
	ConnectionsMaxIdle time.Duration
	// FetchSessionSlots is Kafka's max.incremental.fetch.session.cache.slots.
	FetchSessionSlots            int
	MaxConnectionsPerIP          int
	MaxConnectionsPerIPOverrides string
	MaxConnectionCreationRate    int
	// Authorizer is acl or none; SuperUsers and AllowEveryoneIfNoACLFound
	// are Kafka's super.users and allow.everyone.if.no.acl.found.
	Authorizer                string
	SuperUsers                string
	AllowEveryoneIfNoACLFound bool
	// SchemaRegistryListen is the schema registry's address; empty: off.
	SchemaRegistryListen string
	// SchemaRegistryMaxBody caps a registry request's body.
	SchemaRegistryMaxBody byteSize
	NATSURL               string
	NATSReplicas          int
	// EmbeddedNATSListen is the embedded NATS server's client listener
	// (host:port), for tools such as `strata replay` beside a running
	// gateway; empty opens none.
	EmbeddedNATSListen string
	// NATSMonitorURLs and AllowUnsafeNATS: the durability contract check.
	NATSMonitorURLs string
	AllowUnsafeNATS bool
	WALShards       int
	WALChains       bool
	MaxTailBytes    byteSize
	MaxTailAge      time.Duration
	GatewayLease    time.Duration
	NodeID          int
	Rack            string
	FlushInterval   time.Duration
	FlushBytes      byteSize
	CacheBytes      byteSize
	ReadAheadBytes  byteSize
	MaxRequestBytes byteSize
	MaxInFlight     byteSize
	// MemoryLimit is the gateway's memory budget; MaxTailBytes,
	// CacheBytes, MaxInFlight and MaxFetchResponseBytes left at 0 get a
	// share of it; memory is the resulting plan (memory.go).
	MemoryLimit           byteSize
	MaxFetchResponseBytes byteSize
	memory                memoryBudget
	AutoCreate            bool
	NumPartitions         int
	LogLevel              slog.Level
	// ConsumerSessionTimeout and ConsumerHeartbeatInterval time KIP-848
	// consumer group members.
	ConsumerSessionTimeout    time.Duration
	ConsumerHeartbeatInterval time.Duration
	OffsetsRetention          time.Duration
	// The transaction coordinator's settings (Kafka's names in the usage).
	TransactionMaxTimeout     time.Duration
	TransactionalIDExpiration time.Duration
	TransactionScanInterval   time.Duration
	// CompactionInterval is how often the lifecycle scheduler looks for
	// work; GCGrace is the garbage collector's grace period.
	CompactionInterval time.Duration
	GCGrace            time.Duration
	// CompactionRate bounds what lifecycle jobs read, in bytes per second.
	CompactionRate byteSize
	// MetadataSnapshotInterval is how often one gateway writes a metadata
	// snapshot to the object store (package recovery); 0: never.
	MetadataSnapshotInterval time.Duration

	// crashAt names a lifecycle or transaction step (tiered.Config.StepHook,
	// gc.Config.StepHook, gateway.Config.StepHook)
	// at which the process kills itself with SIGKILL: fault injection for the
	// crash tests, from STRATA_TEST_CRASH_AT. Not a flag: never for production.
	crashAt string
	// profileDir, from STRATA_PROFILE_DIR, makes serve write CPU and heap
	// profiles of its run there (profile.go). Not a flag: for benchmarks.
	profileDir string

	// onServing, if set, is called with the bound addresses once the Kafka
	// listener serves; tests listen on port 0 and learn the port from it.
	onServing func(kafka, http net.Addr)
	// onRegistry, if set, is called with the schema registry's bound
	// address once it serves.
	onRegistry func(net.Addr)
	// onEmbeddedNATS, if set, is called with the embedded NATS server's
	// client URL once it listens (--embedded-nats-listen).
	onEmbeddedNATS func(url string)
}

// storeConfig is where the log lives: the object store and the data dir.
// `strata serve` and `strata replay` share it and its flags (storeFlags).
type storeConfig struct {
	DataDir     string
	ObjectStore string
	S3          s3Flags
}

type s3Flags struct {
	Endpoint     string
	Bucket       string
	Region       string
	PathStyle    bool
	CreateBucket bool
}

// serveFlags is the one table of `strata serve` settings: each flag, the
// environment variable that also sets it (derived: STRATA_ plus the flag name in
// upper case with '-' as '_'), its default and what it means.
func serveFlags(c *serveConfig) []flagDef {
	c.Listeners, c.ListenerSecurityProtocolMap = "PLAINTEXT://127.0.0.1:9092", defaultProtocolMap
	c.SSL.ClientAuth, c.SSLPrincipalMappingRules = tlsfiles.ClientAuthNone, "DEFAULT"
	c.HTTPListen, c.HTTPAuth = "127.0.0.1:9644", httpAuthNone
	c.SASLEnabledMechanisms, c.Authorizer = "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN", "none"
	c.MaxConnections, c.ConnectionsMaxIdle = gateway.DefaultMaxConnections, gateway.DefaultConnectionsMaxIdle
	c.FetchSessionSlots = gateway.DefaultMaxIncrementalFetchSessionCacheSlots
	c.SchemaRegistryListen, c.SchemaRegistryMaxBody = "127.0.0.1:8081", schemaregistry.DefaultMaxBodyBytes
	c.FlushInterval, c.FlushBytes = 250*time.Millisecond, 8<<20
	c.MemoryLimit, c.MaxRequestBytes = 1<<30, 100<<20
	c.ReadAheadBytes = byteSize(tiered.DefaultPrefetchBytes)
	c.AutoCreate, c.NumPartitions = true, 1
	c.NATSReplicas, c.GatewayLease = 1, 10*time.Second
	c.EmbeddedNATSListen = "127.0.0.1:4222"
	c.WALShards, c.MaxTailAge, c.WALChains = 1, tiered.DefaultMaxTailAge, true
	c.ConsumerSessionTimeout, c.ConsumerHeartbeatInterval = 45*time.Second, 5*time.Second
	c.OffsetsRetention = 7 * 24 * time.Hour
	c.TransactionMaxTimeout, c.TransactionalIDExpiration = gateway.DefaultTransactionMaxTimeout, gateway.DefaultTransactionalIDExpiration
	c.TransactionScanInterval = gateway.DefaultTransactionScanInterval
	c.CompactionInterval, c.GCGrace = schedule.DefaultInterval, tiered.DefaultObjectGrace
	c.CompactionRate = schedule.DefaultMaxBytesPerSecond
	c.MetadataSnapshotInterval = time.Minute
	return append(storeFlags(&c.storeConfig), []flagDef{
		{"listeners", "the Kafka listeners, NAME://host:port comma-separated (an empty host binds every interface); each name's security protocol is in --listener-security-protocol-map", (*stringValue)(&c.Listeners)},
		{"advertised-listeners", "the host:port clients are given per listener, NAME://host:port comma-separated (default: the listener's address, with the host name for 0.0.0.0 or ::)", (*stringValue)(&c.AdvertisedListeners)},
		{"listener-security-protocol-map", "each listener name's security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), NAME:PROTOCOL comma-separated", (*stringValue)(&c.ListenerSecurityProtocolMap)},
		{"inter-broker-listener-name", "the listener other gateways send their requests to (default: the first of --listeners)", (*stringValue)(&c.InterBrokerListenerName)},
		{"allow-unauthenticated-listeners", "start even if a listener reachable from other hosts does not authenticate its clients (PLAINTEXT, or SSL without --ssl-client-auth required)", (*boolValue)(&c.AllowUnauthenticatedListeners)},
		{"ssl-cert-file", "PEM certificate chain of the SSL and SASL_SSL listeners (TLS 1.2 or later); reloaded when the file changes", (*stringValue)(&c.SSL.CertFile)},
		{"ssl-key-file", "PEM private key of --ssl-cert-file", (*stringValue)(&c.SSL.KeyFile)},
		{"ssl-client-ca-file", "PEM CAs that sign the client certificates --ssl-client-auth asks for", (*stringValue)(&c.SSL.ClientCAFile)},
		{"ssl-client-auth", "whether TLS clients must present a certificate (ssl.client.auth): none, requested or required; the principal is then the certificate's subject, mapped by --ssl-principal-mapping-rules", (*clientAuthValue)(&c.SSL.ClientAuth)},
		{"sasl-enabled-mechanisms", "SASL mechanisms the SASL listeners accept (sasl.enabled.mechanisms), of SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN; PLAIN checks passwords against the users' SCRAM credentials", (*stringValue)(&c.SASLEnabledMechanisms)},
		{"connections-max-reauth", "how long a SASL login lasts before the client must log in again on its connection (connections.max.reauth.ms, KIP-368); 0: as long as the connection", (*durationValue)(&c.ConnectionsMaxReauth)},
		{"add-scram", "create a SASL user at start unless it has a credential for that mechanism, as kafka-storage format --add-scram: 'SCRAM-SHA-512=[name=admin,password=admin-secret]' (repeatable; ';' separates several in one value)", &c.AddScram},
		{"authorizer", "acl: enforce Kafka ACLs (CreateAcls, kafka-acls) on every request; none: allow everything", (*stringValue)(&c.Authorizer)},
		{"super-users", "principals allowed everything whatever the ACLs (super.users), e.g. User:admin;User:ops", (*stringValue)(&c.SuperUsers)},
		{"allow-everyone-if-no-acl-found", "let every principal use a resource no ACL names (allow.everyone.if.no.acl.found)", (*boolValue)(&c.AllowEveryoneIfNoACLFound)},
		{"max-connections", "open client connections (max.connections); more are closed on accept", (*intValue)(&c.MaxConnections)},
		{"max-incremental-fetch-session-cache-slots", "incremental fetch sessions (KIP-227) each gateway keeps (max.incremental.fetch.session.cache.slots); 0 turns them off", (*intValue)(&c.FetchSessionSlots)},
		{"connections-max-idle", "close a connection that sends no request for this long (connections.max.idle.ms)", (*durationValue)(&c.ConnectionsMaxIdle)},
		{"max-connections-per-ip", "open connections from one address (max.connections.per.ip); more are closed on accept; 0: no cap", (*intValue)(&c.MaxConnectionsPerIP)},
		{"max-connections-per-ip-overrides", "other caps for some addresses, address:count comma-separated (max.connections.per.ip.overrides; 0 refuses the address)", (*stringValue)(&c.MaxConnectionsPerIPOverrides)},
		{"max-connection-creation-rate", "new connections per second on each listener (max.connection.creation.rate); 0: no cap", (*intValue)(&c.MaxConnectionCreationRate)},
		{"http-auth", "none, or basic: the admin endpoint (but /healthz) and the schema registry ask for a SASL user's name and password; with --authorizer acl, registry subjects are authorized as their topics", (*stringValue)(&c.HTTPAuth)},
		{"ssl-principal-mapping-rules", "how a client certificate's subject becomes the principal's name (ssl.principal.mapping.rules), e.g. RULE:^CN=([^,]*),.*$/$1/L,DEFAULT", (*stringValue)(&c.SSLPrincipalMappingRules)},
		{"http-listen", "admin HTTP address: /healthz, /metrics, and /debug/pprof when on loopback or behind --http-auth basic", (*stringValue)(&c.HTTPListen)},
		{"http-tls", "serve the admin endpoint and the schema registry over HTTPS with --ssl-cert-file and --ssl-key-file", (*boolValue)(&c.HTTPTLS)},
		{"schema-registry-listen", "the schema registry's address (Confluent's REST API); empty turns it off", (*stringValue)(&c.SchemaRegistryListen)},
		{"schema-registry-max-body", "largest schema registry request body (e.g. 8MiB); larger ones get 413", &c.SchemaRegistryMaxBody},
		{"s3-create-bucket", "create the S3 bucket if it does not exist", (*boolValue)(&c.S3.CreateBucket)},
		{"nats-url", "external NATS servers (comma-separated); empty runs NATS embedded", (*stringValue)(&c.NATSURL)},
		{"embedded-nats-listen", "the embedded NATS server's client address, for strata replay and other tools beside this gateway (port 0: any free port; empty: none); ignored with --nats-url", (*stringValue)(&c.EmbeddedNATSListen)},
		{"nats-replicas", "JetStream replicas of the coordinator's KV buckets: 3 on a NATS cluster, 1 embedded", (*intValue)(&c.NATSReplicas)},
		{"nats-monitor-url", "the external NATS servers' monitoring URLs (comma-separated http://host:8222), to check at start that each fsyncs every write (sync_interval: always)", (*stringValue)(&c.NATSMonitorURLs)},
		{"allow-unsafe-nats", "start even if the external NATS servers' durability cannot be verified or falls short (acknowledged records may be lost on power loss)", (*boolValue)(&c.AllowUnsafeNATS)},
		{"wal-shards", "JetStream streams the write-ahead tail is spread over (fixed while it holds data)", (*intValue)(&c.WALShards)},
		{"wal-chains", "append the records of all partitions to eight write-ahead chains per gateway and shard, one JetStream message per round and chain whatever the partition count, rather than to one subject per partition (a gateway takes over partitions written either way, and appends to chains only while every live gateway can take them over)", (*boolValue)(&c.WALChains)},
		{"memory-limit", "the gateway's memory budget: the parts below left at 0 get a share of it, and Go's soft memory limit is a tenth below it (GOMEMLIMIT wins)", &c.MemoryLimit},
		{"max-tail-bytes", "bytes that may wait for object storage (the WAL tail, held in memory) before produce gets KAFKA_STORAGE_ERROR (0: a quarter of --memory-limit)", &c.MaxTailBytes},
		{"max-tail-age", "how long the oldest batch may wait for object storage before produce gets KAFKA_STORAGE_ERROR", (*durationValue)(&c.MaxTailAge)},
		{"node-id", "this gateway's broker id, unique in the cluster", (*intValue)(&c.NodeID)},
		{"gateway-lease", "a gateway not heard from this long is out of the cluster and its partitions move (set when the cluster's NATS is first used)", (*durationValue)(&c.GatewayLease)},
		{"rack", "this gateway's rack (broker.rack)", (*stringValue)(&c.Rack)},
		{"flush-interval", "how often queued batches are written as one segment (a wal-tier partition with under 64 KiB queued skips up to 12 of them)", (*durationValue)(&c.FlushInterval)},
		{"flush-bytes", "write a segment early once this many bytes are queued (e.g. 8MiB)", &c.FlushBytes},
		{"cache-bytes", "block cache size, e.g. 256MiB (0: a quarter of --memory-limit)", &c.CacheBytes},
		{"read-ahead-bytes", "how far ahead of a consumer reading old data its partition's blocks are fetched into the block cache (0 turns read-ahead off)", &c.ReadAheadBytes},
		{"max-request-bytes", "largest request frame accepted (socket.request.max.bytes)", &c.MaxRequestBytes},
		{"max-inflight-request-bytes", "request bytes being served at once, all connections (queued.max.request.bytes; 0: an eighth of --memory-limit, at least --max-request-bytes)", &c.MaxInFlight},
		{"max-fetch-response-bytes", "record bytes being read into fetch responses at once, all connections; a fetch gets less than it asks while others hold them (0: an eighth of --memory-limit)", &c.MaxFetchResponseBytes},
		{"auto-create-topics", "create unknown topics on metadata requests (auto.create.topics.enable)", (*boolValue)(&c.AutoCreate)},
		{"num-partitions", "partitions of auto-created topics (num.partitions)", (*intValue)(&c.NumPartitions)},
		{"group-consumer-session-timeout", "consumer-protocol group members not heard from this long are removed (group.consumer.session.timeout.ms)", (*durationValue)(&c.ConsumerSessionTimeout)},
		{"group-consumer-heartbeat-interval", "how often consumer-protocol group members heartbeat (group.consumer.heartbeat.interval.ms)", (*durationValue)(&c.ConsumerHeartbeatInterval)},
		{"offsets-retention", "committed offsets outlive their group's activity this long (offsets.retention.minutes)", (*durationValue)(&c.OffsetsRetention)},
		{"transaction-max-timeout", "the longest transaction timeout a producer may ask for (transaction.max.timeout.ms)", (*durationValue)(&c.TransactionMaxTimeout)},
		{"transactional-id-expiration", "a transactional id idle this long is forgotten (transactional.id.expiration.ms)", (*durationValue)(&c.TransactionalIDExpiration)},
		{"transaction-scan-interval", "how often each gateway aborts the timed-out transactions it coordinates and finishes interrupted ones (transaction.abort.timed.out.transaction.cleanup.interval.ms)", (*durationValue)(&c.TransactionScanInterval)},
		{"compaction-interval", "how often each gateway looks for lifecycle work on the partitions it leads: retention (retention.ms, retention.bytes), segment merging, key compaction", (*durationValue)(&c.CompactionInterval)},
		{"compaction-rate", "bytes per second that segment merging and key compaction may read from object storage, averaged over jobs (each gateway runs one job at a time), so they never crowd out produce and fetch", &c.CompactionRate},
		{"gc-grace", "an object or index record no index references is deleted once unreferenced and older than this; a commit that would reference an older object is abandoned (also covers slow readers)", (*durationValue)(&c.GCGrace)},
		{"metadata-snapshot-interval", "how often one gateway writes the coordinator's metadata (topics, configs, partition indexes, committed offsets, producer ids, transactional ids, schemas, SASL users, ACLs, quotas) to the object store, for strata recover --from-bucket; 0 turns it off", (*durationValue)(&c.MetadataSnapshotInterval)},
		{"log-level", "debug, info, warn or error", (*levelValue)(&c.LogLevel)},
	}...)
}

// flagDef is one flag: its name, what it means, and where its value goes.
type flagDef struct {
	name, usage string
	value       flag.Value
}

// storeFlags are the flags of where the log lives, with their defaults.
func storeFlags(c *storeConfig) []flagDef {
	c.DataDir, c.ObjectStore, c.S3.Region = "./strata-data", "file", "us-east-1"
	return []flagDef{
		{"data-dir", "directory for the embedded NATS store and the file object store", (*stringValue)(&c.DataDir)},
		{"object-store", "where segments go: file (under --data-dir) or s3", (*stringValue)(&c.ObjectStore)},
		{"s3-endpoint", "S3 endpoint URL (empty: AWS); credentials come from the AWS default chain", (*stringValue)(&c.S3.Endpoint)},
		{"s3-bucket", "S3 bucket", (*stringValue)(&c.S3.Bucket)},
		{"s3-region", "S3 region", (*stringValue)(&c.S3.Region)},
		{"s3-path-style", "use path-style S3 addressing (MinIO, LocalStack)", (*boolValue)(&c.S3.PathStyle)},
	}
}

// check reports a store setting that cannot work.
func (c storeConfig) check() error {
	switch {
	case c.ObjectStore != "file" && c.ObjectStore != "s3":
		return fmt.Errorf("--object-store must be file or s3, not %q", c.ObjectStore)
	case c.ObjectStore == "s3" && c.S3.Bucket == "":
		return errors.New("--object-store s3 needs --s3-bucket")
	}
	return nil
}

// parseFlags sets defs from the environment (each flag is also the
// variable envName(name)), then defs and locals (command line only) from
// args.
func parseFlags(name string, defs, locals []flagDef, args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, f := range locals {
		fs.Var(f.value, f.name, f.usage)
	}
	for _, f := range defs {
		if v, ok := lookupEnv(envName(f.name)); ok {
			if err := f.value.Set(v); err != nil {
				return fs, fmt.Errorf("%s=%q: %w", envName(f.name), v, err)
			}
		}
		fs.Var(f.value, f.name, f.usage+" ["+envName(f.name)+"]")
	}
	if err := fs.Parse(args); err != nil {
		return fs, err
	}
	if fs.NArg() > 0 {
		return fs, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return fs, nil
}

func envName(flagName string) string {
	return "STRATA_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseServeFlags reads the environment, then the command line over it.
func parseServeFlags(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (serveConfig, error) {
	var c serveConfig
	if _, err := parseFlags("strata serve", serveFlags(&c), nil, args, lookupEnv, stderr); err != nil {
		return c, err
	}
	c.crashAt, _ = lookupEnv("STRATA_TEST_CRASH_AT")
	c.profileDir, _ = lookupEnv("STRATA_PROFILE_DIR")
	if err := c.storeConfig.check(); err != nil {
		return c, err
	}
	var err error
	if c.listeners, err = parseListeners(c.Listeners, c.AdvertisedListeners, c.ListenerSecurityProtocolMap, c.InterBrokerListenerName); err != nil {
		return c, err
	}
	switch {
	case (c.SSL.CertFile == "") != (c.SSL.KeyFile == ""):
		return c, errors.New("--ssl-cert-file and --ssl-key-file go together")
	case c.SSL.ClientCAFile != "" && c.SSL.CertFile == "":
		return c, errors.New("--ssl-client-ca-file needs --ssl-cert-file")
	case c.Authorizer != "acl" && c.Authorizer != "none":
		return c, fmt.Errorf("--authorizer %q: acl or none", c.Authorizer)
	case c.HTTPAuth != httpAuthNone && c.HTTPAuth != httpAuthBasic:
		return c, fmt.Errorf("--http-auth %q: none or basic", c.HTTPAuth)
	case c.FetchSessionSlots < 0:
		return c, errors.New("--max-incremental-fetch-session-cache-slots must not be negative")
	case c.MaxConnections <= 0 || c.ConnectionsMaxIdle <= 0 || c.MaxConnectionsPerIP < 0 || c.MaxConnectionCreationRate < 0:
		return c, errors.New("--max-connections and --connections-max-idle must be positive, --max-connections-per-ip and --max-connection-creation-rate not negative")
	case c.ConnectionsMaxReauth < 0:
		return c, errors.New("--connections-max-reauth must not be negative")
	case c.HTTPTLS && c.SSL.CertFile == "":
		return c, errors.New("--http-tls needs --ssl-cert-file and --ssl-key-file")
	case c.SSL.ClientAuth != tlsfiles.ClientAuthNone && c.SSL.ClientCAFile == "":
		return c, fmt.Errorf("--ssl-client-auth %s needs --ssl-client-ca-file", c.SSL.ClientAuth)
	case c.NodeID < 0 || c.NodeID > 1<<31-1:
		return c, fmt.Errorf("--node-id %d out of range", c.NodeID)
	case c.FlushInterval <= 0:
		return c, errors.New("--flush-interval must be positive")
	case c.GatewayLease < time.Second:
		return c, errors.New("--gateway-lease must be at least 1s")
	case c.NATSReplicas < 1 || c.NATSReplicas > 5:
		return c, fmt.Errorf("--nats-replicas %d out of range 1..5", c.NATSReplicas)
	case c.NATSURL == "" && c.NATSReplicas != 1:
		return c, errors.New("--nats-replicas above 1 needs --nats-url: the embedded NATS is one node")
	case c.NATSURL == "" && c.EmbeddedNATSListen != "" && !validListen(c.EmbeddedNATSListen):
		return c, fmt.Errorf("--embedded-nats-listen %q is not host:port", c.EmbeddedNATSListen)
	case c.WALShards < 1 || c.WALShards > 64:
		return c, fmt.Errorf("--wal-shards %d out of range 1..64", c.WALShards)
	case c.MaxTailAge <= 0:
		return c, errors.New("--max-tail-age must be positive")
	case c.NumPartitions <= 0:
		return c, errors.New("--num-partitions must be positive")
	case c.MaxRequestBytes > 1<<31-1:
		return c, errors.New("--max-request-bytes must be under 2GiB")
	case c.CompactionInterval <= 0:
		return c, errors.New("--compaction-interval must be positive")
	case c.CompactionRate <= 0:
		return c, errors.New("--compaction-rate must be positive")
	case c.MetadataSnapshotInterval < 0:
		return c, errors.New("--metadata-snapshot-interval must not be negative")
	case c.GCGrace < time.Second:
		return c, errors.New("--gc-grace must be at least 1s")
	case c.OffsetsRetention <= 0:
		return c, errors.New("--offsets-retention must be positive")
	case c.TransactionMaxTimeout <= 0 || c.TransactionalIDExpiration <= 0 || c.TransactionScanInterval <= 0:
		return c, errors.New("--transaction-max-timeout, --transactional-id-expiration and --transaction-scan-interval must be positive")
	case c.ConsumerHeartbeatInterval <= 0 || c.ConsumerSessionTimeout <= c.ConsumerHeartbeatInterval:
		return c, errors.New("--group-consumer-heartbeat-interval must be positive and below --group-consumer-session-timeout")
	}
	if c.memory, err = planMemory(c); err != nil {
		return c, err
	}
	return c, checkListeners(&c)
}

// validListen reports whether addr is host:port with a port number.
func validListen(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

type stringValue string

func (v *stringValue) String() string     { return string(*v) }
func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }

type boolValue bool

func (v *boolValue) String() string { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	*v = boolValue(b)
	return err
}
func (v *boolValue) IsBoolFlag() bool { return true }

type intValue int

func (v *intValue) String() string { return strconv.Itoa(int(*v)) }
func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	*v = intValue(n)
	return err
}

type clientAuthValue tlsfiles.ClientAuth

func (v *clientAuthValue) String() string { return string(*v) }
func (v *clientAuthValue) Set(s string) error {
	a, err := tlsfiles.ParseClientAuth(s)
	*v = clientAuthValue(a)
	return err
}

type durationValue time.Duration

func (v *durationValue) String() string { return time.Duration(*v).String() }
func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	*v = durationValue(d)
	return err
}

type levelValue slog.Level

func (v *levelValue) String() string     { return slog.Level(*v).String() }
func (v *levelValue) Set(s string) error { return (*slog.Level)(v).UnmarshalText([]byte(s)) }

// byteSize is a size in bytes, written as a number with an optional unit: B,
// KiB, MiB, GiB (powers of 1024) or KB, MB, GB (powers of 1000).
type byteSize int64

func (v *byteSize) String() string { return strconv.FormatInt(int64(*v), 10) }
func (v *byteSize) Set(s string) error {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("bad size %q", s)
	}
	*v = byteSize(n * mult)
	return nil
}
