package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/objstore/s3"
)

// The lifecycle workload: many small flush blocks per partition, then merged.
const (
	lifecycleTopic = "lifecycle"
	// lifecycleBytes of walRecordBytes records are produced at
	// lifecycleRate, so that each 50 ms flush carries 136 KiB or more per
	// partition: well above the 64 KiB under which a wal-tier partition
	// skips flushes, so every flush adds a block to every partition.
	lifecycleBytes         = 256 << 20
	lifecycleRate          = 16 << 20
	lifecycleFlushInterval = "50ms"
	// idleInterval keeps the scheduler from running during produce and the
	// cold reads; mergeInterval is its interval while merging.
	idleInterval  = "1h"
	mergeInterval = "200ms"
	gcGrace       = "2s"
	// noMergeSegmentBytes is the topic's segment.bytes until merging is
	// wanted: Kafka's minimum, below any block, so that the scheduler runs
	// and publishes the topic's usage while no run of blocks fits a merge.
	// mergeSegmentBytes is the merge cap then: the default 128 MiB.
	noMergeSegmentBytes = "14"
	mergeSegmentBytes   = "134217728"
	// Merging has levelled off once the topic's index entries and the
	// merge job count stay unchanged for mergeSettle; mergeTimeout bounds
	// the wait.
	mergeSettle  = 4 * time.Second
	mergeTimeout = 3 * time.Minute
	metricsPoll  = 500 * time.Millisecond
	// The raw GET baselines: rawGetObjects objects of rawObjectBytes
	// (PUT one at a time, the raw PUT figure), read back with 8 MiB ranged
	// GETs one at a time and rawGetParallel at a time, then with GETs of
	// each cold read's mean size, one at a time, rawSizedGetBytes in all
	// and at most rawSizedGetMax of them.
	rawObjectBytes   = 8 << 20
	rawGetObjects    = 32
	rawGetParallel   = 4
	rawSizedGetBytes = 64 << 20
	rawSizedGetMax   = 2000
	// Metric series read from the gateway.
	cacheMissesSeries  = "strata_tiered_block_cache_misses_total"
	mergeSecondsSeries = `strata_schedule_job_duration_seconds_sum{kind="merge"}`
	mergeJobsSeries    = `strata_schedule_job_duration_seconds_count{kind="merge"}`
	mergeFailSeries    = `strata_schedule_job_failures_total{kind="merge"}`
	entriesGauge       = "strata_topic_index_entries"
	objectsGauge       = "strata_topic_objects"
	storedGauge        = "strata_topic_stored_bytes"
)

// coldRead is one read of the whole topic from the start after a restart.
type coldRead struct {
	mbs float64 // MiB/s of record values
	// gets are block cache misses over the read (ranged GETs of blocks
	// and footers).
	gets float64
	// stored is the bytes of the blocks read, from the scheduler's usage
	// gauge (strata_tiered_read_bytes_total misses reads that stop at
	// their byte limit, so it cannot stand in).
	stored float64
	cpu    cpuUse
	// raw is ranged GETs of this read's mean GET size, one at a time.
	raw latencies
}

// meanGet is the read's mean bytes per GET.
func (c coldRead) meanGet() float64 {
	if c.gets == 0 {
		return 0
	}
	return c.stored / c.gets
}

// getsPerGiB is GETs per GiB of record values read.
func (c coldRead) getsPerGiB() float64 { return c.gets / (float64(lifecycleBytes) / (1 << 30)) }

// usage is the topic's index entries, objects and stored bytes, from the
// scheduler's gauges.
type usage struct{ entries, objects, bytes float64 }

// mergeRun is what the gateway's /metrics said about merging, from the
// restart with merging allowed to the moment it levelled off.
type mergeRun struct {
	jobs, failures float64
	seconds        float64 // the merge jobs' summed duration
	read, written  float64 // bytes
	gets, puts     float64
	wall           time.Duration // from allowing merges to the last change
	cpu            cpuUse        // over wall
}

// writtenMBs is the merge worker's throughput: bytes written per second
// of merge job time (not counting the scheduler's rate-limit pauses).
func (m mergeRun) writtenMBs() float64 {
	if m.seconds == 0 {
		return 0
	}
	return m.written / (1 << 20) / m.seconds
}

