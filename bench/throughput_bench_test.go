package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/testenv"
)

// The throughput workload (see BenchmarkThroughput).
const (
	// tpBytes is a run's volume at partitions partitions, and
	// tpManyBytes at tpManyPartitions, both issue 19's;
	// STRATA_BENCH_THROUGHPUT_MIB overrides the first and sets the second
	// to half of it.
	tpBytes          = 512 << 20
	tpManyBytes      = 256 << 20
	tpManyPartitions = 10_000
	// tpRounds is how many runs each part makes of each target (or
	// partition count) and producer settings, the order swapped in every
	// other round so that drift on a shared machine falls on both alike.
	tpRounds = 2
	// Kafka 4's producer defaults: acks=all and idempotence, linger.ms 5,
	// buffer.memory 32 MiB, compression.type none; batches of up to 1 MiB
	// (max.request.size) rather than batch.size's 16 KiB.
	tpLinger      = 5 * time.Millisecond
	tpBatchBytes  = 1 << 20
	tpBufferBytes = 32 << 20
	// tpCreateTarget is the bound on creating a
	// tpManyPartitions-partition topic.
	tpCreateTarget = 5 * time.Second
	// tpTimeout bounds one run.
	tpTimeout = 10 * time.Minute
)

// The producer settings a run uses.
const (
	// kafkaDefaults is Kafka 4's producer defaults (see tpLinger).
	kafkaDefaults = "kafka-defaults"
	// lingerZero sends a batch as soon as the partition has no request in
	// flight: linger 0, batches of up to 1 MiB, franz-go's default buffer
	// of 50,000 records, no compression.
	lingerZero = "linger-0"
)

// The parts of BenchmarkThroughput, as its sub-benchmarks are named.
const (
	partEmbedded = "embedded"
	partR3       = "r3"
	partWide     = "partitions"
)

// The targets a run measures.
const (
	targetStrata = "strata"
	targetKfake  = "kfake"
)

// tpSpec is what one run does: create a topic of partitions on a target,
// produce bytes of recordBytes records to it round-robin with the given
// producer settings, and read them back.
type tpSpec struct {
	part, settings    string
	round, partitions int
	bytes             int64
}

func (s tpSpec) topic() string {
	return fmt.Sprintf("tp-%s-%s-%d-%d", s.part, s.settings, s.partitions, s.round)
}

// tpRun is one run's figures.
type tpRun struct {
	tpSpec
	target string
	// create is how long the CreateTopics request took; ready how long
	// from sending it until Metadata listed every partition with a leader
	// (a gateway claims its partitions when it first describes them).
	create, ready time.Duration
	// produce is each record's acknowledgement latency and the MB/s;
	// produceTime and consumeTime are the two halves' wall times.
	produce                  latencies
	produceTime, consumeTime time.Duration
	// produceCPU and consumeCPU are the target process's CPU time over
	// each half (the gateway's includes its embedded NATS, if any);
	// benchCPU is this process's over the produce half: the clients and,
	// in the r3 part, the three NATS nodes.
	produceCPU, consumeCPU, benchCPU time.Duration
	// startRSS is the gateway's VmRSS when the run began, and peakRSS its
	// VmHWM over the run, in bytes; 0 for kfake.
	startRSS, peakRSS int64
}

func (r tpRun) gib() float64 { return float64(r.bytes) / (1 << 30) }

// throughputResults collects BenchmarkThroughput's figures, under
// resultsMu.
var throughputResults struct {
	ran bool
	// volume and manyVolume are a run's bytes at partitions and at
	// tpManyPartitions partitions.
	volume, manyVolume int64
	loadAvg            string // /proc/loadavg when the benchmark started
	runs               []tpRun
}

// tpTarget is a Kafka endpoint in a process of its own.
type tpTarget struct {
	name    string // targetStrata or targetKfake
	addr    string
	pid     int
	metrics string // a gateway's /metrics URL; "" for kfake
}

// tpEnv is one part's targets: its gateway and kfake.
type tpEnv struct {
	part          string
	strata, kfake *tpTarget
}

