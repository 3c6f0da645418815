package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/objstore/s3"
)

// coldReadResult is BenchmarkColdRead's figures: MB/s of segment bytes.
type coldReadResult struct {
	objectMiB             float64
	consumeOn, consumeOff float64 // through a restarted gateway, read-ahead on and off
	replay                float64 // strata replay, 16 GETs in flight
	parquet               float64 // strata replay --format parquet to a local directory
	raw8, raw16           float64 // raw GETs of the same objects, 8 and 16 at a time
}

var (
	coldMu      sync.Mutex
	coldResults *coldReadResult
)

// coldReadBytes is what BenchmarkColdRead writes and reads back: enough that
// a replay's start (connecting, loading the index) and a consumer's first
// fetches are a small part of the time. STRATA_BENCH_COLD_MIB overrides it.
func coldReadBytes(b *testing.B) int {
	if v := os.Getenv("STRATA_BENCH_COLD_MIB"); v != "" {
		mib, err := strconv.Atoi(v)
		if err != nil || mib <= 0 {
			b.Fatalf("STRATA_BENCH_COLD_MIB=%q is not a positive number", v)
		}
		return mib << 20
	}
	return 512 << 20
}

// BenchmarkColdRead reads old data back from MinIO: coldReadBytes of
// incompressible 1 KiB records over the benchmark's partitions, all in
// object storage, read by a consumer through a restarted gateway (empty
// block cache) with read-ahead on and off, and by `strata replay` (no
// gateway); the baseline is raw GETs of the same segment objects, whole, 8
// and 16 at a time (the gateway's read-ahead GETs in flight and replay's).
// Every figure is MB/s of the objects' bytes, the best of two runs (three
// for raw GETs).
func BenchmarkColdRead(b *testing.B) {
	m := testenv.MinIO(b)
	env := []string{"AWS_ACCESS_KEY_ID=" + m.AccessKey, "AWS_SECRET_ACCESS_KEY=" + m.SecretKey}
	bucketName := m.NewBucket(b)
	store := []string{"--object-store", "s3", "--s3-endpoint", m.Endpoint, "--s3-bucket", bucketName, "--s3-region", m.Region, "--s3-path-style"}
	// No segment merging: a merge job started by a restart would compete
	// with the read measured after it and change the blocks the next reads.
	p := startStrata(b, env, b.TempDir(), append([]string{"--embedded-nats-listen", "127.0.0.1:0", "--compaction-interval", "1h"}, store...)...)
	createTopic(b, p.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	volume := coldReadBytes(b)
	n := volume / recordBytes
	produceRandom(ctx, b, p.addr, n)

	bucket, err := s3.New(ctx, s3.Config{Endpoint: m.Endpoint, Bucket: bucketName, Region: m.Region,
		PathStyle: true, AccessKey: m.AccessKey, SecretKey: m.SecretKey})
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		var r coldReadResult
		// A restart flushes the tail: from here on everything is in
		// object storage, and the block cache is empty.
		// The first read after the writes is slower whatever reads it
		// (seen: 2.5x), so one read goes first, unmeasured; then reads
		// with read-ahead on and off alternate, and the best of each
		// counts.
		consumeTime(ctx, b, p.restart(), n)
		onTime, offTime := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
		for range 2 {
			onTime = min(onTime, consumeTime(ctx, b, p.restart(), n))
			p.args = append(p.args, "--read-ahead-bytes", "0")
			offTime = min(offTime, consumeTime(ctx, b, p.restart(), n))
			p.args = p.args[:len(p.args)-2]
		}

		var keys []string
		var size int64
		if err := bucket.List(ctx, "segments/", func(key string) error {
			n, err := bucket.Size(ctx, key)
			keys, size = append(keys, key), size+n
			return err
		}); err != nil {
			b.Fatal(err)
		}
		r.objectMiB = float64(size) / (1 << 20)
		r.consumeOn = r.objectMiB / onTime.Seconds()
		// Raw GETs take a tenth of a second, replays a few tenths: the
		// best of three and of two, so that a moment's load from other
		// processes on the machine does not decide a ratio.
		raw8, raw16 := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
		for range 3 {
			raw8 = min(raw8, rawGets(ctx, b, bucket, keys, 8))
			raw16 = min(raw16, rawGets(ctx, b, bucket, keys, 16))
		}
		r.raw8, r.raw16 = r.objectMiB/raw8.Seconds(), r.objectMiB/raw16.Seconds()

		natsURL := p.natsURL(b)
		want := fmt.Sprintf("%d records", n)
		replayTime, parquetTime := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
		for range 2 {
			start := time.Now()
			out := replayTopic(ctx, b, env, natsURL, store)
			replayTime = min(replayTime, time.Since(start))
			if !strings.Contains(out, want) {
				b.Fatalf("replay: %s", out)
			}
			start = time.Now()
			out = replayTopic(ctx, b, env, natsURL, append([]string{"--format", "parquet", "--out", b.TempDir()}, store...))
			parquetTime = min(parquetTime, time.Since(start))
			if !strings.Contains(out, want) {
				b.Fatalf("parquet export: %s", out)
			}
		}
		r.replay = r.objectMiB / replayTime.Seconds()
		r.parquet = r.objectMiB / parquetTime.Seconds()
		r.consumeOff = r.objectMiB / offTime.Seconds()

		b.ReportMetric(r.consumeOn, "cold-consume-MB/s")
		b.ReportMetric(r.consumeOff, "cold-consume-no-read-ahead-MB/s")
		b.ReportMetric(r.replay, "replay-MB/s")
		b.ReportMetric(r.parquet, "parquet-export-MB/s")
		b.ReportMetric(r.raw8, "raw-get-8-MB/s")
		b.ReportMetric(r.raw16, "raw-get-16-MB/s")
		coldMu.Lock()
		coldResults = &r
		coldMu.Unlock()
	}
}

