package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/batch"
)

// consumeValues reads topic from the start until it has want records or the
// wait runs out, and returns the values in order per partition.
func consumeValues(t *testing.T, broker, topic string, want int, opts ...kgo.Opt) []string {
	t.Helper()
	cl := newClient(t, broker, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var got []string
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

// TestTransactions: a transactional producer commits and aborts; a
// read_committed consumer sees only the committed records, in order, and a
// read_uncommitted one sees all; while a transaction is open the last
// stable offset holds read_committed consumers back; a second producer with
// the same transactional id fences the first.
func TestTransactions(t *testing.T) {
	broker := startServe(t)
	createTopic(t, broker, "txn", 1)
	ctx := t.Context()
	p := newClient(t, broker, kgo.TransactionalID("tx-1"), kgo.DefaultProduceTopic("txn"), kgo.RecordRetries(5))
	var want []string
	round := func(n int, commit bool) {
		t.Helper()
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			v := fmt.Sprintf("%v-%d-%d", commit, len(want), i)
			if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			if commit {
				want = append(want, v)
			}
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end (commit %v): %v", commit, err)
		}
	}
	round(10, true)
	round(5, false)
	round(3, true)

	if got := consumeValues(t, broker, "txn", len(want), kgo.FetchIsolationLevel(kgo.ReadCommitted())); !slices.Equal(got, want) {
		t.Fatalf("read_committed got %v, want %v", got, want)
	}
	if got := consumeValues(t, broker, "txn", 18); len(got) != 18 {
		t.Fatalf("read_uncommitted got %d records, want all 18", len(got))
	}

	// An open transaction holds the LSO at its first record.
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(newClient(t, broker))
	ends, err := adm.ListEndOffsets(ctx, "txn")
	if err != nil {
		t.Fatal(err)
	}
	stable, err := adm.ListCommittedOffsets(ctx, "txn")
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup("txn", 0)
	lso, _ := stable.Lookup("txn", 0)
	// 18 records, 3 markers, then the open transaction's record.
	if end.Offset != 22 || lso.Offset != 21 {
		t.Fatalf("high watermark %d and LSO %d, want 22 and 21", end.Offset, lso.Offset)
	}
	// The admin APIs see it: ListTransactions by state, DescribeProducers
	// with the open transaction's first offset.
	listed, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := listed["tx-1"]; !ok || l.State != "Ongoing" {
		t.Fatalf("ListTransactions(Ongoing): %+v", listed)
	}
	if listed, err := adm.ListTransactions(ctx, nil, []string{"CompleteCommit"}); err != nil || len(listed) != 0 {
		t.Fatalf("ListTransactions(CompleteCommit): %+v, %v; want none", listed, err)
	}
	producers, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"txn": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	producers.EachProducer(func(p kadm.DescribedProducer) {
		if p.ProducerID == listed["tx-1"].ProducerID {
			found = p.CurrentTxnStartOffset == 21
		}
	})
	if !found {
		t.Fatalf("DescribeProducers: no producer %d with a transaction open at 21: %+v", listed["tx-1"].ProducerID, producers)
	}

	// A second producer with the id fences the first: its open transaction
	// is aborted and its next write refused.
	p2 := newClient(t, broker, kgo.TransactionalID("tx-1"), kgo.DefaultProduceTopic("txn"))
	if err := p2.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p2.ProduceSync(ctx, &kgo.Record{Value: []byte("second")}).FirstErr(); err != nil {
		t.Fatalf("the new producer: %v", err)
	}
	if err := p2.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	err = p.ProduceSync(ctx, &kgo.Record{Value: []byte("zombie")}).FirstErr()
	if err == nil {
		err = p.EndTransaction(ctx, kgo.TryCommit)
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) && !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("the fenced producer: %v, want PRODUCER_FENCED", err)
	}
	want = append(want, "second")
	got := consumeValues(t, broker, "txn", len(want), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if !slices.Equal(got, want) {
		t.Fatalf("read_committed after the fence: %v, want %v", got, want)
	}
}

// TestExactlyOncePipeline: franz-go's GroupTransactSession reads an input
// topic of 6 partitions and writes every record to an output topic of 6
// partitions, consuming and producing in one transaction, on a cluster of
// three gateways, while input arrives, the gateway coordinating the
// transactional id and another are killed and restarted, and the pipeline's
// process is killed (SIGKILL) mid-transaction and started again. The output,
// read with read_committed, holds every input record exactly once, in order
// per key.
func TestExactlyOncePipeline(t *testing.T) {
	const (
		in, out    = "eos-in", "eos-out"
		partitions = 6
		keys       = 60
		n          = 6000
		lease      = 2 * time.Second
		txnID      = "eos-pipeline"
	)
	ns := testenv.NATS(t)
	dir := t.TempDir()
	addrs := []string{freeLoopbackAddr(t), freeLoopbackAddr(t), freeLoopbackAddr(t)}
	args := func(i int) []string {
		return []string{"--nats-url", ns.URL, "--nats-monitor-url", ns.MonitorURL, "--node-id", strconv.Itoa(i + 1),
			"--gateway-lease", lease.String(), "--flush-interval", "20ms", "--group-consumer-session-timeout", "6s"}
	}
	procs := make([]*process, len(addrs))
	for i, addr := range addrs {
		procs[i] = startProcess(t, dir, addr, args(i)...)
	}
	seeds := strings.Join(addrs, ",")
	createTopic(t, seeds, in, partitions)
	createTopic(t, seeds, out, partitions)

	// Input: n keyed records, value "key:sequence within the key", sent by
	// an idempotent producer in the background.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var inputDone atomic.Bool
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		defer inputDone.Store(true)
		p := newClient(t, seeds, kgo.DefaultProduceTopic(in), kgo.MetadataMinAge(250*time.Millisecond))
		// Rounds of 100, paced, so that input keeps arriving through the
		// kills below.
		for round := 0; round < n/100; round++ {
			var recs []*kgo.Record
			for i := round * 100; i < (round+1)*100; i++ {
				k := i % keys
				recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(k)), Value: fmt.Appendf(nil, "%d:%d", k, i/keys)})
			}
			if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Errorf("input round %d: %v", round, err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	// The pipeline runs in a process of its own (TestEOSPipelineWorker),
	// so that it can be killed mid-transaction. Progress is the output's
	// last stable offsets: what the pipeline committed (markers included).
	adm := kadm.NewClient(newClient(t, seeds, kgo.MetadataMinAge(250*time.Millisecond)))
	committedOut := func() int64 {
		stable, err := adm.ListCommittedOffsets(ctx, out)
		if err != nil {
			return 0
		}
		var sum int64
		stable.Each(func(o kadm.ListedOffset) { sum += max(o.Offset, 0) })
		return sum
	}
	waitCommitted := func(target int64) {
		t.Helper()
		for committedOut() < target && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	worker := startPipelineWorker(t, seeds, in, out, txnID)
	// Kill the gateway coordinating the transactional id, then another,
	// each while the pipeline runs, and restart them.
	waitCommitted(n / 5)
	coordinator := txnCoordinatorOf(t, seeds, txnID)
	for k, i := range []int{coordinator, (coordinator + 1) % len(procs)} {
		progress := committedOut()
		procs[i].kill(t)
		t.Logf("kill %d: gateway %d (coordinator was %d) with %d output offsets committed", k+1, i+1, coordinator+1, progress)
		time.Sleep(lease)
		procs[i] = startProcess(t, dir, addrs[i], args(i)...)
		waitCommitted(int64((k + 2) * n / 5))
	}
	// The pipeline is killed mid-transaction; a new one takes over, and
	// its InitProducerId fences the dead one and aborts its transaction.
	progress := committedOut()
	worker.kill(t)
	t.Logf("pipeline killed (SIGKILL) with %d output offsets committed; starting another", progress)
	startPipelineWorker(t, seeds, in, out, txnID)

	// One read_committed pass, until it holds n records and nothing more
	// has arrived for a while: anything past n is a duplicate.
	seen := readCommittedUntilIdle(t, seeds, out, n, 3*time.Second, 2*time.Minute)
	cancel()
	if !inputDone.Load() {
		t.Fatal("input did not finish")
	}
	// Exactly once, in order per key.
	next := make([]int, keys)
	dups := 0
	for _, v := range seen {
		var k, seq int
		if _, err := fmt.Sscanf(v, "%d:%d", &k, &seq); err != nil {
			t.Fatalf("output %q: %v", v, err)
		}
		switch {
		case seq < next[k]:
			dups++
		case seq > next[k]:
			t.Fatalf("key %d: %d after %d: a record missing or out of order", k, seq, next[k]-1)
		default:
			next[k]++
		}
	}
	if dups > 0 || len(seen) != n {
		t.Fatalf("output holds %d records with %d duplicates, want %d exactly once", len(seen), dups, n)
	}
	t.Logf("%d records through the pipeline exactly once across two gateway kills and the pipeline's", n)
}

// readCommittedUntilIdle reads topic from the start with read_committed in
// one pass and returns the values in the order read, once it has at least
// want of them and none arrived for idle, or when max has passed.
func readCommittedUntilIdle(t *testing.T, broker, topic string, want int, idle, max time.Duration) []string {
	t.Helper()
	cl := newClient(t, broker, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.MetadataMinAge(250*time.Millisecond))
	var all []string
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(t.Context(), idle)
		fs := cl.PollFetches(ctx)
		cancel()
		if fs.NumRecords() == 0 && len(all) >= want {
			return all
		}
		fs.EachRecord(func(r *kgo.Record) { all = append(all, string(r.Value)) })
	}
	return all
}

