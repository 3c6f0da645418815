package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/testenv"
)

// TestGatewayKills runs three gateways (processes) on a three-node NATS
// cluster (R3 buckets) and MinIO, and under idempotent acks=all load over
// twelve partitions
// stops a random gateway every few seconds and restarts it: mostly with
// SIGKILL, every fourth time with SIGTERM (a graceful shutdown, which hands
// its partitions over at once). Each stays down for half a lease (back
// before the others notice) or for two (its partitions move away and back).
// Every acknowledged record must be in the log once, at its acknowledged
// offset, with offsets contiguous: a partition's new leader picks up exactly
// where the old one's last commit left it, and recognises the producer's
// retries.
//
// It runs about 20s; STRATA_CHAOS_DURATION (e.g. 2m, `make chaos`) runs it
// longer with a stop every 5-10s.
func TestGatewayKills(t *testing.T) {
	for _, wal := range walLayouts {
		t.Run(wal.name, func(t *testing.T) { testGatewayKills(t, wal.flag) })
	}
}

func testGatewayKills(t *testing.T, walFlag string) {
	const (
		topic      = "cluster"
		partitions = 12
		lease      = 2 * time.Second
		rate       = 5000 // records per second, startLoad's pace
	)
	duration, every := 20*time.Second, [2]time.Duration{1500 * time.Millisecond, 2500 * time.Millisecond}
	if d := os.Getenv("STRATA_CHAOS_DURATION"); d != "" {
		var err error
		if duration, err = time.ParseDuration(d); err != nil {
			t.Fatalf("STRATA_CHAOS_DURATION: %v", err)
		}
		every = [2]time.Duration{5 * time.Second, 10 * time.Second}
	}
	n := int(duration.Seconds() * rate)
	nats := testenv.StartNATSCluster(t, 3)
	dir := t.TempDir()
	store := sharedObjectStore(t)
	addrs := []string{freeLoopbackAddr(t), freeLoopbackAddr(t), freeLoopbackAddr(t)}
	args := func(node int) []string {
		return append([]string{"--nats-url", nats.URLs(), "--nats-monitor-url", nats.MonitorURLs(), "--nats-replicas", "3", "--node-id", strconv.Itoa(node + 1),
			"--gateway-lease", lease.String(), "--flush-interval", "20ms", walFlag}, store...)
	}
	procs := make([]*process, len(addrs))
	for i, addr := range addrs {
		procs[i] = startProcess(t, dir, addr, args(i)...)
	}
	seeds := strings.Join(addrs, ",")
	createTopic(t, seeds, topic, partitions)

	l := startLoad(t, seeds, topic, n)
	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	for k := 0; ; k++ {
		time.Sleep(every[0] + time.Duration(rng.Int64N(int64(every[1]-every[0]))))
		if l.ackCount.Load() >= int64(n*9/10) {
			break
		}
		i := rng.IntN(len(procs))
		how := "SIGKILL"
		if k%4 == 3 {
			how = "SIGTERM"
			procs[i].stop(t)
		} else {
			procs[i].kill(t)
		}
		down := lease / 2
		if k%2 == 1 {
			down = 2 * lease
		}
		kills++
		t.Logf("stop %d: %s to gateway %d after %d acknowledgements, down for %v", kills, how, i+1, l.ackCount.Load(), down)
		time.Sleep(down)
		procs[i] = startProcess(t, dir, addrs[i], args(i)...)
	}
	acks := l.finish(t)
	verifyLog(t, acks, consumeAll(t, seeds, topic, partitions, n))

	// How long partitions went without an acknowledgement: an upper bound
	// on failover time (lease expiry, the others noticing, clients
	// refreshing metadata and retrying), or on a restart when the gateway
	// came back before its lease ran out.
	gaps := l.ackGaps()
	slices.Sort(gaps)
	if len(gaps) > 0 {
		t.Logf("%d records acknowledged through %d stops; %d partition pauses over 100ms: p50 %v, p99 %v, max %v",
			len(acks), kills, len(gaps), gaps[len(gaps)/2], gaps[len(gaps)*99/100], gaps[len(gaps)-1])
	}
}

// ackGaps returns, per partition, the pauses between consecutive
// acknowledgements over a tenth of a second.
func (l *load) ackGaps() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := map[int32]time.Time{}
	var gaps []time.Duration
	for i, a := range l.acks {
		at := l.ackTimes[i]
		if prev, ok := last[a.partition]; ok {
			if d := at.Sub(prev); d > 100*time.Millisecond {
				gaps = append(gaps, d.Round(10*time.Millisecond))
			}
		}
		last[a.partition] = at
	}
	return gaps
}

