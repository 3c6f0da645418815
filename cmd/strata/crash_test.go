package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/testenv"
)

// runAsStrata makes the test binary act as the strata binary when re-executed
// by a test, so process tests need no separate build.
const runAsStrata = "STRATA_TEST_RUN_AS_STRATA"

// process is `strata serve` in a child process.
type process struct {
	cmd *exec.Cmd
	out *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startChild starts cmd, a child of this test binary, with its output kept
// (and logged, as what, if the test fails); it is killed at cleanup unless
// it has exited.
func startChild(t *testing.T, cmd *exec.Cmd, what string) *process {
	t.Helper()
	p := &process{cmd: cmd, out: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", what, p.out.String())
		}
	})
	return p
}

// startProcess starts strata serve on addr with data under dir and waits until
// it serves Kafka.
func startProcess(t *testing.T, dir, addr string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--listeners", "PLAINTEXT://" + addr, "--http-listen", "127.0.0.1:0", "--schema-registry-listen", "127.0.0.1:0", "--data-dir", dir}, args...)...)
	cmd.Env = append(os.Environ(), runAsStrata+"=1")
	p := startChild(t, cmd, "strata")
	testenv.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		if cmd.ProcessState != nil {
			return fmt.Errorf("exited: %v", cmd.ProcessState)
		}
		if !strings.Contains(p.out.String(), `msg="serving kafka"`) {
			return fmt.Errorf("not serving yet")
		}
		return nil
	})
	return p
}

// kill sends SIGKILL: no flush, no goodbye.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait() // "signal: killed" is the expected outcome
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestKillRestart kills strata with SIGKILL twice under idempotent acks=all load
// and restarts it on the same data dir. Every acknowledged record must be
// readable at its acknowledged offset, offsets must be contiguous, and no record
// may appear twice: nothing unacknowledged lands in the middle of the log, and
// the producer's retries of batches that were durable but not acknowledged are
// recognised as duplicates after the restart.
func TestKillRestart(t *testing.T) {
	const (
		topic      = "crash"
		partitions = 6
		n          = 30_000
		kills      = 2
	)
	dir, addr := t.TempDir(), freeLoopbackAddr(t)
	args := []string{"--flush-interval", "20ms", "--log-level", "info"}
	p := startProcess(t, dir, addr, args...)
	createTopic(t, addr, topic, partitions)
	adm := kadm.NewClient(newClient(t, addr))
	alterCtx, alterCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer alterCancel()
	retention := "3600000"
	if _, err := adm.AlterTopicConfigs(alterCtx, []kadm.AlterConfig{{Name: "retention.ms", Value: &retention}}, topic); err != nil {
		t.Fatal(err)
	}

	l := startLoad(t, addr, topic, n)
	for k := 1; k <= kills; k++ {
		l.waitAcked(t, int64(k*n/(kills+2)))
		p.kill(t)
		t.Logf("kill %d after %d acknowledgements", k, l.ackCount.Load())
		p = startProcess(t, dir, addr, args...)
	}
	acks := l.finish(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs := consumeAll(t, addr, topic, partitions, n)
	verifyLog(t, acks, recs)

	// Topic configs survive the kills too.
	rcs, err := kadm.NewClient(newClient(t, addr)).DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" {
			found = true
			if c.MaybeValue() != retention || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
				t.Errorf("retention.ms after restarts = %q (source %v), want %s set on the topic", c.MaybeValue(), c.Source, retention)
			}
		}
	}
	if !found {
		t.Error("retention.ms missing from DescribeConfigs")
	}
}

// load produces n keyed records at a steady pace (50 every 10 ms) with an
// idempotent acks=all producer that retries for up to two minutes, and
// records what was acknowledged, so that faults land while records are in
// flight.
type load struct {
	n        int
	mu       sync.Mutex
	acks     []acked
	ackTimes []time.Time
	failures []error
	wg       sync.WaitGroup
	ackCount atomic.Int64
	produced chan struct{}
}

func startLoad(t *testing.T, addr, topic string, n int) *load {
	t.Helper()
	return startLoadValues(t, addr, topic, n, func(i int) string { return fmt.Sprintf("value-%08d", i) })
}

