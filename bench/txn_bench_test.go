package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The transactions workload (see BenchmarkTransactions).
const (
	// txnTopic takes every transactional record, committed or aborted;
	// txnPlainTopic the idempotent producer's.
	txnTopic      = "txn"
	txnPlainTopic = "txn-plain"
	// txnRunBytes of recordBytes records a run, txnRounds rounds of
	// (idempotent, txn-100ms, txn-1000).
	txnRunBytes = 128 << 20
	txnRounds   = 3
	// The two commit policies: a commit once txnCommitInterval has passed
	// since the transaction began, or after every txnCommitRecords records.
	txnCommitInterval = 100 * time.Millisecond
	txnCommitRecords  = 1000
	// txnAbortRecords are produced, acknowledged and then aborted after the
	// first round, so that committed records follow them in every partition.
	txnAbortRecords = 1000
	// One-record cycles: txnCycleRounds rounds of txnCycles synchronous
	// one-record produces by an idempotent producer, then as many
	// BeginTransaction + produce + commit cycles, after txnCycleWarmup of
	// each.
	txnCycles      = 300
	txnCycleRounds = 2
	txnCycleWarmup = 20
	// txnReadRounds rounds of (read_uncommitted, read_committed) reads of
	// the whole transactional topic.
	txnReadRounds = 2
	// abortedID marks the ids of aborted records.
	abortedID = uint64(1) << 63
)

// The producers of the throughput runs, in the order each round runs them.
const (
	modeIdempotent = "idempotent"
	modeInterval   = "txn-100ms"
	modeRecords    = "txn-1000"
)

var txnModes = []string{modeIdempotent, modeInterval, modeRecords}

// txnRun is one throughput run.
type txnRun struct {
	round   int
	mode    string
	records int
	elapsed time.Duration // from the first Produce to the last acknowledgement or commit
	// commits are the EndTransaction(TryCommit) durations; flushes the
	// Flush before each, which waits for the transaction's records to be
	// acknowledged. Empty for the idempotent producer.
	commits, flushes []time.Duration
	cpu              cpuSpan
}

func (r txnRun) mbs() float64 {
	return float64(r.records) * recordBytes / (1 << 20) / r.elapsed.Seconds()
}

// txnRead is one read of the whole transactional topic.
type txnRead struct {
	committed bool // read_committed, else read_uncommitted
	records   int
	elapsed   time.Duration
}

func (r txnRead) mbs() float64 {
	return float64(r.records) * recordBytes / (1 << 20) / r.elapsed.Seconds()
}

// txnResults collects BenchmarkTransactions' figures, under resultsMu.
var txnResults struct {
	ran  bool
	runs []txnRun
	// cyclePlain and cycleTxn are the one-record rounds, alternating, plain
	// first; cycleCommits the EndTransaction durations of the cycles.
	cyclePlain, cycleTxn []rateRun
	cycleCommits         []time.Duration
	// committed and aborted count the transactional topic's records.
	committed, aborted int
	reads              []txnRead
}

// txnEnv is one `strata serve` and the ids given out on the transactional
// topic so far.
type txnEnv struct {
	strata  *strataProc
	metrics string
	// nextID is the id of the next committed record: the committed
	// records of txnTopic carry ids 0 to nextID-1.
	nextID uint64
}