// pipelineWorkerEnv carries the worker's seeds, topics and transactional id
// (comma-separated) to TestEOSPipelineWorker in a child process.
const pipelineWorkerEnv = "STRATA_TEST_EOS_WORKER"

// startPipelineWorker runs TestEOSPipelineWorker in a child process of this
// test binary until the test ends or it is killed.
func startPipelineWorker(t *testing.T, seeds, in, out, txnID string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestEOSPipelineWorker$", "-test.v", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), pipelineWorkerEnv+"="+strings.Join([]string{seeds, in, out, txnID}, ";"))
	return startChild(t, cmd, "pipeline worker")
}

// TestEOSPipelineWorker is the pipeline of TestExactlyOncePipeline, run in
// a child process: franz-go's GroupTransactSession copies every record of
// the input topic to the output topic, consuming and producing in one
// transaction, until the process is killed.
func TestEOSPipelineWorker(t *testing.T) {
	env := os.Getenv(pipelineWorkerEnv)
	if env == "" {
		t.Skip("run by TestExactlyOncePipeline in a child process")
	}
	parts := strings.Split(env, ";")
	seeds, in, out, txnID := strings.Split(parts[0], ","), parts[1], parts[2], parts[3]
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(seeds...),
		kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(10*time.Second),
		kgo.ConsumerGroup("eos"),
		kgo.ConsumeTopics(in),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.DefaultProduceTopic(out),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.SessionTimeout(6*time.Second),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for ctx.Err() == nil {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := sess.PollFetches(pctx)
		pcancel()
		if err := sess.Begin(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value}, nil)
		})
		if _, err := sess.End(ctx, kgo.TryCommit); err != nil {
			t.Logf("end: %v (the session carries on)", err)
		}
	}
}

