package main

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/coordinator/placement"
	"github.com/stratalog/strata/coordinator/schedule"
	"github.com/stratalog/strata/gateway"
	"github.com/stratalog/strata/internal/jsready"
	"github.com/stratalog/strata/internal/natscheck"
	"github.com/stratalog/strata/internal/natsembed"
	"github.com/stratalog/strata/recovery"
	"github.com/stratalog/strata/schemaregistry"
	"github.com/stratalog/strata/tiered"
	"github.com/stratalog/strata/tiered/gc"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/objstore/fs"
	"github.com/stratalog/strata/tiered/objstore/s3"
	"github.com/stratalog/strata/tiered/wal"
)

// serve wires the parts together and runs them until ctx ends. Shutdown order:
// 1. the Kafka listener and the HTTP server stop (clients see the connection
// close and retry elsewhere); 2. the log flushes what it has queued; 3. the
// coordinator's watcher stops; 4. NATS is closed.
func serve(ctx context.Context, cfg serveConfig, stderr io.Writer) (err error) {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(logger)
	stopProfiles, err := startProfiles(cfg.profileDir)
	if err != nil {
		return err
	}
	defer func() {
		if perr := stopProfiles(); perr != nil {
			logger.Warn("write profiles", "err", perr)
		}
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	// The embedded server's notices (its banner, every stream it creates) are
	// noise at info; they show at debug.
	natsLogger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: max(cfg.LogLevel, slog.LevelWarn)}))
	if cfg.LogLevel <= slog.LevelDebug {
		natsLogger = logger
	}
	nc, closeNATS, embeddedURL, err := connectNATS(cfg, natsLogger.With("part", "nats"))
	if err != nil {
		return err
	}
	defer closeNATS()
	if embeddedURL != "" {
		logger.Info("embedded nats listening", "url", embeddedURL)
		if cfg.onEmbeddedNATS != nil {
			cfg.onEmbeddedNATS(embeddedURL)
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	store, err := jsready.Open(ctx, logger, "coordinator", func(ctx context.Context) (*coordinator.Store, error) {
		return coordinator.Open(ctx, js, coordinator.Config{Replicas: cfg.NATSReplicas, GatewayLease: cfg.GatewayLease, Logger: logger})
	})
	if err != nil {
		return fmt.Errorf("open coordinator: %w", err)
	}
	tail, err := jsready.Open(ctx, logger, "wal", func(ctx context.Context) (*wal.Log, error) {
		return wal.Open(ctx, js, wal.Config{Shards: cfg.WALShards, Replicas: cfg.NATSReplicas})
	})
	if err != nil {
		return fmt.Errorf("open wal: %w", err)
	}
	if err := checkNATS(ctx, cfg, js, append(store.StreamNames(), tail.StreamNames()...), logger); err != nil {
		return err
	}
	tail.RegisterMetrics(reg)
	if tail.MaxDataBytes() < 1<<20 {
		logger.Warn("nats max_payload is small: batches larger than the wal takes are refused with MESSAGE_TOO_LARGE; set max_payload: 8MB on the servers",
			"max_batch_bytes", tail.MaxDataBytes())
	}
	clusterID, err := store.ClusterID(ctx)
	if err != nil {
		return fmt.Errorf("cluster id: %w", err)
	}
	clusterSecret, err := store.ClusterSecret(ctx)
	if err != nil {
		return fmt.Errorf("cluster secret: %w", err)
	}

	bucket, err := openBucket(ctx, cfg.storeConfig)
	if err != nil {
		return err
	}
	report, err := objstore.Probe(ctx, bucket, "probe/")
	if err != nil {
		return fmt.Errorf("object store probe: %w", err)
	}
	logger.Info("object store probed", "store", cfg.ObjectStore, "report", report.String())

	// The gateway and the log's claim check are one run of this node id.
	incarnation := placement.NewIncarnation()
	claims := &placement.Claims{Members: store, Topics: store, NodeID: int32(cfg.NodeID), Incarnation: incarnation}
	crash := func(step string) {
		if step == cfg.crashAt {
			logger.Warn("crashing for a test", "step", step)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
	walChains := cfg.WALChains
	if walChains {
		older, err := olderGateways(ctx, store, int32(cfg.NodeID))
		if err != nil {
			return err
		}
		if len(older) > 0 {
			logger.Warn("not appending to writer chains: gateways of an older version, which cannot take over a chain's tail, are live; restart this gateway once every gateway runs this version", "nodes", older)
			walChains = false
		}
	}
	// The log asks the gateway, which is built on the log, for a
	// partition's durability.
	var gw *gateway.Server
	log, err := tiered.New(tiered.Config{
		MayClaim: claims.MayClaim,
		OnClaim: func(ctx context.Context, tp index.TopicPartition, epoch int32) {
			if err := store.PublishLeaderEpoch(ctx, tp, int32(cfg.NodeID), incarnation, epoch); err != nil {
				// Metadata shows an older epoch meanwhile; a client sending
				// it is fenced and retries, and the next claim publishes.
				logger.Warn("publish leader epoch", "partition", tp.Partition, "epoch", epoch, "err", err)
			}
		},
		Durability: func(ctx context.Context, tp index.TopicPartition) (tiered.Durability, error) {
			return gw.Durability(ctx, tp)
		},
		Bucket:        bucket,
		Index:         store,
		WAL:           tail,
		WALChains:     walChains,
		NodeID:        strconv.Itoa(cfg.NodeID),
		FlushInterval: cfg.FlushInterval,
		FlushBytes:    int(cfg.FlushBytes),
		MaxTailBytes:  int(cfg.memory.Tail),
		MaxTailAge:    cfg.MaxTailAge,
		CacheBytes:    cfg.memory.Cache,
		PrefetchBytes: readAhead(cfg.ReadAheadBytes),
		ObjectGrace:   cfg.GCGrace,
		StepHook:      crash,
		Logger:        logger.With("part", "tiered"),
		Registerer:    reg,
	})
	if err != nil {
		return err
	}

	if err := addScramUsers(ctx, store, cfg.AddScram, logger); err != nil {
		return err
	}
	// authorizer stays a nil interface without --authorizer acl: the
	// gateway then checks nothing.
	var authorizer gateway.Authorizer
	var acls *gateway.ACLAuthorizer
	policy := aclPolicy(cfg)
	if cfg.Authorizer == "acl" {
		if acls, err = gateway.NewACLAuthorizer(ctx, store, logger.With("part", "acl")); err != nil {
			return err
		}
		authorizer = acls
	}

	ipOverrides, err := parseIPOverrides(cfg.MaxConnectionsPerIPOverrides)
	if err != nil {
		return err
	}

	listeners, peerTLS, err := openListeners(cfg, logger)
	if err != nil {
		return err
	}
	closeListeners := func() {
		for _, l := range listeners {
			l.Listener.Close()
		}
	}
	ln := listeners[0].Listener
	hf, err := newHTTPFront(cfg, store, clusterSecret, logger)
	if err != nil {
		closeListeners()
		return err
	}
	httpLn, err := hf.listen(cfg.HTTPListen)
	if err != nil {
		closeListeners()
		return fmt.Errorf("http listener: %w", err)
	}
	var registry *schemaregistry.Registry
	var registryLn net.Listener
	var schemas gateway.Schemas // nil unless the registry runs: a nil *Registry is not nil here
	if cfg.SchemaRegistryListen != "" {
		rcfg := schemaregistry.Config{KV: store.Schemas(), MaxBodyBytes: int64(cfg.SchemaRegistryMaxBody), Logger: logger.With("part", "schemaregistry")}
		if authorizer != nil {
			rcfg.Authorize = registryAuthorizer(authorizer, policy)
		}
		if registry, err = schemaregistry.New(rcfg); err == nil {
			registryLn, err = hf.listen(cfg.SchemaRegistryListen)
		}
		if err != nil {
			closeListeners()
			httpLn.Close()
			return fmt.Errorf("schema registry: %w", err)
		}
		schemas = registry
	}
	var ready atomic.Bool
	gw, err = gateway.New(gateway.Config{
		Listeners:                      listeners,
		SSLPrincipal:                   func(cert *x509.Certificate) (string, error) { return cfg.principalRules.Map(cert.Subject.String()) },
		NodeID:                         int32(cfg.NodeID),
		Rack:                           cfg.Rack,
		Incarnation:                    incarnation,
		ClusterID:                      clusterID,
		Topics:                         store,
		TopicAdmin:                     store,
		ProducerIDs:                    store,
		Logs:                           log,
		Offsets:                        store,
		GroupStore:                     store,
		Transactions:                   store,
		StepHook:                       crash,
		ClusterSecret:                  clusterSecret,
		PeerTLS:                        peerTLS,
		DisableAutoCreateTopics:        !cfg.AutoCreate,
		NumPartitions:                  int32(cfg.NumPartitions),
		MaxRequestBytes:                int32(cfg.MaxRequestBytes),
		MaxInFlightRequestBytes:        cfg.memory.Requests,
		MaxFetchResponseBytes:          cfg.memory.FetchResponses,
		GroupConsumerSessionTimeout:    cfg.ConsumerSessionTimeout,
		GroupConsumerHeartbeatInterval: cfg.ConsumerHeartbeatInterval,
		OffsetsRetention:               cfg.OffsetsRetention,
		TransactionMaxTimeout:          cfg.TransactionMaxTimeout,
		TransactionalIDExpiration:      cfg.TransactionalIDExpiration,
		TransactionScanInterval:        cfg.TransactionScanInterval,
		Members:                        store,
		LeaderEpochs:                   store,
		Schemas:                        schemas,
		Credentials:                    store,
		SASLMechanisms:                 splitList(cfg.SASLEnabledMechanisms),
		ConnectionsMaxReauth:           cfg.ConnectionsMaxReauth,
		Authorizer:                     authorizer,
		SuperUsers:                     policy.SuperUsers,
		AllowEveryoneIfNoACLFound:      policy.AllowEveryoneIfNoACLFound,
		Quotas:                         store,
		MaxConnections:                 cfg.MaxConnections,
		ConnectionsMaxIdle:             cfg.ConnectionsMaxIdle,
		// The gateway reads 0 as its default and a negative count as off.
		MaxIncrementalFetchSessionCacheSlots: cmp.Or(cfg.FetchSessionSlots, -1),
		MaxConnectionsPerIP:                  cfg.MaxConnectionsPerIP,
		MaxConnectionsPerIPOverrides:         ipOverrides,
		MaxConnectionCreationRate:            float64(cfg.MaxConnectionCreationRate),
		Logger:                               logger.With("part", "gateway"),
		Registerer:                           reg,
		OnServing: func() {
			ready.Store(true)
			if cfg.onServing != nil {
				cfg.onServing(ln.Addr(), httpLn.Addr())
			}
			// Tools and test harnesses read the first listener's
			// address from this line: its fields keep their order.
			first := listeners[0]
			logger.Info("serving kafka", "listen", ln.Addr().String(), "advertise", first.Advertise, "cluster", clusterID, "node", cfg.NodeID,
				"http", httpLn.Addr().String(), "listener", first.Name, "protocol", first.Protocol)
			for _, l := range listeners[1:] {
				logger.Info("serving kafka listener", "listener", l.Name, "protocol", l.Protocol, "listen", l.Listener.Addr().String(), "advertise", l.Advertise)
			}
		},
	})
	if err != nil {
		closeListeners()
		httpLn.Close()
		return err
	}
	registerMemoryMetrics(reg, cfg.memory, memoryUse{
		Tail:           log.TailBytes,
		Cache:          log.CachedBytes,
		Requests:       gw.RequestBytesHeld,
		FetchResponses: gw.FetchResponseBytesHeld,
	})
	scheduler, err := schedule.New(schedule.Config{
		Topics:            store,
		Logs:              log,
		Leads:             gw.Leads,
		Configs:           gateway.EffectiveTopicConfigs,
		Interval:          cfg.CompactionInterval,
		MaxBytesPerSecond: int64(cfg.CompactionRate),
		Logger:            logger.With("part", "schedule"),
		Registerer:        reg,
	})
	if err != nil {
		closeListeners()
		httpLn.Close()
		return err
	}
	collector, err := gc.New(gc.Config{
		Bucket: bucket,
		Index:  store,
		Live: func(id [16]byte) bool {
			_, ok := store.TopicByID(id)
			return ok
		},
		Owner:      func() bool { return gw.RunsJob("gc") },
		Grace:      cfg.GCGrace,
		StepHook:   crash,
		Interval:   max(cfg.CompactionInterval, cfg.GCGrace/2),
		Logger:     logger.With("part", "gc"),
		Registerer: reg,
	})
	if err != nil {
		closeListeners()
		httpLn.Close()
		return err
	}
	snapshots, err := recovery.NewSnapshotter(recovery.SnapshotConfig{
		Bucket:     bucket,
		Source:     store,
		ClusterID:  clusterID,
		NodeID:     strconv.Itoa(cfg.NodeID),
		Interval:   cfg.MetadataSnapshotInterval,
		Owner:      func() bool { return gw.RunsJob("metadata-snapshot") },
		Ready:      store.Synced(),
		Logger:     logger.With("part", "snapshot"),
		Registerer: reg,
	})
	if err != nil {
		closeListeners()
		httpLn.Close()
		return err
	}
	g, front := errgroup.WithContext(ctx)
	back, stopBack := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBack()
	g.Go(func() error {
		defer stopBack()
		select {
		case <-store.Synced():
		case <-front.Done():
			closeListeners()
			return nil
		}
		err := gw.Run(front)
		ready.Store(false)
		return err
	})
	admin := adminHandler(reg, &ready, hf.pprofAllowed(cfg.HTTPListen))
	if authorizer != nil && cfg.HTTPAuth == httpAuthBasic {
		admin = adminAuthorizer(authorizer, policy, admin)
	}
	admin = hf.wrap(admin)
	g.Go(func() error { return serveHTTP(front, "http", httpLn, admin, logger) })
	if registry != nil {
		g.Go(func() error { return registry.Run(back) })
		logger.Info("serving schema registry", "listen", registryLn.Addr().String())
		if cfg.onRegistry != nil {
			cfg.onRegistry(registryLn.Addr())
		}
		g.Go(func() error { return serveHTTP(front, "schema registry", registryLn, hf.wrap(registry), logger) })
	}
	g.Go(func() error { return store.Run(back) })
	if acls != nil {
		g.Go(func() error { return acls.Run(back) })
	}
	g.Go(func() error { return log.Run(back) })
	// The lifecycle jobs stop with the gateway, before the log's last flush.
	g.Go(func() error { return scheduler.Run(front) })
	g.Go(func() error { return collector.Run(front) })
	g.Go(func() error { return snapshots.Run(front) })
	err = g.Wait()
	logger.Info("stopped", "err", err)
	return err
}

// checkNATS holds external NATS servers to the durability contract
// (internal/natscheck): refused unless --allow-unsafe-nats, which is logged
// loudly on every start. The embedded server is started with it.
func checkNATS(ctx context.Context, cfg serveConfig, js jetstream.JetStream, streams []string, logger *slog.Logger) error {
	if cfg.NATSURL == "" {
		return nil
	}
	var urls []string
	if cfg.NATSMonitorURLs != "" {
		urls = strings.Split(splitURLs(cfg.NATSMonitorURLs), ",")
	}
	err := natscheck.Verify(ctx, js, natscheck.Config{MonitorURLs: urls, Streams: streams, Replicas: cfg.NATSReplicas})
	switch {
	case err == nil:
		logger.Info("nats durability verified", "servers", len(urls), "streams", len(streams))
		return nil
	case cfg.AllowUnsafeNATS && errors.Is(err, natscheck.ErrUnsafe):
		logger.Warn("UNSAFE NATS: running anyway because of --allow-unsafe-nats; acknowledged records can be lost", "err", err)
		return nil
	}
	return fmt.Errorf("%w (pass --allow-unsafe-nats to run anyway)", err)
}

// connectNATS connects to --nats-url, or starts NATS embedded under the data
// dir with JetStream fsyncing every write and returns its client URL too
// ("" with no listener, see --embedded-nats-listen).
func connectNATS(cfg serveConfig, logger *slog.Logger) (*nats.Conn, func(), string, error) {
	opts := []nats.Option{nats.Name("strata-" + strconv.Itoa(cfg.NodeID)), nats.MaxReconnects(-1)}
	if cfg.NATSURL != "" {
		nc, err := nats.Connect(splitURLs(cfg.NATSURL), opts...)
		if err != nil {
			return nil, nil, "", fmt.Errorf("connect to nats %s: %w", cfg.NATSURL, err)
		}
		return nc, nc.Close, "", nil
	}
	embedded := natsembed.Config{StoreDir: filepath.Join(cfg.DataDir, "nats"), Logger: logger}
	if cfg.EmbeddedNATSListen != "" {
		// Validated by parseServeFlags. Port 0 means any free port here,
		// which natsembed spells -1 (its 0 is no listener).
		host, port, _ := net.SplitHostPort(cfg.EmbeddedNATSListen)
		embedded.Host, embedded.Port = host, -1
		if n, _ := strconv.Atoi(port); n > 0 {
			embedded.Port = n
		}
	}
	srv, err := natsembed.Start(embedded)
	if err != nil {
		return nil, nil, "", fmt.Errorf("start embedded nats: %w", err)
	}
	nc, err := srv.Connect(opts...)
	if err != nil {
		srv.Shutdown()
		return nil, nil, "", fmt.Errorf("connect to embedded nats: %w", err)
	}
	return nc, func() { nc.Close(); srv.Shutdown() }, srv.ClientURL(), nil
}

func openBucket(ctx context.Context, cfg storeConfig) (objstore.Bucket, error) {
	if cfg.ObjectStore == "file" {
		b, err := fs.New(filepath.Join(cfg.DataDir, "objects"))
		if err != nil {
			return nil, fmt.Errorf("file object store: %w", err)
		}
		return b, nil
	}
	b, err := s3.New(ctx, s3.Config{
		Endpoint:     cfg.S3.Endpoint,
		Bucket:       cfg.S3.Bucket,
		Region:       cfg.S3.Region,
		PathStyle:    cfg.S3.PathStyle,
		CreateBucket: cfg.S3.CreateBucket,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 object store: %w", err)
	}
	return b, nil
}

// readAhead is --read-ahead-bytes as tiered.Config.PrefetchBytes, whose
// zero means its default and negative off.
func readAhead(n byteSize) int64 {
	if n <= 0 {
		return -1
	}
	return int64(n)
}

// splitURLs is used for --nats-url lists with spaces after commas.
func splitURLs(s string) string { return strings.ReplaceAll(s, " ", "") }

// defaultAdvertise is the address given to clients of a listener that
// --advertised-listeners does not name: the listener's, except that a wildcard listener (0.0.0.0, ::) is
// advertised under the host's name, as Kafka does for advertised.listeners,
// since clients (and the other gateways' metadata) cannot dial a wildcard.
func defaultAdvertise(ln *net.TCPAddr, hostname func() (string, error)) (string, error) {
	if !ln.IP.IsUnspecified() {
		return ln.String(), nil
	}
	host, err := hostname()
	if err != nil {
		return "", fmt.Errorf("listening on %s and no --advertised-listeners for it: host name: %w", ln, err)
	}
	return net.JoinHostPort(host, strconv.Itoa(ln.Port)), nil
}

// olderGateways returns the node ids of the live gateways, other than self,
// whose record does not say they take over this version's writer chains
// (coordinator.Gateway.ChainTakeover and ChainFenceSubjects). A gateway
// appends to chains only when there are none: an older one taking over a
// partition would read its own subject and miss the records on the chain,
// or fence the chain where its writer does not look. One that joins later (a
// rollback) is not seen; the README says to turn chains off first.
func olderGateways(ctx context.Context, store *coordinator.Store, self int32) ([]int32, error) {
	live, err := store.Gateways(ctx)
	if err != nil {
		return nil, fmt.Errorf("list gateways: %w", err)
	}
	var older []int32
	for _, g := range live {
		if g.NodeID != self && !(g.ChainTakeover && g.ChainFenceSubjects) {
			older = append(older, g.NodeID)
		}
	}
	return older, nil
}
