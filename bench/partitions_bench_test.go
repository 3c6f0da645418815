package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/testenv"
)

// The cluster-partitions workload (see BenchmarkClusterPartitions).
const (
	// clusterPartitionsDefault is the partition count per
	// cluster, and clusterTopicPartitions its count per topic;
	// STRATA_BENCH_CLUSTER_PARTITIONS overrides the first.
	clusterPartitionsDefault = 100_000
	clusterTopicPartitions   = 10_000
	// clusterRecordBytes is small: what grows with the partition count is
	// per-partition work and state, not bytes.
	clusterRecordBytes = 100
	// clusterMetadataRequests is how many Metadata requests for every
	// topic give the p50 and the max.
	clusterMetadataRequests = 5
	// clusterPhaseTimeout bounds each phase, and clusterReadyTimeout the
	// wait for every partition to have a leader.
	clusterPhaseTimeout = 10 * time.Minute
	clusterReadyTimeout = 5 * time.Minute
)

// partitionSet is topics written round-robin over all their partitions
// together: the set's k-th partition is partition k % perTopic of topic
// k / perTopic.
type partitionSet struct {
	topics []string
	// perTopic is every topic's partition count but the last's, which
	// has what remains of total.
	perTopic, total int
}

func newPartitionSet(prefix string, total, perTopic int) partitionSet {
	s := partitionSet{perTopic: perTopic, total: total}
	for i := range (total + perTopic - 1) / perTopic {
		s.topics = append(s.topics, fmt.Sprintf("%s-%d", prefix, i))
	}
	return s
}

// size is topic i's partition count.
func (s partitionSet) size(i int) int { return min(s.perTopic, s.total-i*s.perTopic) }

func (s partitionSet) locate(k int) (topic string, partition int32) {
	return s.topics[k/s.perTopic], int32(k % s.perTopic)
}

// recordsIn is how many of n records written round-robin over the set,
// starting at its first partition, went to topic i.
func (s partitionSet) recordsIn(i, n int) int {
	extra := min(max(n%s.total-i*s.perTopic, 0), s.size(i))
	return n/s.total*s.size(i) + extra
}

// clusterPhase is one timed step: its wall time, the records it moved (0
// for a step that moves none), and the CPU time the gateway and this
// process used meanwhile.
type clusterPhase struct {
	records              int
	elapsed              time.Duration
	gatewayCPU, benchCPU time.Duration
}

func (p clusterPhase) recordsPerSecond() float64 { return perSecond(float64(p.records), p.elapsed) }

// memReading is the gateway's memory at one point: its Go heap in use
// right after a garbage collection, and its resident set, in bytes.
type memReading struct{ heapAlloc, rss int64 }

// growthPerPartition is how many bytes of heap and of RSS m holds per
// partition over the earlier reading since.
func (m memReading) growthPerPartition(since memReading, partitions int) (heap, rss float64) {
	return float64(m.heapAlloc-since.heapAlloc) / float64(partitions), float64(m.rss-since.rss) / float64(partitions)
}

// clusterRun is BenchmarkClusterPartitions' figures.
type clusterRun struct {
	partitions, topics int
	loadAvg            string // /proc/loadavg when the benchmark started
	// creates is each CreateTopics request's time and metadata each
	// timed Metadata request's, both sorted.
	creates, metadata []time.Duration
	create, ready     clusterPhase
	describe          clusterPhase // the clusterMetadataRequests together
	// The writes and the read at partitions partitions, and the same
	// record counts on one partitions-partition topic, the baseline.
	firstWrite, steadyWrite, read          clusterPhase
	fewFirstWrite, fewSteadyWrite, fewRead clusterPhase
	// empty is before any topic exists.
	empty, afterCreate, afterWrite, afterRead memReading
}

// clusterResults is BenchmarkClusterPartitions' run, nil if it did not
// run; under resultsMu.
var clusterResults *clusterRun

// clusterEnv is the one gateway BenchmarkClusterPartitions runs against.
type clusterEnv struct {
	addr  string // Kafka listener
	admin string // base URL of /metrics and /debug/pprof
	pid   int
}

