package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/stratalog/strata/tiered/index"
)

// Headers of JetStream's atomic batch publish (ADR-50, nats-server 2.12):
// the messages of one batch id are staged by the stream leader and stored
// together, with consecutive sequences, or not at all; each keeps its own
// expected-last-subject-sequence check.
const (
	batchIDHeader     = "Nats-Batch-Id"
	batchSeqHeader    = "Nats-Batch-Sequence"
	batchCommitHeader = "Nats-Batch-Commit"
)

// maxHeadsPerBatch is how many head records one atomic batch carries;
// nats-server's default limit is 1,000 messages per batch.
const maxHeadsPerBatch = 500

// batchCommitTimeout bounds the wait for a batch's answer, as the JetStream
// client's default API timeout bounds the KV calls: a commit that reaches a
// server no longer leading the stream is never answered, and without a bound
// the flush waited forever.
const batchCommitTimeout = 5 * time.Second

// commitParallelism bounds the chunk writes, head reads and single commits
// CommitPartitions runs at once. The single commits are R3 round trips that
// JetStream batches when many are in flight.
const commitParallelism = 1024

// CommitPartitions commits several partitions' states. Each result is what
// CommitPartition would have returned for that commit; the commits are
// independent, and one failing does not fail the others.
//
// The head records travel as atomic batches, up to maxHeadsPerBatch each,
// with every record's compare-and-swap checked on its own: a flush of a
// thousand partitions costs one stream proposal instead of a thousand. A
// batch the stream refuses as a whole (one head moved, or a server without
// atomic publish) is retried one commit at a time, so that the others land
// and the one that lost is named. A first commit (no revision yet) always
// goes alone, as CommitPartition creates it.
func (s *Store) CommitPartitions(ctx context.Context, commits []index.Commit) []index.CommitResult {
	results := make([]index.CommitResult, len(commits))
	heads := make([]preparedHead, len(commits))
	prepared := make([]bool, len(commits))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(commitParallelism)
	for i, c := range commits {
		g.Go(func() error {
			h, err := s.prepareHead(gctx, c.TP, c.Next, c.PrevRevision)
			if err != nil {
				results[i].Err = err
				return nil
			}
			heads[i], prepared[i] = h, true
			return nil
		})
	}
	_ = g.Wait() // errors are per commit

	var batched, single []int
	for i := range commits {
		switch {
		case !prepared[i]:
		case s.atomicHeads && heads[i].prev != 0:
			batched = append(batched, i)
		default:
			single = append(single, i)
		}
	}
	for len(batched) > 0 {
		n := min(len(batched), maxHeadsPerBatch)
		idx := batched[:n]
		batched = batched[n:]
		group := make([]preparedHead, len(idx))
		for j, i := range idx {
			group[j] = heads[i]
		}
		revs, err := s.publishHeads(ctx, group)
		if err != nil {
			s.log.Debug("partition heads batch refused, committing one at a time", "heads", len(idx), "err", err)
			single = append(single, idx...)
			continue
		}
		for j, i := range idx {
			h := heads[i]
			s.heads.remember(h.tp, revs[j], headSummary{LeaderEpoch: h.next.LeaderEpoch, Chunks: h.next.Chunks, Entries: h.next.Entries})
			results[i] = index.CommitResult{Stored: h.next, Revision: revs[j]}
		}
	}

	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(commitParallelism)
	for _, i := range single {
		g.Go(func() error {
			stored, rev, err := s.writeHead(gctx, heads[i], true)
			results[i] = index.CommitResult{Stored: stored, Revision: rev, Err: err}
			return nil
		})
	}
	_ = g.Wait()
	return results
}

// batchAck is JetStream's answer to a batch's commit message.
type batchAck struct {
	Error   *jetstream.APIError `json:"error,omitempty"`
	Seq     uint64              `json:"seq"`
	BatchID string              `json:"batch"`
	Count   int                 `json:"count"`
}

// publishHeads writes heads as one atomic batch, each with its expected
// revision, and returns their new revisions. An error means none was
// written, unless the answer was lost: then all may have been, and the
// single commits that follow see their own writes as conflicts, which is what
// a lost answer to CommitPartition looks like too.
func (s *Store) publishHeads(ctx context.Context, heads []preparedHead) ([]uint64, error) {
	msgs := make([]casMsg, len(heads))
	for i, h := range heads {
		msgs[i] = casMsg{subject: s.partitionsSubject + h.key, data: h.data, prev: h.prev}
	}
	return publishAtomic(ctx, s.js.Conn(), msgs)
}

// casMsg is one message of an atomic batch: data for subject, stored only if
// the subject's last sequence is prev (0: the subject has no message).
type casMsg struct {
	subject string
	data    []byte
	prev    uint64
}

// publishAtomic publishes msgs as one atomic batch and returns their
// sequences. An error means none was stored, unless the answer was lost.
func publishAtomic(ctx context.Context, nc *nats.Conn, msgs []casMsg) ([]uint64, error) {
	var raw [12]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never returns an error
	id := hex.EncodeToString(raw[:])
	var reply *nats.Msg
	for i, c := range msgs {
		m := nats.NewMsg(c.subject)
		m.Data = c.data
		m.Header.Set(batchIDHeader, id)
		m.Header.Set(batchSeqHeader, strconv.Itoa(i+1))
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(c.prev, 10))
		if i < len(msgs)-1 {
			if err := nc.PublishMsg(m); err != nil {
				return nil, fmt.Errorf("stage %s: %w", c.subject, err)
			}
			continue
		}
		m.Header.Set(batchCommitHeader, "1")
		rctx, cancel := context.WithTimeout(ctx, batchCommitTimeout)
		var err error
		reply, err = nc.RequestMsgWithContext(rctx, m)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("commit batch of %d: %w", len(msgs), err)
		}
	}
	var ack batchAck
	if err := json.Unmarshal(reply.Data, &ack); err != nil {
		return nil, fmt.Errorf("decode batch ack: %w", err)
	}
	switch {
	case ack.Error != nil:
		return nil, ack.Error
	case ack.BatchID != id || ack.Count != len(msgs) || ack.Seq < uint64(len(msgs)):
		return nil, fmt.Errorf("batch ack %+v does not match batch %s of %d", ack, id, len(msgs))
	}
	// An atomic batch is stored with consecutive sequences, ending at the
	// commit's.
	seqs := make([]uint64, len(msgs))
	first := ack.Seq - uint64(len(msgs)) + 1
	for i := range seqs {
		seqs[i] = first + uint64(i)
	}
	return seqs, nil
}

// enableAtomicBatches turns on atomic batch publish on a bucket's stream and
// reports whether the server kept it: servers before 2.12 do not know the
// setting, and the bucket's writes are then made one at a time.
func (s *Store) enableAtomicBatches(ctx context.Context, stream string) (bool, error) {
	info, err := s.streamConfig(ctx, stream)
	if err != nil {
		return false, err
	}
	if info.AllowAtomicPublish {
		return true, nil
	}
	info.AllowAtomicPublish = true
	if _, err := s.js.UpdateStream(ctx, info); err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) {
			s.log.Warn("atomic batch publish refused: partition heads commit one at a time", "stream", stream, "err", err)
			return false, nil
		}
		return false, fmt.Errorf("turn on atomic batches on stream %s: %w", stream, err)
	}
	info, err = s.streamConfig(ctx, stream)
	if err != nil {
		return false, err
	}
	return info.AllowAtomicPublish, nil
}