// BenchmarkThroughput measures produce and consume throughput with
// Kafka's producer defaults against kfake in a process of its own, on the
// embedded default and on one gateway on three NATS nodes at R3 with
// MinIO; throughput at tpManyPartitions partitions against 6 on the
// embedded default, and how long creating such a topic takes; and, for
// every run, the target's CPU per GiB and the gateway's peak RSS.
func BenchmarkThroughput(b *testing.B) {
	volume, manyVolume := throughputBytes(b)
	resultsMu.Lock()
	throughputResults.volume, throughputResults.manyVolume = volume, manyVolume
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		throughputResults.loadAvg = strings.Join(strings.Fields(string(load))[:3], " ")
	}
	resultsMu.Unlock()
	b.Run(partEmbedded, func(b *testing.B) {
		e := &tpEnv{part: partEmbedded, strata: startTPStrata(b)}
		e.kfake = startKfake(b)
		e.compare(b, volume)
	})
	b.Run(partWide, func(b *testing.B) {
		e := &tpEnv{part: partWide, strata: startTPStrata(b)}
		e.kfake = startKfake(b)
		e.partitionCounts(b, manyVolume)
	})
	b.Run(partR3, func(b *testing.B) {
		w := startWALEnv(b)
		e := &tpEnv{part: partR3, strata: &tpTarget{name: targetStrata, addr: w.strata.addr, pid: w.strata.cmd.Process.Pid, metrics: w.metrics}}
		e.kfake = startKfake(b)
		e.compare(b, volume)
	})
}

// throughputBytes is the volume of a run at partitions partitions and at
// tpManyPartitions.
func throughputBytes(b *testing.B) (volume, manyVolume int64) {
	v := os.Getenv("STRATA_BENCH_THROUGHPUT_MIB")
	if v == "" {
		return tpBytes, tpManyBytes
	}
	mib, err := strconv.Atoi(v)
	if err != nil || mib < 2 {
		b.Fatalf("STRATA_BENCH_THROUGHPUT_MIB=%q is not a number of at least 2", v)
	}
	return int64(mib) << 20, int64(mib) << 19
}

// startTPStrata runs `strata serve` on its embedded NATS, with /metrics at
// a known address.
func startTPStrata(b *testing.B) *tpTarget {
	b.Helper()
	httpAddr := freeAddr(b)
	// A later --http-listen overrides startStrata's.
	p := startStrata(b, nil, b.TempDir(), "--http-listen", httpAddr)
	return &tpTarget{name: targetStrata, addr: p.addr, pid: p.cmd.Process.Pid, metrics: "http://" + httpAddr + "/metrics"}
}

// startKfake builds testdata/kfakeserver and runs it on loopback; Cleanup
// stops it by closing its stdin.
func startKfake(b *testing.B) *tpTarget {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "kfakeserver")
	// go test runs in the package's directory, with its go first in PATH.
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/kfakeserver").CombinedOutput(); err != nil {
		b.Fatalf("build kfakeserver: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close() // its only error is a second close
		if err := cmd.Wait(); err != nil {
			b.Errorf("kfakeserver: %v", err)
		}
	})
	// It prints its address once it listens, or exits with an error.
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		b.Fatalf("kfakeserver printed %q: %v", line, err)
	}
	return &tpTarget{name: targetKfake, addr: addr, pid: cmd.Process.Pid}
}

