package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stratalog/strata/internal/natsembed"
)

// NATSClusterNode is one server of a NATSCluster.
type NATSClusterNode struct {
	Name       string
	URL        string // client URL, stable across Restart
	MonitorURL string // HTTP monitoring URL (/varz), stable across Restart
	StoreDir   string

	clientPort, clusterPort, monitorPort int
	routes                               []string

	mu  sync.Mutex
	srv *natsembed.Server
}

// NATSCluster is a JetStream cluster of in-process nats-servers on 127.0.0.1,
// each with its own client, cluster and monitoring port and file store,
// every write fsynced (natsembed's sync_interval: always). Nodes can be
// killed and restarted on the same ports and stores, so clients connected to
// all URLs ride it out.
type NATSCluster struct {
	Nodes []*NATSClusterNode
}

// natsClusterReady bounds how long the cluster takes to elect a JetStream
// meta leader and hear from every peer.
const natsClusterReady = 60 * time.Second

// StartNATSCluster starts an n-node cluster and waits until it is ready
// (WaitReady); t.Cleanup shuts it down.
func StartNATSCluster(t testing.TB, n int) *NATSCluster {
	t.Helper()
	c := NewNATSCluster(t, n)
	// A clustered server is ready for connections before its peers are up,
	// but start them together anyway: each waits for its listeners only.
	errs := make(chan error, n)
	for _, node := range c.Nodes {
		go func() { errs <- node.start() }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	c.WaitReady(t)
	return c
}

// NewNATSCluster configures an n-node cluster without starting any node:
// each starts with Start. The routes are known up front (JetStream
// clustering wants every peer from the start), so the ports are picked
// first. t.Cleanup shuts down whatever was started.
func NewNATSCluster(t testing.TB, n int) *NATSCluster {
	t.Helper()
	// ports[0:n] are client ports, ports[n:2n] cluster ports and
	// ports[2n:3n] monitoring ports.
	ports, err := freeLoopbackPorts(3 * n)
	if err != nil {
		t.Fatal(err)
	}
	c := &NATSCluster{}
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i]))
	}
	for i := range n {
		c.Nodes = append(c.Nodes, &NATSClusterNode{
			Name:        fmt.Sprintf("n%d", i),
			URL:         fmt.Sprintf("nats://127.0.0.1:%d", ports[i]),
			MonitorURL:  fmt.Sprintf("http://127.0.0.1:%d", ports[2*n+i]),
			StoreDir:    t.TempDir(),
			clientPort:  ports[i],
			clusterPort: ports[n+i],
			monitorPort: ports[2*n+i],
			routes:      append(append([]string(nil), routes[:i]...), routes[i+1:]...),
		})
	}
	t.Cleanup(func() {
		for _, node := range c.Nodes {
			node.Kill()
		}
	})
	return c
}

// clusterNodeReadyTimeout bounds a cluster node's start or restart.
const clusterNodeReadyTimeout = 2 * time.Minute

func (node *NATSClusterNode) start() error {
	srv, err := natsembed.Start(natsembed.Config{
		StoreDir:    node.StoreDir,
		Host:        "127.0.0.1",
		Port:        node.clientPort,
		ServerName:  node.Name,
		ClusterName: "strata-test",
		ClusterPort: node.clusterPort,
		Routes:      node.routes,
		MonitorPort: node.monitorPort,
		// A node restarted mid-load recovers its streams before it
		// accepts connections; under -race on a shared 2-core machine
		// that once took over the 30 s default.
		ReadyTimeout: clusterNodeReadyTimeout,
		Logger:       natsTestLogger(),
	})
	if err != nil {
		return fmt.Errorf("testenv: start nats node %s: %w", node.Name, err)
	}
	node.mu.Lock()
	node.srv = srv
	node.mu.Unlock()
	return nil
}

// Kill stops the node at once (its clients see the connection drop) and
// waits for it. Safe to call on a stopped node.
func (node *NATSClusterNode) Kill() {
	node.mu.Lock()
	srv := node.srv
	node.srv = nil
	node.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
	}
}

// Start starts a node that is not running (never started, or killed) on its
// ports and store.
func (node *NATSClusterNode) Start(t testing.TB) {
	t.Helper()
	if err := node.start(); err != nil {
		t.Fatal(err)
	}
}

