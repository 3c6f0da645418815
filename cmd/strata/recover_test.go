package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/recovery"
	"github.com/stratalog/strata/tiered/objstore"
)

// TestRecoverFromBucket: a gateway writes a topic in flushes far enough apart
// to be merged, a group commits offsets, and a metadata snapshot records
// both; the merge's originals are collected, more records and a new topic
// follow the snapshot; the gateway stops and its NATS store is deleted.
// `strata recover --from-bucket` then rebuilds the coordinator, and a new
// gateway on the same data serves every acknowledged record at its offset,
// the topic's configs, the group's offsets, and the new topic under its
// generated name.
func TestRecoverFromBucket(t *testing.T) {
	testRecoverFromBucket(t, nil)
}

// TestRecoverFromBucketMinIO is TestRecoverFromBucket with segments in MinIO.
func TestRecoverFromBucketMinIO(t *testing.T) {
	s := testenv.RequireMinIO(t, minioServer, minioErr)
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	testRecoverFromBucket(t, []string{"--object-store", "s3", "--s3-endpoint", s.Endpoint, "--s3-bucket", s.NewBucket(t),
		"--s3-region", s.Region, "--s3-path-style"})
}

func testRecoverFromBucket(t *testing.T, storeArgs []string) {
	const (
		topic      = "orders"
		late       = "late"
		group      = "readers"
		partitions = 3
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	storeArgs = append([]string{"--data-dir", dir}, storeArgs...)
	gwArgs := append(append([]string{"--metadata-snapshot-interval", "300ms"}, storeArgs...), lifecycleArgs...)
	broker, registry, stop := startGateway(t, gwArgs...)
	configs := map[string]string{"retention.ms": "-1", "max.message.bytes": "2000000"}
	createTopicWith(t, broker, topic, partitions, configs)
	resp, err := http.Post("http://"+registry+"/subjects/orders-value/versions", "application/vnd.schemaregistry.v1+json",
		strings.NewReader(`{"schema": "{\"type\": \"string\"}"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("register a schema: %s", resp.Status)
	}

	// Seven rounds a flush apart: seven index entries per partition, one
	// short of what the scheduler merges (MergeConfig.FanIn is 8).
	producer := newClient(t, broker, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond))
	var acks []acked
	for round := range 7 {
		acks = append(acks, produceRound(t, producer, topic, round, 300)...)
		time.Sleep(80 * time.Millisecond) // pacing, a flush apart: one index entry per round
	}
	adm := kadm.NewClient(newClient(t, broker))
	commits := kadm.Offsets{}
	for p := range int32(partitions) {
		commits.AddOffset(topic, p, int64(40+10*p), -1)
	}
	if err := adm.CommitAllOffsets(ctx, group, commits); err != nil {
		t.Fatal(err)
	}
	ends := endOffsets(acks)

	// A snapshot holding all of it.
	bucket, err := openBucket(ctx, parseStore(t, storeArgs))
	if err != nil {
		t.Fatal(err)
	}
	var snapKey string
	var snapData []byte
	var snap *recovery.Snapshot
	testenv.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		snapKey, snapData, snap, err = newestSnapshot(ctx, bucket)
		if err != nil {
			return err
		}
		return snapshotCovers(snap, map[string]map[int32]int64{topic: ends}, group)
	})

	// After the snapshot: three more rounds, which get the partitions'
	// entries merged; the objects the snapshot names are then collected.
	for round := 7; round < 10; round++ {
		acks = append(acks, produceRound(t, producer, topic, round, 300)...)
		time.Sleep(80 * time.Millisecond)
	}
	testenv.CheckFor(t, 60*time.Second, 200*time.Millisecond, func() error {
		gone, err := goneObjects(ctx, bucket, snap, topic)
		if err == nil && gone == 0 {
			desc := ""
			if _, _, cur, err := newestSnapshot(ctx, bucket); err == nil {
				desc = describeIndex(cur, topic)
			}
			err = fmt.Errorf("every object the snapshot (%s) names is still there (no merge collected yet); now %s", describeIndex(snap, topic), desc)
		}
		return err
	})

	// More records, and a topic the snapshot does not know.
	for round := 10; round < 13; round++ {
		acks = append(acks, produceRound(t, producer, topic, round, 300)...)
	}
	createTopic(t, broker, late, 2)
	lateAcks := produceRound(t, producer, late, 0, 100)
	details, err := adm.ListTopics(ctx, late)
	if err != nil {
		t.Fatal(err)
	}
	lateID := details[late].ID
	producer.Close()
	// A newer snapshot shows when every acknowledged record is in object
	// storage (the log's index holds it); it is then dropped below.
	testenv.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		_, _, cur, err := newestSnapshot(ctx, bucket)
		if err != nil {
			return err
		}
		return snapshotCovers(cur, map[string]map[int32]int64{topic: endOffsets(acks), late: endOffsets(lateAcks)}, "")
	})
	stop()

	// Total loss of NATS. The saved snapshot is made the newest, so that
	// everything after it must come from segment footers.
	if err := os.RemoveAll(filepath.Join(dir, "nats")); err != nil {
		t.Fatal(err)
	}
	keys, err := recovery.ListSnapshots(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := bucket.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := bucket.Put(ctx, snapKey, bytes.NewReader(snapData), int64(len(snapData))); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out := runRecoverCmd(t, append([]string{"--from-bucket"}, storeArgs...)...)
	t.Logf("recover took %s:\n%s", time.Since(start), out)
	if !strings.Contains(out, "metadata snapshot: "+snapKey) {
		t.Fatalf("recover did not start from %s", snapKey)
	}
	// A second run refuses: the NATS now holds metadata.
	if code, _, stderr := runCmd(append([]string{"recover", "--from-bucket"}, storeArgs...)...); code == 0 || !strings.Contains(stderr, "already holds") {
		t.Fatalf("a second recover exited %d: %s", code, stderr)
	}

	broker, registry, _ = startGateway(t, gwArgs...)
	verifyLog(t, acks, consumeAll(t, broker, topic, partitions, len(acks)))
	testenv.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if got := registrySubjects(t, registry); got != `["orders-value"]` {
			return fmt.Errorf("schema registry subjects %s after recovery", got)
		}
		return nil
	})
	lateName := recovery.GeneratedTopicPrefix + hex.EncodeToString(lateID[:])
	lateRecs := consumeAll(t, broker, lateName, 2, len(lateAcks))
	verifyLog(t, lateAcks, lateRecs)

	adm = kadm.NewClient(newClient(t, broker))
	fetched, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(partitions) {
		o, ok := fetched.Lookup(topic, p)
		if !ok || o.At != int64(40+10*p) {
			t.Errorf("group %s partition %d: committed %+v, want %d", group, p, o, 40+10*p)
		}
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if want, ok := configs[c.Key]; ok && c.MaybeValue() != want {
			t.Errorf("config %s = %q, want %q", c.Key, c.MaybeValue(), want)
		}
	}
	// The log goes on at the recovered high watermark.
	more := newClient(t, broker, kgo.RequiredAcks(kgo.AllISRAcks()))
	r := more.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("after")})
	if err := r.FirstErr(); err != nil {
		t.Fatal(err)
	}
	if off := r[0].Record.Offset; off < ends[0] {
		t.Errorf("a record produced after recovery got offset %d, below the high watermark %d of before", off, ends[0])
	}
}

// produceRound produces n records of about 700 bytes to topic, spread over
// its partitions by key, and returns them as acknowledged. A round of 300
// over three partitions queues over 64 KiB in each (the tiered log's
// PartitionFlushBytes), so it is flushed at once: an index entry per round.
func produceRound(t *testing.T, cl *kgo.Client, topic string, round, n int) []acked {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(round), uint64(n)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte("key-" + strconv.Itoa(i%37)), Value: fmt.Appendf(nil, "%s-%03d-%05d-%s", topic, round, i, randomText(rng, 680))}
	}
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	out := make([]acked, 0, n)
	for _, r := range res {
		out = append(out, acked{string(r.Record.Key), string(r.Record.Value), r.Record.Partition, r.Record.Offset})
	}
	return out
}

// randomText returns n random letters: values that do not compress, so
// that a round's size is what the flush sees.
func randomText(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(rng.IntN(26))
	}
	return b
}

// endOffsets returns each partition's high watermark after acks.
func endOffsets(acks []acked) map[int32]int64 {
	ends := map[int32]int64{}
	for _, a := range acks {
		ends[a.partition] = max(ends[a.partition], a.offset+1)
	}
	return ends
}

// newestSnapshot reads the newest snapshot in b.
func newestSnapshot(ctx context.Context, b objstore.Bucket) (string, []byte, *recovery.Snapshot, error) {
	keys, err := recovery.ListSnapshots(ctx, b)
	if err != nil || len(keys) == 0 {
		return "", nil, nil, fmt.Errorf("no snapshot yet (%v)", err)
	}
	key := keys[len(keys)-1]
	rc, err := b.GetRange(ctx, key, 0, -1)
	if err != nil {
		return "", nil, nil, err // pruned meanwhile: try again
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return "", nil, nil, err
	}
	s, err := recovery.Decode(data)
	return key, data, s, err
}

// snapshotCovers reports whether s holds each topic up to its ends and, if
// group is set, the group's offsets for one of them.
func snapshotCovers(s *recovery.Snapshot, ends map[string]map[int32]int64, group string) error {
	found := 0
	for _, ts := range s.Topics {
		e, ok := ends[ts.Name]
		if !ok {
			continue
		}
		found++
		for _, ps := range ts.States {
			if ps.State.HighWatermark != e[ps.Partition] {
				return fmt.Errorf("snapshot: %s partition %d at %d, want %d", ts.Name, ps.Partition, ps.State.HighWatermark, e[ps.Partition])
			}
		}
	}
	if found < len(ends) {
		return errors.New("snapshot: not every topic yet")
	}
	if group == "" {
		return nil
	}
	for _, g := range s.Offsets {
		if _, ok := ends[g.Topic]; ok && g.Group == group {
			return nil
		}
	}
	return errors.New("snapshot: no offsets of the group yet")
}

// goneObjects counts the objects s's index of topic names that are no longer
// in b.
func goneObjects(ctx context.Context, b objstore.Bucket, s *recovery.Snapshot, topic string) (int, error) {
	gone := map[string]bool{}
	for _, ts := range s.Topics {
		if ts.Name != topic {
			continue
		}
		for _, ps := range ts.States {
			for _, e := range ps.Entries {
				if _, err := b.Size(ctx, e.Object); errors.Is(err, objstore.ErrNotExist) {
					gone[e.Object] = true
				} else if err != nil {
					return 0, err
				}
			}
		}
	}
	return len(gone), nil
}

// describeIndex says how many entries, whole or not, s's index of topic
// has per partition.
func describeIndex(s *recovery.Snapshot, topic string) string {
	var b strings.Builder
	for _, ts := range s.Topics {
		if ts.Name != topic {
			continue
		}
		for _, ps := range ts.States {
			whole := 0
			for _, e := range ps.Entries {
				if e.Whole {
					whole++
				}
			}
			fmt.Fprintf(&b, "p%d: %d entries, %d whole; ", ps.Partition, len(ps.Entries), whole)
		}
	}
	return b.String()
}

// parseStore returns the store settings args give.
func parseStore(t *testing.T, args []string) storeConfig {
	t.Helper()
	cfg, err := parseServeFlags(args, os.LookupEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.storeConfig
}

// runCmd runs the strata command line in-process and returns its exit code
// and output.
func runCmd(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// runRecoverCmd runs `strata recover` with args and requires success.
func runRecoverCmd(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCmd(append([]string{"recover"}, args...)...)
	if code != 0 {
		t.Fatalf("strata recover exited %d: %s\n%s", code, stderr, stdout)
	}
	return stdout
}

// startGateway runs `strata serve` in-process on loopback ports with args
// (which give the data dir) and returns its Kafka and schema registry
// addresses and a stop function that requires a clean exit; cleanup stops
// it too.
func startGateway(t *testing.T, args ...string) (string, string, func()) {
	t.Helper()
	base := []string{"--listeners", "PLAINTEXT://127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--schema-registry-listen", "127.0.0.1:0", "--log-level", "warn"}
	cfg, err := parseServeFlags(append(base, args...), os.LookupEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	addr, registry := make(chan string, 1), make(chan string, 1)
	cfg.onServing = func(k, _ net.Addr) { addr <- k.String() }
	cfg.onRegistry = func(a net.Addr) { registry <- a.String() }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, testWriter{t}) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("serve did not stop within 60s")
		}
	}
	t.Cleanup(stop)
	select {
	case a := <-addr:
		return a, <-registry, stop
	case err := <-done:
		t.Fatalf("serve exited during start: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not start within 60s")
	}
	return "", "", stop
}

// registrySubjects returns the schema registry's subjects at addr.
func registrySubjects(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/subjects")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(body))
}