// compare runs tpRounds of each producer settings on the part's gateway
// and on kfake, partitions partitions and volume bytes a run.
func (e *tpEnv) compare(b *testing.B, volume int64) {
	b.Helper()
	var runs []tpRun
	for _, settings := range []string{kafkaDefaults, lingerZero} {
		for round := 1; round <= tpRounds; round++ {
			order := []*tpTarget{e.strata, e.kfake}
			if round%2 == 0 {
				slices.Reverse(order)
			}
			for _, t := range order {
				runs = append(runs, e.run(b, t, tpSpec{part: e.part, settings: settings, round: round, partitions: partitions, bytes: volume}))
			}
		}
		s := poolRuns(runs, func(r tpRun) bool { return r.settings == settings && r.target == targetStrata })
		k := poolRuns(runs, func(r tpRun) bool { return r.settings == settings && r.target == targetKfake })
		b.ReportMetric(s.produceMBs()/k.produceMBs(), settings+"-produce-strata/kfake")
		b.ReportMetric(s.consumeMBs()/k.consumeMBs(), settings+"-consume-strata/kfake")
		b.ReportMetric(s.produceCPUPerGiB()/k.produceCPUPerGiB(), settings+"-cpu/GiB-strata/kfake")
	}
	recordTPRuns(runs)
}

// partitionCounts runs tpRounds at partitions and at tpManyPartitions on the
// part's gateway and on kfake, with Kafka's defaults and volume bytes a run.
// kfake's own ratio of the two counts is what the client and an in-memory
// broker lose to 10,000 one-record batches on the same machine.
func (e *tpEnv) partitionCounts(b *testing.B, volume int64) {
	b.Helper()
	var runs []tpRun
	for round := 1; round <= tpRounds; round++ {
		counts := []int{partitions, tpManyPartitions}
		targets := []*tpTarget{e.strata, e.kfake}
		if round%2 == 0 {
			slices.Reverse(counts)
			slices.Reverse(targets)
		}
		for _, n := range counts {
			for _, t := range targets {
				runs = append(runs, e.run(b, t, tpSpec{part: e.part, settings: kafkaDefaults, round: round, partitions: n, bytes: volume}))
			}
		}
	}
	few, many := poolCount(runs, e.part, targetStrata, partitions), poolCount(runs, e.part, targetStrata, tpManyPartitions)
	kfakeFew, kfakeMany := poolCount(runs, e.part, targetKfake, partitions), poolCount(runs, e.part, targetKfake, tpManyPartitions)
	b.ReportMetric(kfakeMany.produceMBs()/kfakeFew.produceMBs(), "kfake-produce-10000/6")
	b.ReportMetric(kfakeMany.consumeMBs()/kfakeFew.consumeMBs(), "kfake-consume-10000/6")
	b.ReportMetric(many.produceMBs()/few.produceMBs(), "produce-10000/6")
	b.ReportMetric(many.consumeMBs()/few.consumeMBs(), "consume-10000/6")
	b.ReportMetric(ms(many.maxReady), "create-10000-ready-max-ms")
	recordTPRuns(runs)
}

func recordTPRuns(runs []tpRun) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	throughputResults.ran = true
	throughputResults.runs = append(throughputResults.runs, runs...)
}

// run makes one run on t: it waits until the part's gateway is quiet,
// creates the topic, produces s.bytes to it round-robin over its
// partitions, and reads them all back, checking every partition.
func (e *tpEnv) run(b *testing.B, t *tpTarget, s tpSpec) tpRun {
	b.Helper()
	// Nothing left over from the last run, on either target.
	waitTailFlushed(b, e.strata.metrics, 3*defaultFlushInterval)
	ctx, cancel := context.WithTimeout(context.Background(), tpTimeout)
	defer cancel()
	n := int(s.bytes / recordBytes)
	if n < s.partitions {
		b.Fatalf("%d records cannot cover %d partitions; raise STRATA_BENCH_THROUGHPUT_MIB", n, s.partitions)
	}
	topic := s.topic()
	r := tpRun{tpSpec: s, target: t.name}
	r.create, r.ready = createTopicTimed(ctx, b, t.addr, topic, s.partitions)
	if t.name == targetStrata {
		resetPeakRSS(b, t.pid)
		r.startRSS = procStatusBytes(b, t.pid, "VmRSS")
	}

	producer := newClient(b, append(producerOpts(s.settings), kgo.SeedBrokers(t.addr), kgo.DefaultProduceTopic(topic))...)
	value := make([]byte, recordBytes)
	_, _ = rand.Read(value) // incompressible; never fails
	before := sampleProc(b, t.pid)
	lat, elapsed := produceAll(ctx, b, producer, n, func(i int) *kgo.Record {
		return &kgo.Record{Partition: int32(i % s.partitions), Value: value}
	}, nil)
	mid := sampleProc(b, t.pid)
	producer.Close()
	r.produce, r.produceTime = summarize(lat, s.bytes, elapsed), elapsed
	r.consumeTime = consumeCounted(ctx, b, t.addr, topic, s.partitions, n)
	after := sampleProc(b, t.pid)
	r.produceCPU, r.consumeCPU, r.benchCPU = mid.target-before.target, after.target-mid.target, mid.self-before.self

	if t.name == targetStrata {
		r.peakRSS = procStatusBytes(b, t.pid, "VmHWM")
	} else {
		// kfake keeps every record in memory: drop them.
		deleteTopic(ctx, b, t.addr, topic)
	}
	return r
}

