package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/coordinator/placement"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/objstore/fs"
	"github.com/stratalog/strata/tiered/wal"
)

// testServer is a gateway over real parts: in-process NATS, the coordinator on
// JetStream KV, the tiered log over a local-directory object store.
type testServer struct {
	addr  string
	srv   *Server
	store *coordinator.Store
	log   *tiered.Log
	wal   *wal.Log
	logs  *recordingHandler
}

type serverOpts struct {
	noAutoCreate    bool
	maxRequestBytes int32
	maxInFlight     int64
	wrapLogs        func(Logs) Logs
	// consumerSession and consumerHeartbeat time KIP-848 group members.
	consumerSession, consumerHeartbeat time.Duration
	// offsetsRetention and its check interval, when set.
	offsetsRetention, offsetsRetentionCheck time.Duration
	// unpublished, when set and true, drops the publication of the
	// claims made meanwhile, as a store unreachable for the moment would
	// (fault injection: a live NATS cannot fail one write on demand).
	unpublished *atomic.Bool
	// listeners, when set, replace the one PLAINTEXT listener on a free
	// loopback port; addr is then the first one's.
	listeners []Listener
	// configure, when set, changes the gateway's Config last (security
	// tests set their authenticator and authorizer here).
	configure func(*Config)
}

// startServer runs a gateway on its own for tb and stops every part in
// Cleanup.
func startServer(tb testing.TB, o serverOpts) *testServer {
	return newBackend(tb, 0).gateway(tb, o, 0, "", false)
}

// backend is what the gateways of a test share, as processes would: one NATS
// server, the coordinator store on it, and one object store.
type backend struct {
	store  *coordinator.Store
	bucket objstore.Bucket
	wal    *wal.Log
	ctx    context.Context
	wg     *sync.WaitGroup
}

// newBackend starts the shared parts; lease is the gateways' lease (0: the
// default).
func newBackend(tb testing.TB, lease time.Duration) *backend {
	tb.Helper()
	ns := testenv.NATS(tb)
	js := ns.JetStream(tb)
	ctx, cancel := context.WithCancel(context.Background())
	wg := &sync.WaitGroup{}
	// Registered after the connection's cleanup, so it runs first: the
	// logs' last flush on shutdown still has NATS.
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	store, err := coordinator.Open(ctx, js, coordinator.Config{GatewayLease: lease})
	if err != nil {
		tb.Fatal(err)
	}
	tail, err := wal.Open(ctx, js, wal.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	wg.Go(func() { _ = store.Run(ctx) })
	select {
	case <-store.Synced():
	case <-time.After(30 * time.Second):
		tb.Fatal("coordinator did not sync")
	}
	bucket, err := fs.New(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	return &backend{store: store, bucket: bucket, wal: tail, ctx: ctx, wg: wg}
}

// gateway runs one gateway on the backend with its own tiered log; with
// member set it joins the cluster as node nodeID in rack.
func (b *backend) gateway(tb testing.TB, o serverOpts, nodeID int32, rack string, member bool) *testServer {
	tb.Helper()
	store := b.store
	// As strata serve does: one incarnation for the gateway and its claims.
	incarnation := placement.NewIncarnation()
	claims := &placement.Claims{Topics: store, NodeID: nodeID, Incarnation: incarnation}
	var members Members
	if member {
		members, claims.Members = store, store
	}
	var srv *Server
	log, err := tiered.New(tiered.Config{Bucket: b.bucket, Index: store, WAL: b.wal, NodeID: fmt.Sprint(nodeID), FlushInterval: 5 * time.Millisecond, WALChains: true,
		MayClaim: claims.MayClaim,
		Durability: func(ctx context.Context, tp index.TopicPartition) (tiered.Durability, error) {
			return srv.Durability(ctx, tp)
		},
		OnClaim: func(ctx context.Context, tp index.TopicPartition, epoch int32) {
			if o.unpublished != nil && o.unpublished.Load() {
				return
			}
			if err := store.PublishLeaderEpoch(ctx, tp, nodeID, incarnation, epoch); err != nil && ctx.Err() == nil {
				tb.Errorf("publish leader epoch: %v", err)
			}
		}})
	if err != nil {
		tb.Fatal(err)
	}
	b.wg.Go(func() { _ = log.Run(b.ctx) })

	listeners := o.listeners
	if listeners == nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		listeners = []Listener{{Name: "PLAINTEXT", Protocol: Plaintext, Listener: ln}}
	}
	var logs Logs = log
	if o.wrapLogs != nil {
		logs = o.wrapLogs(log)
	}
	rec := &recordingHandler{}
	cfg := Config{
		Listeners:                      listeners,
		NodeID:                         nodeID,
		Rack:                           rack,
		Incarnation:                    incarnation,
		ClusterID:                      "test-cluster",
		Topics:                         store,
		TopicAdmin:                     store,
		ProducerIDs:                    store,
		Logs:                           logs,
		Offsets:                        store,
		GroupStore:                     store,
		LeaderEpochs:                   store,
		Members:                        members,
		DisableAutoCreateTopics:        o.noAutoCreate,
		MaxRequestBytes:                o.maxRequestBytes,
		MaxInFlightRequestBytes:        o.maxInFlight,
		GroupConsumerSessionTimeout:    o.consumerSession,
		GroupConsumerHeartbeatInterval: o.consumerHeartbeat,
		OffsetsRetention:               o.offsetsRetention,
		OffsetsRetentionCheckInterval:  o.offsetsRetentionCheck,
		Logger:                         slog.New(rec),
	}
	if o.configure != nil {
		o.configure(&cfg)
	}
	srv, err = New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	b.wg.Go(func() { _ = srv.Run(b.ctx) })
	return &testServer{addr: listeners[0].Listener.Addr().String(), srv: srv, store: store, log: log, wal: b.wal, logs: rec}
}

func (s *testServer) client(tb testing.TB, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.addr)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// recordingHandler keeps the gateway's error records, so tests can assert that
// a panic was logged, or that none was.
type recordingHandler struct {
	mu     sync.Mutex
	errors []slog.Record
}

func (h *recordingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errors = append(h.errors, r)
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

// panics returns how many "panic serving request" errors were logged.
func (h *recordingHandler) panics() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.errors {
		if r.Message == "panic serving request" {
			n++
		}
	}
	return n
}

// topicID returns the id of an existing topic.
func (s *testServer) topicID(tb testing.TB, name string) [16]byte {
	tb.Helper()
	t, ok := s.store.Topic(name)
	if !ok {
		tb.Fatalf("topic %q does not exist", name)
	}
	return t.ID
}