// BenchmarkTransactions measures Kafka transactions on one `strata serve` on
// its embedded NATS, against an idempotent producer in the same run:
//
//  1. throughput: 128 MiB a run of 1 KiB records ('v's after an 8-byte id,
//     snappy-compressible) to a 6-partition topic, keyed as in
//     BenchmarkProduceConsume, by a new franz-go client a run with its
//     defaults (acks=all, 10 ms linger, snappy): idempotent, the baseline;
//     txn-100ms, transactional, committing once 100 ms have passed since
//     the transaction began; txn-1000, committing after every 1,000
//     records. Each commit is Flush (every record of the transaction
//     acknowledged, as EndTransaction requires) then
//     EndTransaction(TryCommit), then BeginTransaction. Three rounds of
//     (idempotent, txn-100ms, txn-1000); the figures are MB/s as a ratio to
//     the idempotent run, and the EndTransaction and Flush durations of
//     every commit;
//  2. one-record cycles: 300 synchronous one-record produces by an
//     idempotent producer, then 300 cycles of BeginTransaction, one
//     synchronous produce and EndTransaction(TryCommit), two rounds,
//     alternating; the figure is the cycle's latency over the plain
//     produce's;
//  3. correctness: after the first round, one transaction of 1,000 records
//     is produced, acknowledged and aborted. At the end the transactional
//     topic is read from the start with read_uncommitted, which must hold
//     every record, aborted ones included, and with read_committed, which
//     must hold every committed record exactly once and none of the
//     aborted, up to the commit marker that ends each partition; the
//     idempotent topic must hold every record produced. The reads
//     alternate, twice, and give read_committed MB/s over
//     read_uncommitted's.
//
// It also reports the CPU of the gateway, the bench process and the host
// over each run.
func BenchmarkTransactions(b *testing.B) {
	httpAddr := freeAddr(b)
	// A later --http-listen overrides startStrata's, so /metrics is at a
	// known address.
	p := startStrata(b, nil, b.TempDir(), "--http-listen", httpAddr)
	e := &txnEnv{strata: p, metrics: "http://" + httpAddr + "/metrics"}
	e.createTopics(b)

	var runs []txnRun
	aborted := 0
	for round := range txnRounds {
		for _, mode := range txnModes {
			runs = append(runs, e.produceRun(b, round, mode))
		}
		if round == 0 {
			aborted = e.abortOne(b)
		}
	}
	plain, cycles, cycleCommits := e.cycles(b)
	reads := e.check(b, runs, plain, aborted)

	byMode := map[string][]txnRun{}
	for _, r := range runs {
		byMode[r.mode] = append(byMode[r.mode], r)
	}
	base := pooledTxnMBs(byMode[modeIdempotent])
	b.ReportMetric(base, "idempotent-MB/s")
	b.ReportMetric(pooledTxnMBs(byMode[modeInterval])/base, "txn-100ms/idempotent")
	b.ReportMetric(pooledTxnMBs(byMode[modeRecords])/base, "txn-1000/idempotent")
	commits := summarize(slices.Concat(commitsOf(byMode[modeInterval]), commitsOf(byMode[modeRecords])), 0, 0)
	b.ReportMetric(ms(commits.p50), "commit-p50-ms")
	b.ReportMetric(ms(commits.p99), "commit-p99-ms")

	resultsMu.Lock()
	defer resultsMu.Unlock()
	r := &txnResults
	r.ran, r.runs, r.reads = true, runs, reads
	r.cyclePlain, r.cycleTxn, r.cycleCommits = plain, cycles, cycleCommits
	r.committed, r.aborted = int(e.nextID), aborted
}

func (e *txnEnv) createTopics(b *testing.B) {
	b.Helper()
	cl := e.client(b)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, topic := range []string{txnTopic, txnPlainTopic} {
		resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
		if err != nil || resp.Err != nil {
			b.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
		}
	}
}

// client is a new franz-go client of the gateway with its defaults plus
// opts.
func (e *txnEnv) client(b *testing.B, opts ...kgo.Opt) *kgo.Client {
	b.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.strata.addr)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

// txnValue is a recordBytes value: id big-endian, then 'v's.
func txnValue(id uint64) []byte {
	v := bytes.Repeat([]byte("v"), recordBytes)
	binary.BigEndian.PutUint64(v, id)
	return v
}

// firstError keeps the first error of many produce callbacks.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	if err == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// produceRun produces txnRunBytes of records with a new client of the
// mode: idempotent to txnPlainTopic, or transactional to txnTopic,
// committing as the mode says.
func (e *txnEnv) produceRun(b *testing.B, round int, mode string) txnRun {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	topic, opts := txnPlainTopic, []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}
	if mode != modeIdempotent {
		topic, opts = txnTopic, append(opts, kgo.TransactionalID("bench-"+mode))
	}
	cl := e.client(b, append(opts, kgo.DefaultProduceTopic(topic))...)
	defer cl.Close()
	run := txnRun{round: round + 1, mode: mode, records: txnRunBytes / recordBytes}
	due := func(int, time.Time) bool { return false }
	switch mode {
	case modeInterval:
		due = func(_ int, began time.Time) bool { return time.Since(began) >= txnCommitInterval }
	case modeRecords:
		due = func(inTxn int, _ time.Time) bool { return inTxn == txnCommitRecords }
	}

	var errs firstError
	// commit flushes and commits the open transaction and begins another
	// unless last.
	commit := func(last bool) {
		t0 := time.Now()
		if err := cl.Flush(ctx); err != nil {
			b.Fatalf("%s: flush: %v", mode, err)
		}
		if err := errs.get(); err != nil {
			b.Fatalf("%s: produce to %s: %v", mode, topic, err)
		}
		t1 := time.Now()
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			b.Fatalf("%s: EndTransaction(TryCommit) after %d commits: %v", mode, len(run.commits), err)
		}
		run.flushes, run.commits = append(run.flushes, t1.Sub(t0)), append(run.commits, time.Since(t1))
		if !last {
			if err := cl.BeginTransaction(); err != nil {
				b.Fatalf("%s: BeginTransaction: %v", mode, err)
			}
		}
	}

	before := sampleCPU(e.scrape(b))
	start := time.Now()
	if mode != modeIdempotent {
		if err := cl.BeginTransaction(); err != nil {
			b.Fatalf("%s: BeginTransaction: %v", mode, err)
		}
	}
	began, inTxn := start, 0
	for i := range run.records {
		if mode != modeIdempotent && due(inTxn, began) {
			commit(false)
			began, inTxn = time.Now(), 0
		}
		id := uint64(i)
		if mode != modeIdempotent {
			id += e.nextID
		}
		rec := &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%1024), Value: txnValue(id)}
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) { errs.set(err) })
		inTxn++
	}
	if mode == modeIdempotent {
		if err := cl.Flush(ctx); err != nil {
			b.Fatalf("%s: flush: %v", mode, err)
		}
	} else {
		commit(true)
	}
	run.elapsed = time.Since(start)
	run.cpu = spanOf(before, sampleCPU(e.scrape(b)))
	if err := errs.get(); err != nil {
		b.Fatalf("%s: produce to %s: %v", mode, topic, err)
	}
	if mode != modeIdempotent {
		e.nextID += uint64(run.records)
	}
	return run
}