// producerOpts are the producer settings named settings, writing to
// explicit partitions.
func producerOpts(settings string) []kgo.Opt {
	opts := []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchMaxBytes(tpBatchBytes),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordPartitioner(kgo.ManualPartitioner())}
	if settings == kafkaDefaults {
		return append(opts, kgo.ProducerLinger(tpLinger), kgo.MaxBufferedBytes(tpBufferBytes))
	}
	return append(opts, kgo.ProducerLinger(0))
}

// createTopicTimed creates topic with the given partitions and returns how
// long the CreateTopics request took and how long from sending it until
// Metadata listed every partition with a leader.
func createTopicTimed(ctx context.Context, b *testing.B, addr, topic string, partitions int) (create, ready time.Duration) {
	b.Helper()
	cl := newClient(b, kgo.SeedBrokers(addr))
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// Connect before the clock starts.
	if _, err := adm.BrokerMetadata(ctx); err != nil {
		b.Fatalf("metadata of %s: %v", addr, err)
	}
	start := time.Now()
	resp, err := adm.CreateTopic(ctx, int32(partitions), 1, nil, topic)
	create = time.Since(start)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		b.Fatalf("create topic %s with %d partitions: %v", topic, partitions, err)
	}
	testenv.CheckFor(b, 2*time.Minute, 20*time.Millisecond, func() error {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		td := md.Topics[topic]
		if td.Err != nil {
			return td.Err
		}
		if len(td.Partitions) != partitions {
			return fmt.Errorf("%s has %d partitions, want %d", topic, len(td.Partitions), partitions)
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return fmt.Errorf("%s/%d: leader %d: %v", topic, p.Partition, p.Leader, p.Err)
			}
		}
		return nil
	})
	return create, time.Since(start)
}

func deleteTopic(ctx context.Context, b *testing.B, addr, topic string) {
	b.Helper()
	cl := newClient(b, kgo.SeedBrokers(addr))
	defer cl.Close()
	resp, err := kadm.NewClient(cl).DeleteTopic(ctx, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		b.Fatalf("delete topic %s: %v", topic, err)
	}
}

// consumeCounted reads topic's partitions from the start by direct
// assignment until it has n records, checks that each partition's offsets
// run from 0 without a gap to its round-robin share of the n, and returns
// the time it took.
func consumeCounted(ctx context.Context, b *testing.B, addr, topic string, partitions, n int) time.Duration {
	b.Helper()
	next, elapsed := consumeGapless(ctx, b, addr, topic, partitions, n)
	for p, end := range next {
		want := int64(n / partitions)
		if p < n%partitions {
			want++
		}
		if end != want {
			b.Fatalf("%s/%d: read %d records, produced %d", topic, p, end, want)
		}
	}
	return elapsed
}

