package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/segment"
)

// replayed is one line of `strata replay --format json`.
type replayed struct {
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	TsType    string    `json:"tstype"`
	Ts        int64     `json:"ts"`
	Headers   []*string `json:"headers"`
	Key       *string   `json:"key"`
	Payload   *string   `json:"payload"`
}

// replayFixture is a gateway on MinIO whose topic has been written in
// rounds and whose index holds merged segments.
type replayFixture struct {
	broker, natsURL string
	storeArgs       []string
	topic           string
	partitions      int32
	t0              time.Time
	// consumed is the topic as a consumer reads it through the gateway.
	consumed []*kgo.Record
}

const replayRounds = 20

// startReplayFixture writes replayRounds rounds of records to a 12-partition
// topic, each round a minute of event time after the last (timestamps set by
// the producer), and waits until the scheduler has merged some partition's
// flush blocks, so that replay reads both kinds of index entry.
func startReplayFixture(t *testing.T) *replayFixture {
	t.Helper()
	s := testenv.RequireMinIO(t, minioServer, minioErr)
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	f := &replayFixture{topic: "replayed", partitions: 12, t0: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	f.storeArgs = []string{"--object-store", "s3", "--s3-endpoint", s.Endpoint, "--s3-bucket", s.NewBucket(t),
		"--s3-region", s.Region, "--s3-path-style"}
	natsURL := make(chan string, 1)
	f.broker, _ = startServeWith(t, func(c *serveConfig) { c.onEmbeddedNATS = func(u string) { natsURL <- u } },
		append(append([]string{"--embedded-nats-listen", "127.0.0.1:0"}, f.storeArgs...), lifecycleArgs...)...)
	f.natsURL = <-natsURL
	// Event time is weeks back: keep it from retention.
	createTopicWith(t, f.broker, f.topic, f.partitions, map[string]string{"retention.ms": "-1"})

	cl := newClient(t, f.broker, kgo.DefaultProduceTopic(f.topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(1, 2))
	n := 0
	for round := range replayRounds {
		for i := range 600 {
			value := make([]byte, 200+rng.IntN(2800))
			for j := range value {
				value[j] = 'a' + byte(rng.IntN(26))
			}
			rec := &kgo.Record{
				Partition: int32(n % int(f.partitions)),
				Key:       []byte("key-" + strconv.Itoa(n%50)),
				Value:     value,
				Timestamp: f.t0.Add(time.Duration(round)*time.Minute + time.Duration(i)*time.Millisecond),
				Headers:   []kgo.RecordHeader{{Key: "round", Value: []byte(strconv.Itoa(round))}},
			}
			n++
			cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond) // a flush apart: one index entry per round
	}
	f.waitForObjectStorage(t, int64(n))
	f.consumed = consumeAll(t, f.broker, f.topic, f.partitions, n)
	return f
}

// waitForObjectStorage waits until the index covers all n records (replay
// reads object storage only, not the write-ahead tail) and some partition's
// index names a merged segment (IndexEntry.Whole).
func (f *replayFixture) waitForObjectStorage(t *testing.T, n int64) {
	t.Helper()
	f.waitIndexed(t, n, true)
}

// waitIndexed waits until the index covers all n records and, with
// needMerged, names a merged segment.
func (f *replayFixture) waitIndexed(t *testing.T, n int64, needMerged bool) {
	t.Helper()
	nc, err := nats.Connect(f.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store, err := coordinator.OpenReadOnly(t.Context(), js, coordinator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	topic, err := store.LoadTopic(t.Context(), f.topic)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	var seen string
	for time.Now().Before(deadline) {
		seen = ""
		merged, indexed := false, int64(0)
		for p := range f.partitions {
			tp, _ := topic.Partition(p)
			part, _, err := store.LoadPartition(t.Context(), tp)
			if err != nil {
				t.Fatal(err)
			}
			indexed += part.HighWatermark
			for _, e := range part.Entries {
				merged = merged || e.Whole
			}
			if p == 0 {
				for _, e := range part.Entries {
					seen += fmt.Sprintf(" %d-%d:%d", e.BaseOffset, e.LastOffset, e.Length)
				}
			}
		}
		if (merged || !needMerged) && indexed == n {
			return
		}
		seen = fmt.Sprintf(" merged %v, %d of %d records indexed;%s", merged, indexed, n, seen)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("object storage did not hold every record and a merged segment within 60s:%s", seen)
}

// replay runs `strata replay` on the fixture with args and returns its JSON
// lines, failing the test unless it exits 0.
func (f *replayFixture) replay(t *testing.T, args ...string) []replayed {
	t.Helper()
	out := filepath.Join(t.TempDir(), "replay.json")
	base := append([]string{"replay", "--topic", f.topic, "--nats-url", f.natsURL, "--format", "json", "--out", out, "--progress=false"}, f.storeArgs...)
	var stderr bytes.Buffer
	if code := run(append(base, args...), &stderr, &stderr); code != 0 {
		t.Fatalf("strata replay %v exited %d: %s", args, code, stderr.String())
	}
	file, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var recs []replayed
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r replayed
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return recs
}

// checkSame fails unless got holds exactly want, in offset order per
// partition, with the same keys, values, headers and timestamps.
func checkSame(t *testing.T, what string, got []replayed, want []*kgo.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: replay gave %d records, the gateway %d", what, len(got), len(want))
	}
	last := map[int32]int64{}
	byPos := make(map[[2]int64]*kgo.Record, len(want))
	for _, r := range want {
		byPos[[2]int64{int64(r.Partition), r.Offset}] = r
	}
	for _, g := range got {
		if prev, ok := last[g.Partition]; ok && g.Offset <= prev {
			t.Fatalf("%s: partition %d: offset %d after %d", what, g.Partition, g.Offset, prev)
		}
		last[g.Partition] = g.Offset
		w, ok := byPos[[2]int64{int64(g.Partition), g.Offset}]
		if !ok {
			t.Fatalf("%s: replay gave partition %d offset %d, which the gateway did not", what, g.Partition, g.Offset)
		}
		delete(byPos, [2]int64{int64(g.Partition), g.Offset})
		hdr := fmt.Sprint(g.Headers != nil && len(g.Headers) == 2 && *g.Headers[0] == "round" && *g.Headers[1] == string(w.Headers[0].Value))
		if g.Topic != w.Topic || g.Ts != w.Timestamp.UnixMilli() || g.TsType != "create" || g.Key == nil || *g.Key != string(w.Key) ||
			g.Payload == nil || *g.Payload != string(w.Value) || hdr != "true" {
			t.Fatalf("%s: partition %d offset %d differs from what the gateway served", what, g.Partition, g.Offset)
		}
	}
}

// TestReplay: `strata replay` reads a topic written by franz-go straight
// from MinIO, through flush blocks and merged segments alike, and gives
// exactly the records a consumer reads through the gateway, in order per
// partition; so do its time range, offset range and partition selection, and
// its text format.
func TestReplay(t *testing.T) {
	f := startReplayFixture(t)

	checkSame(t, "whole topic", f.replay(t), f.consumed)

	// A time range: rounds 7 to 12 (each round a minute of event time).
	from, to := f.t0.Add(7*time.Minute), f.t0.Add(13*time.Minute)
	var want []*kgo.Record
	for _, r := range f.consumed {
		if !r.Timestamp.Before(from) && r.Timestamp.Before(to) {
			want = append(want, r)
		}
	}
	checkSame(t, "time range", f.replay(t, "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339)), want)

	// Partitions 2 and 5-6, offsets [100, 400).
	want = want[:0]
	for _, r := range f.consumed {
		if (r.Partition == 2 || r.Partition == 5 || r.Partition == 6) && r.Offset >= 100 && r.Offset < 400 {
			want = append(want, r)
		}
	}
	checkSame(t, "offset range", f.replay(t, "--partitions", "2,5-6", "--from-offset", "100", "--to-offset", "400"), want)

	// kcat's text format, to stdout.
	var stdout, stderr bytes.Buffer
	args := append([]string{"replay", "--topic", f.topic, "--nats-url", f.natsURL, "--partitions", "3", "-f", `%p:%o:%k:%S:%h\n`, "--progress=false"}, f.storeArgs...)
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("strata replay -f exited %d: %s", code, stderr.String())
	}
	var wantText strings.Builder
	for _, r := range f.consumed {
		if r.Partition == 3 {
			fmt.Fprintf(&wantText, "3:%d:%s:%d:round=%s\n", r.Offset, r.Key, len(r.Value), r.Headers[0].Value)
		}
	}
	if gotLines, wantLines := strings.Split(stdout.String(), "\n"), strings.Split(wantText.String(), "\n"); !slices.Equal(gotLines, wantLines) {
		t.Fatalf("text format: %d lines, want %d; first %q, want %q", len(gotLines), len(wantLines), gotLines[0], wantLines[0])
	}
}

// TestReplayToKafka: --out kafka://... copies the topic, record by record
// and partition by partition, to a topic on a Kafka cluster (here the same
// gateway), which a consumer then reads back equal to the source.
func TestReplayToKafka(t *testing.T) {
	f := startReplayFixture(t)
	var stderr bytes.Buffer
	args := append([]string{"replay", "--topic", f.topic, "--nats-url", f.natsURL, "--out", "kafka://" + f.broker + "/copy", "--progress=false"}, f.storeArgs...)
	if code := run(args, &stderr, &stderr); code != 1 || !strings.Contains(stderr.String(), "topic copy does not exist") {
		t.Fatalf("replay to a missing topic exited %d: %s", code, stderr.String())
	}
	createTopicWith(t, f.broker, "copy", f.partitions, map[string]string{"retention.ms": "-1"})
	stderr.Reset()
	if code := run(args, &stderr, &stderr); code != 0 {
		t.Fatalf("replay to kafka exited %d: %s", code, stderr.String())
	}
	copied := consumeAll(t, f.broker, "copy", f.partitions, len(f.consumed))
	var got []replayed
	for _, r := range copied {
		k, v, hk, hv := string(r.Key), string(r.Value), r.Headers[0].Key, string(r.Headers[0].Value)
		got = append(got, replayed{Topic: f.topic, Partition: r.Partition, Offset: r.Offset, TsType: "create",
			Ts: r.Timestamp.UnixMilli(), Key: &k, Payload: &v, Headers: []*string{&hk, &hv}})
	}
	slices.SortFunc(got, func(a, b replayed) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	checkSame(t, "copy", got, f.consumed)
}

// TestReplayBadObjects: a segment with a flipped byte, and then one deleted
// by hand, fail the replay with an error naming the object (and, for the
// flipped byte, the offset of the batch), never with wrong records.
func TestReplayBadObjects(t *testing.T) {
	dir := t.TempDir()
	natsURL := make(chan string, 1)
	broker, _ := startServeWith(t, func(c *serveConfig) { c.onEmbeddedNATS = func(u string) { natsURL <- u } },
		"--data-dir", dir, "--embedded-nats-listen", "127.0.0.1:0", "--flush-interval", "50ms")
	url := <-natsURL
	createTopic(t, broker, "bad", 2)
	cl := newClient(t, broker, kgo.DefaultProduceTopic("bad"))
	for i := range 2000 {
		cl.Produce(t.Context(), &kgo.Record{Key: []byte(strconv.Itoa(i % 7)), Value: []byte(strings.Repeat("v", 100) + strconv.Itoa(i))}, nil)
	}
	if err := cl.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	replayBad := func() (int, string) {
		var stdout, stderr bytes.Buffer
		code := run([]string{"replay", "--topic", "bad", "--nats-url", url, "--data-dir", dir, "--progress=false", "-f", `%o\n`}, &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	// Wait until object storage holds all 2,000 (the tail flushes within
	// 50ms, or a few flush intervals for a trickle).
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, out := replayBad()
		if code == 0 && strings.Count(out, "\n") == 2000+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replay did not see 2000 records within 30s: exit %d, %d lines", code, strings.Count(out, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The first segment object of the topic's data.
	objects := filepath.Join(dir, "objects")
	var key string
	var entries []segment.IndexEntry
	err := filepath.WalkDir(objects, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || key != "" || strings.Contains(path, "probe") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if es, err := segment.ReadIndex(f, st.Size()); err == nil && len(es) > 0 {
			key, entries = strings.TrimPrefix(path, objects+string(filepath.Separator)), es
		}
		return nil
	})
	if err != nil || key == "" {
		t.Fatalf("no segment object found under %s: %v", objects, err)
	}
	path := filepath.Join(objects, key)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A byte in the records of the first block's last batch: its CRC no
	// longer matches.
	first := entries[0]
	data[first.Position+first.Length-3] ^= 0x40
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := replayBad()
	if code != 1 || !strings.Contains(out, key) || !strings.Contains(out, "crc") || !strings.Contains(out, "offset") {
		t.Fatalf("replay of a flipped byte exited %d: %s", code, lastLine(out))
	}
	t.Logf("a flipped byte: %s", lastLine(out))

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	code, out = replayBad()
	if code != 1 || !strings.Contains(out, key) || !strings.Contains(out, "does not exist") {
		t.Fatalf("replay of a deleted object exited %d: %s", code, lastLine(out))
	}
	t.Logf("a deleted object: %s", lastLine(out))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