// abortOne produces txnAbortRecords records to txnTopic in one
// transaction, waits until every one is acknowledged (so they are in the
// log), aborts the transaction, and returns the count.
func (e *txnEnv) abortOne(b *testing.B) int {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	cl := e.client(b, kgo.TransactionalID("bench-abort"), kgo.DefaultProduceTopic(txnTopic))
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		b.Fatalf("abort: BeginTransaction: %v", err)
	}
	var errs firstError
	for i := range txnAbortRecords {
		rec := &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%1024), Value: txnValue(abortedID | uint64(i))}
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) { errs.set(err) })
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatalf("abort: flush: %v", err)
	}
	if err := errs.get(); err != nil {
		b.Fatalf("abort: produce to %s: %v", txnTopic, err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		b.Fatalf("abort: EndTransaction(TryAbort): %v", err)
	}
	return txnAbortRecords
}

// cycles runs txnCycleRounds rounds of txnCycles synchronous one-record
// produces by an idempotent producer to txnPlainTopic and as many
// one-record transactions to txnTopic, alternating, after a warm-up of
// each. It returns the rounds, the produces to txnPlainTopic, and every
// cycle's EndTransaction duration.
func (e *txnEnv) cycles(b *testing.B) (plain, txn []rateRun, commits []time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	pcl := e.client(b, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(txnPlainTopic))
	defer pcl.Close()
	tcl := e.client(b, kgo.TransactionalID("bench-cycle"), kgo.DefaultProduceTopic(txnTopic))
	defer tcl.Close()

	var plainSent uint64
	produceOne := func() time.Duration {
		t0 := time.Now()
		rec := &kgo.Record{Key: fmt.Appendf(nil, "k%d", plainSent%1024), Value: txnValue(plainSent)}
		if err := pcl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			b.Fatalf("one-record produce to %s: %v", txnPlainTopic, err)
		}
		plainSent++
		return time.Since(t0)
	}
	cycleOne := func() (cycle, commit time.Duration) {
		t0 := time.Now()
		if err := tcl.BeginTransaction(); err != nil {
			b.Fatalf("cycle: BeginTransaction: %v", err)
		}
		rec := &kgo.Record{Key: fmt.Appendf(nil, "k%d", e.nextID%1024), Value: txnValue(e.nextID)}
		if err := tcl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			b.Fatalf("cycle: produce to %s: %v", txnTopic, err)
		}
		t1 := time.Now()
		if err := tcl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			b.Fatalf("cycle: EndTransaction(TryCommit) after %d cycles: %v", len(commits), err)
		}
		e.nextID++
		return time.Since(t0), time.Since(t1)
	}

	for range txnCycleWarmup {
		produceOne()
		cycleOne()
	}
	for range txnCycleRounds {
		lat := make([]time.Duration, txnCycles)
		start := time.Now()
		for i := range lat {
			lat[i] = produceOne()
		}
		plain = append(plain, rateOf(lat, time.Since(start)))

		lat = make([]time.Duration, txnCycles)
		start = time.Now()
		for i := range lat {
			var c time.Duration
			lat[i], c = cycleOne()
			commits = append(commits, c)
		}
		txn = append(txn, rateOf(lat, time.Since(start)))
	}
	return plain, txn, commits
}

