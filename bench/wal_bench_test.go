package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/objstore/s3"
)

// The WAL-tier workload. Records are incompressible and sent uncompressed, so
// the bytes offered are the bytes the WAL and the segments carry.
const (
	walRecordBytes = 1 << 10
	// pacedRate is the fixed offered load, in bytes per second (10 MB/s in
	// the summary's units, MiB/s).
	pacedRate = 10 << 20
	// pacedDuration is how long each paced run offers pacedRate.
	pacedDuration = 10 * time.Second
	// maxLoadBytes is the volume of each maximum-throughput run.
	maxLoadBytes = 64 << 20
	// latencyPartitions is the partition count of the latency topics;
	// manyPartitions that of the second PUT-count run.
	latencyPartitions = 6
	manyPartitions    = 1000
	// groupCommitMany names the raw group-commit baseline over
	// manyPartitions subjects.
	groupCommitMany = "jetstream-groupcommit-10MBps-1000"
	// putsBytes is the volume of each PUT-count run, offered at pacedRate.
	putsBytes = 256 << 20
	// defaultFlushInterval is strata serve's --flush-interval default, which
	// these runs use; it sets the expected PUT rate.
	defaultFlushInterval = 250 * time.Millisecond
	// jsSyncPublishes is the sample count of each synchronous JetStream
	// baseline; rawPuts* are those of the raw MinIO PUT baselines.
	jsSyncPublishes = 2000
	rawPuts1MiB     = 60
	rawPuts8MiB     = 20
	// oneRecordBatchBytes approximates a RecordBatch v2 of one 1 KiB record
	// (61-byte header, about 10 bytes of record framing) plus the WAL
	// record's own header: the smallest WAL message a produce makes.
	oneRecordBatchBytes = walRecordBytes + 96
	// extraRounds is how many more times the 10 MB/s wal run and its raw
	// group-commit baseline are measured, one after the other, for the p99
	// ratio.
	extraRounds = 4
	// phaseTimeout bounds one measured run.
	phaseTimeout = 5 * time.Minute
)

// latencies is one run's per-operation latency distribution.
type latencies struct {
	n        int
	p50, p99 time.Duration
	mbs      float64 // achieved, MiB/s of payload; 0 where not meaningful
	// retried counts publishes the server refused spuriously and that were
	// sent again (see publishFenced).
	retried int
}

func summarize(lat []time.Duration, payload int64, elapsed time.Duration) latencies {
	slices.Sort(lat)
	l := latencies{n: len(lat)}
	if len(lat) > 0 {
		l.p50, l.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	if elapsed > 0 {
		l.mbs = float64(payload) / (1 << 20) / elapsed.Seconds()
	}
	return l
}

// serverStats is what the gateway's /metrics said about one run: the deltas
// of its counters and histograms between the run's start and end.
type serverStats struct {
	walAppends            float64
	walBytes              float64
	walP50, walP99        time.Duration // WAL append duration, from buckets
	walErrors             float64
	flushes               float64
	flushP50, flushP99    time.Duration
	puts, putBytes        float64
	backpressure, putErrs float64
}

// produceRun is one Kafka produce run against Strata.
type produceRun struct {
	lat latencies
	// rtt is the produce requests' round trips as the client saw them
	// (write to response read, kgo's BrokerE2E), without time queued in the
	// client before the request was written.
	rtt   latencies
	stats serverStats
	cpu   cpuUse
}

// cpuUse is the CPU time used during a run, in cores: the gateway's (from its
// process_cpu_seconds_total), this process's, which runs the three NATS
// servers and the Kafka client, and the whole host's (from /proc/stat; zero
// where there is none), which shows what else competed for the cores.
type cpuUse struct{ gateway, bench, host float64 }

// cpuSample is the CPU time used so far by the gateway, this process and the
// host.
type cpuSample struct {
	at                   time.Time
	gateway, bench, host time.Duration
}

func sampleCPU(m metricSet) cpuSample {
	s := cpuSample{at: time.Now(), gateway: time.Duration(m.get("process_cpu_seconds_total") * float64(time.Second)), host: hostCPU()}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		s.bench = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return s
}

// until returns the cores used between s and a later sample.
func (s cpuSample) until(later cpuSample) cpuUse {
	secs := later.at.Sub(s.at).Seconds()
	return cpuUse{
		gateway: (later.gateway - s.gateway).Seconds() / secs,
		bench:   (later.bench - s.bench).Seconds() / secs,
		host:    (later.host - s.host).Seconds() / secs,
	}
}

// hostCPU is the busy CPU time of the whole host from /proc/stat (every
// field of the cpu line but idle and iowait), or 0 without it.
func hostCPU() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, f := range fields[1:8] { // user nice system idle iowait irq softirq
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0
		}
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / 100 // USER_HZ is 100 on Linux
}

