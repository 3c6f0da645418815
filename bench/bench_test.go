package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/objstore/s3"
)

const (
	topic       = "bench"
	partitions  = 6
	recordBytes = 1 << 10
	// totalBytes is the volume produced per target: large enough for many
	// flushes, small enough that `make bench` stays within minutes.
	totalBytes = 128 << 20
)

// result is one target's figures.
type result struct {
	produceMBs, consumeMBs float64
	// coldConsumeMBs is consume throughput after a restart, with an empty
	// block cache: every block comes from object storage. Zero for kfake.
	coldConsumeMBs float64
	p50, p99       time.Duration
}

// results collects figures for the summary TestMain prints.
var (
	resultsMu sync.Mutex
	results   = map[string]result{}
	rawPutMBs float64
)

func TestMain(m *testing.M) {
	code := m.Run()
	printSummary(os.Stdout)
	printWALSummary(os.Stdout)
	printLifecycleSummary(os.Stdout)
	printRegistrySummary(os.Stdout)
	printTxnSummary(os.Stdout)
	printColdReadSummary(os.Stdout)
	printSecuritySummary(os.Stdout)
	printThroughputSummary(os.Stdout)
	printClusterPartitionsSummary(os.Stdout)
	os.Exit(code)
}

func BenchmarkProduceConsume(b *testing.B) {
	b.Run("kfake", func(b *testing.B) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		run(b, "kfake", c.ListenAddrs()[0], nil)
	})
	b.Run("strata-file", func(b *testing.B) {
		p := startStrata(b, nil, b.TempDir())
		createTopic(b, p.addr)
		run(b, "strata-file", p.addr, p.restart)
	})
	b.Run("strata-minio", func(b *testing.B) {
		m := testenv.MinIO(b)
		env := []string{"AWS_ACCESS_KEY_ID=" + m.AccessKey, "AWS_SECRET_ACCESS_KEY=" + m.SecretKey}
		p := startStrata(b, env, b.TempDir(), "--object-store", "s3", "--s3-endpoint", m.Endpoint,
			"--s3-bucket", m.NewBucket(b), "--s3-region", m.Region, "--s3-path-style")
		createTopic(b, p.addr)
		run(b, "strata-minio", p.addr, p.restart)
	})
}

// BenchmarkRawMinIOPut is the object store's own ceiling: 8 MiB PUTs, the size
// of a full Strata flush, one at a time as the flusher does them.
func BenchmarkRawMinIOPut(b *testing.B) {
	m := testenv.MinIO(b)
	ctx := context.Background()
	bucket, err := s3.New(ctx, s3.Config{Endpoint: m.Endpoint, Bucket: m.NewBucket(b), Region: m.Region,
		PathStyle: true, AccessKey: m.AccessKey, SecretKey: m.SecretKey})
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 8<<20)
	const puts = 32
	start := time.Now()
	for i := range puts {
		if err := bucket.Put(ctx, fmt.Sprintf("raw/%d", i), bytes.NewReader(body), int64(len(body))); err != nil {
			b.Fatal(err)
		}
	}
	mbs := float64(puts*len(body)) / (1 << 20) / time.Since(start).Seconds()
	b.ReportMetric(mbs, "MB/s")
	resultsMu.Lock()
	rawPutMBs = mbs
	resultsMu.Unlock()
}

// run produces totalBytes to addr, reads them back, and reports. With restart
// set it then restarts the target and reads everything again, cold.
func run(b *testing.B, name, addr string, restart func() string) {
	b.Helper()
	for range b.N {
		r := measure(b, addr)
		b.ReportMetric(r.produceMBs, "produce-MB/s")
		b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
		b.ReportMetric(r.consumeMBs, "consume-MB/s")
		if restart != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			r.coldConsumeMBs = consume(ctx, b, restart())
			cancel()
			b.ReportMetric(r.coldConsumeMBs, "cold-consume-MB/s")
		}
		resultsMu.Lock()
		results[name] = r
		resultsMu.Unlock()
	}
}

func measure(b *testing.B, addr string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	producer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	if err != nil {
		b.Fatal(err)
	}
	defer producer.Close()

	n := totalBytes / recordBytes
	value := bytes.Repeat([]byte("v"), recordBytes)
	lat, produceTime := produceAll(ctx, b, producer, n, func(i int) *kgo.Record {
		return &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%1024), Value: value}
	}, nil)
	slices.Sort(lat)

	consumeMBs := consume(ctx, b, addr)
	return result{
		produceMBs: float64(totalBytes) / (1 << 20) / produceTime.Seconds(),
		consumeMBs: consumeMBs,
		p50:        lat[len(lat)/2],
		p99:        lat[len(lat)*99/100],
	}
}

// consume reads the whole topic from the start by direct assignment and returns
// MB/s of record values.
func consume(ctx context.Context, b *testing.B, addr string) float64 {
	return consumeRecords(ctx, b, addr, totalBytes/recordBytes)
}

