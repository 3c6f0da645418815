package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/objstore/fs"
	"github.com/stratalog/strata/tiered/objstore/s3"
)

// Fault tests for the wal tier (tiered/tail.go). A produced batch is
// acknowledged once a JetStream quorum holds it in the write-ahead tail and
// reaches object storage only at the next flush; these tests put the faults
// in between: leaders killed while what they acknowledged is only in the WAL,
// and object storage unreachable under load. Both run three gateway
// processes on a three-node NATS cluster (R3) and require every acknowledged
// record in the log once, at its acknowledged offset.

// TestKillBetweenWALAckAndFlush runs the gateways with a flush interval
// longer than the load, so that what they acknowledge stays in the WAL, and
// SIGKILLs the leader of a loaded partition several times under idempotent
// acks=all load. Before the first kill it checks that the acknowledged
// records are visible (end offsets) while no segment was written. The
// partitions' new leaders (the others when the victim stays down past its
// lease, the victim itself when it is back sooner) replay the WAL above the
// empty index; at the end every acknowledged record is read back exactly
// once at its offset from each gateway in turn, as the partition's leader or
// as a follower (KIP-392: one consumer per gateway's rack).
func TestKillBetweenWALAckAndFlush(t *testing.T) {
	const (
		topic = "walkill"
		// One partition per gateway: each kill takes a leader's whole
		// unflushed tail with it.
		partitions = 3
		lease      = 2 * time.Second
		// flushEvery outlasts the load: no gateway flushes before it is
		// killed, and the survivors at most once near the end.
		flushEvery = 30 * time.Second
	)
	// The load outlasts the kills (a gateway restart takes a few seconds):
	// every kill lands while records are in flight.
	n, kills := 75_000, 3 // 15 s of startLoad's pace
	if testing.Short() {
		n, kills = 45_000, 2
	}
	nats := testenv.StartNATSCluster(t, 3)
	dir := t.TempDir()
	store := sharedObjectStore(t)
	bucket := listBucket(t, dir, store)
	addrs := []string{freeLoopbackAddr(t), freeLoopbackAddr(t), freeLoopbackAddr(t)}
	args := func(i int) []string {
		return append([]string{"--nats-url", nats.URLs(), "--nats-monitor-url", nats.MonitorURLs(), "--nats-replicas", "3",
			"--node-id", strconv.Itoa(i + 1), "--rack", rackOf(i), "--gateway-lease", lease.String(),
			"--flush-interval", flushEvery.String(), "--flush-bytes", "64MiB"}, store...)
	}
	procs := make([]*process, len(addrs))
	for i, addr := range addrs {
		procs[i] = startProcess(t, dir, addr, args(i)...)
	}
	seeds := strings.Join(addrs, ",")
	createTopic(t, seeds, topic, partitions)
	adm := kadm.NewClient(newClient(t, seeds))

	start := time.Now()
	l := startLoad(t, seeds, topic, n)
	l.waitAcked(t, int64(n/15))
	checkOnlyInWAL(t, l, adm, topic, procs, bucket)

	next := int64(n / 8) // acknowledgements before the next kill
	for k := range kills {
		l.waitAcked(t, next)
		if l.ackCount.Load() >= int64(n) {
			t.Fatalf("the load was over before kill %d", k+1)
		}
		p := int32(k % partitions)
		i := int(partitionLeader(t, adm, topic, p)) - 1
		if i < 0 || i >= len(procs) {
			t.Fatalf("partition %d: leader %d is not one of the gateways", p, i+1)
		}
		puts := mustScrape(t, procs[i])["strata_tiered_segment_puts_total"]
		procs[i].kill(t)
		// Down past its lease, its partitions move and their new leaders
		// replay its WAL; back sooner, it replays its own.
		down := 2 * lease
		if k%2 == 1 {
			down = lease / 2
		}
		t.Logf("kill %d: SIGKILL to gateway %d (leader of partition %d, %v segment PUTs so far) after %d acknowledgements, down for %v",
			k+1, i+1, p, puts, l.ackCount.Load(), down)
		time.Sleep(down)
		procs[i] = startProcess(t, dir, addrs[i], args(i)...)
		next = l.ackCount.Load() + int64(n/20) // some load on the restarted gateway first
	}
	acks := l.finish(t)
	loadTime := time.Since(start)
	// The rack consumers below are sent to their rack's gateway only once
	// every gateway sees the restarted ones in the cluster.
	waitAllLive(t, addrs)

	// Any gateway serves every acknowledged record: one consumer per rack,
	// sent to the rack's gateway (KIP-392), reads the partitions that
	// gateway leads through the leader and the others as a follower (the
	// WAL tail above the index); together they read every partition
	// through its leader too. They read at once: a follower's first read of
	// a partition replays its whole WAL tail.
	before := readBytes(t, procs)
	recs := make([][]*kgo.Record, len(procs))
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i := range procs {
		cl := newRackConsumer(t, seeds, rackOf(i), topic, partitions)
		wg.Go(func() { recs[i], errs[i] = pollAll(cl, n, 2*time.Minute) })
	}
	wg.Wait()
	after := readBytes(t, procs)
	served := make([]float64, len(procs))
	var puts float64
	for i, p := range procs {
		if errs[i] != nil {
			t.Fatalf("consumer in rack %s: %v", rackOf(i), errs[i])
		}
		verifyLog(t, acks, recs[i])
		if served[i] = after[i] - before[i]; served[i] == 0 {
			t.Errorf("consumer in rack %s: gateway %d served no bytes", rackOf(i), i+1)
		}
		puts += mustScrape(t, p)["strata_tiered_segment_puts_total"]
	}
	t.Logf("%d records acknowledged in %v through %d leader kills; read back from each gateway (consumers in racks %s, %s, %s): all at their offsets, 0 lost, 0 duplicated; bytes served per gateway %.0f; %v segment PUTs by the running gateways",
		len(acks), loadTime.Round(time.Millisecond), kills, rackOf(0), rackOf(1), rackOf(2), served, puts)
	// How long partitions went without an acknowledgement: failover,
	// including the new leader's replay of the WAL tail.
	if gaps := l.ackGaps(); len(gaps) > 0 {
		slices.Sort(gaps)
		t.Logf("%d partition pauses over 100ms: p50 %v, max %v", len(gaps), gaps[len(gaps)/2], gaps[len(gaps)-1])
	}
}