// putsRun is one PUT-count run.
type putsRun struct {
	partitions int
	bytes      int64
	lat        latencies
	stats      serverStats
	cpu        cpuUse // while producing
}

// walResults collects the WAL figures for the summary, under resultsMu.
var walResults struct {
	produce   map[string]produceRun // by "10MBps/wal", "max/s3", ...
	baselines map[string]latencies  // by baseline name
	jsSyncLen int                   // payload of the jetstream-sync-wal-size baseline
	puts      []putsRun
	rounds    []p99Round // after the first pair (produce 10MBps/wal, jetstream-groupcommit-10MBps)
	loadAvg   string     // /proc/loadavg when BenchmarkWAL started
}

func recordProduce(name string, r produceRun) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if walResults.produce == nil {
		walResults.produce = map[string]produceRun{}
	}
	walResults.produce[name] = r
}

func recordBaseline(name string, l latencies) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if walResults.baselines == nil {
		walResults.baselines = map[string]latencies{}
	}
	walResults.baselines[name] = l
}

// walEnv is one Strata gateway on a 3-node NATS cluster (WAL and coordinator
// at R3) with segments in MinIO, and those servers for the baselines.
type walEnv struct {
	nats    *testenv.NATSCluster
	minio   *testenv.MinIOServer
	strata  *strataProc
	metrics string // the gateway's /metrics URL
	// rawStreams counts the baselines' streams, which rawStream names.
	rawStreams int
}

