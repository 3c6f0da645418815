package tiered

// Transactions in a partition's log, as Kafka's ProducerStateManager (the
// open transactions) and transaction index (the aborted ones) keep them.
//
// A transactional producer's records in a partition are open from its first
// batch until its marker, a control batch the transaction coordinator
// writes through the partition's leader (AppendMarker). The last stable
// offset (LSO) is the first offset of the oldest open transaction, or the
// high watermark: read_committed consumers read below it. An abort marker
// adds the transaction to the aborted index, which read_committed reads
// return for the range they cover so that consumers skip those records.
//
// The state follows durable batches only (appended to the WAL on the wal
// tier, committed to the index on the s3 tier), so a consumer never sees an
// LSO that a lost batch or marker would take back. It is committed with the
// index (index.Partition.OpenTxns and Aborted) and rebuilt past it from the
// WAL on replay, so it survives flushes, restarts and leader changes.
// Aborted transactions wholly below the log start offset are forgotten.

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
)

// applyTxn advances transaction state (open is modified in place) past one
// durable batch b with header h, and returns the aborted index after it.
func applyTxn(open map[int64]int64, aborted []index.AbortedTxn, b []byte, h batch.Header) []index.AbortedTxn {
	if !h.Transactional() || h.ProducerID < 0 {
		return aborted
	}
	if !h.Control() {
		if _, ok := open[h.ProducerID]; !ok {
			open[h.ProducerID] = h.BaseOffset
		}
		return aborted
	}
	first, ok := open[h.ProducerID]
	delete(open, h.ProducerID)
	// A marker the leader wrote always parses; anything else is treated as
	// a commit, which hides nothing.
	if typ, err := batch.MarkerType(b); err == nil && typ == batch.ControlAbort && ok {
		aborted = append(aborted, index.AbortedTxn{ProducerID: h.ProducerID, FirstOffset: first, LastOffset: h.LastOffset()})
	}
	return aborted
}

// lastStable is the LSO of a partition with open transactions open and
// high watermark hw.
func lastStable(open map[int64]int64, hw int64) int64 {
	for _, first := range open {
		hw = min(hw, first)
	}
	return hw
}

// abortedIn returns the aborted transactions that overlap [from, to): the
// ones a read_committed consumer of those offsets must skip.
func abortedIn(aborted []index.AbortedTxn, from, to int64) []index.AbortedTxn {
	var out []index.AbortedTxn
	for _, a := range aborted {
		if a.LastOffset >= from && a.FirstOffset < to {
			out = append(out, a)
		}
	}
	return out
}

// pruneAborted drops the aborted transactions wholly below logStart; it
// returns a new slice when it drops any (snapshots share the old one).
func pruneAborted(aborted []index.AbortedTxn, logStart int64) []index.AbortedTxn {
	i := 0
	for i < len(aborted) && aborted[i].LastOffset < logStart {
		i++
	}
	if i == 0 {
		return aborted
	}
	return slices.Clone(aborted[i:])
}

// nextTxns returns the committed transaction state after batches.
func nextTxns(prev index.Partition, batches []*pending) (map[int64]int64, []index.AbortedTxn) {
	open := maps.Clone(prev.OpenTxns)
	if open == nil {
		open = map[int64]int64{}
	}
	aborted := slices.Clip(prev.Aborted) // never append into a shared array
	for _, pb := range batches {
		aborted = applyTxn(open, aborted, pb.data, pb.h)
	}
	if len(open) == 0 {
		open = nil
	}
	return open, slices.Clip(aborted)
}

// Marker is a transaction marker for AppendMarker.
type Marker = batch.Marker

// AppendMarker appends the commit or abort marker of producer m.ProducerID's
// transaction to the partition, ending its open transaction there. A marker
// whose producer epoch is older than the partition's for that producer gets
// ErrProducerFenced; a newer one starts the producer's new epoch (fencing its
// older writes). Otherwise as Append.
func (l *Log) AppendMarker(ctx context.Context, tp index.TopicPartition, m Marker) (*Appended, error) {
	if m.ProducerID < 0 || m.ProducerEpoch < 0 {
		return nil, fmt.Errorf("tiered: marker of producer %d epoch %d: no such producer", m.ProducerID, m.ProducerEpoch)
	}
	if m.Timestamp == 0 {
		m.Timestamp = l.cfg.Now().UnixMilli()
	}
	return l.Append(ctx, tp, batch.EncodeMarker(m))
}

// ProducerState is what a partition knows of one producer, for
// DescribeProducers.
type ProducerState struct {
	ProducerID    int64
	Epoch         int16
	LastSequence  int32 // -1 when no batch of its epoch is remembered
	LastTimestamp int64 // Unix ms of its last write
	// TxnStartOffset is the first offset of its open transaction, or -1.
	TxnStartOffset int64
}

// Producers returns the partition's producers, by producer id.
func (l *Log) Producers(ctx context.Context, tp index.TopicPartition) ([]ProducerState, error) {
	p, err := l.partition(ctx, tp)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ProducerState, 0, len(p.producers))
	for id, st := range p.producers {
		ps := ProducerState{ProducerID: id, Epoch: st.Epoch, LastSequence: -1, LastTimestamp: st.LastTimestamp, TxnStartOffset: -1}
		if n := len(st.Batches); n > 0 {
			ps.LastSequence = st.Batches[n-1].LastSequence
		}
		if first, ok := p.openTxns[id]; ok {
			ps.TxnStartOffset = first
		}
		out = append(out, ps)
	}
	slices.SortFunc(out, func(a, b ProducerState) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return out, nil
}
