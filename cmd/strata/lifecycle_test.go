package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/testenv"
)

// lifecycleArgs make the lifecycle act within seconds: the scheduler looks
// every 200ms, and garbage is collected 2s after it is last referenced.
var lifecycleArgs = []string{"--compaction-interval", "200ms", "--gc-grace", "2s", "--flush-interval", "50ms"}

// TestCompactedTopic: franz-go writes 200,000 records over 2,000 keys,
// updates and tombstones mixed, to a cleanup.policy=compact topic; once the
// cleaner has run and delete.retention.ms has passed, a consumer from the
// beginning reads exactly the latest value of every live key, no deleted
// key, at increasing offsets with gaps, and the high watermark is unchanged.
func TestCompactedTopic(t *testing.T) {
	testCompactedTopic(t, startServe(t, lifecycleArgs...))
}

// TestCompactedTopicMinIO is TestCompactedTopic with segments in MinIO.
func TestCompactedTopicMinIO(t *testing.T) {
	s := testenv.RequireMinIO(t, minioServer, minioErr)
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	broker := startServe(t, append([]string{"--object-store", "s3", "--s3-endpoint", s.Endpoint, "--s3-bucket", s.NewBucket(t),
		"--s3-region", s.Region, "--s3-path-style"}, lifecycleArgs...)...)
	testCompactedTopic(t, broker)
}

func testCompactedTopic(t *testing.T, broker string) {
	const (
		topic = "table"
		n     = 200_000
		keys  = 2_000
	)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	createTopicWith(t, broker, topic, 1, map[string]string{
		"cleanup.policy":            "compact",
		"min.cleanable.dirty.ratio": "0.01",
		"delete.retention.ms":       "2000",
		"segment.bytes":             strconv.Itoa(1 << 20),
		// The newest block is not cleaned until segment.ms rolls it.
		"segment.ms": "1000",
	})

	// Every key's last write, in the order the producer sends (one
	// partition, so offsets follow it); nil is a tombstone.
	latest := map[string][]byte{}
	rng := rand.New(rand.NewPCG(1, 2))
	producer := newClient(t, broker, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var produceErr error
	for i := range n {
		key := "key-" + strconv.Itoa(rng.IntN(keys))
		var value []byte
		if rng.IntN(10) > 0 {
			value = fmt.Appendf(nil, "%s=%d", key, i)
		}
		latest[key] = value
		wg.Add(1)
		producer.Produce(ctx, &kgo.Record{Key: []byte(key), Value: value}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				produceErr = errors.Join(produceErr, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if produceErr != nil {
		t.Fatal(produceErr)
	}
	live := 0
	for _, v := range latest {
		if v != nil {
			live++
		}
	}

	// Cleaning happens within passes; tombstones go in a later one, after
	// delete.retention.ms. Poll the whole log until it is compacted.
	var last string
	testenv.CheckFor(t, 2*time.Minute, 500*time.Millisecond, func() error {
		recs, hw := readCompacted(t, broker, topic)
		if hw != n {
			t.Fatalf("high watermark %d, want %d", hw, n)
		}
		seen := map[string]bool{}
		prev := int64(-1)
		for _, r := range recs {
			if r.Offset <= prev {
				t.Fatalf("offset %d after %d", r.Offset, prev)
			}
			prev = r.Offset
			k := string(r.Key)
			want, ok := latest[k]
			if !ok {
				t.Fatalf("key %q never written", k)
			}
			if seen[k] {
				last = fmt.Sprintf("%d records, key %q more than once", len(recs), k)
				return errors.New(last)
			}
			seen[k] = true
			if string(r.Value) != string(want) || (r.Value == nil) != (want == nil) {
				// Not cleaned yet: the latest value comes later.
				last = fmt.Sprintf("key %q: %q at %d before its latest %q", k, r.Value, r.Offset, want)
				return errors.New(last)
			}
			if r.Value == nil {
				last = fmt.Sprintf("tombstone of %q at %d still there", k, r.Offset)
				return errors.New(last)
			}
		}
		if len(seen) != live {
			last = fmt.Sprintf("read %d live keys, want %d", len(seen), live)
			return errors.New(last)
		}
		return nil
	})
	recs, _ := readCompacted(t, broker, topic)
	t.Logf("%d records over %d keys compacted to %d (%d live keys), last offset %d", n, keys, len(recs), live, recs[len(recs)-1].Offset)
}

// readCompacted reads the whole of partition 0 of topic and returns its
// records and high watermark.
func readCompacted(t *testing.T, broker, topic string) ([]*kgo.Record, int64) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, broker))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	cl := newClient(t, broker, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	defer cl.Close()
	var recs []*kgo.Record
	// Cleaning may have emptied the log's last batches, so the last record
	// need not be at the end: read until a poll brings nothing for a while.
	for len(recs) == 0 || recs[len(recs)-1].Offset < end.Offset-1 {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			t.Fatal("reading the topic took over a minute")
		}
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("fetch: %v", err)
			}
		})
		if fs.NumRecords() == 0 {
			break
		}
		recs = append(recs, fs.Records()...)
	}
	return recs, end.Offset
}