// BenchmarkWAL measures the WAL tier: produce acknowledgement latency on wal
// and s3 topics at a fixed load and at full speed, the raw JetStream and
// MinIO latencies under them, and S3 PUTs per GiB as the partition count
// grows. Everything runs against the same NATS cluster and MinIO server.
func BenchmarkWAL(b *testing.B) {
	e := startWALEnv(b)
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		resultsMu.Lock()
		walResults.loadAvg = strings.Join(strings.Fields(string(load))[:3], " ")
		resultsMu.Unlock()
	}
	for _, load := range []struct {
		name string
		rate float64
	}{{"10MBps", pacedRate}, {"max", 0}} {
		for _, dur := range []string{"wal", "s3"} {
			b.Run("produce/"+load.name+"/"+dur, func(b *testing.B) {
				for i := range b.N {
					r := e.produceRun(b, fmt.Sprintf("lat-%s-%s-%d", load.name, dur, i), dur, latencyPartitions, load.rate)
					b.ReportMetric(ms(r.lat.p50), "p50-ms")
					b.ReportMetric(ms(r.lat.p99), "p99-ms")
					b.ReportMetric(r.lat.mbs, "MB/s")
					recordProduce(load.name+"/"+dur, r)
				}
			})
		}
	}
	b.Run("baseline/jetstream-sync", func(b *testing.B) {
		// One round trip for the smallest WAL message, and for the mean
		// WAL message of the paced wal run (what Strata actually sent).
		sizes := map[string]int{"jetstream-sync-1batch": oneRecordBatchBytes}
		resultsMu.Lock()
		if r, ok := walResults.produce["10MBps/wal"]; ok && r.stats.walAppends > 0 {
			n := int(r.stats.walBytes / r.stats.walAppends)
			sizes["jetstream-sync-wal-size"] = n
			walResults.jsSyncLen = n
		}
		resultsMu.Unlock()
		for name, size := range sizes {
			l := e.jetStreamSync(b, size)
			b.ReportMetric(ms(l.p99), name+"-p99-ms")
			recordBaseline(name, l)
		}
	})
	b.Run("baseline/jetstream-groupcommit-10MBps", func(b *testing.B) {
		l := e.jetStreamGroupCommit(b, latencyPartitions)
		b.ReportMetric(ms(l.p50), "p50-ms")
		b.ReportMetric(ms(l.p99), "p99-ms")
		recordBaseline("jetstream-groupcommit-10MBps", l)
	})
	b.Run("baseline/jetstream-async-10MBps", func(b *testing.B) {
		l := e.jetStreamPaced(b)
		b.ReportMetric(ms(l.p50), "p50-ms")
		b.ReportMetric(ms(l.p99), "p99-ms")
		recordBaseline("jetstream-async-10MBps", l)
	})
	b.Run("baseline/jetstream-max", func(b *testing.B) {
		l := e.jetStreamMax(b)
		b.ReportMetric(l.mbs, "MB/s")
		recordBaseline("jetstream-max", l)
	})
	for _, size := range []int{1 << 20, 8 << 20} {
		name := fmt.Sprintf("minio-put-%dMiB", size>>20)
		b.Run("baseline/"+name, func(b *testing.B) {
			l := e.rawPuts(b, size)
			b.ReportMetric(ms(l.p50), "p50-ms")
			b.ReportMetric(ms(l.p99), "p99-ms")
			recordBaseline(name, l)
		})
	}
	// The WAL's own pattern at the PUT runs' larger partition count, on raw
	// JetStream: what one message per partition per round trip costs
	// these servers before Strata adds anything.
	b.Run(fmt.Sprintf("baseline/jetstream-groupcommit-10MBps-%d", manyPartitions), func(b *testing.B) {
		l := e.jetStreamGroupCommit(b, manyPartitions)
		b.ReportMetric(ms(l.p50), "p50-ms")
		b.ReportMetric(ms(l.p99), "p99-ms")
		b.ReportMetric(l.mbs, "MB/s")
		recordBaseline(groupCommitMany, l)
	})
	// A p99 comes from the slowest 1% of a 10 s run, and on shared machines
	// one disk stall moves it by a factor of several. More rounds of the
	// wal run next to its raw baseline show how far the ratio spreads; the
	// summary judges the median.
	b.Run("p99-rounds", func(b *testing.B) {
		for i := range extraRounds {
			wal := e.produceRun(b, fmt.Sprintf("lat-rounds-%d", i), "wal", latencyPartitions, pacedRate)
			raw := e.jetStreamGroupCommit(b, latencyPartitions)
			b.ReportMetric(ms(wal.lat.p99)/ms(raw.p99), fmt.Sprintf("ratio-%d", i+2))
			resultsMu.Lock()
			walResults.rounds = append(walResults.rounds, p99Round{wal: wal.lat, raw: raw})
			resultsMu.Unlock()
		}
	})
	for _, parts := range []int{latencyPartitions, manyPartitions} {
		b.Run(fmt.Sprintf("puts/partitions-%d", parts), func(b *testing.B) {
			for i := range b.N {
				r := e.putsRun(b, fmt.Sprintf("puts-%d-%d", parts, i), parts)
				b.ReportMetric(r.stats.puts/(float64(r.bytes)/(1<<30)), "PUTs/GiB")
				resultsMu.Lock()
				walResults.puts = append(walResults.puts, r)
				resultsMu.Unlock()
			}
		})
	}
}

