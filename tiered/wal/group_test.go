package wal

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stratalog/strata/internal/testenv"
)

// TestCommitBatch: a batch stores every append at consecutive sequences
// that chain; a batch with one stale expectation is refused whole by the
// server, and the one-by-one retry fences that append alone.
func TestCommitBatch(t *testing.T) {
	ctx := context.Background()
	l, err := Open(ctx, testenv.NATS(t).JetStream(t), Config{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := l.committers[0]
	if !c.batching.Load() {
		t.Fatal("the WAL stream does not allow atomic batches")
	}
	const n = 20
	parts := make([]Partition, n)
	last := make([]uint64, n)
	round := func(stale int) []*appendReq {
		reqs := make([]*appendReq, n)
		for i := range reqs {
			_, subject := l.shard(parts[i])
			expect := last[i]
			if i == stale {
				expect++ // a sequence the subject never had
			}
			rec := Record{Epoch: 1, BaseOffset: int64(i), LastOffset: int64(i), Data: fmt.Appendf(nil, "p%d", i)}
			reqs[i] = &appendReq{subject: subject, data: appendRecord(nil, rec), expectLast: expect}
		}
		return reqs
	}
	for i := range parts {
		parts[i] = Partition{TopicID: [16]byte{9}, Partition: int32(i)}
	}

	for k := range 2 {
		reqs := round(-1)
		c.commitBatch(ctx, reqs)
		for i, req := range reqs {
			if req.err != nil {
				t.Fatalf("round %d, append %d: %v", k, i, req.err)
			}
			if i > 0 && req.seq != reqs[i-1].seq+1 {
				t.Fatalf("round %d: append %d at sequence %d after %d", k, i, req.seq, reqs[i-1].seq)
			}
			last[i] = req.seq
		}
	}
	if s := l.GroupStats(); s.Batches != 2 || s.BatchedAppends != 2*n || s.Fallbacks != 0 {
		t.Fatalf("stats after two batches: %+v", s)
	}

	reqs := round(7)
	c.commitBatch(ctx, reqs)
	for i, req := range reqs {
		switch {
		case i == 7 && !errors.Is(req.err, ErrFenced):
			t.Fatalf("stale append: %v, want ErrFenced", req.err)
		case i != 7 && req.err != nil:
			t.Fatalf("append %d beside a stale one: %v", i, req.err)
		}
		if req.err == nil {
			last[i] = req.seq
		}
	}
	if s := l.GroupStats(); s.Fallbacks != 1 {
		t.Fatalf("stats after a refused batch: %+v", s)
	}

	// Every partition's chain holds its records exactly: three for all
	// but the fenced one, which has two.
	for i, p := range parts {
		var got []uint64
		end, err := l.Replay(ctx, p, 0, func(seq uint64, r Record) error {
			if r.BaseOffset != int64(i) || string(r.Data) != fmt.Sprintf("p%d", i) {
				return fmt.Errorf("partition %d: record %+v", i, r)
			}
			got = append(got, seq)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := 3
		if i == 7 {
			want = 2
		}
		if len(got) != want || end != last[i] || got[len(got)-1] != last[i] {
			t.Fatalf("partition %d: replayed %v through %d, want %d records through %d", i, got, end, want, last[i])
		}
	}
}