// checkOnlyInWAL checks that every record acknowledged so far is visible
// (each partition's end offset is past it) while no gateway has PUT a
// segment and the bucket holds none: the acknowledged records are in the WAL
// alone.
func checkOnlyInWAL(t *testing.T, l *load, adm *kadm.Client, topic string, procs []*process, bucket objstore.Bucket) {
	t.Helper()
	l.mu.Lock()
	acked := len(l.acks)
	want := map[int32]int64{}
	for _, a := range l.acks {
		want[a.partition] = max(want[a.partition], a.offset+1)
	}
	l.mu.Unlock()
	var puts float64
	for _, p := range procs {
		puts += mustScrape(t, p)["strata_tiered_segment_puts_total"]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	objects := 0
	if err := bucket.List(ctx, "segments/", func(string) error { objects++; return nil }); err != nil {
		t.Fatalf("list segments: %v", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	var end int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of partition %d: %v", o.Partition, o.Err)
		}
		if o.Offset < want[o.Partition] {
			t.Errorf("partition %d: end offset %d, but offset %d was acknowledged", o.Partition, o.Offset, want[o.Partition]-1)
		}
		end += o.Offset
	})
	if puts != 0 || objects != 0 {
		t.Fatalf("before the first kill: %v segment PUTs and %d segment objects, want none (the flush interval should keep everything in the WAL)", puts, objects)
	}
	t.Logf("before the first kill: %d records acknowledged, end offsets sum to %d, 0 segment PUTs, 0 segment objects: they are in the WAL alone", acked, end)
}

