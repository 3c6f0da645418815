package confluentgo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Transactions as librdkafka runs them (KIP-98, KIP-447): the transactional
// producer's InitTransactions, Begin, Commit and Abort; read_committed and
// read_uncommitted consumers; SendOffsetsToTransaction; zombie fencing.

// newTxnProducer returns a transactional producer with id, its
// InitTransactions done, closed at cleanup.
func (s *strata) newTxnProducer(t *testing.T, id string) *kafka.Producer {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers": s.broker,
		"transactional.id":  id,
		"linger.ms":         5,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatalf("init transactions of %s: %v", id, err)
	}
	return p
}

// txnRound begins a transaction on p, produces values to partition 0 of
// topic (each delivery acknowledged), and commits it or aborts it.
func txnRound(t *testing.T, p *kafka.Producer, topic string, commit bool, values ...[]byte) {
	t.Helper()
	if err := p.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	produceOK(t, p, topic, values...)
	endTxn(t, p, commit)
}

// endTxn commits or aborts p's transaction.
func endTxn(t *testing.T, p *kafka.Producer, commit bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if commit {
		if err := p.CommitTransaction(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
		return
	}
	if err := p.AbortTransaction(ctx); err != nil {
		t.Fatalf("abort: %v", err)
	}
}

// createPlainTopic creates a one-partition topic without configs.
func (s *strata) createPlainTopic(t *testing.T, topics ...string) {
	t.Helper()
	adm, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": s.broker})
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	specs := make([]kafka.TopicSpecification, len(topics))
	for i, topic := range topics {
		specs[i] = kafka.TopicSpecification{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}
	}
	res, err := adm.CreateTopics(ctx, specs)
	if err != nil {
		t.Fatalf("create topics %v: %v", topics, err)
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			t.Fatalf("create topics %v: %v", topics, res)
		}
	}
}

// values returns n values "<prefix>-<i>".
func values(prefix string, n int) [][]byte {
	vs := make([][]byte, n)
	for i := range vs {
		vs[i] = fmt.Appendf(nil, "%s-%d", prefix, i)
	}
	return vs
}

// readAll reads partition 0 of topic from the beginning with isolation
// ("read_committed" or "read_uncommitted") by direct assignment, until the
// consumer reports the end of the partition (the last stable offset for
// read_committed) with at least want records read, and returns every
// message read. It fails the test if that takes longer than ioTimeout.
func (s *strata) readAll(t *testing.T, topic, isolation string, want int) []*kafka.Message {
	t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":    s.broker,
		"group.id":             "readers-" + topic, // required, never joined: Assign
		"enable.auto.commit":   false,
		"isolation.level":      isolation,
		"enable.partition.eof": true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.OffsetBeginning}}); err != nil {
		t.Fatal(err)
	}
	var msgs []*kafka.Message
	deadline := time.Now().Add(ioTimeout)
	for time.Now().Before(deadline) {
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				t.Fatalf("%s read %s: %v", isolation, topic, e.TopicPartition.Error)
			}
			msgs = append(msgs, e)
		case kafka.PartitionEOF:
			if len(msgs) >= want {
				return msgs
			}
		case kafka.Error:
			t.Fatalf("%s read %s: %v", isolation, topic, e)
		}
	}
	t.Fatalf("%s read %d records of %s within %v, want %d and the end of the partition", isolation, len(msgs), topic, ioTimeout, want)
	return nil
}

// checkValues fails unless msgs carry exactly want, in order.
func checkValues(t *testing.T, what string, msgs []*kafka.Message, want [][]byte) {
	t.Helper()
	got := make([]string, len(msgs))
	for i, m := range msgs {
		got[i] = string(m.Value)
	}
	wantS := make([]string, len(want))
	for i, v := range want {
		wantS[i] = string(v)
	}
	if !slices.Equal(got, wantS) {
		t.Fatalf("%s read %d records %q, want %d: %q", what, len(got), got, len(wantS), wantS)
	}
}

