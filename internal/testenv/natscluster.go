package testenv

import (
	"context"
	"fmt"
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
// meta leader.
const natsClusterReady = 60 * time.Second

// StartNATSCluster starts an n-node cluster and waits until JetStream answers;
// t.Cleanup shuts it down. The routes are known up front (JetStream
// clustering wants every peer from the start), so the ports are picked first.
func StartNATSCluster(t testing.TB, n int) *NATSCluster {
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
	c.waitJetStream(t)
	return c
}

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
		Logger:      natsTestLogger(),
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

// Restart starts a killed node again on its ports and store.
func (node *NATSClusterNode) Restart(t testing.TB) {
	t.Helper()
	node.Kill()
	if err := node.start(); err != nil {
		t.Fatal(err)
	}
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

// waitJetStream waits until the cluster has a JetStream meta leader, that
// is until an account info request succeeds.
func (c *NATSCluster) waitJetStream(t testing.TB) {
	t.Helper()
	js := c.JetStream(t)
	CheckFor(t, natsClusterReady, 100*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err
	})
}