// consumeRecords is consume for a topic of n records of recordBytes.
func consumeRecords(ctx context.Context, b *testing.B, addr string, n int) float64 {
	offsets := make(map[int32]kgo.Offset, partitions)
	for p := range int32(partitions) {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxBytes(64<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer consumer.Close()
	start := time.Now()
	for got := 0; got < n; {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			b.Fatalf("consumed %d of %d", got, n)
		}
		fs.EachError(func(t string, p int32, err error) { b.Fatalf("fetch %s/%d: %v", t, p, err) })
		got += fs.NumRecords()
	}
	return float64(n*recordBytes) / (1 << 20) / time.Since(start).Seconds()
}

func createTopic(b *testing.B, addr string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	if err != nil || resp.Err != nil {
		b.Fatalf("create topic: %v %v", err, resp.Err)
	}
}

var (
	servingLine  = regexp.MustCompile(`msg="serving kafka" listen=([0-9.:]+)`)
	registryLine = regexp.MustCompile(`msg="serving schema registry" listen=([0-9.:]+)`)
)

// strataProc is `strata serve` as a child process.
type strataProc struct {
	b    *testing.B
	env  []string
	args []string
	cmd  *exec.Cmd
	addr string
	// registry receives the schema registry's address once it listens
	// (see registryURL); a new channel on each start.
	registry chan string
	// nats receives the embedded NATS client URL once it listens.
	nats chan string
}

// startStrata runs $STRATA_BIN serve on loopback with its data under dir and
// waits until it serves; Cleanup stops it with SIGINT.
func startStrata(b *testing.B, env []string, dir string, args ...string) *strataProc {
	b.Helper()
	bin := os.Getenv("STRATA_BIN")
	if bin == "" {
		if os.Getenv("CI") == "true" {
			b.Fatal("STRATA_BIN is not set; run `make bench`")
		}
		b.Skip("STRATA_BIN is not set; run `make bench`, which builds bin/strata")
	}
	p := &strataProc{b: b, env: env, args: append([]string{bin, "serve", "--listeners", "PLAINTEXT://127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--schema-registry-listen", "127.0.0.1:0",
		"--embedded-nats-listen", "", "--data-dir", dir}, args...)}
	p.start()
	b.Cleanup(p.stop)
	return p
}

func (p *strataProc) start() {
	p.b.Helper()
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		p.b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		p.b.Fatal(err)
	}
	p.cmd = cmd
	addr, registry, nats := make(chan string, 1), make(chan string, 1), make(chan string, 1)
	p.registry, p.nats = registry, nats
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				offer(addr, m[1])
			}
			if m := registryLine.FindStringSubmatch(sc.Text()); m != nil {
				offer(registry, m[1])
			}
			if m := natsLine.FindStringSubmatch(sc.Text()); m != nil {
				offer(nats, m[1])
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case p.addr = <-addr:
	case <-time.After(time.Minute):
		p.b.Fatal("strata did not start within a minute")
	}
}

// offer sends v unless ch is full: the first address logged counts.
func offer(ch chan<- string, v string) {
	select {
	case ch <- v:
	default:
	}
}

// stop ends the process with SIGINT, which flushes and exits.
func (p *strataProc) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	_ = p.cmd.Wait()
	p.cmd = nil
}

// restart stops and starts the process on the same data, so its block cache
// is empty, and returns the new Kafka address.
func (p *strataProc) restart() string {
	p.stop()
	p.start()
	return p.addr
}

func printSummary(w io.Writer) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	base, ok := results["kfake"]
	if !ok {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%d MiB of %d B records, %d partitions, acks=all; ratios are target / kfake in this run; cold consume reads after a restart, every block from the object store\n\n", totalBytes>>20, recordBytes, partitions)
	sb.WriteString("| target | produce MB/s | ratio | ack p50 ms | ratio | ack p99 ms | ratio | consume MB/s | ratio | cold consume MB/s | ratio |\n")
	sb.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, name := range []string{"kfake", "strata-file", "strata-minio"} {
		r, ok := results[name]
		if !ok {
			continue
		}
		cold := "—  | —"
		if r.coldConsumeMBs > 0 {
			cold = fmt.Sprintf("%.1f | %.2f", r.coldConsumeMBs, r.coldConsumeMBs/base.consumeMBs)
		}
		fmt.Fprintf(&sb, "| %s | %.1f | %.2f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %s |\n", name,
			r.produceMBs, r.produceMBs/base.produceMBs,
			ms(r.p50), ms(r.p50)/ms(base.p50), ms(r.p99), ms(r.p99)/ms(base.p99),
			r.consumeMBs, r.consumeMBs/base.consumeMBs, cold)
	}
	if m, ok := results["strata-minio"]; ok && rawPutMBs > 0 {
		fmt.Fprintf(&sb, "\nraw MinIO PUT (8 MiB objects): %.1f MB/s; strata-minio produce is %.2f of it\n", rawPutMBs, m.produceMBs/rawPutMBs)
	}
	fmt.Fprint(w, sb.String())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// produceAll sends n records, record(i) each, through cl without waiting
// for acknowledgements in between (pace, if set, is called before each
// send), and returns each record's latency from its Produce call to its
// acknowledgement and the time from the first Produce to the last
// acknowledgement. The first error fails b.
func produceAll(ctx context.Context, b *testing.B, cl *kgo.Client, n int, record func(i int) *kgo.Record, pace func(i int)) ([]time.Duration, time.Duration) {
	b.Helper()
	lat := make([]time.Duration, n)
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	start := time.Now()
	for i := range n {
		if pace != nil {
			pace(i)
		}
		wg.Add(1)
		sent := time.Now()
		cl.Produce(ctx, record(i), func(_ *kgo.Record, err error) {
			defer wg.Done()
			lat[i] = time.Since(sent)
			if err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		b.Fatalf("produce: %v", firstErr)
	}
	return lat, elapsed
}
