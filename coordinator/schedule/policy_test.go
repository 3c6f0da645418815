package schedule

import (
	"testing"

	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/segment"
)

// blocks returns a partition of n blocks of 100 bytes and 10 offsets each,
// block i's newest record at timestamp 1000*(i+1).
func blocks(n int) index.Partition {
	var st index.Partition
	for i := range n {
		st.Entries = append(st.Entries, segment.IndexEntry{Object: "o", BaseOffset: int64(10 * i), LastOffset: int64(10*i + 9),
			MaxTimestamp: int64(1000 * (i + 1)), Length: 100, Records: 10})
	}
	st.HighWatermark = int64(10 * n)
	return st
}

func TestRetentionStart(t *testing.T) {
	deletePolicy := func(ms, bytes int64) Policy { return Policy{Delete: true, RetentionMs: ms, RetentionBytes: bytes} }
	for _, c := range []struct {
		name  string
		st    index.Partition
		pol   Policy
		now   int64
		start int64
	}{
		{"nothing old", blocks(5), deletePolicy(10_000, -1), 5000, 0},
		{"two blocks older than retention.ms", blocks(5), deletePolicy(2500, -1), 5000, 20},
		{"all older", blocks(5), deletePolicy(100, -1), 100_000, 50},
		{"forever", blocks(5), deletePolicy(-1, -1), 1 << 50, 0},
		{"compact only", blocks(5), Policy{Compact: true, RetentionMs: 1, RetentionBytes: 1}, 1 << 50, 0},
		{"retention.bytes keeps the fewest blocks holding it", blocks(5), deletePolicy(-1, 250), 0, 20},
		{"retention.bytes exactly a block boundary", blocks(5), deletePolicy(-1, 300), 0, 20},
		{"retention.bytes 0 empties the log", blocks(5), deletePolicy(-1, 0), 0, 50},
		{"stops at the first block to keep", func() index.Partition {
			st := blocks(5)
			st.Entries[1].MaxTimestamp = 1 << 40 // a young block in front of old ones
			return st
		}(), deletePolicy(1000, -1), 10_000, 10},
		{"never moves down", func() index.Partition { st := blocks(5); st.LogStartOffset = 35; return st }(), deletePolicy(-1, -1), 0, 35},
		{"counts only bytes above the start", func() index.Partition { st := blocks(5); st.LogStartOffset = 20; return st }(), deletePolicy(-1, 200), 0, 30},
		{"empty", index.Partition{}, deletePolicy(1, 0), 1 << 50, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := RetentionStart(c.st, c.pol, c.now); got != c.start {
				t.Fatalf("start %d, want %d", got, c.start)
			}
		})
	}
}

func TestParsePolicy(t *testing.T) {
	cfg := map[string]string{
		"cleanup.policy": "compact, delete", "retention.ms": "604800000", "retention.bytes": "-1",
		"delete.retention.ms": "86400000", "min.compaction.lag.ms": "0", "max.compaction.lag.ms": "9223372036854775807",
		"min.cleanable.dirty.ratio": "0.5", "segment.ms": "604800000", "segment.bytes": "1073741824",
	}
	p, err := ParsePolicy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Delete || !p.Compact || p.RetentionMs != 604800000 || p.RetentionBytes != -1 || p.MinCleanableDirtyRatio != 0.5 || p.MaxCompactionLagMs != 1<<63-1 {
		t.Fatalf("parsed %+v", p)
	}
	cfg["retention.ms"] = "soon"
	if _, err := ParsePolicy(cfg); err == nil {
		t.Fatal("a bad value parsed")
	}
}
