package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
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