// TestZombieGateway freezes a gateway (SIGSTOP) for longer than its lease
// under load, lets the others take its partitions over, then thaws it
// (SIGCONT). Whatever it had queued or goes on to write must not become
// visible: every record in the log was acknowledged, once, at its offset, and
// its clients are redirected to the new leaders.
func TestZombieGateway(t *testing.T) {
	const (
		topic      = "zombie"
		partitions = 12
		n          = 50_000
		lease      = 2 * time.Second
	)
	ns := testenv.NATS(t)
	dir := t.TempDir()
	addrs := []string{freeLoopbackAddr(t), freeLoopbackAddr(t), freeLoopbackAddr(t)}
	procs := make([]*process, len(addrs))
	for i, addr := range addrs {
		procs[i] = startProcess(t, dir, addr, "--nats-url", ns.URL, "--nats-monitor-url", ns.MonitorURL, "--node-id", strconv.Itoa(i+1), "--gateway-lease", lease.String(), "--flush-interval", "20ms")
	}
	seeds := strings.Join(addrs, ",")
	createTopic(t, seeds, topic, partitions)

	l := startLoad(t, seeds, topic, n)
	l.waitAcked(t, n/5)
	procs[0].signal(t, syscall.SIGSTOP)
	frozen := l.ackCount.Load()
	time.Sleep(3 * lease)
	procs[0].signal(t, syscall.SIGCONT)
	t.Logf("gateway 1 frozen for %v after %d acknowledgements; %d acknowledged meanwhile", 3*lease, frozen, l.ackCount.Load()-frozen)
	acks := l.finish(t)
	verifyLog(t, acks, consumeAll(t, seeds, topic, partitions, n))
	// The thawed gateway finds its lease gone (the others took its
	// partitions) and says so.
	testenv.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if !strings.Contains(procs[0].out.String(), "lease lost") {
			return fmt.Errorf("the thawed gateway has not logged its lost lease")
		}
		return nil
	})
}

// TestGroupAcrossGatewayKills: a group of three members reads a topic under
// steady production while gateways (its coordinator among them, sooner or
// later) are killed and restarted. The group carries on through coordinator
// takeovers, reads every acknowledged record, and its committed offsets never
// go backwards. Classic and KIP-848 protocols.
func TestGroupAcrossGatewayKills(t *testing.T) {
	t.Run("classic", func(t *testing.T) { testGroupAcrossGatewayKills(t, kgo.SessionTimeout(6*time.Second)) })
	t.Run("consumer", func(t *testing.T) { testGroupAcrossGatewayKills(t, kgo.ServerSideBalancer()) })
}

func testGroupAcrossGatewayKills(t *testing.T, groupOpts ...kgo.Opt) {
	const (
		topic      = "grouped"
		group      = "across-kills"
		partitions = 6
		n          = 30_000 // about 6 s of load
		lease      = 2 * time.Second
	)
	ns := testenv.NATS(t)
	dir := t.TempDir()
	addrs := []string{freeLoopbackAddr(t), freeLoopbackAddr(t), freeLoopbackAddr(t)}
	args := func(i int) []string {
		return []string{"--nats-url", ns.URL, "--nats-monitor-url", ns.MonitorURL, "--node-id", strconv.Itoa(i + 1), "--gateway-lease", lease.String(), "--flush-interval", "20ms",
			"--group-consumer-session-timeout", "6s", "--group-consumer-heartbeat-interval", "500ms"}
	}
	procs := make([]*process, len(addrs))
	for i, addr := range addrs {
		procs[i] = startProcess(t, dir, addr, args(i)...)
	}
	seeds := strings.Join(addrs, ",")
	createTopic(t, seeds, topic, partitions)

	reads := startGroupMembers(t, seeds, 3, append([]kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic)}, groupOpts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()

	// Committed offsets, polled throughout, must never go backwards.
	adm := kadm.NewClient(newClient(t, seeds, kgo.MetadataMinAge(250*time.Millisecond)))
	var backwards atomic.Pointer[string]
	wg.Go(func() {
		last := map[int32]int64{}
		for ctx.Err() == nil {
			fctx, fcancel := context.WithTimeout(ctx, 2*time.Second)
			offsets, err := adm.FetchOffsets(fctx, group)
			fcancel()
			if err == nil {
				offsets.Each(func(o kadm.OffsetResponse) {
					if o.Err != nil || o.Topic != topic {
						return
					}
					if o.At < last[o.Partition] {
						msg := fmt.Sprintf("partition %d: committed offset went from %d back to %d", o.Partition, last[o.Partition], o.At)
						backwards.Store(&msg)
					}
					last[o.Partition] = max(last[o.Partition], o.At)
				})
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	l := startLoad(t, seeds, topic, n)
	for k, down := range []time.Duration{lease / 2, 2 * lease} {
		l.waitAcked(t, int64((k+1)*n/3))
		i := k % len(procs)
		procs[i].kill(t)
		t.Logf("kill %d: gateway %d after %d acknowledgements, down for %v", k+1, i+1, l.ackCount.Load(), down)
		time.Sleep(down)
		procs[i] = startProcess(t, dir, addrs[i], args(i)...)
	}
	acks := l.finish(t)
	values := make([]string, len(acks))
	for i, a := range acks {
		values[i] = a.value
	}
	again := reads.waitAll(t, values)
	if msg := backwards.Load(); msg != nil {
		t.Fatal(*msg)
	}
	t.Logf("the group read all %d acknowledged records through the kills, %d more than once", len(acks), again)
}

// sharedObjectStore returns the flags that put every gateway's segments in
// one MinIO bucket. Without MinIO installed (and not under CI) it returns
// none, and the gateways share the file store of their common --data-dir.
func sharedObjectStore(t *testing.T) []string {
	t.Helper()
	if errors.Is(minioErr, testenv.ErrMinIONotInstalled) && os.Getenv("CI") == "" {
		t.Logf("MinIO is not installed: the gateways share a directory instead (run make test to install it)")
		return nil
	}
	s := testenv.RequireMinIO(t, minioServer, minioErr)
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	return []string{"--object-store", "s3", "--s3-endpoint", s.Endpoint, "--s3-bucket", s.NewBucket(t), "--s3-region", s.Region, "--s3-path-style"}
}
