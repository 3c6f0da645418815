package wal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stratalog/strata/internal/testenv"
)

// chainRecord is one record a chain replay returned.
type chainRecord struct {
	seq uint64
	r   Record
}

// replayChain returns the records on writer's chain after sequence after,
// per partition.
func replayChain(t *testing.T, l *Log, writer string, shard int, after uint64) map[Partition][]chainRecord {
	t.Helper()
	got := map[Partition][]chainRecord{}
	if _, err := l.ReplayChain(context.Background(), writer, shard, after, func(seq uint64, e Entry) error {
		got[e.Partition] = append(got[e.Partition], chainRecord{seq, e.Record})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// queueRound queues reqs on c as if a round were running, so they all wait
// for the next one, and then runs it.
func queueRound(c *chain, reqs []*chainReq) {
	c.mu.Lock()
	c.running = true
	c.queue = append(c.queue, reqs...)
	c.mu.Unlock()
	c.run()
}

func chainReqs(n, size int, epoch int32, tag string) []*chainReq {
	reqs := make([]*chainReq, n)
	for i := range reqs {
		data := bytes.Repeat([]byte{byte(i)}, size)
		copy(data, fmt.Sprintf("%s/%d", tag, i))
		reqs[i] = newChainReq(Partition{TopicID: [16]byte{7}, Partition: int32(i)},
			Record{Epoch: epoch, BaseOffset: 0, LastOffset: 0, Data: data}, len(data), func(uint64, error) {})
	}
	return reqs
}

// TestChainRound: the appends of 300 partitions waiting at once go as one
// round: one message when they fit in one, else one atomic batch of
// messages, each stored once and replayed per partition from the chain; on
// one node and at R3.
func TestChainRound(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes int
	}{{"one-node", 1}, {"three-nodes", 3}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			js := testenv.JetStreamOn(t, tc.nodes)
			l, err := Open(ctx, js, Config{Replicas: tc.nodes})
			if err != nil {
				t.Fatal(err)
			}
			w, err := l.Writer("gw1_round")
			if err != nil {
				t.Fatal(err)
			}
			c := w.chains[0]

			small := chainReqs(300, 100, 1, "small")
			queueRound(c, small)
			for i, req := range small {
				if req.err != nil || req.seq != small[0].seq {
					t.Fatalf("small append %d: sequence %d, %v; want %d", i, req.seq, req.err, small[0].seq)
				}
			}
			if m, a := l.chainMessages.Load(), l.chainAppends.Load(); m != 1 || a != 300 {
				t.Fatalf("300 small appends in one round made %d messages for %d appends, want 1 for 300", m, a)
			}

			// 300 records of a hundredth of the max payload each: one
			// batch of several messages at consecutive sequences.
			large := chainReqs(300, l.maxPayload/100, 1, "large")
			queueRound(c, large)
			first, last := large[0].seq, large[len(large)-1].seq
			if msgs := l.chainMessages.Load() - 1; msgs < 3 || last-first+1 != msgs {
				t.Fatalf("300 large appends: %d messages at sequences %d to %d", msgs, first, last)
			}
			for i, req := range large {
				if req.err != nil || req.seq < first || req.seq > last || (i > 0 && req.seq < large[i-1].seq) {
					t.Fatalf("large append %d: sequence %d, %v", i, req.seq, req.err)
				}
			}
			all, afterSmall := replayChain(t, l, c.name, 0, 0), replayChain(t, l, c.name, 0, small[0].seq)
			if len(all) != 300 || len(afterSmall) != 300 {
				t.Fatalf("the chain holds records of %d partitions, %d after the small round; want 300", len(all), len(afterSmall))
			}
			for i := range 300 {
				p := Partition{TopicID: [16]byte{7}, Partition: int32(i)}
				got := all[p]
				if len(got) != 2 || got[0].seq != small[i].seq || got[1].seq != large[i].seq ||
					!bytes.Equal(got[0].r.Data, small[i].entry.Record.Data) || !bytes.Equal(got[1].r.Data, large[i].entry.Record.Data) {
					t.Fatalf("partition %d: replayed %d records, want its small and its large one", i, len(got))
				}
				if after := afterSmall[p]; len(after) != 1 || after[0].seq != large[i].seq {
					t.Fatalf("partition %d after sequence %d: %d records", i, small[i].seq, len(after))
				}
			}
		})
	}
}

