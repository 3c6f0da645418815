package testenv

import (
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stratalog/strata/internal/natsembed"
)

// NATSServer is a single in-process nats-server with JetStream started by
// NATS. It is shut down when the test that started it ends. StartNATSCluster
// starts a clustered one.
type NATSServer struct {
	// URL is the client URL (nats://127.0.0.1:port). It stays the same
	// across Restart.
	URL string
	// MonitorURL is the HTTP monitoring URL (http://127.0.0.1:port), for
	// /varz and the durability check. It stays the same across Restart.
	MonitorURL string
	// StoreDir is the JetStream store directory, inside t.TempDir().
	StoreDir string

	mu          sync.Mutex
	port        int
	monitorPort int
	srv         *natsembed.Server
}

// NATS starts a nats-server with JetStream on a random 127.0.0.1 port, its
// file store in t.TempDir(), and registers its shutdown with t.Cleanup.
//
// Its log goes to stderr at the level named by STRATA_TEST_NATS_LOG (debug,
// info, warn or error); by default it is discarded.
func NATS(t testing.TB) *NATSServer {
	t.Helper()
	n := &NATSServer{StoreDir: t.TempDir(), port: -1, monitorPort: -1}
	n.start(t)
	t.Cleanup(n.Shutdown)
	return n
}

func (n *NATSServer) start(t testing.TB) {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Config{
		StoreDir:    n.StoreDir,
		Host:        "127.0.0.1",
		Port:        n.port,
		MonitorPort: n.monitorPort,
		Logger:      natsTestLogger(),
	})
	if err != nil {
		t.Fatalf("testenv: start nats: %v", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.srv = srv
	if n.URL == "" {
		// The first start picks random ports; Restart keeps them so that
		// URL and MonitorURL stay valid.
		n.URL, n.MonitorURL = srv.ClientURL(), srv.MonitorURL()
		n.port = urlPort(t, n.URL)
		n.monitorPort = urlPort(t, n.MonitorURL)
	} else if got := srv.ClientURL(); got != n.URL {
		t.Fatalf("testenv: restarted nats listens on %s, want %s", got, n.URL)
	} else if got := srv.MonitorURL(); got != n.MonitorURL {
		t.Fatalf("testenv: restarted nats monitors on %s, want %s", got, n.MonitorURL)
	}
}

// urlPort returns the port at the end of a URL such as nats://127.0.0.1:4222.
func urlPort(t testing.TB, url string) int {
	t.Helper()
	port, err := strconv.Atoi(url[strings.LastIndexByte(url, ':')+1:])
	if err != nil {
		t.Fatalf("testenv: port of %q: %v", url, err)
	}
	return port
}

// Shutdown stops the server and waits for it. It is safe to call more than
// once, and is called by t.Cleanup anyway.
func (n *NATSServer) Shutdown() {
	n.mu.Lock()
	srv := n.srv
	n.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
	}
}

// Restart shuts the server down and starts it again on the same port and store
// directory, as a crash-and-restart of a single node would. Connections made
// before it see a disconnect; new ones may be made at once.
func (n *NATSServer) Restart(t testing.TB) {
	t.Helper()
	n.Shutdown()
	n.start(t)
}

// Conn connects a client to the server and closes it when the test ends.
func (n *NATSServer) Conn(t testing.TB) *nats.Conn {
	t.Helper()
	n.mu.Lock()
	srv := n.srv
	n.mu.Unlock()
	nc, err := srv.Connect(nats.Name(t.Name()))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// JetStream returns a JetStream client on a new connection (see Conn).
func (n *NATSServer) JetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(n.Conn(t))
	if err != nil {
		t.Fatalf("testenv: jetstream: %v", err)
	}
	return js
}

// natsTestLogger returns the logger for test servers, from
// STRATA_TEST_NATS_LOG; nil (discard) when unset or unknown.
func natsTestLogger() *slog.Logger {
	var level slog.Level
	switch strings.ToLower(os.Getenv("STRATA_TEST_NATS_LOG")) {
	case "trace":
		level = natsembed.LevelTrace
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