func startWALEnv(b *testing.B) *walEnv {
	b.Helper()
	if os.Getenv("STRATA_BIN") == "" {
		if os.Getenv("CI") == "true" {
			b.Fatal("STRATA_BIN is not set; run `make bench`")
		}
		b.Skip("STRATA_BIN is not set; run `make bench`, which builds bin/strata")
	}
	e := &walEnv{nats: testenv.StartNATSCluster(b, 3), minio: testenv.MinIO(b)}
	httpAddr := freeAddr(b)
	e.metrics = "http://" + httpAddr + "/metrics"
	env := []string{"AWS_ACCESS_KEY_ID=" + e.minio.AccessKey, "AWS_SECRET_ACCESS_KEY=" + e.minio.SecretKey}
	// A later --http-listen overrides startStrata's, so /metrics is at a
	// known address.
	e.strata = startStrata(b, env, b.TempDir(), "--http-listen", httpAddr,
		"--object-store", "s3", "--s3-endpoint", e.minio.Endpoint, "--s3-bucket", "strata-wal-bench",
		"--s3-create-bucket", "--s3-region", e.minio.Region, "--s3-path-style",
		"--nats-url", e.nats.URLs(), "--nats-monitor-url", e.nats.MonitorURLs(), "--nats-replicas", "3")
	return e
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	return addr
}

// produceRun creates a topic with the given durability and partitions and
// measures one produce run on it: at rate bytes/s for pacedDuration, or, with
// rate 0, maxLoadBytes as fast as the client takes them.
func (e *walEnv) produceRun(b *testing.B, topic, durability string, partitions int, rate float64) produceRun {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	cl, rtt := e.producer(ctx, b, topic, durability, partitions)
	defer cl.Close()
	total := int64(maxLoadBytes)
	if rate > 0 {
		total = int64(rate * pacedDuration.Seconds())
	}
	e.waitFlushed(b)
	rtt.reset()
	before := e.scrape(b)
	cpuBefore := sampleCPU(before)
	lat, elapsed := produceLoad(ctx, b, cl, partitions, total, rate)
	after := e.scrape(b)
	return produceRun{
		lat:   summarize(lat, total, elapsed),
		rtt:   summarize(rtt.reset(), 0, 0),
		stats: diffStats(before, after),
		cpu:   cpuBefore.until(sampleCPU(after)),
	}
}

// requestTimes collects the round trips of a client's produce requests.
type requestTimes struct {
	mu sync.Mutex
	d  []time.Duration
}

var _ kgo.HookBrokerE2E = (*requestTimes)(nil)

func (r *requestTimes) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	if key != 0 || e.WriteErr != nil || e.ReadErr != nil { // 0: Produce
		return
	}
	r.mu.Lock()
	r.d = append(r.d, e.DurationE2E())
	r.mu.Unlock()
}

// reset returns the round trips so far and forgets them.
func (r *requestTimes) reset() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.d
	r.d = nil
	return d
}

// putsRun offers putsBytes at pacedRate to a wal topic with the given
// partitions and counts the segment PUTs they cost, from the moment the tail
// is empty until it is empty again.
func (e *walEnv) putsRun(b *testing.B, topic string, partitions int) putsRun {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	cl, _ := e.producer(ctx, b, topic, "wal", partitions)
	defer cl.Close()
	e.waitFlushed(b)
	before := e.scrape(b)
	cpuBefore := sampleCPU(before)
	lat, elapsed := produceLoad(ctx, b, cl, partitions, putsBytes, pacedRate)
	cpu := cpuBefore.until(sampleCPU(e.scrape(b)))
	e.waitFlushed(b)
	after := e.scrape(b)
	return putsRun{partitions: partitions, bytes: putsBytes, lat: summarize(lat, putsBytes, elapsed), stats: diffStats(before, after), cpu: cpu}
}