// TestTransactionsCommitAbort: a transactional producer commits N records,
// aborts M, commits K. A read_committed consumer reads exactly the N+K
// committed ones in order; a read_uncommitted one reads all N+M+K, at the
// offsets Kafka gives them (one offset per transaction marker).
func TestTransactionsCommitAbort(t *testing.T) {
	const n, m, k = 50, 30, 20
	s := startStrata(t)
	const topic = "txn-commit-abort"
	s.createPlainTopic(t, topic)

	p := s.newTxnProducer(t, "txn-commit-abort")
	first, aborted, last := values("commit1", n), values("abort", m), values("commit2", k)
	txnRound(t, p, topic, true, first...)
	txnRound(t, p, topic, false, aborted...)
	txnRound(t, p, topic, true, last...)

	committed := s.readAll(t, topic, "read_committed", n+k)
	checkValues(t, "read_committed", committed, slices.Concat(first, last))
	all := s.readAll(t, topic, "read_uncommitted", n+m+k)
	checkValues(t, "read_uncommitted", all, slices.Concat(first, aborted, last))
	// The log: N records, a commit marker, M records, an abort marker, K
	// records, a commit marker.
	for i, msg := range all {
		want := int64(i)
		if i >= n {
			want++
		}
		if i >= n+m {
			want++
		}
		if int64(msg.TopicPartition.Offset) != want {
			t.Fatalf("read_uncommitted record %d (%s) at offset %d, want %d", i, msg.Value, msg.TopicPartition.Offset, want)
		}
	}
	if end := s.highWatermark(t, topic); end != n+m+k+3 {
		t.Fatalf("high watermark %d, want %d (records and 3 markers)", end, n+m+k+3)
	}
}

// committedOffset returns group's committed offset of partition 0 of topic
// through the admin API with require_stable, so an offset still pending in
// a transaction is waited for rather than read.
func (s *strata) committedOffset(t *testing.T, group, topic string) kafka.Offset {
	t.Helper()
	adm, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": s.broker})
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	res, err := adm.ListConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{
		Group: group, Partitions: []kafka.TopicPartition{{Topic: &topic, Partition: 0}},
	}}, kafka.SetAdminRequireStableOffsets(true))
	if err != nil {
		t.Fatalf("offsets of group %s: %v", group, err)
	}
	if len(res.ConsumerGroupsTopicPartitions) != 1 || len(res.ConsumerGroupsTopicPartitions[0].Partitions) != 1 {
		t.Fatalf("offsets of group %s: %+v", group, res)
	}
	tp := res.ConsumerGroupsTopicPartitions[0].Partitions[0]
	if tp.Error != nil {
		t.Fatalf("offset of group %s on %s: %v", group, topic, tp.Error)
	}
	return tp.Offset
}

// TestConsumeTransformProduce: a consumer in a group reads an input topic
// and a transactional producer writes each value, transformed, to an output
// topic, sending the consumer's offsets with SendOffsetsToTransaction.
// After a committed round the group's offset is the one sent, and the
// output holds the round's records; after an aborted round neither moves;
// the round redone from the committed offset and committed leaves each
// input record transformed exactly once in the output, in order.
func TestConsumeTransformProduce(t *testing.T) {
	const (
		in, out = "ctp-in", "ctp-out"
		group   = "ctp-group"
		round   = 25
	)
	s := startStrata(t)
	s.createPlainTopic(t, in, out)
	input := values("in", 2*round)
	produceOK(t, s.newProducer(t), in, input...)

	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":  s.broker,
		"group.id":           group,
		"auto.offset.reset":  "earliest",
		"enable.auto.commit": false,
		"isolation.level":    "read_committed",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SubscribeTopics([]string{in}, nil); err != nil {
		t.Fatal(err)
	}
	p := s.newTxnProducer(t, "ctp-txn")

	// transform reads the next n input records, from offset from, and
	// produces each value with "out-" before it in a transaction that
	// carries the next offset to read; it commits or aborts.
	transform := func(from, n int, commit bool) {
		t.Helper()
		if err := p.BeginTransaction(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		outs := make([][]byte, 0, n)
		deadline := time.Now().Add(ioTimeout)
		for len(outs) < n {
			if !time.Now().Before(deadline) {
				t.Fatalf("read %d of %d records of %s within %v", len(outs), n, in, ioTimeout)
			}
			msg, err := c.ReadMessage(time.Until(deadline))
			var kerr kafka.Error
			if errors.As(err, &kerr) && kerr.IsTimeout() {
				continue
			}
			if err != nil {
				t.Fatalf("read %s: %v", in, err)
			}
			if want := from + len(outs); int(msg.TopicPartition.Offset) != want || string(msg.Value) != string(input[want]) {
				t.Fatalf("read %q at offset %d of %s, want %q at %d", msg.Value, msg.TopicPartition.Offset, in, input[want], want)
			}
			outs = append(outs, append([]byte("out-"), msg.Value...))
		}
		produceOK(t, p, out, outs...)
		meta, err := c.GetConsumerGroupMetadata()
		if err != nil {
			t.Fatalf("group metadata: %v", err)
		}
		topic := in
		offsets := []kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.Offset(from + n)}}
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := p.SendOffsetsToTransaction(ctx, offsets, meta); err != nil {
			t.Fatalf("send offsets %v to the transaction: %v", offsets, err)
		}
		endTxn(t, p, commit)
	}
	outputs := func(from, to int) [][]byte {
		var vs [][]byte
		for _, v := range input[from:to] {
			vs = append(vs, append([]byte("out-"), v...))
		}
		return vs
	}

	transform(0, round, true)
	if got := s.committedOffset(t, group, in); got != round {
		t.Fatalf("group %s committed offset %v after a committed round, want %d", group, got, round)
	}
	checkValues(t, "read_committed "+out, s.readAll(t, out, "read_committed", round), outputs(0, round))

	transform(round, round, false)
	if got := s.committedOffset(t, group, in); got != round {
		t.Fatalf("group %s committed offset %v after an aborted round, want %d (unchanged)", group, got, round)
	}
	// The consumer's own view of the commit, through its coordinator.
	topic := in
	cs, err := c.Committed([]kafka.TopicPartition{{Topic: &topic, Partition: 0}}, int(ioTimeout.Milliseconds()))
	if err != nil || len(cs) != 1 || cs[0].Offset != round {
		t.Fatalf("consumer's committed offsets %v (%v), want %d", cs, err, round)
	}
	checkValues(t, "read_committed "+out, s.readAll(t, out, "read_committed", round), outputs(0, round))

	// Redo the aborted round from the committed offset, as an application
	// does after an abort.
	if err := c.Seek(kafka.TopicPartition{Topic: &topic, Partition: 0, Offset: round}, 0); err != nil {
		t.Fatalf("seek %s to %d: %v", in, round, err)
	}
	transform(round, round, true)
	if got := s.committedOffset(t, group, in); got != 2*round {
		t.Fatalf("group %s committed offset %v after the redone round, want %d", group, got, 2*round)
	}
	checkValues(t, "read_committed "+out, s.readAll(t, out, "read_committed", 2*round), outputs(0, 2*round))
	checkValues(t, "read_uncommitted "+out, s.readAll(t, out, "read_uncommitted", 3*round),
		slices.Concat(outputs(0, round), outputs(round, 2*round), outputs(round, 2*round)))
}

