package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/testenv"
)

// largeReplayBytesEnv turns TestReplayLarge on with a volume (e.g. 2GiB).
const largeReplayBytesEnv = "STRATA_REPLAY_VERIFY_BYTES"

// partitionDigest sums up one partition's records as read in order: their
// count, first and last offsets, and a SHA-256 over every record's offset,
// timestamp, key, value and headers.
type partitionDigest struct {
	n           int64
	first, last int64
	h           hash.Hash
}

type topicDigest map[int32]*partitionDigest

// add folds a record in; it fails on an offset that does not increase.
func (d topicDigest) add(p int32, offset, tsMs int64, key, value []byte, headers [][2][]byte) error {
	pd := d[p]
	if pd == nil {
		pd = &partitionDigest{first: offset, last: offset - 1, h: sha256.New()}
		d[p] = pd
	}
	if offset <= pd.last {
		return fmt.Errorf("partition %d: offset %d after %d", p, offset, pd.last)
	}
	pd.n, pd.last = pd.n+1, offset
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(offset))
	binary.BigEndian.PutUint64(b[8:], uint64(tsMs))
	pd.h.Write(b[:])
	for _, f := range append([][]byte{key, value}, flatten(headers)...) {
		binary.BigEndian.PutUint32(b[:4], uint32(len(f)))
		pd.h.Write(b[:4])
		pd.h.Write(f)
	}
	return nil
}

func flatten(hs [][2][]byte) [][]byte {
	var out [][]byte
	for _, h := range hs {
		out = append(out, h[0], h[1])
	}
	return out
}

func (d topicDigest) records() (n int64) {
	for _, pd := range d {
		n += pd.n
	}
	return n
}

// same fails unless d and o hold the same records.
func (d topicDigest) same(o topicDigest) error {
	if len(d) != len(o) {
		return fmt.Errorf("%d partitions against %d", len(d), len(o))
	}
	for p, pd := range d {
		po := o[p]
		if po == nil || pd.n != po.n || pd.first != po.first || pd.last != po.last || string(pd.h.Sum(nil)) != string(po.h.Sum(nil)) {
			return fmt.Errorf("partition %d: %d records [%d, %d] against %+v", p, pd.n, pd.first, pd.last, po)
		}
	}
	return nil
}