// txnCoordinatorOf returns the index (node id - 1) of the gateway
// coordinating transactional id.
func txnCoordinatorOf(t *testing.T, seeds, id string) int {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType, req.CoordinatorKey, req.CoordinatorKeys = 1, id, []string{id}
	resp, err := req.RequestWith(t.Context(), newClient(t, seeds))
	if err != nil {
		t.Fatal(err)
	}
	node := resp.NodeID
	if len(resp.Coordinators) > 0 {
		node = resp.Coordinators[0].NodeID
	}
	return int(node) - 1
}

// TestHangingTransactionAborted: a producer dies with its transaction open;
// the last stable offset stays at the transaction's first record until the
// transaction times out, when the coordinator aborts it (fencing the
// producer's epoch) and the LSO moves on. A new producer with the id
// carries on.
func TestHangingTransactionAborted(t *testing.T) {
	broker := startServe(t, "--transaction-scan-interval", "100ms")
	createTopic(t, broker, "hang", 1)
	ctx := t.Context()
	p, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.TransactionalID("hanging"), kgo.TransactionTimeout(time.Second), kgo.DefaultProduceTopic("hang"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte("lost")}, &kgo.Record{Value: []byte("lost")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p.Close() // dies without ending the transaction

	adm := kadm.NewClient(newClient(t, broker))
	offsets := func() (hw, lso int64) {
		ends, err := adm.ListEndOffsets(ctx, "hang")
		if err != nil {
			t.Fatal(err)
		}
		stable, err := adm.ListCommittedOffsets(ctx, "hang")
		if err != nil {
			t.Fatal(err)
		}
		e, _ := ends.Lookup("hang", 0)
		s, _ := stable.Lookup("hang", 0)
		return e.Offset, s.Offset
	}
	if hw, lso := offsets(); hw != 2 || lso != 0 {
		t.Fatalf("with the transaction open: high watermark %d, LSO %d; want 2 and 0", hw, lso)
	}
	testenv.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		if hw, lso := offsets(); hw != 3 || lso != 3 {
			return fmt.Errorf("high watermark %d, LSO %d; want 3 and 3 (aborted by its timeout)", hw, lso)
		}
		return nil
	})
	described, err := adm.DescribeTransactions(ctx, "hanging")
	if err != nil {
		t.Fatal(err)
	}
	if d, err := described.On("hanging", nil); err != nil || d.State != "CompleteAbort" || d.ProducerEpoch != 1 {
		t.Fatalf("described %+v, %v; want CompleteAbort with the epoch bumped to 1", d, err)
	}

	next := newClient(t, broker, kgo.TransactionalID("hanging"), kgo.DefaultProduceTopic("hang"))
	if err := next.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := next.ProduceSync(ctx, &kgo.Record{Value: []byte("kept")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := next.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if got := consumeValues(t, broker, "hang", 1, kgo.FetchIsolationLevel(kgo.ReadCommitted())); !slices.Equal(got, []string{"kept"}) {
		t.Fatalf("read_committed: %v, want only the new producer's record", got)
	}
}

// TestTransactionBadInput: requests that do not fit a transaction's state
// get Kafka's errors and change nothing: EndTxn for an unknown id,
// AddPartitionsToTxn with a stale epoch, EndTxn without a transaction,
// markers from a client, a transactional batch for a partition not in the
// transaction.
func TestTransactionBadInput(t *testing.T) {
	broker := startServe(t)
	createTopic(t, broker, "bad-txn", 1)
	ctx := t.Context()
	cl := newClient(t, broker)
	// A transactional id with producer 0's epoch: find its coordinator
	// (this one) and init.
	init := kmsg.NewPtrInitProducerIDRequest()
	id := "bad-input"
	init.TransactionalID, init.TransactionTimeoutMillis = &id, 60000
	ir, err := init.RequestWith(ctx, cl)
	if err != nil || ir.ErrorCode != 0 {
		t.Fatalf("init: %v %v", ir, err)
	}
	pid, epoch := ir.ProducerID, ir.ProducerEpoch

	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = "nobody", pid, epoch, true
	if r, err := end.RequestWith(ctx, cl); err != nil || r.ErrorCode != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("EndTxn of an unknown id: %+v, %v; want INVALID_PRODUCER_ID_MAPPING", r, err)
	}
	end.TransactionalID = id
	if r, err := end.RequestWith(ctx, cl); err != nil || r.ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("EndTxn commit with no transaction: %+v, %v; want INVALID_TXN_STATE", r, err)
	}

	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.Version = 3
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, pid, epoch-1
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "bad-txn", Partitions: []int32{0}}}
	if r, err := add.RequestWith(ctx, cl); err != nil || r.Topics[0].Partitions[0].ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("AddPartitionsToTxn with a stale epoch: %+v, %v; want PRODUCER_FENCED", r, err)
	}
	// (franz-go rewrites a request it sends, so each call gets a new one.)
	add = kmsg.NewPtrAddPartitionsToTxnRequest()
	add.Version = 3
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, pid, epoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "bad-txn", Partitions: []int32{0}}, {Topic: "no-such-topic", Partitions: []int32{0}}}
	if r, err := add.RequestWith(ctx, cl); err != nil || r.Topics[0].Partitions[0].ErrorCode != kerr.OperationNotAttempted.Code ||
		r.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("AddPartitionsToTxn with an unknown topic: %+v, %v", r, err)
	}

	markers := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed = pid, epoch, true
	m.Topics = []kmsg.WriteTxnMarkersRequestMarkerTopic{{Topic: "bad-txn", Partitions: []int32{0}}}
	markers.Markers = append(markers.Markers, m)
	if r, err := markers.RequestWith(ctx, cl); err != nil || r.Markers[0].Topics[0].Partitions[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("WriteTxnMarkers from a client: %+v, %v; want CLUSTER_AUTHORIZATION_FAILED", r, err)
	}

	// A transactional batch for a partition the transaction does not hold
	// (no AddPartitionsToTxn): refused, nothing appended (KIP-890).
	records, err := batch.Encode(batch.Batch{Attributes: batch.AttrTransactional, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: 0,
		Records: []batch.Record{{Value: []byte("hanging")}}})
	if err != nil {
		t.Fatal(err)
	}
	produce := kmsg.NewPtrProduceRequest()
	produce.TransactionID, produce.Acks, produce.TimeoutMillis = &id, -1, 10000
	produce.Topics = []kmsg.ProduceRequestTopic{{Topic: "bad-txn", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: records}}}}
	if r, err := produce.RequestWith(ctx, cl); err != nil || r.Topics[0].Partitions[0].ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("a transactional batch outside the transaction: %+v, %v; want INVALID_TXN_STATE", r, err)
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "bad-txn")
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := ends.Lookup("bad-txn", 0); e.Offset != 0 {
		t.Fatalf("high watermark %d after refused requests, want 0", e.Offset)
	}
}