// TestMinIOOutageUnderLoad makes MinIO unreachable for a while under steady
// idempotent acks=all load (about 400 KB/s), then brings it back. Meanwhile
// produce is acknowledged from the WAL until the tail limits (set low here:
// --max-tail-bytes, --max-tail-age) refuse more with KAFKA_STORAGE_ERROR,
// which the producer retries; once MinIO is back the backlog flushes and the
// acknowledgements resume. No acknowledged record may be lost or duplicated.
//
// The outage lasts 10s (5s with -short); STRATA_MINIO_OUTAGE sets it (e.g.
// 30s). STRATA_MINIO_OUTAGE_MODE chooses how MinIO goes away: stop (the
// default) freezes it with SIGSTOP, kill kills it and restarts it on the same
// address and data directory. SIGSTOP is the default because it is the harsher
// case: connections stay open and requests hang without an error, so nothing
// but the flush's own patience bounds them, whereas a killed server refuses
// connections at once and exercises only the retry loop.
func TestMinIOOutageUnderLoad(t *testing.T) {
	const (
		topic        = "outage"
		partitions   = 6
		rate         = 5000 // records per second, startPaddedLoad's pace
		valueBytes   = 64
		flushBytes   = 256 << 10
		maxTailBytes = 1 << 20
	)
	outage := 10 * time.Second
	if testing.Short() {
		outage = 5 * time.Second
	}
	if d := os.Getenv("STRATA_MINIO_OUTAGE"); d != "" {
		var err error
		if outage, err = time.ParseDuration(d); err != nil || outage <= 0 {
			t.Fatalf("STRATA_MINIO_OUTAGE=%q: want a positive duration", d)
		}
	}
	mode := os.Getenv("STRATA_MINIO_OUTAGE_MODE")
	switch mode {
	case "":
		mode = "stop"
	case "stop", "kill":
	default:
		t.Fatalf("STRATA_MINIO_OUTAGE_MODE=%q: want stop or kill", mode)
	}
	// The age limit falls well inside the outage, so that both the
	// acknowledgements from the WAL and the backpressure after them show.
	maxTailAge := min(max((outage/3).Truncate(time.Second), 2*time.Second), 8*time.Second)
	n := int((outage + 10*time.Second).Seconds() * rate)

	nats := testenv.StartNATSCluster(t, 3)
	minio := testenv.MinIO(t) // a server of its own: the test stops it
	t.Setenv("AWS_ACCESS_KEY_ID", minio.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", minio.SecretKey)
	store := []string{"--object-store", "s3", "--s3-endpoint", minio.Endpoint, "--s3-bucket", minio.NewBucket(t), "--s3-region", minio.Region, "--s3-path-style"}
	dir := t.TempDir()
	addrs := []string{freeLoopbackAddr(t), freeLoopbackAddr(t), freeLoopbackAddr(t)}
	procs := make([]*process, len(addrs))
	for i, addr := range addrs {
		procs[i] = startProcess(t, dir, addr, append([]string{"--nats-url", nats.URLs(), "--nats-monitor-url", nats.MonitorURLs(), "--nats-replicas", "3",
			"--node-id", strconv.Itoa(i + 1), "--flush-interval", "100ms", "--flush-bytes", strconv.Itoa(flushBytes),
			"--max-tail-bytes", strconv.Itoa(maxTailBytes), "--max-tail-age", maxTailAge.String()}, store...)...)
	}
	seeds := strings.Join(addrs, ",")
	createTopic(t, seeds, topic, partitions)

	l := startPaddedLoad(t, seeds, topic, n, valueBytes)
	l.waitAcked(t, 2*rate) // two seconds of steady load, flushed as it comes
	before := sumMetrics(t, procs)

	// The outage. restore is idempotent and also runs at cleanup, so that a
	// failing test leaves MinIO able to remove its bucket.
	down := true
	restore := func() {
		if !down {
			return
		}
		down = false
		var err error
		if mode == "stop" {
			err = minio.Resume()
		} else {
			err = minio.Restart(context.Background())
		}
		if err != nil {
			t.Errorf("bring minio back: %v", err)
		}
	}
	t.Cleanup(restore)
	var err error
	if mode == "stop" {
		err = minio.Pause()
	} else {
		err = minio.Kill()
	}
	if err != nil {
		t.Fatal(err)
	}
	downAt := time.Now()
	ackedAtDown := l.ackCount.Load()
	var peakTail, peakAge float64
	tick := time.NewTicker(250 * time.Millisecond)
	for time.Since(downAt) < outage {
		<-tick.C
		var tail float64
		for _, p := range procs {
			m := mustScrape(t, p)
			tail += m["strata_tiered_tail_bytes"]
			peakAge = max(peakAge, m["strata_tiered_tail_age_seconds"])
		}
		peakTail = max(peakTail, tail)
	}
	tick.Stop()
	during := sumMetrics(t, procs)
	restore()
	upAt := time.Now()
	t.Logf("minio away for %v (mode %s) after %d acknowledgements; limits per gateway: %d tail bytes, %v tail age",
		upAt.Sub(downAt).Round(time.Millisecond), mode, ackedAtDown, maxTailBytes, maxTailAge)

	// The backlog flushes: every gateway's tail falls back to what a steady
	// flush every 100ms leaves.
	testenv.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		for i, p := range procs {
			m, err := scrape(p)
			if err != nil {
				return err
			}
			if b, age := m["strata_tiered_tail_bytes"], m["strata_tiered_tail_age_seconds"]; b >= flushBytes || age >= 2 {
				return fmt.Errorf("gateway %d: %v tail bytes, oldest %vs old", i+1, b, age)
			}
		}
		return nil
	})
	drained := time.Since(upAt)

	acks := l.finish(t)
	testenv.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if b := sumMetrics(t, procs)["strata_tiered_tail_bytes"]; b != 0 {
			return fmt.Errorf("%v bytes still wait for object storage after the load", b)
		}
		return nil
	})
	after := sumMetrics(t, procs)
	verifyLog(t, acks, consumeAll(t, seeds, topic, partitions, n))

	// What the acknowledgement times say about the outage.
	var inOutage, lateInOutage int
	var lastInOutage, firstAfter time.Duration
	stopBy := maxTailAge + 2*time.Second // the limits have refused everything by then
	for _, at := range l.ackTimes {
		switch {
		case at.Before(downAt):
		case at.Before(upAt):
			inOutage++
			lastInOutage = max(lastInOutage, at.Sub(downAt))
			if at.Sub(downAt) >= stopBy {
				lateInOutage++
			}
		case firstAfter == 0 || at.Sub(upAt) < firstAfter:
			firstAfter = at.Sub(upAt)
		}
	}
	backpressure := during["strata_tiered_backpressure_total"] - before["strata_tiered_backpressure_total"]
	t.Logf("%d records acknowledged in all, 0 lost, 0 duplicated; during the outage %d (about %d KiB of values), the last %v after it began; peak tail %.0f KiB over the gateways, oldest %.1fs",
		len(acks), inOutage, inOutage*valueBytes>>10, lastInOutage.Round(time.Millisecond), peakTail/1024, peakAge)
	t.Logf("backpressure (KAFKA_STORAGE_ERROR, retried by the producer): %v appends refused during the outage, %v in all; segment PUT errors %v; first acknowledgement %v after MinIO was back; tail drained in %v",
		backpressure, after["strata_tiered_backpressure_total"]-before["strata_tiered_backpressure_total"],
		after["strata_tiered_segment_put_errors_total"]-before["strata_tiered_segment_put_errors_total"],
		firstAfter.Round(time.Millisecond), drained.Round(time.Millisecond))

	if inOutage == 0 {
		t.Error("nothing was acknowledged while MinIO was away: the WAL tier should acknowledge until the tail limits")
	}
	// Each gateway holds at most maxTailBytes queued, plus the flush that
	// hung when MinIO went away (a tenth of a second of load).
	if limit := len(procs) * (maxTailBytes + flushBytes); inOutage*valueBytes > limit {
		t.Errorf("%d records (%d bytes of values) acknowledged during the outage, more than the tail limits allow (%d bytes over %d gateways)",
			inOutage, inOutage*valueBytes, limit, len(procs))
	}
	if outage > stopBy+time.Second {
		if lateInOutage > 0 {
			t.Errorf("%d records acknowledged more than %v into the outage: the tail limits did not stop acknowledgements", lateInOutage, stopBy)
		}
		if backpressure == 0 {
			t.Error("no append was refused during the outage")
		}
	}
	if after["strata_tiered_wal_bytes_total"] == 0 {
		t.Error("nothing went through the WAL: the topic is not on the wal tier")
	}
	if after["strata_tiered_segment_puts_total"] <= during["strata_tiered_segment_puts_total"] {
		t.Error("no segment was written after MinIO came back")
	}
}