// produceRandom writes n records with random values, which compression
// cannot shrink, so that object bytes are record bytes.
func produceRandom(ctx context.Context, b *testing.B, addr string, n int) {
	producer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	if err != nil {
		b.Fatal(err)
	}
	defer producer.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	values := make([][]byte, 256)
	for i := range values {
		values[i] = make([]byte, recordBytes)
		for j := range values[i] {
			values[i][j] = byte(rng.Uint32())
		}
	}
	produceAll(ctx, b, producer, n, func(i int) *kgo.Record {
		return &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%1024), Value: values[i%len(values)]}
	}, nil)
}

// consumeTime is how long a consumer takes to read the topic's n records
// from addr.
func consumeTime(ctx context.Context, b *testing.B, addr string, n int) time.Duration {
	mbs := consumeRecords(ctx, b, addr, n)
	return time.Duration(float64(n*recordBytes) / (1 << 20) / mbs * float64(time.Second))
}

// rawGets GETs every key whole, n at a time, and returns how long it took.
func rawGets(ctx context.Context, b *testing.B, bucket *s3.Bucket, keys []string, n int) time.Duration {
	start := time.Now()
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for _, k := range keys {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rc, err := bucket.GetRange(ctx, k, 0, -1)
			if err == nil {
				_, err = io.Copy(io.Discard, rc)
				rc.Close()
			}
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	return time.Since(start)
}

// replayTopic runs `strata replay` of the benchmark topic to /dev/null and
// returns its last line of output.
func replayTopic(ctx context.Context, b *testing.B, env []string, natsURL string, store []string) string {
	args := append([]string{"replay", "--topic", topic, "--nats-url", natsURL, "--out", os.DevNull, "--progress=false"}, store...)
	cmd := exec.CommandContext(ctx, os.Getenv("STRATA_BIN"), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("strata replay: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

var natsLine = regexp.MustCompile(`msg="embedded nats listening" url=(\S+)`)

// natsURL is the embedded NATS server's client URL, once it listens
// (--embedded-nats-listen).
func (p *strataProc) natsURL(b *testing.B) string {
	select {
	case u := <-p.nats:
		return u
	case <-time.After(10 * time.Second):
		b.Fatal("strata logged no embedded NATS client URL; was it started with --embedded-nats-listen?")
		return ""
	}
}

func printColdReadSummary(w io.Writer) {
	coldMu.Lock()
	defer coldMu.Unlock()
	r := coldResults
	if r == nil {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nCold reads from MinIO of %.0f MiB of segment objects (random 1 KiB records, %d partitions); MB/s of object bytes; ratios against raw GETs of the same objects in this run\n\n", r.objectMiB, partitions)
	sb.WriteString("| reader | MB/s | / raw GET, 8 at a time | / raw GET, 16 at a time |\n| --- | --- | --- | --- |\n")
	for _, row := range []struct {
		name string
		mbs  float64
	}{
		{"consumer through a gateway, read-ahead (8 GETs)", r.consumeOn},
		{"consumer through a gateway, no read-ahead", r.consumeOff},
		{"strata replay (16 GETs)", r.replay},
		{"strata replay --format parquet, to a local directory", r.parquet},
		{"raw GET, 8 at a time", r.raw8},
		{"raw GET, 16 at a time", r.raw16},
	} {
		fmt.Fprintf(&sb, "| %s | %.1f | %.2f | %.2f |\n", row.name, row.mbs, row.mbs/r.raw8, row.mbs/r.raw16)
	}
	fmt.Fprint(w, sb.String())
}