// producer creates topic and returns an acks=all, linger 0, uncompressed
// producer for it that has produced one record to every partition, so the
// runs do not measure partition claims, and the hook that times its produce
// requests.
func (e *walEnv) producer(ctx context.Context, b *testing.B, topic, durability string, partitions int) (*kgo.Client, *requestTimes) {
	b.Helper()
	rtt := &requestTimes{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.strata.addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.WithHooks(rtt))
	if err != nil {
		b.Fatal(err)
	}
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, int32(partitions), 1,
		map[string]*string{"strata.durability": &durability}, topic)
	if err != nil || resp.Err != nil {
		cl.Close()
		b.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
	warm := make([]*kgo.Record, partitions)
	for p := range warm {
		warm[p] = &kgo.Record{Partition: int32(p), Value: []byte("warm-up")}
	}
	if err := cl.ProduceSync(ctx, warm...).FirstErr(); err != nil {
		cl.Close()
		b.Fatalf("warm up %s: %v", topic, err)
	}
	return cl, rtt
}

// produceLoad produces total bytes of walRecordBytes records round-robin over
// the partitions, at rate bytes/s (0: as fast as Produce returns), and
// returns each record's latency from its Produce call to its acknowledgement,
// and the time from the first Produce to the last acknowledgement.
func produceLoad(ctx context.Context, b *testing.B, cl *kgo.Client, partitions int, total int64, rate float64) ([]time.Duration, time.Duration) {
	b.Helper()
	value := make([]byte, walRecordBytes)
	_, _ = rand.Read(value) // incompressible; never fails
	n := int(total / walRecordBytes)
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) * walRecordBytes / rate)
	}
	start := time.Now()
	lat, elapsed := produceAll(ctx, b, cl, n, func(i int) *kgo.Record {
		return &kgo.Record{Partition: int32(i % partitions), Value: value}
	}, func(i int) {
		// Sleep only when ahead of schedule, so a late wake-up is made up
		// by sending the records that fell due meanwhile at once.
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d) // pacing the offered load, not synchronisation
		}
	})
	return lat, elapsed
}

// waitFlushed waits until the gateway holds nothing for object storage and
// no flush is in progress (see waitTailFlushed).
func (e *walEnv) waitFlushed(b *testing.B) {
	b.Helper()
	waitTailFlushed(b, e.metrics, 3*defaultFlushInterval)
}

// waitTailFlushed waits until the gateway whose /metrics is at url holds
// nothing for object storage and no flush is in progress: every successful
// PUT's flush has finished its commits (the tail gauge drops when a flush
// takes its batches, before its PUT, and the flush histogram counts a flush
// after its last commit), and nothing moved for a poll interval.
func waitTailFlushed(b *testing.B, url string, poll time.Duration) {
	b.Helper()
	var last metricSet
	testenv.CheckFor(b, 2*time.Minute, poll, func() error {
		m := mustScrape(b, url)
		prev := last
		last = m
		if tail := m.get("strata_tiered_tail_bytes"); tail != 0 {
			return fmt.Errorf("%.0f bytes still waiting for object storage", tail)
		}
		puts := m.get("strata_tiered_segment_puts_total") - m.get("strata_tiered_segment_put_errors_total")
		if flushes := m.get("strata_tiered_flush_duration_seconds_count"); puts > flushes {
			return fmt.Errorf("%.0f successful PUTs, %.0f flushes finished: a flush is committing", puts, flushes)
		}
		for _, k := range []string{"strata_tiered_segment_puts_total", "strata_tiered_flush_duration_seconds_count"} {
			if prev == nil || prev.get(k) != m.get(k) {
				return fmt.Errorf("%s still moving", k)
			}
		}
		return nil
	})
}

// jetStreamSync publishes size-byte messages one at a time to an R3 file
// stream on the cluster and returns their latencies.
func (e *walEnv) jetStreamSync(b *testing.B, size int) latencies {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	js, subj := e.rawStream(ctx, b, fmt.Sprintf("BENCH_SYNC_%d", size))
	payload := make([]byte, size)
	_, _ = rand.Read(payload)
	lat := make([]time.Duration, 0, jsSyncPublishes)
	start := time.Now()
	for i := range jsSyncPublishes {
		t := time.Now()
		if _, err := js.Publish(ctx, fmt.Sprintf("%s.%d", subj, i%latencyPartitions), payload); err != nil {
			b.Fatalf("publish: %v", err)
		}
		lat = append(lat, time.Since(t))
	}
	return summarize(lat, int64(size*jsSyncPublishes), time.Since(start))
}