// startPaddedLoad is startLoad with values padded to valueBytes and no
// compression, so that the bytes on the wire and in the tail follow the
// record count.
func startPaddedLoad(t *testing.T, addr, topic string, n, valueBytes int) *load {
	t.Helper()
	return startLoadValues(t, addr, topic, n, func(i int) string {
		v := fmt.Sprintf("value-%08d-", i)
		return v + strings.Repeat("x", max(valueBytes-len(v), 0))
	}, kgo.ProducerBatchCompression(kgo.NoCompression()))
}

// rackOf is gateway i's rack: each gateway is alone in its rack, so a
// consumer in it reads every partition from that gateway.
func rackOf(i int) string { return "rack-" + strconv.Itoa(i+1) }

// newRackConsumer returns a consumer in rack of every partition of topic from
// the start: the leaders send it to the rack's gateway (KIP-392), which
// serves what it does not lead as a follower.
func newRackConsumer(t *testing.T, broker, rack, topic string, partitions int32) *kgo.Client {
	t.Helper()
	offsets := make(map[int32]kgo.Offset, partitions)
	for p := range partitions {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	return newClient(t, broker, kgo.Rack(rack), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
}

// pollAll polls cl until want records arrived, a fetch fails, or timeout
// passes.
func pollAll(cl *kgo.Client, want int, timeout time.Duration) ([]*kgo.Record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return recs, fmt.Errorf("consumed %d of %d records in %v", len(recs), want, timeout)
		}
		if err := fs.Err(); err != nil {
			return recs, fmt.Errorf("fetch: %w", err)
		}
		recs = append(recs, fs.Records()...)
	}
	return recs, nil
}