// BenchmarkClusterPartitions measures topic creation, Metadata, the first
// and later writes and reads at clusterPartitionsDefault partitions in
// topics of clusterTopicPartitions, and how the gateway's memory grows
// with them; writes and reads also against the same record counts on a
// 6-partition topic on the same gateway.
func BenchmarkClusterPartitions(b *testing.B) {
	total := clusterPartitions(b)
	many := newPartitionSet("cluster", total, clusterTopicPartitions)
	r := clusterRun{partitions: total, topics: len(many.topics)}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.loadAvg = strings.Join(strings.Fields(string(load))[:3], " ")
	}
	e := startClusterEnv(b)
	r.empty = e.memory(b)

	admin := newClient(b, kgo.SeedBrokers(e.addr))
	defer admin.Close()
	r.creates, r.create = e.createAll(b, admin, many)
	r.ready = e.waitLed(b, admin, many)
	r.metadata, r.describe = e.timeMetadata(b, admin, many)
	r.afterCreate = e.memory(b)

	r.firstWrite, r.steadyWrite = e.writeTwice(b, many, total)
	r.afterWrite = e.memory(b)
	r.read = e.readAll(b, many, 2*total)
	r.afterRead = e.memory(b)

	// The baseline runs last, so that its records are in none of the
	// memory readings.
	few := newPartitionSet("cluster-baseline", partitions, partitions)
	ctx, cancel := context.WithTimeout(context.Background(), clusterPhaseTimeout)
	defer cancel()
	createTopicTimed(ctx, b, e.addr, few.topics[0], partitions)
	r.fewFirstWrite, r.fewSteadyWrite = e.writeTwice(b, few, total)
	r.fewRead = e.readAll(b, few, 2*total)

	heap, rss := r.afterWrite.growthPerPartition(r.empty, total)
	b.ReportMetric(ms(r.metadata[len(r.metadata)/2]), "metadata-p50-ms")
	b.ReportMetric(r.firstWrite.elapsed.Seconds(), "first-write-s")
	b.ReportMetric(r.steadyWrite.elapsed.Seconds(), "steady-write-s")
	b.ReportMetric(r.read.elapsed.Seconds(), "read-s")
	b.ReportMetric(heap, "heap-B/partition")
	b.ReportMetric(rss, "rss-B/partition")
	b.ReportMetric(r.steadyWrite.recordsPerSecond()/r.fewSteadyWrite.recordsPerSecond(), fmt.Sprintf("steady-write-%d/%d", total, partitions))
	b.ReportMetric(r.read.recordsPerSecond()/r.fewRead.recordsPerSecond(), fmt.Sprintf("read-%d/%d", total, partitions))
	resultsMu.Lock()
	clusterResults = &r
	resultsMu.Unlock()
}

// clusterPartitions is the partition count to create, from
// STRATA_BENCH_CLUSTER_PARTITIONS.
func clusterPartitions(b *testing.B) int {
	v := os.Getenv("STRATA_BENCH_CLUSTER_PARTITIONS")
	if v == "" {
		return clusterPartitionsDefault
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("STRATA_BENCH_CLUSTER_PARTITIONS=%q is not a number of at least 1", v)
	}
	return n
}

// startClusterEnv runs `strata serve` on its embedded NATS, with /metrics
// and /debug/pprof at a known address.
func startClusterEnv(b *testing.B) *clusterEnv {
	b.Helper()
	httpAddr := freeAddr(b)
	// A later --http-listen overrides startStrata's.
	p := startStrata(b, nil, b.TempDir(), "--http-listen", httpAddr)
	return &clusterEnv{addr: p.addr, admin: "http://" + httpAddr, pid: p.cmd.Process.Pid}
}

// timed runs f and returns its wall time and the CPU time the gateway and
// this process used meanwhile.
func (e *clusterEnv) timed(b *testing.B, records int, f func()) clusterPhase {
	b.Helper()
	before := sampleProc(b, e.pid)
	start := time.Now()
	f()
	p := clusterPhase{records: records, elapsed: time.Since(start)}
	after := sampleProc(b, e.pid)
	p.gatewayCPU, p.benchCPU = after.target-before.target, after.self-before.self
	return p
}

// memory reads the gateway's heap in use and its RSS. The heap profile
// request collects garbage first (gc=1), so that the heap is what the
// gateway keeps live, not what the last phase left for the collector.
func (e *clusterEnv) memory(b *testing.B) memReading {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.admin+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		if cerr := resp.Body.Close(); err == nil {
			err = cerr
		}
		if err == nil && resp.StatusCode != http.StatusOK {
			err = errors.New(resp.Status)
		}
	}
	if err != nil {
		b.Fatalf("collect garbage on the gateway through its heap profile: %v", err)
	}
	heap := mustScrape(b, e.admin+"/metrics").get("go_memstats_heap_alloc_bytes")
	if heap <= 0 {
		b.Fatal("the gateway's /metrics has no go_memstats_heap_alloc_bytes")
	}
	return memReading{heapAlloc: int64(heap), rss: procStatusBytes(b, e.pid, "VmRSS")}
}

