package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stratalog/strata/internal/testenv"
)

// TestStartsWhileNATSClusterForms: strata started against a new three-node
// cluster of which one node is up waits (no meta leader yet) instead of
// exiting, and serves with R3 buckets once the other nodes start.
func TestStartsWhileNATSClusterForms(t *testing.T) {
	cluster := testenv.NewNATSCluster(t, 3)
	cluster.Nodes[0].Start(t)

	s := serveInProcess(t, "--listeners", "PLAINTEXT://127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--schema-registry-listen", "",
		"--data-dir", t.TempDir(), "--nats-url", cluster.URLs(), "--nats-monitor-url", cluster.MonitorURLs(),
		"--nats-replicas", "3")
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("serve stopped with %v", err)
		}
	})

	testenv.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		select {
		case <-s.exited:
			t.Fatalf("serve exited while the cluster formed: %v\n%s", s.err, s.log.String())
		case <-s.serving:
			t.Fatal("serve started with two of three NATS nodes down")
		default:
		}
		if !strings.Contains(s.log.String(), "waiting for the JetStream cluster to form") {
			return errors.New("no wait logged yet")
		}
		return nil
	})
	cluster.Nodes[1].Start(t)
	time.Sleep(time.Second) // possibly a meta leader, but too few peers for R3
	cluster.Nodes[2].Start(t)

	var broker string
	select {
	case broker = <-s.serving:
	case <-s.exited:
		t.Fatalf("serve exited: %v\n%s", s.err, s.log.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("serve did not start within 90s of the cluster forming\n%s", s.log.String())
	}
	// The buckets it created are R3.
	info, err := cluster.JetStream(t).Stream(t.Context(), "KV_strata_partitions")
	if err != nil || info.CachedInfo().Config.Replicas != 3 || info.CachedInfo().Config.Storage != jetstream.FileStorage {
		t.Fatalf("partitions bucket: %+v, %v", info, err)
	}
	testProduceConsume(t, broker, 1000)
}
