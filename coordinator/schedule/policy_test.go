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

// sized returns entries of the given lengths, one offset each, in the order
// given; whole marks merged segments.
func sized(whole bool, lengths ...int64) []segment.IndexEntry {
	var out []segment.IndexEntry
	for i, n := range lengths {
		out = append(out, segment.IndexEntry{Object: "o", BaseOffset: int64(i), LastOffset: int64(i), Length: n, Whole: whole})
	}
	return out
}

func renumber(entries []segment.IndexEntry) index.Partition {
	for i := range entries {
		entries[i].BaseOffset, entries[i].LastOffset = int64(i), int64(i)
	}
	return index.Partition{Entries: entries, HighWatermark: int64(len(entries))}
}

func TestPlanMerge(t *testing.T) {
	cfg := MergeConfig{TargetBytes: 1 << 20, FanIn: 4}
	kb := int64(1 << 10)
	for _, c := range []struct {
		name      string
		st        index.Partition
		from, len int // the run expected: entries[from:from+len], or len 0 for none
	}{
		{"too few", renumber(sized(false, kb, kb, kb)), 0, 0},
		{"enough small ones", renumber(sized(false, kb, kb, kb, kb, kb)), 0, 5},
		{"similar sizes merge", renumber(sized(false, kb, 2*kb, 3*kb, 4*kb)), 0, 4},
		{"a much larger one breaks the run", renumber(sized(false, 40*kb, kb, kb, kb, kb)), 1, 4},
		{"sealed segments are skipped", renumber(append(sized(true, 600*kb, 600*kb), sized(false, kb, kb, kb, kb)...)), 2, 4},
		{"cut at the target", renumber(sized(false, 300*kb, 300*kb, 300*kb, 300*kb, 300*kb)), 0, 0},
		{"merged small segments merge again", renumber(append(sized(true, 40*kb, 40*kb, 40*kb, 40*kb), sized(false, kb)...)), 0, 4},
		{"below the log start is ignored", func() index.Partition {
			st := renumber(sized(false, kb, kb, kb, kb, kb, kb))
			st.LogStartOffset = 3
			return st
		}(), 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := PlanMerge(c.st, Policy{SegmentBytes: 1 << 30}, cfg)
			if c.len == 0 {
				if got != nil {
					t.Fatalf("planned %d entries from %d, want none", len(got), got[0].BaseOffset)
				}
				return
			}
			if len(got) != c.len || got[0].BaseOffset != int64(c.from) {
				t.Fatalf("planned %d entries from %v, want %d from %d", len(got), got, c.len, c.from)
			}
		})
	}
	// segment.ms rolls a run: never more of it (the merge would cut it
	// into as many segments again), and a rolled run merges even when
	// shorter than FanIn; a run not yet rolled waits for FanIn entries.
	spanned := renumber(sized(false, kb, kb, kb, kb, kb, kb))
	for i := range spanned.Entries {
		spanned.Entries[i].MaxTimestamp = int64(1000 * i)
	}
	if got := PlanMerge(spanned, Policy{SegmentMs: 2500}, cfg); len(got) != 3 || got[0].BaseOffset != 0 {
		t.Fatalf("planned %v with segment.ms 2500, want the first 3 entries", got)
	}
	if got := PlanMerge(spanned, Policy{SegmentMs: 10_000}, cfg); len(got) != 6 {
		t.Fatalf("planned %d entries within segment.ms, want 6", len(got))
	}
	wholes := renumber(sized(true, kb, kb, kb))
	for i := range wholes.Entries {
		wholes.Entries[i].MaxTimestamp = int64(2000 * i)
	}
	if got := PlanMerge(wholes, Policy{SegmentMs: 2500}, cfg); got != nil {
		t.Fatalf("planned %d merged segments rolled by segment.ms, want none", len(got))
	}
	if got := PlanMerge(renumber(sized(false, kb, kb, kb)), Policy{SegmentMs: 10_000}, cfg); got != nil {
		t.Fatalf("planned %d entries of a run segment.ms has not rolled", len(got))
	}
	// segment.bytes lowers the target.
	if got := cfg.Target(Policy{SegmentBytes: 1000}); got != 1000 {
		t.Fatalf("target %d with segment.bytes 1000", got)
	}
}

func TestPlanClean(t *testing.T) {
	// blocks(4)'s newest block ends at 4000: segment.ms 1000 has rolled it
	// by 10,000.
	compact := Policy{Compact: true, MinCleanableDirtyRatio: 0.5, MaxCompactionLagMs: 1 << 62, SegmentMs: 1000}
	for _, c := range []struct {
		name     string
		st       index.Partition
		pol      Policy
		now      int64
		from, to int64
		due      bool
	}{
		{"not compacted", blocks(4), Policy{Delete: true}, 10_000, 0, 0, false},
		{"all dirty", blocks(4), compact, 10_000, 0, 40, true},
		{"dirty ratio below the minimum", func() index.Partition { st := blocks(4); st.CleanedOffset = 30; return st }(), compact, 10_000, 0, 0, false},
		{"dirty ratio at the minimum", func() index.Partition { st := blocks(4); st.CleanedOffset = 20; return st }(), compact, 10_000, 20, 40, true},
		{"min.compaction.lag keeps the head", blocks(4), Policy{Compact: true, MinCompactionLagMs: 2500, MaxCompactionLagMs: 1 << 62}, 5000, 0, 20, true},
		{"the newest block is active until segment.ms", blocks(4), Policy{Compact: true, SegmentMs: 7000, MaxCompactionLagMs: 1 << 62}, 10_000, 0, 30, true},
		{"max.compaction.lag forces a clean", func() index.Partition { st := blocks(4); st.CleanedOffset = 30; return st }(),
			Policy{Compact: true, MinCleanableDirtyRatio: 0.9, MaxCompactionLagMs: 1000, SegmentMs: 1000}, 10_000, 30, 40, true},
		{"a tombstone horizon passed", func() index.Partition {
			st := blocks(4)
			st.CleanedOffset, st.DeleteHorizonMs = 40, 9000
			return st
		}(), compact, 10_000, 0, 40, true},
		{"a tombstone horizon ahead", func() index.Partition {
			st := blocks(4)
			st.CleanedOffset, st.DeleteHorizonMs = 40, 11_000
			return st
		}(), compact, 10_000, 0, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			from, to, due := PlanClean(c.st, c.pol, c.now)
			if due != c.due || (due && (from != c.from || to != c.to)) {
				t.Fatalf("planned [%d, %d) due %v, want [%d, %d) due %v", from, to, due, c.from, c.to, c.due)
			}
		})
	}
}
