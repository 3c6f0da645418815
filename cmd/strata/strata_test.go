package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/testenv"
)

var (
	minioServer *testenv.MinIOServer
	minioErr    error
)

func TestMain(m *testing.M) {
	if os.Getenv(runAsStrata) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	// Many embedded gateways run at once here, in-process and as children;
	// the embedded NATS's default client listener, 127.0.0.1:4222, would
	// admit one. A test of the listener sets --embedded-nats-listen itself.
	os.Setenv("STRATA_EMBEDDED_NATS_LISTEN", "")
	minioServer, minioErr = testenv.StartMinIO(context.Background())
	code := m.Run()
	if minioServer != nil {
		if err := minioServer.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop minio:", err)
		}
	}
	os.Exit(code)
}

// startServe runs `strata serve` in-process with args added to loopback
// defaults, and returns the Kafka address. Cleanup stops it and requires a clean
// exit.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	kafka, _ := startServeAddrs(t, args...)
	return kafka
}

// testWriter sends serve's log to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// newClient connects a client to broker, a host:port or a comma-separated
// list of them.
func newClient(t *testing.T, broker string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(strings.Split(broker, ",")...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(t *testing.T, broker, topic string, partitions int32) {
	t.Helper()
	createTopicWith(t, broker, topic, partitions, nil)
}

// createTopicWith creates a topic with configs.
func createTopicWith(t *testing.T, broker, topic string, partitions int32, configs map[string]string) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, broker))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ptrs := make(map[string]*string, len(configs))
	for k, v := range configs {
		ptrs[k] = &v
	}
	resp, err := adm.CreateTopic(ctx, partitions, 1, ptrs, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
}

// acked is a record the broker acknowledged.
type acked struct {
	key, value string
	partition  int32
	offset     int64
}

// produceKeyed produces n records with keys key-0..key-(keys-1) and values that
// carry a global sequence number, and returns what was acknowledged.
func produceKeyed(t *testing.T, cl *kgo.Client, topic string, n, keys int) []acked {
	t.Helper()
	var mu sync.Mutex
	var out []acked
	var firstErr error
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for i := range n {
		r := &kgo.Record{Topic: topic, Key: []byte("key-" + strconv.Itoa(i%keys)), Value: []byte(fmt.Sprintf("value-%08d", i))}
		wg.Add(1)
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			out = append(out, acked{string(r.Key), string(r.Value), r.Partition, r.Offset})
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}
	return out
}

// consumeAll reads every partition of topic from the start until want records
// arrived, by direct partition assignment.
func consumeAll(t *testing.T, broker, topic string, partitions int32, want int) []*kgo.Record {
	t.Helper()
	offsets := make(map[int32]kgo.Offset, partitions)
	for p := range partitions {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cl := newClient(t, broker, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records before timeout; per partition, records and the next offset: %v", len(recs), want, consumedPerPartition(recs))
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		recs = append(recs, fs.Records()...)
	}
	return recs
}

// consumedPerPartition summarizes recs per partition: how many, and the
// offset after the last.
func consumedPerPartition(recs []*kgo.Record) map[int32][2]int64 {
	out := make(map[int32][2]int64)
	for _, r := range recs {
		c := out[r.Partition]
		out[r.Partition] = [2]int64{c[0] + 1, max(c[1], r.Offset+1)}
	}
	return out
}

// verifyLog checks that the consumed log holds exactly the acknowledged records
// at their acknowledged offsets, with contiguous offsets per partition and
// per-key order preserved.
func verifyLog(t *testing.T, acks []acked, recs []*kgo.Record) {
	t.Helper()
	// Checked last, so that a record too many is named by the checks below.
	defer func() {
		if len(recs) != len(acks) && !t.Failed() {
			t.Fatalf("consumed %d records, acknowledged %d", len(recs), len(acks))
		}
	}()
	byPos := make(map[[2]int64]acked, len(acks))
	for _, a := range acks {
		byPos[[2]int64{int64(a.partition), a.offset}] = a
	}
	next := make(map[int32]int64)
	lastValue := make(map[string]string)
	for _, r := range recs {
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: offset %d follows %d", r.Partition, r.Offset, next[r.Partition]-1)
		}
		next[r.Partition]++
		a, ok := byPos[[2]int64{int64(r.Partition), r.Offset}]
		if !ok {
			t.Fatalf("partition %d offset %d: record %q was never acknowledged there", r.Partition, r.Offset, r.Value)
		}
		if string(r.Key) != a.key || string(r.Value) != a.value {
			t.Fatalf("partition %d offset %d: got %q=%q, acknowledged %q=%q", r.Partition, r.Offset, r.Key, r.Value, a.key, a.value)
		}
		if prev, ok := lastValue[a.key]; ok && prev >= a.value {
			t.Fatalf("key %s: %s read after %s", a.key, a.value, prev)
		}
		lastValue[a.key] = a.value
	}
}

// testProduceConsume produces n keyed records with an idempotent acks=all
// producer and reads exactly those back at their offsets.
func testProduceConsume(t *testing.T, broker string, n int) {
	const (
		topic      = "orders"
		partitions = 6
	)
	createTopic(t, broker, topic, partitions)
	producer := newClient(t, broker, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond))
	acks := produceKeyed(t, producer, topic, n, 1000)
	if len(acks) != n {
		t.Fatalf("acknowledged %d of %d", len(acks), n)
	}
	recs := consumeAll(t, broker, topic, partitions, n)
	verifyLog(t, acks, recs)
}

// TestProduceConsume: an idempotent acks=all producer writes 100,000 keyed
// records over 6 partitions of the embedded default; a consumer by direct
// assignment reads back exactly those records at the acknowledged offsets.
func TestProduceConsume(t *testing.T) {
	testProduceConsume(t, startServe(t), 100_000)
}

// TestProduceConsumeMinIO is TestProduceConsume with segments in MinIO.
func TestProduceConsumeMinIO(t *testing.T) {
	s := testenv.RequireMinIO(t, minioServer, minioErr)
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	broker := startServe(t, "--object-store", "s3", "--s3-endpoint", s.Endpoint, "--s3-bucket", s.NewBucket(t),
		"--s3-region", s.Region, "--s3-path-style")
	testProduceConsume(t, broker, 100_000)
}

// inProcess is serve running in a goroutine of the test, for tests that watch
// it start (or refuse to).
type inProcess struct {
	log     syncBuffer
	serving chan string   // the Kafka address, once it serves
	exited  chan struct{} // closed when serve returns; err is then its result
	err     error
	cancel  context.CancelFunc
}

// serveInProcess parses args as strata serve's flags and runs serve with
// them; the test's end stops it.
func serveInProcess(t *testing.T, args ...string) *inProcess {
	t.Helper()
	cfg, err := parseServeFlags(args, os.LookupEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := &inProcess{serving: make(chan string, 1), exited: make(chan struct{})}
	cfg.onServing = func(kafka, _ net.Addr) { s.serving <- kafka.String() }
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.exited)
		s.err = serve(ctx, cfg, &s.log)
	}()
	t.Cleanup(func() { _ = s.stop() })
	return s
}

// stop cancels serve and returns its result; it may be called again.
func (s *inProcess) stop() error {
	s.cancel()
	<-s.exited
	return s.err
}