// TestTransactionCrashes: the coordinating gateway is killed (SIGKILL, from
// inside: STRATA_TEST_CRASH_AT) while it ends a transaction: once the
// decision is stored and before any marker, and once every marker is
// written and before the transaction completes. Restarted on the same data,
// it finishes the transaction: a commit's records become visible to
// read_committed, an abort's never do, and the last stable offset reaches
// the high watermark.
func TestTransactionCrashes(t *testing.T) {
	for _, step := range []string{"txn:prepared", "txn:marked"} {
		for _, commit := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s-commit-%v", strings.ReplaceAll(step, ":", "-"), commit), func(t *testing.T) { testTransactionCrash(t, step, commit) })
		}
	}
}

func testTransactionCrash(t *testing.T, step string, commit bool) {
	const topic, partitions = "crashed", 3
	nats := testenv.NATS(t)
	dir, addr := t.TempDir(), freeLoopbackAddr(t)
	args := []string{"--nats-url", nats.URL, "--nats-monitor-url", nats.MonitorURL, "--transaction-scan-interval", "200ms"}
	t.Setenv("STRATA_TEST_CRASH_AT", step)
	p := startProcess(t, dir, addr, args...)
	exited := make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		close(exited)
	}()
	createTopic(t, addr, topic, partitions)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	producer := newClient(t, addr, kgo.TransactionalID("crash-"+step), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err := producer.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var values []string
	for i := range 30 {
		values = append(values, fmt.Sprintf("v%d", i))
		if err := producer.ProduceSync(ctx, &kgo.Record{Value: []byte(values[i])}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// The end kills the gateway; the client retries it against the
	// restarted one.
	ended := make(chan error, 1)
	go func() { ended <- producer.EndTransaction(ctx, kgo.TransactionEndTry(commit)) }()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("strata did not crash at %s", step)
	}
	if !strings.Contains(p.out.String(), "crashing for a test") {
		t.Fatalf("strata exited, not at step %s:\n%s", step, p.out.String())
	}
	t.Setenv("STRATA_TEST_CRASH_AT", "")
	startProcess(t, dir, addr, args...)
	if err := <-ended; err != nil {
		t.Logf("EndTransaction across the crash: %v", err) // the outcome is the coordinator's, checked below
	}

	want := []string(nil)
	if commit {
		want = values
	}
	adm := kadm.NewClient(newClient(t, addr))
	testenv.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return err
		}
		stable, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			return err
		}
		for p := range int32(partitions) {
			e, _ := ends.Lookup(topic, p)
			s, _ := stable.Lookup(topic, p)
			// 10 records and the marker each; a marker written before
			// the crash is written again by the restarted coordinator.
			if e.Offset < 11 || e.Offset > 12 || s.Offset != e.Offset {
				return fmt.Errorf("partition %d: high watermark %d, LSO %d; want both 11 (12 with a marker written twice)", p, e.Offset, s.Offset)
			}
		}
		return nil
	})
	got := readCommittedUntilIdle(t, addr, topic, len(want), 2*time.Second, 30*time.Second)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("read_committed after the crash: %d records, want %d (commit %v)", len(got), len(want), commit)
	}
	described, err := adm.DescribeTransactions(ctx, "crash-"+step)
	if err != nil {
		t.Fatal(err)
	}
	wantState := map[bool]string{true: "CompleteCommit", false: "CompleteAbort"}[commit]
	if d, err := described.On("crash-"+step, nil); err != nil || d.State != wantState {
		t.Fatalf("transaction %+v, %v; want %s", d, err, wantState)
	}
}
