package wal_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/wal"
)

func open(t *testing.T, js jetstream.JetStream, cfg wal.Config) *wal.Log {
	t.Helper()
	w, err := wal.Open(context.Background(), js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func part(n int32) wal.Partition {
	return wal.Partition{TopicID: [16]byte{0xab, 1}, Partition: n}
}

type replayed struct {
	seq uint64
	r   wal.Record
}

func replayAll(t *testing.T, w *wal.Log, p wal.Partition, after uint64) ([]replayed, uint64) {
	t.Helper()
	var got []replayed
	last, err := w.Replay(context.Background(), p, after, func(seq uint64, r wal.Record) error {
		got = append(got, replayed{seq, r})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, last
}

func TestAppendReplayPurge(t *testing.T) {
	ctx := context.Background()
	w := open(t, testenv.NATS(t).JetStream(t), wal.Config{Shards: 3})
	p := part(7)

	var seqs []uint64
	last := uint64(0)
	for i := range 5 {
		r := wal.Record{Epoch: 2, BaseOffset: int64(10 * i), LastOffset: int64(10*i + 9), Data: fmt.Appendf(nil, "batches %d", i)}
		seq, err := w.Append(ctx, p, r, last)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		seqs, last = append(seqs, seq), seq
	}
	// Another partition's messages interleave in the same stream or another;
	// they never show in p's replay.
	if _, err := w.Append(ctx, part(8), wal.Record{Epoch: 1, Data: []byte("other")}, 0); err != nil {
		t.Fatal(err)
	}

	got, end := replayAll(t, w, p, 0)
	if end != last || len(got) != 5 {
		t.Fatalf("replay: %d records through %d, want 5 through %d", len(got), end, last)
	}
	for i, g := range got {
		if g.seq != seqs[i] || g.r.BaseOffset != int64(10*i) || g.r.LastOffset != int64(10*i+9) || g.r.Epoch != 2 || string(g.r.Data) != fmt.Sprintf("batches %d", i) {
			t.Fatalf("record %d: seq %d %+v", i, g.seq, g.r)
		}
	}
	if got, _ := replayAll(t, w, p, seqs[2]); len(got) != 2 || got[0].seq != seqs[3] {
		t.Fatalf("replay after %d: %+v", seqs[2], got)
	}

	// Purging below the fourth keeps it (the anchor) and the fifth, and
	// appends still chain on the last sequence.
	if err := w.Purge(ctx, p, seqs[3]); err != nil {
		t.Fatal(err)
	}
	if got, _ := replayAll(t, w, p, 0); len(got) != 2 || got[0].seq != seqs[3] || got[1].seq != seqs[4] {
		t.Fatalf("after purge: %+v", got)
	}
	if ls, err := w.LastSeq(ctx, p); err != nil || ls != last {
		t.Fatalf("LastSeq after purge = %d, %v; want %d", ls, err, last)
	}
	if _, err := w.Append(ctx, p, wal.Record{Epoch: 2, BaseOffset: 50, LastOffset: 50}, last); err != nil {
		t.Fatalf("append after purge: %v", err)
	}
}

func TestAppendFencesStaleWriter(t *testing.T) {
	ctx := context.Background()
	js := testenv.NATS(t).JetStream(t)
	w := open(t, js, wal.Config{})
	p := part(0)

	seq, err := w.Append(ctx, p, wal.Record{Epoch: 1, BaseOffset: 0, LastOffset: 0}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A new leader reads the tail and appends after it.
	newLeader := open(t, js, wal.Config{})
	last, err := newLeader.LastSeq(ctx, p)
	if err != nil || last != seq {
		t.Fatalf("LastSeq = %d, %v; want %d", last, err, seq)
	}
	if _, err := newLeader.Append(ctx, p, wal.Record{Epoch: 2, BaseOffset: 1, LastOffset: 1}, last); err != nil {
		t.Fatal(err)
	}
	// The old leader, still expecting seq, is refused, and so is an empty
	// expectation on a subject that has messages.
	if _, err := w.Append(ctx, p, wal.Record{Epoch: 1, BaseOffset: 1, LastOffset: 1}, seq); !errors.Is(err, wal.ErrFenced) {
		t.Fatalf("stale append: %v, want ErrFenced", err)
	}
	if _, err := w.Append(ctx, p, wal.Record{Epoch: 1, BaseOffset: 1, LastOffset: 1}, 0); !errors.Is(err, wal.ErrFenced) {
		t.Fatalf("append expecting an empty subject: %v, want ErrFenced", err)
	}
	got, _ := replayAll(t, w, p, 0)
	if len(got) != 2 || got[1].r.Epoch != 2 {
		t.Fatalf("chain: %+v", got)
	}
}

func TestReplayRefusesCorruptRecord(t *testing.T) {
	ctx := context.Background()
	js := testenv.NATS(t).JetStream(t)
	w := open(t, js, wal.Config{})
	p := part(3)
	seq, err := w.Append(ctx, p, wal.Record{Epoch: 1, Data: []byte("good")}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a data byte of a real record by publishing a copy with it
	// changed on the same subject.
	s, err := js.Stream(ctx, w.StreamNames()[0])
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(ctx, seq)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), m.Data...)
	bad[len(bad)-1] ^= 1
	if _, err := js.Publish(ctx, m.Subject, bad); err != nil {
		t.Fatal(err)
	}
	_, err = w.Replay(ctx, p, 0, func(uint64, wal.Record) error { return nil })
	if !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("replay of a corrupt record: %v, want ErrCorrupt", err)
	}
}

func TestAppendTooLarge(t *testing.T) {
	w := open(t, testenv.NATS(t).JetStream(t), wal.Config{})
	_, err := w.Append(context.Background(), part(0), wal.Record{Data: make([]byte, w.MaxDataBytes()+1)}, 0)
	if !errors.Is(err, wal.ErrTooLarge) {
		t.Fatalf("append over max payload: %v, want ErrTooLarge", err)
	}
	if _, err := w.Append(context.Background(), part(0), wal.Record{Data: make([]byte, w.MaxDataBytes())}, 0); err != nil {
		t.Fatalf("append at max payload: %v", err)
	}
}

func TestShardCountChange(t *testing.T) {
	ctx := context.Background()
	js := testenv.NATS(t).JetStream(t)
	open(t, js, wal.Config{Shards: 4})
	// Empty shards may be resized; the extra streams go.
	w := open(t, js, wal.Config{Shards: 2})
	if _, err := js.Stream(ctx, "strata_WAL_3"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("stream of a dropped shard: %v", err)
	}
	// Spread: 16 partitions land on both shards.
	for i := range int32(16) {
		if _, err := w.Append(ctx, part(i), wal.Record{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range w.StreamNames() {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if n := s.CachedInfo().State.Msgs; n == 0 || n == 16 {
			t.Errorf("stream %s holds %d of 16 partitions' messages", name, n)
		}
	}
	if _, err := wal.Open(ctx, js, wal.Config{Shards: 3}); !errors.Is(err, wal.ErrShardsChanged) {
		t.Fatalf("open with another shard count over data: %v, want ErrShardsChanged", err)
	}
	if _, err := wal.Open(ctx, js, wal.Config{Shards: 2, Replicas: 3}); err == nil {
		t.Fatal("open with other replicas than the streams' succeeded")
	}
}

// TestReplayMany: a long tail (the bulk path through an ordered consumer)
// replays every record once, in order, from the start and from the middle,
// with other partitions' messages interleaved in the stream.
func TestReplayMany(t *testing.T) {
	ctx := context.Background()
	w := open(t, testenv.NATS(t).JetStream(t), wal.Config{})
	p, other := part(1), part(2)
	var seqs []uint64
	last := uint64(0)
	otherLast := uint64(0)
	for i := range 300 {
		seq, err := w.Append(ctx, p, wal.Record{Epoch: 1, BaseOffset: int64(i), LastOffset: int64(i), Data: fmt.Appendf(nil, "%d", i)}, last)
		if err != nil {
			t.Fatal(err)
		}
		seqs, last = append(seqs, seq), seq
		if otherLast, err = w.Append(ctx, other, wal.Record{Epoch: 1, BaseOffset: int64(i), LastOffset: int64(i)}, otherLast); err != nil {
			t.Fatal(err)
		}
	}
	for _, from := range []int{0, 100} {
		after := uint64(0)
		if from > 0 {
			after = seqs[from-1]
		}
		got, end := replayAll(t, w, p, after)
		if end != last || len(got) != 300-from {
			t.Fatalf("replay after %d: %d records through %d, want %d through %d", after, len(got), end, 300-from, last)
		}
		for i, g := range got {
			if want := from + i; g.seq != seqs[want] || g.r.BaseOffset != int64(want) || string(g.r.Data) != fmt.Sprint(want) {
				t.Fatalf("replay after %d, record %d: seq %d offset %d %q", after, i, g.seq, g.r.BaseOffset, g.r.Data)
			}
		}
	}
}

// TestGroupCommit: hundreds of partitions appending at once, each its own
// chain, share batches; every append lands once, in its chain's order, and a
// stale writer among them is still fenced.
func TestGroupCommit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes int
	}{{"one-node", 1}, {"three-nodes", 3}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			js := testenv.JetStreamOn(t, tc.nodes)
			w := open(t, js, wal.Config{Shards: 2, Replicas: tc.nodes})
			const parts, rounds = 300, 4
			g, gctx := errgroup.WithContext(ctx)
			lasts := make([]uint64, parts)
			for i := range parts {
				g.Go(func() error {
					var last uint64
					for k := range rounds {
						r := wal.Record{Epoch: 1, BaseOffset: int64(k), LastOffset: int64(k), Data: fmt.Appendf(nil, "%d/%d", i, k)}
						seq, err := w.Append(gctx, part(int32(i)), r, last)
						if err != nil {
							return fmt.Errorf("partition %d, append %d: %w", i, k, err)
						}
						last = seq
					}
					lasts[i] = last
					return nil
				})
			}
			if err := g.Wait(); err != nil {
				t.Fatal(err)
			}
			if s := w.GroupStats(); s.Batches == 0 || s.BatchedAppends < 2*uint64(w.MinBatch()) {
				t.Fatalf("%d appends at once made no batches: %+v", parts*rounds, s)
			}
			for i := range parts {
				got, end := replayAll(t, w, part(int32(i)), 0)
				if len(got) != rounds || end != lasts[i] {
					t.Fatalf("partition %d: %d records through %d, want %d through %d", i, len(got), end, rounds, lasts[i])
				}
				for k, g := range got {
					if g.r.BaseOffset != int64(k) || string(g.r.Data) != fmt.Sprintf("%d/%d", i, k) {
						t.Fatalf("partition %d, record %d: %+v", i, k, g.r)
					}
				}
			}
			// The chains are fenced as before: a writer expecting an
			// older sequence is refused.
			if _, err := w.Append(ctx, part(5), wal.Record{Epoch: 1}, lasts[5]-1); !errors.Is(err, wal.ErrFenced) {
				t.Fatalf("stale append after the group commit: %v, want ErrFenced", err)
			}
		})
	}
}

// TestOpenAllowsBatchesOnOldStreams: a WAL stream made before the group
// commit (no atomic publishes) is updated to allow them when opened.
func TestOpenAllowsBatchesOnOldStreams(t *testing.T) {
	ctx := context.Background()
	js := testenv.NATS(t).JetStream(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "strata_WAL_0", Subjects: []string{"strata.wal.0.>"},
		Storage: jetstream.FileStorage, Replicas: 1, DenyDelete: true}); err != nil {
		t.Fatal(err)
	}
	last, err := js.Publish(ctx, "strata.wal.0."+strings.Repeat("ab", 16)+".0", []byte("kept"))
	if err != nil {
		t.Fatal(err)
	}
	open(t, js, wal.Config{})
	s, err := js.Stream(ctx, "strata_WAL_0")
	if err != nil {
		t.Fatal(err)
	}
	if info := s.CachedInfo(); !info.Config.AllowAtomicPublish || info.State.LastSeq != last.Sequence {
		t.Fatalf("after open: atomic publish %v, last sequence %d (want true, %d)", info.Config.AllowAtomicPublish, info.State.LastSeq, last.Sequence)
	}
}
