package coordinator

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/index"
)

// TestCommitPartitions: a flush's worth of head commits goes as atomic
// batches (consecutive revisions, a batch at a time), a first commit goes
// alone, and a batch with one stale or fenced head still commits every other
// head, naming the one that lost as CommitPartition would.
func TestCommitPartitions(t *testing.T) {
	js := testenv.NATS(t).JetStream(t)
	s := openStore(t, js, "strata")
	if !s.atomicHeads {
		t.Fatal("the server did not take atomic batches on the partitions bucket")
	}
	ctx := t.Context()
	const n = maxHeadsPerBatch + 200
	tps := make([]index.TopicPartition, n+1)
	states := make([]index.Partition, n+1)
	revs := make([]uint64, n+1)
	for i := range n {
		tps[i] = testTP([16]byte{9, byte(i >> 8), byte(i)}, int32(i%7))
		entries := 3
		if i == 1 {
			entries = maxTailEntries + 40 // its commit writes a chunk first
		}
		var err error
		states[i], revs[i], err = s.CommitPartition(ctx, tps[i], testPartition(tps[i], entries, 1), 0)
		if err != nil {
			t.Fatal(err)
		}
	}
	tps[n] = testTP([16]byte{10}, 0) // first commit, in the same call

	round := func() []index.Commit {
		commits := make([]index.Commit, n+1)
		for i := range commits {
			next := states[i]
			base := next.HighWatermark
			next.Entries = append(next.Entries[:len(next.Entries):len(next.Entries)], testEntries(tps[i], base, 1)...)
			next.HighWatermark = base + 10
			if i == n && revs[i] == 0 {
				next = testPartition(tps[i], 2, 1)
			}
			commits[i] = index.Commit{TP: tps[i], Next: next, PrevRevision: revs[i]}
		}
		return commits
	}
	check := func(commits []index.Commit, results []index.CommitResult, skip ...int) {
		t.Helper()
		for i, r := range results {
			if len(skip) > 0 && (i == skip[0] || i == skip[1]) {
				continue
			}
			if r.Err != nil {
				t.Fatalf("commit %d: %v", i, r.Err)
			}
			got, rev, err := s.LoadPartition(ctx, tps[i])
			if err != nil || rev != r.Revision {
				t.Fatalf("partition %d stored at revision %d (%v), result says %d", i, rev, err, r.Revision)
			}
			if err := equalPartitions(got, commits[i].Next); err != nil {
				t.Fatalf("partition %d: %v", i, err)
			}
			states[i], revs[i] = r.Stored, r.Revision
		}
	}

	commits := round()
	results := s.CommitPartitions(ctx, commits)
	check(commits, results)
	for i := 1; i < maxHeadsPerBatch; i++ {
		if results[i].Revision != results[i-1].Revision+1 {
			t.Fatalf("revisions %d and %d of one batch: %d, %d; an atomic batch stores them consecutively",
				i-1, i, results[i-1].Revision, results[i].Revision)
		}
	}

	// Through another Store (so s's head cache does not see it), partition
	// 3 moves on since its revision was read, and partition
	// maxHeadsPerBatch+10 (in the second batch) gets a newer leader: each
	// batch is refused as a whole.
	other := openStore(t, js, "strata")
	stale, fenced := 3, maxHeadsPerBatch+10
	commits = round()
	if _, _, err := other.CommitPartition(ctx, tps[stale], commits[stale].Next, revs[stale]); err != nil {
		t.Fatal(err)
	}
	newer := commits[fenced].Next
	newer.LeaderEpoch = 2
	if _, _, err := other.CommitPartition(ctx, tps[fenced], newer, revs[fenced]); err != nil {
		t.Fatal(err)
	}
	results = s.CommitPartitions(ctx, commits)
	if err := results[stale].Err; !errors.Is(err, index.ErrConflict) {
		t.Fatalf("stale head: %v, want a conflict", err)
	}
	if err := results[fenced].Err; !errors.Is(err, index.ErrFenced) {
		t.Fatalf("head behind a newer leader: %v, want fenced", err)
	}
	check(commits, results, stale, fenced)
}

// TestCommitPartitionsUnansweredBatch: a batch commit that is never answered
// (as when it reaches a server that no longer leads the stream) gives up
// after batchCommitTimeout, and every head is then committed on its own.
// Fault injection: the batch goes to a subject a plain subscriber swallows,
// which a live JetStream stream does not do on demand.
func TestCommitPartitionsUnansweredBatch(t *testing.T) {
	js := testenv.NATS(t).JetStream(t)
	s := openStore(t, js, "strata")
	sink, err := js.Conn().SubscribeSync("swallowed.>")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Unsubscribe()
	s.partitionsSubject = "swallowed."

	ctx := t.Context()
	commits := make([]index.Commit, 3)
	for i := range commits {
		tp := testTP([16]byte{30}, int32(i))
		st, rev, err := s.CommitPartition(ctx, tp, testPartition(tp, 2, 1), 0)
		if err != nil {
			t.Fatal(err)
		}
		next := st
		next.Entries = append(next.Entries[:len(next.Entries):len(next.Entries)], testEntries(tp, next.HighWatermark, 1)...)
		next.HighWatermark += 10
		commits[i] = index.Commit{TP: tp, Next: next, PrevRevision: rev}
	}
	// Without its own bound the batch would wait out this deadline, and the
	// single commits after it would fail with it.
	cctx, cancel := context.WithTimeout(ctx, batchCommitTimeout+30*time.Second)
	defer cancel()
	results := s.CommitPartitions(cctx, commits)
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("commit %d: %v", i, r.Err)
		}
		got, rev, err := s.LoadPartition(ctx, commits[i].TP)
		if err != nil || rev != r.Revision || got.HighWatermark != commits[i].Next.HighWatermark {
			t.Fatalf("partition %d: hw %d at revision %d (%v); result revision %d, want hw %d",
				i, got.HighWatermark, rev, err, r.Revision, commits[i].Next.HighWatermark)
		}
	}
}