// lifecycleResults collects BenchmarkLifecycle's figures, under resultsMu.
var lifecycleResults struct {
	ran                    bool
	produce                latencies
	before, after          coldRead
	usageBefore, usageEnd  usage
	merge                  mergeRun
	put, get1, getParallel latencies
}

// lifecycleEnv is one `strata serve` on MinIO whose flags change between
// restarts, and the bucket for the raw baselines.
type lifecycleEnv struct {
	strata  *strataProc
	base    []string // strata's command line before per-phase flags
	metrics string
	raw     *s3.Bucket
}

// BenchmarkLifecycle measures what segment merging does for cold reads,
// and the merge worker's throughput, against raw MinIO GETs and PUTs in the
// same run. See the package doc.
func BenchmarkLifecycle(b *testing.B) {
	e := startLifecycleEnv(b)
	put, get1, getPar := e.rawBaselines(b)
	b.ReportMetric(put.mbs, "raw-put-MB/s")
	b.ReportMetric(getPar.mbs, "raw-get-MB/s")

	prod := e.produce(b)
	waitTailFlushed(b, e.metrics, metricsPoll)

	e.restart(b, "--compaction-interval", idleInterval)
	before := e.coldRead(b)
	b.ReportMetric(before.mbs, "cold-before-MB/s")
	b.ReportMetric(before.getsPerGiB(), "GETs/GiB-before")

	e.restart(b, "--compaction-interval", mergeInterval, "--gc-grace", gcGrace)
	usageBefore, merge, usageEnd := e.mergeAll(b)
	b.ReportMetric(merge.writtenMBs(), "merge-MB/s")
	b.ReportMetric(usageBefore.entries/partitions, "entries/part-before")
	b.ReportMetric(usageEnd.entries/partitions, "entries/part-after")

	e.restart(b, "--compaction-interval", idleInterval)
	after := e.coldRead(b)
	b.ReportMetric(after.mbs, "cold-after-MB/s")
	b.ReportMetric(after.getsPerGiB(), "GETs/GiB-after")

	// What the cold reads' GETs cost raw, now that their sizes are known.
	before.stored, after.stored = usageBefore.bytes, usageEnd.bytes
	before.raw = e.sizedGets(b, int64(before.meanGet()))
	after.raw = e.sizedGets(b, int64(after.meanGet()))

	resultsMu.Lock()
	defer resultsMu.Unlock()
	r := &lifecycleResults
	r.ran, r.produce, r.before, r.after = true, prod, before, after
	r.usageBefore, r.usageEnd, r.merge = usageBefore, usageEnd, merge
	r.put, r.get1, r.getParallel = put, get1, getPar
}

func startLifecycleEnv(b *testing.B) *lifecycleEnv {
	b.Helper()
	m := testenv.MinIO(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	raw, err := s3.New(ctx, s3.Config{Endpoint: m.Endpoint, Bucket: m.NewBucket(b), Region: m.Region,
		PathStyle: true, AccessKey: m.AccessKey, SecretKey: m.SecretKey})
	if err != nil {
		b.Fatal(err)
	}
	httpAddr := freeAddr(b)
	env := []string{"AWS_ACCESS_KEY_ID=" + m.AccessKey, "AWS_SECRET_ACCESS_KEY=" + m.SecretKey}
	// A later --http-listen overrides startStrata's, so /metrics stays at
	// one address across restarts; so do the per-phase flags below.
	p := startStrata(b, env, b.TempDir(), "--http-listen", httpAddr,
		"--object-store", "s3", "--s3-endpoint", m.Endpoint, "--s3-bucket", m.NewBucket(b),
		"--s3-region", m.Region, "--s3-path-style",
		"--flush-interval", lifecycleFlushInterval, "--compaction-interval", idleInterval)
	return &lifecycleEnv{strata: p, base: slices.Clone(p.args), metrics: "http://" + httpAddr + "/metrics", raw: raw}
}

// restart restarts strata on the same data, with an empty block cache and
// fresh metrics, with args added to its first command line.
func (e *lifecycleEnv) restart(b *testing.B, args ...string) {
	b.Helper()
	e.strata.args = append(slices.Clone(e.base), args...)
	e.strata.restart()
}

func (e *lifecycleEnv) scrape(b *testing.B) metricSet {
	b.Helper()
	return mustScrape(b, e.metrics)
}

// produce creates the topic, with merging held off by segment.bytes, and
// produces lifecycleBytes to it at lifecycleRate.
func (e *lifecycleEnv) produce(b *testing.B) latencies {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.strata.addr), kgo.DefaultProduceTopic(lifecycleTopic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1,
		map[string]*string{"segment.bytes": kadm.StringPtr(noMergeSegmentBytes)}, lifecycleTopic)
	if err != nil || resp.Err != nil {
		b.Fatalf("create topic %s: %v %v", lifecycleTopic, err, resp.Err)
	}
	lat, elapsed := produceLoad(ctx, b, cl, partitions, lifecycleBytes, lifecycleRate)
	return summarize(lat, lifecycleBytes, elapsed)
}