// jetStreamGroupCommit is the WAL's group commit on raw JetStream, at the
// same offered load: records of walRecordBytes arrive at pacedRate, spread
// round-robin over the given number of subjects of an R3 file stream; each
// subject has one publisher that sends, synchronously and back to back, one
// message with every record that arrived while its previous publish was in
// flight, fenced on the subject's last sequence as the WAL's appends are. A
// record's latency runs from its scheduled arrival to the acknowledgement of
// the message that carried it.
func (e *walEnv) jetStreamGroupCommit(b *testing.B, subjects int) latencies {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	js, subj := e.rawStream(ctx, b, fmt.Sprintf("BENCH_GROUP_%d", subjects))
	interval := time.Second * walRecordBytes / pacedRate
	perPart := int(pacedRate*pacedDuration.Seconds()/walRecordBytes) / subjects
	maxRecs := int(js.Conn().MaxPayload())/walRecordBytes - 1
	payload := make([]byte, maxRecs*walRecordBytes)
	_, _ = rand.Read(payload)
	lats := make([][]time.Duration, subjects)
	refused := make([]int, subjects)
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for p := range subjects {
		g.Go(func() error {
			arrival := func(k int) time.Time { return start.Add(time.Duration(k*subjects+p) * interval) }
			subject := fmt.Sprintf("%s.%d", subj, p)
			var last uint64
			for k := 0; k < perPart; {
				if d := time.Until(arrival(k)); d > 0 {
					time.Sleep(d) // pacing the offered load, not synchronisation
				}
				now := time.Now()
				end := k + 1
				for end < perPart && end-k < maxRecs && !arrival(end).After(now) {
					end++
				}
				ack, err := publishFenced(gctx, js, subject, payload[:(end-k)*walRecordBytes], last, &refused[p])
				if err != nil {
					return err
				}
				acked := time.Now()
				last = ack.Sequence
				for i := k; i < end; i++ {
					lats[p] = append(lats[p], acked.Sub(arrival(i)))
				}
				k = end
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	l := summarize(slices.Concat(lats...), int64(perPart*subjects*walRecordBytes), time.Since(start))
	for _, n := range refused {
		l.retried += n
	}
	return l
}

// publishFenced publishes data to subject if its last sequence is last, as
// wal.Log.Append does. The server refuses such a publish with the constant
// "wrong last sequence" (10164) while the subject's previous fenced publish
// is still in process on the stream leader, which it can be for a moment
// after its acknowledgement was sent; publishFenced retries those, counting
// them in refused, since the WAL would have to as well.
func publishFenced(ctx context.Context, js jetstream.JetStream, subject string, data []byte, last uint64, refused *int) (*jetstream.PubAck, error) {
	for {
		ack, err := js.Publish(ctx, subject, data, jetstream.WithExpectLastSequencePerSubject(last))
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant && ctx.Err() == nil {
			*refused++
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("publish to %s after sequence %d: %w", subject, last, err)
		}
		return ack, nil
	}
}

// jetStreamMax is the ceiling of the WAL's pattern on the cluster: one
// synchronous publisher per subject, latencyPartitions subjects, sending
// maxLoadBytes in all as back-to-back 1 MiB messages (about what each WAL
// append carries at maximum load). It returns the publishes' latencies and
// the throughput.
func (e *walEnv) jetStreamMax(b *testing.B) latencies {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	js, subj := e.rawStream(ctx, b, "BENCH_MAX")
	const size = 1 << 20
	payload := make([]byte, size)
	_, _ = rand.Read(payload)
	perPart := maxLoadBytes / size / latencyPartitions
	lats := make([][]time.Duration, latencyPartitions)
	refused := make([]int, latencyPartitions)
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for p := range latencyPartitions {
		g.Go(func() error {
			subject := fmt.Sprintf("%s.%d", subj, p)
			var last uint64
			for range perPart {
				t := time.Now()
				ack, err := publishFenced(gctx, js, subject, payload, last, &refused[p])
				if err != nil {
					return err
				}
				last = ack.Sequence
				lats[p] = append(lats[p], time.Since(t))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	l := summarize(slices.Concat(lats...), int64(perPart*latencyPartitions*size), time.Since(start))
	for _, n := range refused {
		l.retried += n
	}
	return l
}

// jetStreamPaced publishes walRecordBytes messages asynchronously at
// pacedRate for pacedDuration, round-robin over latencyPartitions subjects of
// an R3 file stream, and returns each message's latency from its publish to
// its acknowledgement.
func (e *walEnv) jetStreamPaced(b *testing.B) latencies {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	js, subj := e.rawStream(ctx, b, "BENCH_PACED")
	payload := make([]byte, walRecordBytes)
	_, _ = rand.Read(payload)
	n := int(pacedRate * pacedDuration.Seconds() / walRecordBytes)
	interval := time.Second * walRecordBytes / pacedRate
	type inflight struct {
		f    jetstream.PubAckFuture
		sent time.Time
	}
	pending := make(chan inflight, n)
	lat := make([]time.Duration, 0, n)
	collected := make(chan error, 1)
	go func() { // owned here: its result is received below
		for p := range pending {
			select {
			case <-p.f.Ok():
				lat = append(lat, time.Since(p.sent))
			case err := <-p.f.Err():
				collected <- err
				return
			case <-ctx.Done():
				collected <- ctx.Err()
				return
			}
		}
		collected <- nil
	}()
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d) // pacing the offered load, not synchronisation
		}
		sent := time.Now()
		f, err := js.PublishAsync(fmt.Sprintf("%s.%d", subj, i%latencyPartitions), payload)
		if err != nil {
			close(pending)
			<-collected
			b.Fatalf("publish: %v", err)
		}
		pending <- inflight{f, sent}
	}
	close(pending)
	if err := <-collected; err != nil {
		b.Fatalf("publish ack: %v", err)
	}
	return summarize(lat, int64(n*walRecordBytes), time.Since(start))
}

// rawStream creates an R3 file stream like the WAL's on the cluster and
// returns a JetStream client and the stream's subject prefix; the stream is
// deleted when b ends.
func (e *walEnv) rawStream(ctx context.Context, b *testing.B, name string) (jetstream.JetStream, string) {
	b.Helper()
	nc, err := nats.Connect(e.nats.URLs())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1<<20))
	if err != nil {
		b.Fatal(err)
	}
	// A fresh stream for every run: a run repeated within one benchmark
	// must not find the last one's messages (and sequences) there.
	e.rawStreams++
	name = fmt.Sprintf("%s_R%d", name, e.rawStreams)
	subj := strings.ToLower(name)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subj + ".>"},
		Storage: jetstream.FileStorage, Replicas: 3, Discard: jetstream.DiscardNew}); err != nil {
		b.Fatalf("create stream %s: %v", name, err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := js.DeleteStream(ctx, name); err != nil {
			b.Errorf("delete stream %s: %v", name, err)
		}
	})
	return js, subj
}

// rawPuts PUTs size-byte objects to the MinIO server one at a time and
// returns their latencies.
func (e *walEnv) rawPuts(b *testing.B, size int) latencies {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	bucket, err := s3.New(ctx, s3.Config{Endpoint: e.minio.Endpoint, Bucket: e.minio.NewBucket(b), Region: e.minio.Region,
		PathStyle: true, AccessKey: e.minio.AccessKey, SecretKey: e.minio.SecretKey})
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, size)
	_, _ = rand.Read(body)
	puts := rawPuts8MiB
	if size <= 1<<20 {
		puts = rawPuts1MiB
	}
	lat := make([]time.Duration, 0, puts)
	start := time.Now()
	for i := range puts {
		t := time.Now()
		if err := bucket.Put(ctx, fmt.Sprintf("raw/%d", i), bytes.NewReader(body), int64(size)); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	return summarize(lat, int64(size*puts), time.Since(start))
}