// TestChainFence: a fence on a writer's chain refuses the writer's next
// message as a whole, holding records of the fenced and another partition:
// none of its records is stored. The writer sends the other partition's
// record again alone, fails the fenced one's, and may append to the fenced
// partition again under a later epoch.
func TestChainFence(t *testing.T) {
	ctx := context.Background()
	js := testenv.NATS(t).JetStream(t)
	l, err := Open(ctx, js, Config{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := l.Writer("gw1_old")
	if err != nil {
		t.Fatal(err)
	}
	// Both on one chain, so that one message carries both.
	fenced, other := Partition{TopicID: [16]byte{3}, Partition: 0}, Partition{TopicID: [16]byte{3}, Partition: 1}
	for w.chainOf(other) != w.chainOf(fenced) {
		other.Partition++
	}
	name := w.ChainOf(fenced)
	before, err := w.Append(ctx, fenced, Record{Epoch: 1, Data: []byte("before")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(ctx, other, Record{Epoch: 1, Data: []byte("other before")}); err != nil {
		t.Fatal(err)
	}

	// A new leader of fenced, at epoch 2, fences the writer's chain.
	fence, err := l.Fence(ctx, name, fenced, 2)
	if err != nil {
		t.Fatal(err)
	}
	late := []*chainReq{
		newChainReq(fenced, Record{Epoch: 1, BaseOffset: 1, LastOffset: 1, Data: []byte("late fenced")}, len("late fenced"), func(uint64, error) {}),
		newChainReq(other, Record{Epoch: 1, BaseOffset: 1, LastOffset: 1, Data: []byte("late other")}, len("late other"), func(uint64, error) {}),
	}
	queueRound(w.chainOf(fenced), late)
	if !errors.Is(late[0].err, ErrFenced) {
		t.Fatalf("the fenced partition's late append: %v, want ErrFenced", late[0].err)
	}
	if late[1].err != nil || late[1].seq <= fence {
		t.Fatalf("the other partition's late append: sequence %d, %v; want one after the fence at %d", late[1].seq, late[1].err, fence)
	}
	if r := l.chainRefusals.Load(); r != 1 {
		t.Fatalf("%d refusals of the chain, want 1", r)
	}

	// The refused message is nowhere: the stream holds the two first
	// appends, the fence's copy on the chain and the resent record (the
	// writer emptied its fence subject once it read the fence), and no
	// message carries the fenced partition's late record.
	s := l.streams[0]
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(">"))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 4 || info.State.Subjects[w.chainOf(fenced).fenceSubject] != 0 {
		t.Fatalf("the stream holds %d messages, %v; want 4, none on the fence subject", info.State.Msgs, info.State.Subjects)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // the fence subject's, purged
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(m.Data, []byte("late fenced")) {
			t.Fatalf("sequence %d holds the fenced partition's late record", seq)
		}
	}
	// The new leader replays exactly the records below its fence.
	if got := replayChain(t, l, name, 0, 0)[fenced]; len(got) != 1 || got[0].seq != before || string(got[0].r.Data) != "before" {
		t.Fatalf("replay of the fenced partition: %+v", got)
	}
	if got := replayChain(t, l, name, 0, 0)[other]; len(got) != 2 || string(got[1].r.Data) != "late other" {
		t.Fatalf("replay of the other partition: %+v", got)
	}

	// Known fenced: refused without a round trip. A later claim appends.
	if _, err := w.Append(ctx, fenced, Record{Epoch: 1, Data: []byte("still late")}); !errors.Is(err, ErrFenced) {
		t.Fatalf("append at the fenced epoch: %v, want ErrFenced", err)
	}
	seq, err := w.Append(ctx, fenced, Record{Epoch: 3, BaseOffset: 5, LastOffset: 5, Data: []byte("reclaimed")})
	if err != nil {
		t.Fatalf("append at a later epoch: %v", err)
	}
	if got := replayChain(t, l, name, 0, fence)[fenced]; len(got) != 1 || got[0].seq != seq || got[0].r.Epoch != 3 {
		t.Fatalf("replay after the fence: %+v", got)
	}
}

// TestChainFenceTwice: fences published while the writer is between
// rounds, and again after it emptied its fence subject, each refuse its next
// message, on one node and at R3; a round with no fence pending goes
// through at the first attempt.
func TestChainFenceTwice(t *testing.T) {
	for _, nodes := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d-nodes", nodes), func(t *testing.T) {
			ctx := context.Background()
			l, err := Open(ctx, testenv.JetStreamOn(t, nodes), Config{Replicas: nodes})
			if err != nil {
				t.Fatal(err)
			}
			w, err := l.Writer("gw3_twice")
			if err != nil {
				t.Fatal(err)
			}
			base := Partition{TopicID: [16]byte{9}}
			var parts []Partition
			for p := base; len(parts) < 3; p.Partition++ {
				if w.chainOf(p) == w.chainOf(base) {
					parts = append(parts, p)
				}
			}
			appendAll := func(epoch int32) []error {
				errs := make([]error, len(parts))
				for i, p := range parts {
					_, errs[i] = w.Append(ctx, p, Record{Epoch: epoch, Data: []byte("x")})
				}
				return errs
			}
			if errs := appendAll(1); errors.Join(errs...) != nil {
				t.Fatal(errs)
			}
			for round, p := range parts[:2] {
				refusals := l.chainRefusals.Load()
				if _, err := l.Fence(ctx, w.ChainOf(p), p, 2); err != nil {
					t.Fatal(err)
				}
				errs := appendAll(1)
				for i, err := range errs {
					if fenced := i <= round; fenced != errors.Is(err, ErrFenced) {
						t.Fatalf("after fence %d, append of partition %d: %v (fenced: %v)", round+1, parts[i].Partition, err, fenced)
					}
				}
				if r := l.chainRefusals.Load() - refusals; r != 1 {
					t.Fatalf("fence %d: %d refusals, want 1", round+1, r)
				}
				if n := subjectMsgs(t, l, w.chainOf(p).fenceSubject); n != 0 {
					t.Fatalf("fence %d: %d messages left on the fence subject", round+1, n)
				}
			}
		})
	}
}