// Restart starts a killed node again on its ports and store.
func (node *NATSClusterNode) Restart(t testing.TB) {
	t.Helper()
	node.Kill()
	node.Start(t)
}

// URLs is every node's client URL, comma-separated, as --nats-url takes them.
func (c *NATSCluster) URLs() string {
	urls := make([]string, len(c.Nodes))
	for i, node := range c.Nodes {
		urls[i] = node.URL
	}
	return strings.Join(urls, ",")
}

// MonitorURLs is every node's monitoring URL, comma-separated, as
// --nats-monitor-url takes them.
func (c *NATSCluster) MonitorURLs() string {
	urls := make([]string, len(c.Nodes))
	for i, node := range c.Nodes {
		urls[i] = node.MonitorURL
	}
	return strings.Join(urls, ",")
}

// JetStream returns a JetStream client connected to every node (it fails over
// between them); the connection closes when the test ends.
func (c *NATSCluster) JetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(c.URLs(), nats.Name(t.Name()), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("testenv: connect to nats cluster: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("testenv: jetstream: %v", err)
	}
	return js
}

// WaitReady waits until the cluster's JetStream meta group has a leader
// that every node agrees on and that sees all its peers current, then until
// JetStream answers. A meta leader alone is not enough: until the other
// peers have reported in, it refuses to place an R3 stream ("no suitable
// peers for placement"). Call it after Restart before taking another node
// down, so that one node at a time is missing.
func (c *NATSCluster) WaitReady(t testing.TB) {
	t.Helper()
	js := c.JetStream(t)
	client := &http.Client{Timeout: 2 * time.Second}
	CheckFor(t, natsClusterReady, 100*time.Millisecond, func() error {
		if err := c.metaCurrent(client); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err
	})
}

// metaCurrent reports, as an error, why the meta group is not yet whole.
func (c *NATSCluster) metaCurrent(client *http.Client) error {
	var leader string
	var leaderView metaCluster
	for _, node := range c.Nodes {
		meta, err := jszMeta(client, node.MonitorURL)
		if err != nil {
			return fmt.Errorf("node %s: %w", node.Name, err)
		}
		switch {
		case meta.Leader == "":
			return fmt.Errorf("node %s has no meta leader", node.Name)
		case leader != "" && meta.Leader != leader:
			return fmt.Errorf("nodes disagree on the meta leader: %s and %s", leader, meta.Leader)
		}
		leader = meta.Leader
		if node.Name == leader {
			leaderView = meta
		}
	}
	if leaderView.Size != len(c.Nodes) || len(leaderView.Replicas) != len(c.Nodes)-1 {
		return fmt.Errorf("meta leader %s sees %d peers of %d", leader, len(leaderView.Replicas)+1, len(c.Nodes))
	}
	for _, p := range leaderView.Replicas {
		if !p.Current || p.Offline {
			return fmt.Errorf("meta peer %s is not current", p.Name)
		}
	}
	return nil
}

// metaCluster is the part of /jsz's meta_cluster that WaitReady reads.
type metaCluster struct {
	Leader   string `json:"leader"`
	Size     int    `json:"cluster_size"`
	Replicas []struct {
		Name    string `json:"name"`
		Current bool   `json:"current"`
		Offline bool   `json:"offline"`
	} `json:"replicas"`
}

func jszMeta(client *http.Client, monitorURL string) (metaCluster, error) {
	resp, err := client.Get(monitorURL + "/jsz")
	if err != nil {
		return metaCluster{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return metaCluster{}, fmt.Errorf("GET /jsz: %s", resp.Status)
	}
	var jsz struct {
		Meta *metaCluster `json:"meta_cluster"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jsz); err != nil {
		return metaCluster{}, fmt.Errorf("decode /jsz: %w", err)
	}
	if jsz.Meta == nil {
		return metaCluster{}, errors.New("no meta cluster in /jsz")
	}
	return *jsz.Meta, nil
}

// JetStreamOn returns a JetStream client of a fresh NATS server (nodes 1)
// or of a fresh cluster of nodes servers, ready for streams.
func JetStreamOn(t testing.TB, nodes int) jetstream.JetStream {
	t.Helper()
	if nodes == 1 {
		return NATS(t).JetStream(t)
	}
	c := StartNATSCluster(t, nodes)
	c.WaitReady(t)
	return c.JetStream(t)
}