// coldRead reads the whole topic from the start, checking that every
// partition's offsets run from 0 without a gap, and counts the GETs it cost.
func (e *lifecycleEnv) coldRead(b *testing.B) coldRead {
	b.Helper()
	before := e.scrape(b)
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	cpuBefore := sampleCPU(before)
	mbs := consumeChecked(ctx, b, e.strata.addr)
	after := e.scrape(b)
	return coldRead{
		mbs:  mbs,
		gets: after.get(cacheMissesSeries) - before.get(cacheMissesSeries),
		cpu:  cpuBefore.until(sampleCPU(after)),
	}
}

// consumeChecked reads lifecycleBytes of records from the start of every
// partition of the topic by direct assignment, checks their offsets, and
// returns MiB/s of record values.
func consumeChecked(ctx context.Context, b *testing.B, addr string) float64 {
	b.Helper()
	_, elapsed := consumeGapless(ctx, b, addr, lifecycleTopic, partitions, lifecycleBytes/walRecordBytes)
	return float64(lifecycleBytes) / (1 << 20) / elapsed.Seconds()
}

// topicUsage sums the topic usage gauges (one topic on this gateway);
// ok is false until the scheduler has published them.
func topicUsage(m metricSet) (u usage, ok bool) {
	for k, v := range m {
		switch {
		case strings.HasPrefix(k, entriesGauge+"{"):
			u.entries += v
			ok = true
		case strings.HasPrefix(k, objectsGauge+"{"):
			u.objects += v
		case strings.HasPrefix(k, storedGauge+"{"):
			u.bytes += v
		}
	}
	return u, ok
}

// mergeAll waits for the scheduler's first usage figures, which it
// publishes while segment.bytes still holds merging off, then sets
// segment.bytes to the merge cap and waits until merging levels off. It
// returns the usage before and after, and the merge figures.
func (e *lifecycleEnv) mergeAll(b *testing.B) (usage, mergeRun, usage) {
	b.Helper()
	var before usage
	testenv.CheckFor(b, time.Minute, metricsPoll, func() error {
		u, ok := topicUsage(e.scrape(b))
		if !ok {
			return fmt.Errorf("no %s on /metrics: the scheduler has not passed over the topic", entriesGauge)
		}
		before = u
		return nil
	})
	start := e.scrape(b)
	if jobs := start.get(mergeJobsSeries); jobs != 0 {
		b.Fatalf("%.0f merges ran with segment.bytes=%s, which no run of blocks fits", jobs, noMergeSegmentBytes)
	}
	allowed := time.Now()
	e.setSegmentBytes(b, mergeSegmentBytes)

	last, lastChange := start, allowed
	cpuStart := sampleCPU(start)
	cpuChange := cpuStart
	testenv.CheckFor(b, mergeTimeout, metricsPoll, func() error {
		m := e.scrape(b)
		u, _ := topicUsage(m)
		prev, _ := topicUsage(last)
		if u.entries != prev.entries || m.get(mergeJobsSeries) != last.get(mergeJobsSeries) {
			lastChange, cpuChange = time.Now(), sampleCPU(m)
		}
		last = m
		if jobs := m.get(mergeJobsSeries); jobs == 0 || time.Since(lastChange) < mergeSettle {
			return fmt.Errorf("merging has not levelled off: %.0f merge jobs (%.0f failed), index entries %.0f to %.0f, last change %v ago",
				jobs, m.get(mergeFailSeries), before.entries, u.entries, time.Since(lastChange).Round(time.Millisecond))
		}
		return nil
	})
	d := func(k string) float64 { return last.get(k) - start.get(k) }
	end, _ := topicUsage(last)
	return before, mergeRun{
		jobs:     d(mergeJobsSeries),
		failures: d(mergeFailSeries),
		seconds:  d(mergeSecondsSeries),
		read:     d(`strata_tiered_rewrite_read_bytes_total{kind="merge"}`),
		written:  d(`strata_tiered_rewrite_written_bytes_total{kind="merge"}`),
		gets:     d(`strata_tiered_rewrite_gets_total{kind="merge"}`),
		puts:     d(`strata_tiered_rewrite_puts_total{kind="merge"}`),
		wall:     lastChange.Sub(allowed),
		cpu:      cpuStart.until(cpuChange),
	}, end
}

