package natsembed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// lockedBuffer is a bytes.Buffer safe for the server's goroutines to log into.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// roundTrip checks that JetStream works through a connection: it writes a KV
// value and reads it back.
func roundTrip(t *testing.T, s *Server, bucket string) {
	t.Helper()
	nc, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("put: %v", err)
	}
	e, err := kv.Get(ctx, "k")
	if err != nil || string(e.Value()) != "v" {
		t.Fatalf("get = %v, %v; want v", e, err)
	}
}

func TestInProcess(t *testing.T) {
	s := start(t, Config{StoreDir: t.TempDir()})
	if got := s.ClientURL(); got != "" {
		t.Errorf("ClientURL = %q, want empty when not listening", got)
	}
	if !s.ns.JetStreamConfig().SyncAlways {
		t.Error("JetStream runs without SyncAlways")
	}
	roundTrip(t, s, "inprocess")
}

func TestRandomPort(t *testing.T) {
	s := start(t, Config{StoreDir: t.TempDir(), Port: -1})
	url := s.ClientURL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") || strings.HasSuffix(url, ":-1") || strings.HasSuffix(url, ":0") {
		t.Fatalf("ClientURL = %q, want a concrete loopback port", url)
	}
	if !s.ns.JetStreamConfig().SyncAlways {
		t.Error("JetStream runs without SyncAlways")
	}
	roundTrip(t, s, "tcp")
}

// TestMonitorVarz checks what natscheck relies on: the monitoring endpoint
// is where MonitorURL says, and its /varz reports the server's name and
// sync_always.
func TestMonitorVarz(t *testing.T) {
	s := start(t, Config{StoreDir: t.TempDir(), ServerName: "monitored", MonitorPort: -1})
	url := s.MonitorURL()
	if !strings.HasPrefix(url, "http://127.0.0.1:") || strings.HasSuffix(url, ":-1") || strings.HasSuffix(url, ":0") {
		t.Fatalf("MonitorURL = %q, want a concrete loopback port", url)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/varz", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("get /varz: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("get /varz: status %s", resp.Status)
	}
	var varz struct {
		ServerName string `json:"server_name"`
		JetStream  struct {
			Config *struct {
				SyncAlways bool `json:"sync_always"`
			} `json:"config"`
		} `json:"jetstream"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&varz); err != nil {
		t.Fatalf("decode /varz: %v", err)
	}
	if varz.ServerName != "monitored" {
		t.Errorf("server_name = %q, want monitored", varz.ServerName)
	}
	if varz.JetStream.Config == nil || !varz.JetStream.Config.SyncAlways {
		t.Errorf("/varz jetstream config = %+v, want sync_always true", varz.JetStream.Config)
	}
}

func TestNoMonitorByDefault(t *testing.T) {
	s := start(t, Config{StoreDir: t.TempDir(), Port: -1})
	if got := s.MonitorURL(); got != "" {
		t.Errorf("MonitorURL = %q, want empty without MonitorPort", got)
	}
	if addr := s.ns.MonitorAddr(); addr != nil {
		t.Errorf("monitoring listens on %s without MonitorPort", addr)
	}
}

func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	s := start(t, Config{StoreDir: dir})
	roundTrip(t, s, "durable")
	s.Shutdown()
	s.Shutdown() // idempotent

	s = start(t, Config{StoreDir: dir})
	nc, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(t.Context(), "durable")
	if err != nil {
		t.Fatalf("bind bucket after restart: %v", err)
	}
	e, err := kv.Get(t.Context(), "k")
	if err != nil || string(e.Value()) != "v" {
		t.Fatalf("get after restart = %v, %v; want v", e, err)
	}
}

func TestCluster(t *testing.T) {
	var servers []*Server
	var routes []string
	for attempt := 1; servers == nil; attempt++ {
		var err error
		if servers, routes, err = startCluster(t); err != nil {
			// Another process can take a cluster port between freePort
			// and the server's bind, and that server never becomes
			// ready: try again on fresh ports.
			if !errors.Is(err, ErrNotReady) || attempt == 3 {
				t.Fatalf("start, attempt %d: %v", attempt, err)
			}
			t.Logf("start, attempt %d: %v", attempt, err)
		}
	}
	seed := servers[0]
	if got, want := seed.ClusterURL(), routes[0]; got != want {
		t.Fatalf("ClusterURL = %q, want %q", got, want)
	}
	nc, err := seed.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The JetStream meta group needs a leader before an R3 bucket can be
	// created.
	checkFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		_, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "r3", Replicas: 3, Storage: jetstream.FileStorage})
		return err
	})
}

// startCluster starts three clustered servers. A JetStream cluster needs its
// routes at start, so the cluster ports are picked up front and every server
// routes to all three (a route to itself is ignored). On an error it shuts
// down the servers it started.
func startCluster(t *testing.T) ([]*Server, []string, error) {
	ports := []int{freePort(t), freePort(t), freePort(t)}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var servers []*Server
	for i, p := range ports {
		s, err := Start(Config{
			StoreDir:     t.TempDir(),
			Port:         -1,
			ServerName:   fmt.Sprintf("n%d", i+1),
			ClusterName:  "c",
			ClusterPort:  p,
			Routes:       routes,
			ReadyTimeout: 10 * time.Second,
		})
		if err != nil {
			for _, started := range servers {
				started.Shutdown()
			}
			return nil, nil, err
		}
		t.Cleanup(s.Shutdown)
		servers = append(servers, s)
	}
	return servers, routes, nil
}

// checkFor calls f every interval until it returns nil, failing the test if
// it still fails after total. (internal/testenv has the shared CheckFor, but
// testenv imports this package.)
func checkFor(t *testing.T, total, interval time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %s: %v", total, err)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no store dir":         {},
		"routes without name":  {StoreDir: t.TempDir(), Routes: []string{"nats://127.0.0.1:1"}},
		"cluster without name": {StoreDir: t.TempDir(), ClusterName: "c"},
	} {
		t.Run(name, func(t *testing.T) {
			if s, err := Start(cfg); err == nil {
				s.Shutdown()
				t.Fatal("Start succeeded")
			}
		})
	}
}

func TestLogger(t *testing.T) {
	var buf lockedBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := start(t, Config{StoreDir: t.TempDir(), ServerName: "logged", Logger: log})
	s.Shutdown()
	out := buf.String()
	for _, want := range []string{"level=INFO", `msg="nats server"`, "server=logged", "Starting nats-server"} {
		if !strings.Contains(out, want) {
			t.Errorf("log output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "level=DEBUG") {
		t.Errorf("debug lines logged at Info level:\n%s", out)
	}

	a := slogAdapter{log: log}
	a.Fatalf("boom %d", 1)
	if out := buf.String(); !strings.Contains(out, "fatal=true") || !strings.Contains(out, `line="boom 1"`) {
		t.Errorf("Fatalf output wrong:\n%s", out)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