// startLoadValues is startLoad with record i's value from value and opts
// added to the producer's.
func startLoadValues(t *testing.T, addr, topic string, n int, value func(i int) string, opts ...kgo.Opt) *load {
	t.Helper()
	producer := newClient(t, addr, append([]kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(time.Millisecond),
		kgo.RecordDeliveryTimeout(2 * time.Minute),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		// Refresh metadata promptly after NOT_LEADER_OR_FOLLOWER, as the
		// Java client does, rather than at most every 5s (kgo's default).
		kgo.MetadataMinAge(250 * time.Millisecond),
	}, opts...)...)
	l := &load{n: n, produced: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute+time.Duration(n/5000)*time.Second)
	t.Cleanup(cancel)
	go func() {
		defer close(l.produced)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := range n {
			if i%50 == 0 {
				select {
				case <-tick.C:
				case <-ctx.Done():
					return
				}
			}
			r := &kgo.Record{Topic: topic, Key: []byte("key-" + strconv.Itoa(i%500)), Value: []byte(value(i))}
			l.wg.Add(1)
			producer.Produce(ctx, r, func(r *kgo.Record, err error) {
				defer l.wg.Done()
				l.mu.Lock()
				defer l.mu.Unlock()
				if err != nil {
					l.failures = append(l.failures, err)
					return
				}
				l.acks = append(l.acks, acked{string(r.Key), string(r.Value), r.Partition, r.Offset})
				l.ackTimes = append(l.ackTimes, time.Now())
				l.ackCount.Add(1)
			})
		}
	}()
	return l
}

// waitAcked waits until at least target records are acknowledged.
func (l *load) waitAcked(t *testing.T, target int64) {
	t.Helper()
	testenv.CheckFor(t, 2*time.Minute, 10*time.Millisecond, func() error {
		if c := l.ackCount.Load(); c < target {
			return fmt.Errorf("%d of %d records acknowledged", c, target)
		}
		return nil
	})
}

// finish waits for the last acknowledgement and requires every record to
// have been acknowledged.
func (l *load) finish(t *testing.T) []acked {
	t.Helper()
	<-l.produced
	l.wg.Wait()
	if len(l.failures) > 0 {
		t.Fatalf("%d records failed, first: %v", len(l.failures), l.failures[0])
	}
	if len(l.acks) != l.n {
		t.Fatalf("acknowledged %d of %d", len(l.acks), l.n)
	}
	return l.acks
}

// TestNATSNodeLossUnderLoad runs three gateways on a three-node NATS cluster
// (R3 buckets and WAL streams) and MinIO, and kills one NATS node under
// idempotent acks=all load, then another after the first is back: writes,
// acknowledged from the WAL, carry on, and every acknowledged record is in
// the log once, at its acknowledged offset.
func TestNATSNodeLossUnderLoad(t *testing.T) {
	for _, wal := range walLayouts {
		t.Run(wal.name, func(t *testing.T) { testNATSNodeLossUnderLoad(t, wal.flag) })
	}
}

// walLayouts are the WAL's two layouts (--wal-chains), which the failure
// tests run under each.
var walLayouts = []struct{ name, flag string }{
	{"partition-subjects", "--wal-chains=false"},
	{"chains", "--wal-chains=true"},
}

func testNATSNodeLossUnderLoad(t *testing.T, walFlag string) {
	const (
		topic      = "natsloss"
		partitions = 6
		n          = 40_000
	)
	cluster := testenv.StartNATSCluster(t, 3)
	dir := t.TempDir()
	store := sharedObjectStore(t)
	var addrs []string
	for i := range 3 {
		addr := freeLoopbackAddr(t)
		addrs = append(addrs, addr)
		startProcess(t, dir, addr, append([]string{"--nats-url", cluster.URLs(), "--nats-monitor-url", cluster.MonitorURLs(),
			"--nats-replicas", "3", "--node-id", strconv.Itoa(i + 1), "--gateway-lease", "2s", walFlag}, store...)...)
	}
	addr := strings.Join(addrs, ",")
	createTopic(t, addr, topic, partitions)

	l := startLoad(t, addr, topic, n)
	kill := func(node *testenv.NATSClusterNode) {
		t.Helper()
		node.Kill()
		acked := l.ackCount.Load()
		t.Logf("killed NATS node %s after %d acknowledgements", node.Name, acked)
		if acked >= n {
			t.Fatalf("the load was over before NATS node %s was killed", node.Name)
		}
	}
	l.waitAcked(t, n/8)
	kill(cluster.Nodes[0])
	l.waitAcked(t, n/4)
	// n2 goes down right after n0 is back, while n0 may still be catching
	// up: the load must ride out a moment with one current node, and
	// waiting for n0 could outlast the load.
	cluster.Nodes[0].Restart(t)
	kill(cluster.Nodes[2])
	acks := l.finish(t)
	verifyLog(t, acks, consumeAll(t, addr, topic, partitions, n))
}

// stop sends SIGTERM and requires a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	p.signal(t, syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("strata after SIGTERM: %v\n%s", err, p.out.String())
	}
}

// signal sends sig to the process (SIGSTOP and SIGCONT freeze and thaw it).
func (p *process) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}