// createAll creates every topic of s, one CreateTopics request each, and
// returns each request's time, sorted.
func (e *clusterEnv) createAll(b *testing.B, cl *kgo.Client, s partitionSet) ([]time.Duration, clusterPhase) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterPhaseTimeout)
	defer cancel()
	adm := kadm.NewClient(cl)
	// Connect, and find the controller, before the clock starts.
	if _, err := adm.BrokerMetadata(ctx); err != nil {
		b.Fatalf("metadata of %s: %v", e.addr, err)
	}
	times := make([]time.Duration, len(s.topics))
	phase := e.timed(b, 0, func() {
		for i, topic := range s.topics {
			start := time.Now()
			resp, err := adm.CreateTopic(ctx, int32(s.size(i)), 1, nil, topic)
			times[i] = time.Since(start)
			if err == nil {
				err = resp.Err
			}
			if err != nil {
				b.Fatalf("create topic %s with %d partitions: %v", topic, s.size(i), err)
			}
		}
	})
	slices.Sort(times)
	return times, phase
}

// waitLed polls Metadata until it lists every partition of s with a
// leader.
func (e *clusterEnv) waitLed(b *testing.B, cl *kgo.Client, s partitionSet) clusterPhase {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterPhaseTimeout)
	defer cancel()
	return e.timed(b, 0, func() {
		testenv.CheckFor(b, clusterReadyTimeout, 20*time.Millisecond, func() error { return describeAll(ctx, cl, s) })
	})
}

// timeMetadata times clusterMetadataRequests Metadata requests for every
// topic of s, one after another, and returns their times, sorted.
func (e *clusterEnv) timeMetadata(b *testing.B, cl *kgo.Client, s partitionSet) ([]time.Duration, clusterPhase) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterPhaseTimeout)
	defer cancel()
	times := make([]time.Duration, clusterMetadataRequests)
	phase := e.timed(b, 0, func() {
		for i := range times {
			start := time.Now()
			if err := describeAll(ctx, cl, s); err != nil {
				b.Fatalf("metadata of %d topics: %v", len(s.topics), err)
			}
			times[i] = time.Since(start)
		}
	})
	slices.Sort(times)
	return times, phase
}

// describeAll sends one Metadata request for every topic of s and checks
// that it lists each partition with a leader. It sends a request of its
// own rather than use kadm's Metadata, which answers from the client's
// cache for up to 5 s.
func describeAll(ctx context.Context, cl *kgo.Client, s partitionSet) error {
	req := kmsg.NewPtrMetadataRequest()
	want := make(map[string]int, len(s.topics))
	for i, topic := range s.topics {
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, t)
		want[topic] = s.size(i)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if len(resp.Topics) != len(s.topics) {
		return fmt.Errorf("metadata lists %d topics, want %d", len(resp.Topics), len(s.topics))
	}
	for _, t := range resp.Topics {
		var topic string
		if t.Topic != nil {
			topic = *t.Topic
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return fmt.Errorf("%s: %w", topic, err)
		}
		if len(t.Partitions) != want[topic] {
			return fmt.Errorf("%s has %d partitions, want %d", topic, len(t.Partitions), want[topic])
		}
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil || p.Leader < 0 {
				return fmt.Errorf("%s/%d: leader %d: %v", topic, p.Partition, p.Leader, err)
			}
		}
	}
	return nil
}

// writeTwice produces records records of clusterRecordBytes round-robin
// over every partition of s with Kafka's producer defaults, then as many
// again, continuing the round-robin. The gateway claims a partition when
// it is first written, so at one record per partition the first round
// claims every partition and the second finds them all loaded.
func (e *clusterEnv) writeTwice(b *testing.B, s partitionSet, records int) (first, steady clusterPhase) {
	b.Helper()
	cl := newClient(b, append(producerOpts(kafkaDefaults), kgo.SeedBrokers(e.addr))...)
	defer cl.Close()
	value := bytes.Repeat([]byte("v"), clusterRecordBytes)
	round := func(from int) func() {
		return func() {
			ctx, cancel := context.WithTimeout(context.Background(), clusterPhaseTimeout)
			defer cancel()
			produceAll(ctx, b, cl, records, func(i int) *kgo.Record {
				topic, p := s.locate((from + i) % s.total)
				return &kgo.Record{Topic: topic, Partition: p, Value: value}
			}, nil)
		}
	}
	first = e.timed(b, records, round(0))
	steady = e.timed(b, records, round(records))
	return first, steady
}

// readAll reads every topic of s from the start by direct assignment, one
// topic and one client at a time, checking that each partition's offsets
// run from 0 without a gap to its round-robin share of the records
// written.
func (e *clusterEnv) readAll(b *testing.B, s partitionSet, records int) clusterPhase {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterPhaseTimeout)
	defer cancel()
	return e.timed(b, records, func() {
		for i, topic := range s.topics {
			consumeCounted(ctx, b, e.addr, topic, s.size(i), s.recordsIn(i, records))
		}
	})
}
