package coordinator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/index"
)

// BenchmarkCommitPartitions commits 1,000 partition heads per op on a
// three-node R3 cluster, as one flush of a gateway leading 1,000 partitions
// does: as atomic batches, and, as the baseline in the same run, one
// compare-and-swap per head with all of them in flight. Heads carry 1 or 128
// index entries in their tail (a head keeps up to maxTailEntries, so 128 is
// the mean once partitions have history): what a commit costs is mostly what
// it writes.
func BenchmarkCommitPartitions(b *testing.B) {
	cluster := testenv.StartNATSCluster(b, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s, err := Open(ctx, cluster.JetStream(b), Config{Replicas: 3})
	if err != nil {
		b.Fatal(err)
	}
	const n = 1000
	for ti, tail := range []int{1, 128} {
		for mi, mode := range []struct {
			name   string
			atomic bool
		}{{"atomic-batches", true}, {"one-cas-per-head", false}} {
			commits := make([]index.Commit, n)
			for i := range commits {
				tp := testTP([16]byte{11, byte(ti), byte(i >> 8), byte(i)}, int32(mi))
				st, rev, err := s.CommitPartition(ctx, tp, testPartition(tp, tail, 1), 0)
				if err != nil {
					b.Fatal(err)
				}
				commits[i] = index.Commit{TP: tp, Next: st, PrevRevision: rev}
			}
			b.Run(fmt.Sprintf("tail-%d/%s", tail, mode.name), func(b *testing.B) {
				s.atomicHeads = mode.atomic
				for range b.N {
					results := s.CommitPartitions(ctx, commits)
					for i, r := range results {
						if r.Err != nil {
							b.Fatal(r.Err)
						}
						commits[i].Next, commits[i].PrevRevision = r.Stored, r.Revision
					}
				}
				b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/flush")
			})
		}
	}
}

// BenchmarkCommitWithHistory is one partition's commit of one new entry, as
// every flush makes, on top of a long history (20,000 entries, about 80
// chunks): what a commit costs should not grow with the history.
func BenchmarkCommitWithHistory(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, testenv.NATS(b).JetStream(b), Config{})
	if err != nil {
		b.Fatal(err)
	}
	tp := testTP([16]byte{12}, 0)
	for _, history := range []int{0, 20_000} {
		st, rev, err := s.CommitPartition(ctx, tp, testPartition(tp, history+1, 1), 0)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("history-%d", history), func(b *testing.B) {
			for range b.N {
				next := st
				base := next.HighWatermark
				next.Entries = append(next.Entries, testEntries(tp, base, 1)...)
				next.HighWatermark = base + 10
				if st, rev, err = s.CommitPartition(ctx, tp, next, rev); err != nil {
					b.Fatal(err)
				}
			}
		})
		tp.Partition++
	}
}
