package natscheck_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stratalog/strata/internal/jsready"
	"github.com/stratalog/strata/internal/natscheck"
	"github.com/stratalog/strata/internal/testenv"
)

// verifyTimeout bounds one Verify call in these tests.
const verifyTimeout = 30 * time.Second

func verify(t *testing.T, js jetstream.JetStream, cfg natscheck.Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), verifyTimeout)
	defer cancel()
	return natscheck.Verify(ctx, js, cfg)
}

// wantUnsafe fails the test unless err wraps ErrUnsafe and names each of
// wants.
func wantUnsafe(t *testing.T, err error, wants ...string) {
	t.Helper()
	if !errors.Is(err, natscheck.ErrUnsafe) {
		t.Fatalf("Verify = %v, want an error wrapping ErrUnsafe", err)
	}
	t.Logf("Verify: %v", err)
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Verify error lacks %q:\n%v", w, err)
		}
	}
}

// createStream creates a stream on subjects "<name>.>", waiting as strata
// serve does while a fresh cluster cannot place it yet (jsready), then waits
// until it is placed.
func createStream(t *testing.T, js jetstream.JetStream, cfg jetstream.StreamConfig) {
	t.Helper()
	cfg.Subjects = []string{cfg.Name + ".>"}
	if _, err := jsready.Open(t.Context(), slog.New(slog.DiscardHandler), cfg.Name, func(ctx context.Context) (jetstream.Stream, error) {
		return js.CreateOrUpdateStream(ctx, cfg)
	}); err != nil {
		t.Fatalf("create stream %s: %v", cfg.Name, err)
	}
	waitPlaced(t, js, cfg.Name, cfg.Replicas)
}

// waitPlaced waits until the stream's info names a leader and a server for
// every other replica, as Verify needs to check placement; right after
// creation a follower may still be "unknown".
func waitPlaced(t *testing.T, js jetstream.JetStream, name string, replicas int) {
	t.Helper()
	testenv.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, name)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		return placed(info, replicas)
	})
}

// placed reports whether the stream has a leader and replicas-1 named
// followers.
func placed(info *jetstream.StreamInfo, replicas int) error {
	c := info.Cluster
	if c == nil || c.Leader == "" {
		return fmt.Errorf("stream %s has no leader yet", info.Config.Name)
	}
	if len(c.Replicas) != replicas-1 {
		return fmt.Errorf("stream %s has %d followers, want %d", info.Config.Name, len(c.Replicas), replicas-1)
	}
	for _, r := range c.Replicas {
		if strings.Contains(r.Name, "unknown") {
			return fmt.Errorf("stream %s: follower %s not named yet", info.Config.Name, r.Peer)
		}
	}
	return nil
}