// check makes sure each topic holds what was produced: txnPlainTopic every
// idempotent record; txnTopic, read from the start txnReadRounds times
// with each isolation level, alternating, every committed record once and
// the aborted ones only with read_uncommitted. It returns the reads.
func (e *txnEnv) check(b *testing.B, runs []txnRun, plainCycles []rateRun, aborted int) []txnRead {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	cl := e.client(b)
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, txnPlainTopic, txnTopic)
	if err != nil {
		b.Fatal(err)
	}
	want := int64(txnCycleWarmup)
	for _, r := range runs {
		if r.mode == modeIdempotent {
			want += int64(r.records)
		}
	}
	for _, r := range plainCycles {
		want += int64(r.n)
	}
	var got int64
	hwm := make([]int64, partitions)
	ends.Each(func(o kadm.ListedOffset) {
		switch o.Topic {
		case txnPlainTopic:
			got += o.Offset
		case txnTopic:
			hwm[o.Partition] = o.Offset
		}
	})
	if got != want {
		b.Fatalf("topic %s holds %d records, produced %d", txnPlainTopic, got, want)
	}

	var reads []txnRead
	for range txnReadRounds {
		for _, committed := range []bool{false, true} {
			reads = append(reads, e.readAll(ctx, b, committed, aborted, hwm))
		}
	}
	return reads
}

// readAll reads txnTopic from the start by direct assignment with one
// isolation level until it has every record it should see, and checks
// them: each committed id exactly once; each aborted one once with
// read_uncommitted and never with read_committed; and in each partition
// the last record just before the high watermark's commit marker.
func (e *txnEnv) readAll(ctx context.Context, b *testing.B, committed bool, aborted int, hwm []int64) txnRead {
	b.Helper()
	level, name := kgo.ReadUncommitted(), "read_uncommitted"
	want := int(e.nextID) + aborted
	if committed {
		level, name, want = kgo.ReadCommitted(), "read_committed", int(e.nextID)
	}
	offsets := make(map[int32]kgo.Offset, partitions)
	for p := range int32(partitions) {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cl := e.client(b, kgo.FetchMaxBytes(64<<20), kgo.FetchIsolationLevel(level),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{txnTopic: offsets}))
	defer cl.Close()

	seen := make([]bool, e.nextID)
	seenAborted := make([]bool, aborted)
	last := make([]int64, partitions)
	for p := range last {
		last[p] = -1
	}
	got := 0
	start := time.Now()
	for got < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			b.Fatalf("%s of %s: %d of %d records within %v", name, txnTopic, got, want, phaseTimeout)
		}
		fs.EachError(func(t string, p int32, err error) { b.Fatalf("%s: fetch %s/%d: %v", name, t, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got++
			if r.Offset <= last[r.Partition] {
				b.Fatalf("%s: partition %d: offset %d after %d", name, r.Partition, r.Offset, last[r.Partition])
			}
			last[r.Partition] = r.Offset
			id := binary.BigEndian.Uint64(r.Value)
			switch {
			case id&abortedID != 0 && committed:
				b.Fatalf("%s: partition %d offset %d: a record of the aborted transaction (%d)", name, r.Partition, r.Offset, id&^abortedID)
			case id&abortedID != 0 && int(id&^abortedID) < aborted && !seenAborted[id&^abortedID]:
				seenAborted[id&^abortedID] = true
			case id < e.nextID && !seen[id]:
				seen[id] = true
			default:
				b.Fatalf("%s: partition %d offset %d: id %#x unknown or seen before", name, r.Partition, r.Offset, id)
			}
		})
	}
	elapsed := time.Since(start)
	for p, end := range hwm {
		// The last transaction to write to a partition committed, so a
		// commit marker is its last offset.
		if end > 0 && last[p] != end-2 {
			b.Fatalf("%s: partition %d: last record at offset %d, high watermark %d; want the last record just before the commit marker", name, p, last[p], end)
		}
	}
	return txnRead{committed: committed, records: got, elapsed: elapsed}
}

func (e *txnEnv) scrape(b *testing.B) metricSet {
	b.Helper()
	return mustScrape(b, e.metrics)
}

// pooledTxnMBs is MiB/s over runs: their bytes over their summed time.
func pooledTxnMBs(runs []txnRun) float64 {
	var records int
	var elapsed time.Duration
	for _, r := range runs {
		records, elapsed = records+r.records, elapsed+r.elapsed
	}
	if elapsed == 0 {
		return 0
	}
	return txnRun{records: records, elapsed: elapsed}.mbs()
}

// commitsOf is every EndTransaction duration of runs.
func commitsOf(runs []txnRun) []time.Duration {
	var all []time.Duration
	for _, r := range runs {
		all = append(all, r.commits...)
	}
	return all
}
