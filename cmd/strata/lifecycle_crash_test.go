package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/objstore/fs"
)

// TestLifecycleCrashes kills strata (SIGKILL, from inside, at a chosen step:
// see STRATA_TEST_CRASH_AT) while it merges segments, cleans a compacted
// topic and collects garbage: after writing the new objects, after the index
// commit, after marking and after the first delete. After a restart every
// acknowledged record of the plain topic is readable at its offset, the
// compacted topic converges to the latest acknowledged value of each key with
// nothing removed reappearing, and once the grace period has passed the
// bucket holds exactly the objects the index references.
func TestLifecycleCrashes(t *testing.T) {
	for _, step := range []string{"merge:written", "merge:committed", "clean:written", "clean:committed", "gc:marked", "gc:deleted"} {
		t.Run(strings.ReplaceAll(step, ":", "-"), func(t *testing.T) { testLifecycleCrash(t, step) })
	}
}

func testLifecycleCrash(t *testing.T, step string) {
	nats := testenv.NATS(t)
	dir, addr := t.TempDir(), freeLoopbackAddr(t)
	args := append([]string{"--nats-url", nats.URL, "--nats-monitor-url", nats.MonitorURL}, lifecycleArgs...)
	t.Setenv("STRATA_TEST_CRASH_AT", step)
	p := startProcess(t, dir, addr, args...)
	exited := make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		close(exited)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	createTopic(t, addr, "plain", 1)
	createTopicWith(t, addr, "table", 1, map[string]string{"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.01", "segment.ms": "500"})

	// Produce in small rounds, so that flushes make many small blocks to
	// merge and the table keeps getting dirty, until the crash.
	producer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(3), kgo.RecordDeliveryTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var closeOnce sync.Once
	closeProducer := func() { closeOnce.Do(producer.Close) }
	t.Cleanup(closeProducer)
	// An idempotent producer does not give up on a request in flight to a
	// broker that died (the batch may have been written); closing the
	// client fails what it holds, which ends the round.
	go func() {
		<-exited
		closeProducer()
	}()
	plain := map[int64]string{} // acknowledged offset -> value
	latest := map[string]int{}  // key -> sequence of its latest acknowledged value
	const keys = 40
	seq := 0
	deadline := time.Now().Add(90 * time.Second)
produce:
	for round := 0; ; round++ {
		select {
		case <-exited:
			break produce
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("strata did not reach step %s within 90s", step)
		}
		var recs []*kgo.Record
		for range 100 {
			seq++
			recs = append(recs,
				&kgo.Record{Topic: "plain", Value: []byte("p-" + strconv.Itoa(seq))},
				&kgo.Record{Topic: "table", Key: []byte("k-" + strconv.Itoa(seq%keys)), Value: []byte(strconv.Itoa(seq))})
		}
		for _, r := range producer.ProduceSync(ctx, recs...) {
			if r.Err != nil {
				continue // the crash: not acknowledged
			}
			if r.Record.Topic == "plain" {
				plain[r.Record.Offset] = string(r.Record.Value)
			} else {
				n, _ := strconv.Atoi(string(r.Record.Value))
				latest[string(r.Record.Key)] = max(latest[string(r.Record.Key)], n)
			}
		}
		time.Sleep(50 * time.Millisecond) // pace the load over many flushes
	}
	if !strings.Contains(p.out.String(), "crashing for a test") {
		t.Fatalf("strata exited, not at step %s:\n%s", step, p.out.String())
	}
	t.Logf("crashed at %s after %d acknowledged records", step, len(plain))

	t.Setenv("STRATA_TEST_CRASH_AT", "")
	startProcess(t, dir, addr, args...)

	// The plain topic: every acknowledged record at its offset, offsets
	// contiguous, nothing twice.
	recs, end := readCompacted(t, addr, "plain")
	if int64(len(recs)) != end {
		t.Fatalf("plain: %d records below the high watermark %d", len(recs), end)
	}
	seen := map[string]bool{}
	for i, r := range recs {
		if r.Offset != int64(i) {
			t.Fatalf("plain: offset %d at position %d", r.Offset, i)
		}
		if v, ok := plain[r.Offset]; ok && v != string(r.Value) {
			t.Fatalf("plain: offset %d holds %q, acknowledged %q", r.Offset, r.Value, v)
		}
		if seen[string(r.Value)] {
			t.Fatalf("plain: %q twice", r.Value)
		}
		seen[string(r.Value)] = true
	}
	for off := range plain {
		if off >= end {
			t.Fatalf("plain: acknowledged offset %d beyond the high watermark %d", off, end)
		}
	}

	// The table: once cleaned again, each key once, at its latest
	// acknowledged value or a later one that was durable but not
	// acknowledged; never an older one.
	testenv.CheckFor(t, time.Minute, 250*time.Millisecond, func() error {
		recs, _ := readCompacted(t, addr, "table")
		got := map[string]int{}
		for _, r := range recs {
			n, _ := strconv.Atoi(string(r.Value))
			if _, dup := got[string(r.Key)]; dup {
				return fmt.Errorf("key %s twice: not cleaned yet", r.Key)
			}
			got[string(r.Key)] = n
		}
		for k, n := range latest {
			switch v, ok := got[k]; {
			case !ok:
				t.Fatalf("table: key %s lost (latest acknowledged %d)", k, n)
			case v < n:
				t.Fatalf("table: key %s reads %d, older than its acknowledged %d", k, v, n)
			}
		}
		return nil
	})

	// Garbage: after the grace period, exactly the referenced objects.
	js := nats.JetStream(t)
	store, err := coordinator.Open(ctx, js, coordinator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	bucket, err := fs.New(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	waitCollected(t, ctx, store, bucket)
}

// waitCollected waits, bounded, until the bucket holds exactly the segment
// objects the committed indexes reference: garbage collection has caught up.
func waitCollected(t *testing.T, ctx context.Context, store *coordinator.Store, bucket *fs.Bucket) {
	t.Helper()
	testenv.CheckFor(t, time.Minute, 250*time.Millisecond, func() error {
		var have []string
		if err := bucket.List(ctx, "segments/", func(k string) error { have = append(have, k); return nil }); err != nil {
			return err
		}
		want, err := referencedObjects(ctx, store)
		if err != nil {
			return err
		}
		if !slices.Equal(have, want) {
			return fmt.Errorf("the bucket holds %d objects, the indexes reference %d", len(have), len(want))
		}
		return nil
	})
}

// referencedObjects lists, sorted, the objects every partition's committed
// index references.
func referencedObjects(ctx context.Context, store *coordinator.Store) ([]string, error) {
	tps, err := store.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, tp := range tps {
		st, _, err := store.LoadPartition(ctx, tp)
		if err != nil {
			return nil, err
		}
		for _, e := range st.Entries {
			keys = append(keys, e.Object)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys), nil
}

// TestLifecycleAcrossGatewayKills runs three gateways with the lifecycle on
// (merges every 200ms, garbage collected after 2s) under idempotent acks=all
// load, and SIGKILLs a gateway twice mid-load: merge jobs run on more than
// one gateway (each merged segment's key names its writer), every
// acknowledged record is read back once at its offset, and after the grace
// the bucket holds exactly the objects the indexes reference.
func TestLifecycleAcrossGatewayKills(t *testing.T) {
	const (
		topic      = "merged"
		partitions = 6
		n          = 60_000 // at startLoad's 5,000 a second
		lease      = 2 * time.Second
	)
	nats := testenv.NATS(t)
	dir := t.TempDir()
	addrs := []string{freeLoopbackAddr(t), freeLoopbackAddr(t), freeLoopbackAddr(t)}
	args := func(node int) []string {
		return append([]string{"--nats-url", nats.URL, "--nats-monitor-url", nats.MonitorURL, "--node-id", strconv.Itoa(node + 1),
			"--gateway-lease", lease.String()}, lifecycleArgs...)
	}
	procs := make([]*process, len(addrs))
	for i, addr := range addrs {
		procs[i] = startProcess(t, dir, addr, args(i)...)
	}
	seeds := strings.Join(addrs, ",")
	createTopic(t, seeds, topic, partitions)
	l := startLoad(t, seeds, topic, n)
	for k, i := range []int{1, 2} {
		l.waitAcked(t, int64(n*(k+1)/3))
		procs[i].kill(t)
		t.Logf("SIGKILL to gateway %d after %d acknowledgements", i+1, l.ackCount.Load())
		procs[i] = startProcess(t, dir, addrs[i], args(i)...)
	}
	acks := l.finish(t)
	verifyLog(t, acks, consumeAll(t, seeds, topic, partitions, n))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store, err := coordinator.Open(ctx, nats.JetStream(t), coordinator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tps, err := store.Partitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	writers := map[string]int{}
	for _, tp := range tps {
		st, _, err := store.LoadPartition(ctx, tp)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range st.Entries {
			if e.Whole {
				writers[strings.Split(e.Object, "/")[1]]++
			}
		}
	}
	t.Logf("merged segments by writing gateway: %v", writers)
	if len(writers) < 2 {
		t.Fatalf("merges ran on %d gateway(s), want them spread", len(writers))
	}
	bucket, err := fs.New(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	waitCollected(t, ctx, store, bucket)
}