// consumeGapless reads topic's partitions from the start by direct
// assignment until it has n records, checking that each partition's offsets
// run from 0 without a gap, and returns each partition's next offset and the
// time it took.
func consumeGapless(ctx context.Context, b *testing.B, addr, topic string, partitions, n int) ([]int64, time.Duration) {
	b.Helper()
	offsets := make(map[int32]kgo.Offset, partitions)
	for p := range int32(partitions) {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cl := newClient(b, kgo.SeedBrokers(addr), kgo.FetchMaxBytes(64<<20),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	defer cl.Close()
	next := make([]int64, partitions)
	start := time.Now()
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			b.Fatalf("consumed %d of %d records from %s", got, n, topic)
		}
		fs.EachError(func(t string, p int32, err error) { b.Fatalf("fetch %s/%d: %v", t, p, err) })
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			recs := p.Records
			if len(recs) == 0 {
				return
			}
			// Offsets only increase within a fetch, so first and last
			// pin down a gapless run.
			first, last := recs[0].Offset, recs[len(recs)-1].Offset
			if first != next[p.Partition] || last != first+int64(len(recs))-1 {
				b.Fatalf("%s/%d: offsets %d..%d in %d records, want from %d without gaps", topic, p.Partition, first, last, len(recs), next[p.Partition])
			}
			next[p.Partition] = last + 1
			got += len(recs)
		})
		if got > n {
			b.Fatalf("consumed %d records from %s, produced %d", got, topic, n)
		}
	}
	return next, time.Since(start)
}

// procSample is the CPU time used so far by a target's process and by
// this one.
type procSample struct{ target, self time.Duration }

func sampleProc(b *testing.B, pid int) procSample {
	b.Helper()
	s := procSample{target: procCPU(b, pid)}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return s
}

// procCPU is the user and system CPU time pid has used, from
// /proc/<pid>/stat.
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("read the CPU time of process %d: %v", pid, err)
	}
	// The command name, field 2, may hold spaces and parentheses: count
	// fields from the last ')'. There field 3 (state) is first, and
	// utime and stime are fields 14 and 15.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 13 {
		b.Fatalf("/proc/%d/stat: %q", pid, data)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			b.Fatalf("/proc/%d/stat: %q: %v", pid, f, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}

// resetPeakRSS sets pid's VmHWM back to its current RSS (clear_refs 5,
// Linux 4.0 and later), so that the next reading is the peak since now.
func resetPeakRSS(b *testing.B, pid int) {
	b.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		b.Fatalf("reset the peak RSS of process %d: %v", pid, err)
	}
}

// tpPool is a set of runs' totals.
type tpPool struct {
	runs                             int
	gib                              float64
	produceTime, consumeTime         time.Duration
	produceCPU, consumeCPU, benchCPU time.Duration
	maxCreate, maxReady              time.Duration
	maxRSS                           int64
}

// poolCount pools the runs of part on target at n partitions.
func poolCount(runs []tpRun, part, target string, n int) tpPool {
	return poolRuns(runs, func(r tpRun) bool { return r.part == part && r.target == target && r.partitions == n })
}

func poolRuns(runs []tpRun, match func(tpRun) bool) tpPool {
	var p tpPool
	for _, r := range runs {
		if !match(r) {
			continue
		}
		p.runs++
		p.gib += r.gib()
		p.produceTime += r.produceTime
		p.consumeTime += r.consumeTime
		p.produceCPU += r.produceCPU
		p.consumeCPU += r.consumeCPU
		p.benchCPU += r.benchCPU
		p.maxCreate, p.maxReady = max(p.maxCreate, r.create), max(p.maxReady, r.ready)
		p.maxRSS = max(p.maxRSS, r.peakRSS)
	}
	return p
}

// produceMBs and consumeMBs are MiB/s over every run: bytes over summed
// time.
func (p tpPool) produceMBs() float64 { return perSecond(p.gib*(1<<10), p.produceTime) }
func (p tpPool) consumeMBs() float64 { return perSecond(p.gib*(1<<10), p.consumeTime) }

func (p tpPool) produceCPUPerGiB() float64 { return perGiB(p.produceCPU, p.gib) }
func (p tpPool) consumeCPUPerGiB() float64 { return perGiB(p.consumeCPU, p.gib) }

func perSecond(v float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return v / d.Seconds()
}

func perGiB(d time.Duration, gib float64) float64 {
	if gib == 0 {
		return 0
	}
	return d.Seconds() / gib
}