// TestTransactionsZombieFenced: two producers share a transactional id. The
// second's InitTransactions aborts the first's open transaction and fences
// it: the first's next produce and its commit fail with librdkafka's fatal
// fenced error, and none of its records become visible to read_committed,
// while the second commits as usual.
func TestTransactionsZombieFenced(t *testing.T) {
	const topic = "txn-fenced"
	s := startStrata(t)
	s.createPlainTopic(t, topic)

	zombie := s.newTxnProducer(t, "txn-fenced")
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceOK(t, zombie, topic, values("zombie-before", 5)...)

	fresh := s.newTxnProducer(t, "txn-fenced")

	// The zombie's produce is refused by the partition (its epoch is older
	// than the abort marker's); librdkafka raises the fatal error there,
	// or at once if it learned of the fencing otherwise.
	checkFenced := func(what string, err error) {
		t.Helper()
		var kerr kafka.Error
		if !errors.As(err, &kerr) || !kerr.IsFatal() || kerr.Code() != kafka.ErrFenced {
			t.Fatalf("zombie %s: %v, want a fatal %v", what, err, kafka.ErrFenced)
		}
	}
	reports := make(chan kafka.Event, 5)
	zombieAfter := values("zombie-after", 5)
	for i, v := range zombieAfter {
		tp := topic
		if err := zombie.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &tp, Partition: 0}, Value: v}, reports); err != nil {
			checkFenced(fmt.Sprintf("produce of record %d", i), err)
			zombieAfter = zombieAfter[:i]
			break
		}
	}
	timeout := time.After(ioTimeout)
	for i := range zombieAfter {
		select {
		case e := <-reports:
			m, ok := e.(*kafka.Message)
			if !ok {
				t.Fatalf("delivery report of unexpected type %T: %v", e, e)
			}
			if m.TopicPartition.Error == nil {
				t.Fatalf("zombie record %d (%s) appended at offset %d after the fencing", i, m.Value, m.TopicPartition.Offset)
			}
		case <-timeout:
			t.Fatalf("%d of %d zombie delivery reports within %v", i, len(zombieAfter), ioTimeout)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	checkFenced("commit", zombie.CommitTransaction(ctx))
	checkFenced("fatal error", zombie.GetFatalError())

	want := values("fresh", 7)
	txnRound(t, fresh, topic, true, want...)
	checkValues(t, "read_committed", s.readAll(t, topic, "read_committed", len(want)), want)
	// The zombie's first records are in the log, aborted by the fresh
	// producer's InitTransactions.
	all := s.readAll(t, topic, "read_uncommitted", 5+len(want))
	checkValues(t, "read_uncommitted", all, slices.Concat(values("zombie-before", 5), want))
}