func (e *lifecycleEnv) setSegmentBytes(b *testing.B, v string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.strata.addr))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	resps, err := kadm.NewClient(cl).AlterTopicConfigs(ctx,
		[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.bytes", Value: kadm.StringPtr(v)}}, lifecycleTopic)
	if err == nil {
		for _, r := range resps {
			err = r.Err
		}
	}
	if err != nil {
		b.Fatalf("set segment.bytes=%s on %s: %v", v, lifecycleTopic, err)
	}
}

// rawBaselines PUTs rawGetObjects objects one at a time, then reads them
// back with whole-object ranged GETs, one at a time and rawGetParallel at a
// time.
func (e *lifecycleEnv) rawBaselines(b *testing.B) (put, get1, getParallel latencies) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	body := make([]byte, rawObjectBytes)
	_, _ = rand.Read(body) // never fails
	lat := make([]time.Duration, 0, rawGetObjects)
	start := time.Now()
	for i := range rawGetObjects {
		t := time.Now()
		if err := e.raw.Put(ctx, rawKey(i), bytes.NewReader(body), rawObjectBytes); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	put = summarize(lat, rawGetObjects*rawObjectBytes, time.Since(start))
	get1 = e.rawGets(ctx, b, 1, rawGetObjects, func(i int) (int, int64, int64) { return i, 0, rawObjectBytes })
	getParallel = e.rawGets(ctx, b, rawGetParallel, rawGetObjects, func(i int) (int, int64, int64) { return i, 0, rawObjectBytes })
	return put, get1, getParallel
}

// sizedGets reads size-byte ranges of the raw objects one at a time,
// rawSizedGetBytes in all, one object after another.
func (e *lifecycleEnv) sizedGets(b *testing.B, size int64) latencies {
	b.Helper()
	if size <= 0 || size > rawObjectBytes {
		b.Fatalf("mean GET of %d bytes: not a size the raw objects can serve", size)
	}
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	perObject := rawObjectBytes / size
	n := min(rawSizedGetBytes/size, rawSizedGetMax)
	return e.rawGets(ctx, b, 1, int(n), func(i int) (int, int64, int64) {
		return i % rawGetObjects, int64(i/rawGetObjects) % perObject * size, size
	})
}

// rawGets makes n ranged GETs, parallel at a time; at(i) names the i-th's
// object, offset and length.
func (e *lifecycleEnv) rawGets(ctx context.Context, b *testing.B, parallel, n int, at func(i int) (obj int, off, length int64)) latencies {
	b.Helper()
	lats := make([][]time.Duration, parallel)
	var total int64
	for i := range n {
		_, _, length := at(i)
		total += length
	}
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for w := range parallel {
		g.Go(func() error {
			for i := w; i < n; i += parallel {
				obj, off, length := at(i)
				t := time.Now()
				if err := e.getRange(gctx, rawKey(obj), off, length); err != nil {
					return err
				}
				lats[w] = append(lats[w], time.Since(t))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	return summarize(slices.Concat(lats...), total, time.Since(start))
}

func (e *lifecycleEnv) getRange(ctx context.Context, key string, off, length int64) error {
	rc, err := e.raw.GetRange(ctx, key, off, length)
	if err != nil {
		return fmt.Errorf("get %s [%d, +%d): %w", key, off, length, err)
	}
	n, err := io.Copy(io.Discard, rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != length {
		err = fmt.Errorf("%d bytes, want %d", n, length)
	}
	if err != nil {
		return fmt.Errorf("read %s [%d, +%d): %w", key, off, length, err)
	}
	return nil
}

func rawKey(i int) string { return "raw/" + strconv.Itoa(i) }