func TestCluster(t *testing.T) {
	c := testenv.StartNATSCluster(t, 3)
	js := c.JetStream(t)
	urls := strings.Split(c.MonitorURLs(), ",")
	createStream(t, js, jetstream.StreamConfig{Name: "r3", Replicas: 3, Storage: jetstream.FileStorage})
	createStream(t, js, jetstream.StreamConfig{Name: "r1", Replicas: 1, Storage: jetstream.FileStorage})
	createStream(t, js, jetstream.StreamConfig{Name: "mem3", Replicas: 3, Storage: jetstream.MemoryStorage})
	if _, err := jsready.Open(t.Context(), slog.New(slog.DiscardHandler), "meta", func(ctx context.Context) (jetstream.KeyValue, error) {
		return js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "meta", Replicas: 3, Storage: jetstream.FileStorage})
	}); err != nil {
		t.Fatalf("create bucket meta: %v", err)
	}
	waitPlaced(t, js, "KV_meta", 3)

	t.Run("R3 streams pass", func(t *testing.T) {
		err := verify(t, js, natscheck.Config{MonitorURLs: urls, Streams: []string{"r3", "KV_meta"}, Replicas: 3})
		if err != nil {
			t.Fatalf("Verify = %v, want nil", err)
		}
	})
	t.Run("R1 stream when 3 required", func(t *testing.T) {
		err := verify(t, js, natscheck.Config{MonitorURLs: urls, Streams: []string{"r3", "r1"}, Replicas: 3})
		wantUnsafe(t, err, `stream "r1" has 1 replicas, want 3`)
		if strings.Contains(err.Error(), `"r3"`) {
			t.Errorf("Verify error names the R3 stream:\n%v", err)
		}
	})
	t.Run("every problem listed", func(t *testing.T) {
		err := verify(t, js, natscheck.Config{MonitorURLs: urls, Streams: []string{"r1", "mem3", "absent"}, Replicas: 3})
		wantUnsafe(t, err,
			`stream "r1" has 1 replicas, want 3`,
			`stream "mem3" uses memory storage, want file`,
			`stream "absent" does not exist`)
	})
	t.Run("missing monitor URL of a replica's server", func(t *testing.T) {
		err := verify(t, js, natscheck.Config{MonitorURLs: urls[:2], Streams: []string{"r3"}, Replicas: 3})
		missing := c.Nodes[2].Name
		wantUnsafe(t, err, fmt.Sprintf(`server %q hosts streams ["r3"]`, missing))
		for _, n := range c.Nodes[:2] {
			if strings.Contains(err.Error(), fmt.Sprintf("%q", n.Name)) {
				t.Errorf("Verify error names checked server %s:\n%v", n.Name, err)
			}
		}
	})
	t.Run("unreachable monitor URL", func(t *testing.T) {
		dead := "http://" + closedPort(t)
		bad := append(slices.Clone(urls[:2]), dead)
		err := verify(t, js, natscheck.Config{MonitorURLs: bad, Streams: []string{"r3"}, Replicas: 3})
		wantUnsafe(t, err, "server at "+dead, fmt.Sprintf("server %q hosts", c.Nodes[2].Name))
	})
	t.Run("no monitor URLs", func(t *testing.T) {
		err := verify(t, js, natscheck.Config{Streams: []string{"r3"}, Replicas: 3})
		wantUnsafe(t, err, "sync_always cannot be verified", "--nats-monitor-url", "--allow-unsafe-nats")
	})
}

// TestSingleServer checks a non-clustered server, whose streams report a
// leader and no replicas.
func TestSingleServer(t *testing.T) {
	n := testenv.NATS(t)
	js := n.JetStream(t)
	createStream(t, js, jetstream.StreamConfig{Name: "single", Replicas: 1, Storage: jetstream.FileStorage})
	urls := []string{n.MonitorURL}

	if err := verify(t, js, natscheck.Config{MonitorURLs: urls, Streams: []string{"single"}, Replicas: 1}); err != nil {
		t.Fatalf("Verify R1 on a single server = %v, want nil", err)
	}
	err := verify(t, js, natscheck.Config{MonitorURLs: urls, Streams: []string{"single"}, Replicas: 3})
	wantUnsafe(t, err, `stream "single" has 1 replicas, want 3`)

	// Errors that are not findings about the servers do not wrap ErrUnsafe.
	err = verify(t, js, natscheck.Config{MonitorURLs: urls, Streams: []string{"single"}})
	if err == nil || errors.Is(err, natscheck.ErrUnsafe) {
		t.Errorf("Verify with Replicas 0 = %v, want a config error", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = natscheck.Verify(ctx, js, natscheck.Config{MonitorURLs: urls, Streams: []string{"single"}, Replicas: 1})
	if !errors.Is(err, context.Canceled) || errors.Is(err, natscheck.ErrUnsafe) {
		t.Errorf("Verify with a canceled context = %v, want context.Canceled", err)
	}
}

// TestSyncOff runs a server without sync_always. natsembed cannot start one
// (by design), so the test starts nats-server directly.
func TestSyncOff(t *testing.T) {
	ns, err := server.NewServer(&server.Options{
		ServerName: "unsafe",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		HTTPHost:   "127.0.0.1",
		HTTPPort:   server.RANDOM_PORT,
		NoSigs:     true,
		NoLog:      true,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		SyncAlways: false, // the point of the test
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("unsafe server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	createStream(t, js, jetstream.StreamConfig{Name: "data", Replicas: 1, Storage: jetstream.FileStorage})
	monitor := "http://" + ns.MonitorAddr().String()

	err = verify(t, js, natscheck.Config{MonitorURLs: []string{monitor}, Streams: []string{"data"}, Replicas: 1})
	wantUnsafe(t, err, fmt.Sprintf(`server "unsafe" at %s: jetstream sync_always is off`, monitor))
	if strings.Contains(err.Error(), `stream "data"`) {
		t.Errorf("Verify error blames stream data, whose config is fine:\n%v", err)
	}
}

// closedPort returns a loopback address nothing listens on (it was free a
// moment ago).
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