// TestReplayLarge is the replay verification at scale, run by hand:
// STRATA_REPLAY_VERIFY_BYTES of 1 KiB records over 12 partitions, written by
// franz-go to a gateway on MinIO, replayed from the bucket by `strata replay`
// and compared, partition by partition, with what a consumer reads through
// the gateway (every record once, in order, offsets and bytes identical), for
// the whole topic and a time range. It holds digests, not records, so any
// volume fits in memory. Skipped unless the variable is set, e.g.
//
//	STRATA_REPLAY_VERIFY_BYTES=2GiB go test ./cmd/strata -run TestReplayLarge -v -timeout 60m
func TestReplayLarge(t *testing.T) {
	size, ok := os.LookupEnv(largeReplayBytesEnv)
	if !ok {
		t.Skipf("set %s (e.g. 2GiB) to run", largeReplayBytesEnv)
	}
	var total byteSize
	if err := total.Set(size); err != nil {
		t.Fatal(err)
	}
	const recordBytes, partitions = 1024, 12
	n := int(total) / recordBytes
	s := testenv.RequireMinIO(t, minioServer, minioErr)
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	f := &replayFixture{topic: "large", partitions: partitions, t0: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	f.storeArgs = []string{"--object-store", "s3", "--s3-endpoint", s.Endpoint, "--s3-bucket", s.NewBucket(t), "--s3-region", s.Region, "--s3-path-style"}
	natsURL := make(chan string, 1)
	f.broker, _ = startServeWith(t, func(c *serveConfig) { c.onEmbeddedNATS = func(u string) { natsURL <- u } },
		append(append([]string{"--embedded-nats-listen", "127.0.0.1:0", "--max-tail-bytes", "1GiB", "--memory-limit", "3GiB"}, f.storeArgs...), lifecycleArgs...)...)
	f.natsURL = <-natsURL
	createTopicWith(t, f.broker, f.topic, partitions, map[string]string{"retention.ms": "-1"})

	// Values are windows of a random pool of letters (replay's JSON carries
	// text as it is), so that they differ without a random draw per byte;
	// each record is 1 ms of event time after the last.
	rng := rand.New(rand.NewPCG(7, 11))
	pool := make([]byte, 1<<20)
	for i := range pool {
		pool[i] = 'a' + byte(rng.IntN(26))
	}
	start := time.Now()
	cl := newClient(t, f.broker, kgo.DefaultProduceTopic(f.topic), kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerLinger(5*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	for i := range n {
		off := rng.IntN(len(pool) - recordBytes)
		cl.Produce(ctx, &kgo.Record{
			Key:       []byte("key-" + strconv.Itoa(i%1000)),
			Value:     pool[off : off+recordBytes-64],
			Timestamp: f.t0.Add(time.Duration(i) * time.Millisecond),
			Headers:   []kgo.RecordHeader{{Key: "i", Value: []byte(strconv.Itoa(i))}},
		}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("produced %d records (%d MiB) in %v", n, n*recordBytes>>20, time.Since(start).Round(time.Millisecond))
	f.waitIndexed(t, int64(n), false)

	// A time range: the middle third of the event time.
	from, to := f.t0.Add(time.Duration(n/3)*time.Millisecond), f.t0.Add(time.Duration(2*n/3)*time.Millisecond)
	start = time.Now()
	whole, ranged := topicDigest{}, topicDigest{}
	offsets := map[int32]kgo.Offset{}
	for p := range int32(partitions) {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	consumer := newClient(t, f.broker, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{f.topic: offsets}), kgo.FetchMaxBytes(64<<20))
	for whole.records() < int64(n) {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records", whole.records(), n)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			hs := [][2][]byte{}
			for _, h := range r.Headers {
				hs = append(hs, [2][]byte{[]byte(h.Key), h.Value})
			}
			if err := whole.add(r.Partition, r.Offset, r.Timestamp.UnixMilli(), r.Key, r.Value, hs); err != nil {
				t.Fatal(err)
			}
			if !r.Timestamp.Before(from) && r.Timestamp.Before(to) {
				if err := ranged.add(r.Partition, r.Offset, r.Timestamp.UnixMilli(), r.Key, r.Value, hs); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	t.Logf("consumed %d records through the gateway in %v", whole.records(), time.Since(start).Round(time.Millisecond))

	for _, tc := range []struct {
		what string
		args []string
		want topicDigest
	}{
		{"whole topic", nil, whole},
		{"time range", []string{"--from", from.Format(time.RFC3339Nano), "--to", to.Format(time.RFC3339Nano)}, ranged},
	} {
		start := time.Now()
		got := replayDigest(t, f, tc.args...)
		if err := got.same(tc.want); err != nil {
			t.Fatalf("%s: replay differs from the gateway: %v", tc.what, err)
		}
		t.Logf("%s: replay gave the same %d records in %v", tc.what, got.records(), time.Since(start).Round(time.Millisecond))
	}
}

// replayDigest runs `strata replay --format json` into a file and digests
// what it wrote.
func replayDigest(t *testing.T, f *replayFixture, args ...string) topicDigest {
	t.Helper()
	out := t.TempDir() + "/replay.json"
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
	d := topicDigest{}
	dec := json.NewDecoder(bufio.NewReaderSize(file, 1<<20))
	for {
		var r replayed
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		var hs [][2][]byte
		for i := 0; i+1 < len(r.Headers); i += 2 {
			hs = append(hs, [2][]byte{[]byte(*r.Headers[i]), []byte(*r.Headers[i+1])})
		}
		if hs == nil {
			hs = [][2][]byte{}
		}
		if err := d.add(r.Partition, r.Offset, r.Ts, []byte(*r.Key), []byte(*r.Payload), hs); err != nil {
			t.Fatal(err)
		}
	}
	return d
}