// partitionLeader returns the broker id metadata names as p's leader.
func partitionLeader(t *testing.T, adm *kadm.Client, topic string, p int32) int32 {
	t.Helper()
	var leader int32
	testenv.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		pd, ok := md.Topics[topic].Partitions[p]
		switch {
		case !ok:
			return fmt.Errorf("partition %d not in metadata", p)
		case pd.Err != nil:
			return pd.Err
		case pd.Leader < 0:
			return fmt.Errorf("partition %d has no leader", p)
		}
		leader = pd.Leader
		return nil
	})
	return leader
}

// listBucket opens the object store the gateways write to, given their
// store flags (sharedObjectStore's), to list what they wrote: the S3 bucket,
// or the file store under their common data dir.
func listBucket(t *testing.T, dir string, store []string) objstore.Bucket {
	t.Helper()
	flag := func(name string) string {
		if i := slices.Index(store, name); i >= 0 && i+1 < len(store) {
			return store[i+1]
		}
		return ""
	}
	if flag("--object-store") != "s3" {
		b, err := fs.New(filepath.Join(dir, "objects"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := s3.New(ctx, s3.Config{Endpoint: flag("--s3-endpoint"), Bucket: flag("--s3-bucket"), Region: flag("--s3-region"), PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// servingHTTP finds the admin HTTP address in a gateway's "serving kafka"
// log line (it listens on port 0).
var servingHTTP = regexp.MustCompile(`msg="serving kafka".* http=(\S+)`)

// scrape returns a gateway's unlabelled metrics from /metrics.
func scrape(p *process) (map[string]float64, error) {
	m := servingHTTP.FindStringSubmatch(p.out.String())
	if m == nil {
		return nil, fmt.Errorf("no admin address in the gateway's log")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m[1]+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("read /metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	for line := range strings.Lines(string(body)) {
		f := strings.Fields(line)
		if len(f) != 2 || strings.HasPrefix(f[0], "#") || strings.Contains(f[0], "{") {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	return out, nil
}

func mustScrape(t *testing.T, p *process) map[string]float64 {
	t.Helper()
	m, err := scrape(p)
	if err != nil {
		t.Fatalf("scrape gateway metrics: %v", err)
	}
	return m
}

// sumMetrics adds up the gateways' unlabelled metrics.
func sumMetrics(t *testing.T, procs []*process) map[string]float64 {
	t.Helper()
	sum := map[string]float64{}
	for _, p := range procs {
		for k, v := range mustScrape(t, p) {
			sum[k] += v
		}
	}
	return sum
}

// readBytes returns each gateway's strata_tiered_read_bytes_total.
func readBytes(t *testing.T, procs []*process) []float64 {
	t.Helper()
	out := make([]float64, len(procs))
	for i, p := range procs {
		out[i] = mustScrape(t, p)["strata_tiered_read_bytes_total"]
	}
	return out
}

// waitAllLive waits until each gateway's own Metadata lists all of addrs.
func waitAllLive(t *testing.T, addrs []string) {
	t.Helper()
	for _, addr := range addrs {
		seed := newClient(t, addr).SeedBrokers()[0]
		testenv.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
			resp, err := kmsg.NewPtrMetadataRequest().RequestWith(t.Context(), seed)
			if err != nil {
				return err
			}
			if len(resp.Brokers) != len(addrs) {
				return fmt.Errorf("gateway %s lists %d gateways, want %d", addr, len(resp.Brokers), len(addrs))
			}
			return nil
		})
	}
}