// subjectMsgs counts the messages on subject in shard 0.
func subjectMsgs(t *testing.T, l *Log, subject string) uint64 {
	t.Helper()
	info, err := l.streams[0].Info(context.Background(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

// TestChainFencesLegacyWriter: a writer of the release before fence subjects
// checked its chain's own last sequence and wrote version 2 records. Fence
// still refuses its next message, and its records below the fence replay.
func TestChainFencesLegacyWriter(t *testing.T) {
	ctx := context.Background()
	js := testenv.NATS(t).JetStream(t)
	l, err := Open(ctx, js, Config{})
	if err != nil {
		t.Fatal(err)
	}
	p := Partition{TopicID: [16]byte{4}, Partition: 3}
	const chainName = "gw0_legacy-0"
	subject := l.chainSubject(l.Shard(p), chainName)
	legacyMsg := func(data string) []byte {
		msg := encodeChain(chainRecords, []Entry{{Partition: p, Record: Record{Epoch: 1, Data: []byte(data)}}})
		msg[0] = chainVersionV2
		finishChain(msg)
		return msg
	}
	ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: legacyMsg("old")}, jetstream.WithExpectLastSequencePerSubject(0))
	if err != nil {
		t.Fatal(err)
	}
	fence, err := l.Fence(ctx, chainName, p, 2)
	if err != nil {
		t.Fatal(err)
	}
	_, err = js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: legacyMsg("late")}, jetstream.WithExpectLastSequencePerSubject(ack.Sequence))
	if apiErrorCode(err) != jetstream.JSErrCodeStreamWrongLastSequence {
		t.Fatalf("the legacy writer's append after the fence: %v, want wrong last sequence", err)
	}
	var got []chainRecord
	if _, err := l.ReplayChain(ctx, chainName, l.Shard(p), 0, func(seq uint64, e Entry) error {
		if seq < fence {
			got = append(got, chainRecord{seq, e.Record})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].seq != ack.Sequence || string(got[0].r.Data) != "old" {
		t.Fatalf("replay below the fence: %+v", got)
	}
}

// TestChainPurge: purging a chain below its last message keeps that message
// as the anchor, and the writer's appends go on after it.
func TestChainPurge(t *testing.T) {
	ctx := context.Background()
	l, err := Open(ctx, testenv.NATS(t).JetStream(t), Config{Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	w, err := l.Writer("gw2_purge")
	if err != nil {
		t.Fatal(err)
	}
	p := Partition{TopicID: [16]byte{5}, Partition: 9}
	var seqs []uint64
	for i := range 4 {
		seq, err := w.Append(ctx, p, Record{Epoch: 1, BaseOffset: int64(i), LastOffset: int64(i), Data: fmt.Appendf(nil, "%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	if last, err := l.ChainLastSeq(ctx, w.ChainOf(p), p); err != nil || last != seqs[3] {
		t.Fatalf("ChainLastSeq = %d, %v; want %d", last, err, seqs[3])
	}
	if err := l.PurgeChain(ctx, w.ChainOf(p), l.Shard(p), seqs[3]); err != nil {
		t.Fatal(err)
	}
	if got := replayChain(t, l, w.ChainOf(p), l.Shard(p), 0)[p]; len(got) != 1 || got[0].seq != seqs[3] {
		t.Fatalf("after purge: %+v", got)
	}
	seq, err := w.Append(ctx, p, Record{Epoch: 1, BaseOffset: 4, LastOffset: 4})
	if err != nil || seq <= seqs[3] {
		t.Fatalf("append after purge: %d, %v", seq, err)
	}
	if _, err := l.Writer("not a token"); err == nil {
		t.Fatal("a writer id with spaces was accepted")
	}
}

// TestWriterPurge: one purge removes the messages of all the writer's
// chains in a shard below a sequence, last messages included, and leaves
// another writer's chains, its own fence subjects and the messages above
// alone; appends go on after it, and a fence still refuses the next one.
func TestWriterPurge(t *testing.T) {
	ctx := context.Background()
	l, err := Open(ctx, testenv.NATS(t).JetStream(t), Config{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	w, err := l.Writer("gw5_purge")
	if err != nil {
		t.Fatal(err)
	}
	other, err := l.Writer("gw5_purge2")
	if err != nil {
		t.Fatal(err)
	}
	// Partitions on three of the writer's chains.
	var parts []Partition
	lanes := map[string]bool{}
	for p := (Partition{TopicID: [16]byte{6}}); len(lanes) < 3; p.Partition++ {
		if !lanes[w.ChainOf(p)] {
			lanes[w.ChainOf(p)] = true
			parts = append(parts, p)
		}
	}
	appendOne := func(w *Writer, p Partition, data string) uint64 {
		t.Helper()
		seq, err := w.Append(ctx, p, Record{Epoch: 1, Data: []byte(data)})
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	for _, p := range parts {
		appendOne(w, p, "old")
	}
	otherSeq := appendOne(other, parts[0], "other")
	if _, err := l.Fence(ctx, w.ChainOf(parts[1]), parts[1], 2); err != nil {
		t.Fatal(err)
	}
	before := appendOne(w, parts[0], "new")
	if err := w.Purge(ctx, 0, before); err != nil {
		t.Fatal(err)
	}
	for i, p := range parts {
		got := replayChain(t, l, w.ChainOf(p), 0, 0)[p]
		if i == 0 && (len(got) != 1 || got[0].seq != before) || i > 0 && len(got) != 0 {
			t.Fatalf("partition %d's chain after the purge: %+v", p.Partition, got)
		}
	}
	if got := replayChain(t, l, other.ChainOf(parts[0]), 0, 0)[parts[0]]; len(got) != 1 || got[0].seq != otherSeq {
		t.Fatalf("the other writer's chain after the purge: %+v", got)
	}
	if n := subjectMsgs(t, l, w.chainOf(parts[1]).fenceSubject); n != 1 {
		t.Fatalf("%d messages on the fence subject after the purge, want the fence", n)
	}
	// The fence, unread until now, refuses the writer's next message.
	if _, err := w.Append(ctx, parts[1], Record{Epoch: 1, Data: []byte("late")}); !errors.Is(err, ErrFenced) {
		t.Fatalf("append after the purge to the fenced partition: %v, want ErrFenced", err)
	}
	if seq := appendOne(w, parts[2], "after"); seq <= before {
		t.Fatalf("append after the purge at sequence %d, not after %d", seq, before)
	}
	if !w.Owns(w.ChainOf(parts[0])) || w.Owns(other.ChainOf(parts[0])) || w.Owns("gw5_purge-3") {
		t.Fatal("Owns: wrong answer for a chain of its own, another writer's or a chain of the release before")
	}
}

// TestRecordBatchesEncodeAsData: a record given as Batches is written
// exactly as the same record with the batches joined in Data, on a
// partition subject and in a chain message, and reads back with Data.
func TestRecordBatchesEncodeAsData(t *testing.T) {
	batches := [][]byte{[]byte("first batch"), {}, []byte("second"), []byte("third batch bytes")}
	joined := Record{Epoch: 3, BaseOffset: 10, LastOffset: 19, Data: bytes.Join(batches, nil)}
	split := Record{Epoch: 3, BaseOffset: 10, LastOffset: 19, Batches: batches}
	if split.DataLen() != len(joined.Data) {
		t.Fatalf("DataLen %d, want %d", split.DataLen(), len(joined.Data))
	}
	if got, want := appendRecord(nil, split), appendRecord(nil, joined); !bytes.Equal(got, want) {
		t.Fatalf("record from batches:\n%x\nwant\n%x", got, want)
	}
	r, err := parseRecord(appendRecord(nil, split))
	if err != nil || !bytes.Equal(r.Data, joined.Data) || r.Batches != nil {
		t.Fatalf("parsed %+v, %v", r, err)
	}
	p := Partition{TopicID: [16]byte{1}, Partition: 2}
	got := encodeChain(chainRecords, []Entry{{Partition: p, Record: split}, {Partition: p, Record: joined}})
	want := encodeChain(chainRecords, []Entry{{Partition: p, Record: joined}, {Partition: p, Record: joined}})
	if !bytes.Equal(got, want) {
		t.Fatalf("chain message from batches:\n%x\nwant\n%x", got, want)
	}
	kind, entries, err := parseChain(got)
	if err != nil || kind != chainRecords || len(entries) != 2 || !bytes.Equal(entries[0].Record.Data, joined.Data) {
		t.Fatalf("parsed chain message: kind %d, %d entries, %v", kind, len(entries), err)
	}
}
