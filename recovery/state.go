package recovery

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stratalog/strata/tiered"
	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/segment"
)

// replayStates brings the idempotent-producer and transaction state of every
// partition with records the snapshot did not know up to date, by reading
// the batch headers of those records (Config.Concurrency partitions at a
// time): what a recovery reads beyond footers is thus bounded by what was
// written since the snapshot. Without a snapshot nothing is read.
func replayStates(ctx context.Context, cfg Config, snap *Snapshot, topics []*TopicSummary, exists map[string]*object) error {
	if snap == nil {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.Concurrency)
	nowMs := time.Now().UnixMilli()
	for _, t := range topics {
		for _, p := range t.Parts {
			from := p.SnapshotHighWatermark // 0 for a partition the snapshot does not have
			if p.HighWatermark <= from {
				continue
			}
			g.Go(func() error {
				if err := replayPartition(gctx, cfg.Bucket, p, from, exists, nowMs); err != nil {
					return fmt.Errorf("topic %q partition %d: %w", t.Topic.Name, p.Partition, err)
				}
				return nil
			})
		}
	}
	return g.Wait()
}

// replayPartition applies the batches of p's rebuilt index at or above from
// to its state, then aborts, in the state, the transactions still open that
// began at or above from: the transaction coordinator's records of them are
// lost with NATS, so nothing would ever end them. (Those open before the
// snapshot are left to the restored coordinator, which has their records.)
func replayPartition(ctx context.Context, b objstore.Bucket, p *PartitionSummary, from int64, exists map[string]*object, nowMs int64) error {
	st := &p.state
	for _, e := range st.Entries {
		if e.LastOffset < from {
			continue
		}
		for _, blk := range blocksOf(e, exists) {
			if blk.LastOffset < from {
				continue
			}
			data, err := getRange(ctx, b, blk.Object, blk.Position, blk.Length)
			if err != nil {
				return err
			}
			err = batch.Each(data, func(raw []byte, h batch.Header) error {
				if h.LastOffset() >= from {
					tiered.ApplyRecovered(st, raw, h, nowMs)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("batches of %s at %d: %w", blk.Object, blk.Position, err)
			}
		}
	}
	for pid, first := range st.OpenTxns {
		if first >= from {
			st.Aborted = append(st.Aborted, index.AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: st.HighWatermark - 1})
			delete(st.OpenTxns, pid)
			p.AbortedOpen++
		}
	}
	if len(st.OpenTxns) == 0 {
		st.OpenTxns = nil
	}
	return nil
}

// blocksOf returns the blocks entry e stands for: itself, or for a whole
// entry its object's blocks of the partition within its offsets.
func blocksOf(e segment.IndexEntry, exists map[string]*object) []segment.IndexEntry {
	if !e.Whole {
		return []segment.IndexEntry{e}
	}
	var out []segment.IndexEntry
	if o, ok := exists[e.Object]; ok {
		for _, b := range o.blocks {
			if b.TopicID == e.TopicID && b.Partition == e.Partition && b.LastOffset >= e.BaseOffset && b.BaseOffset <= e.LastOffset {
				out = append(out, b)
			}
		}
	}
	return out
}
