package schedule

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/segment"
)

// Policy is what a topic's configs say about its log's lifetime, with
// Kafka's names in the comments. Negative limits mean none.
type Policy struct {
	Delete  bool // cleanup.policy contains delete
	Compact bool // cleanup.policy contains compact
	// RetentionMs (retention.ms) and RetentionBytes (retention.bytes, per
	// partition) apply with Delete.
	RetentionMs    int64
	RetentionBytes int64
	// The cleaner's settings, with Compact.
	DeleteRetentionMs      int64   // delete.retention.ms
	MinCompactionLagMs     int64   // min.compaction.lag.ms
	MaxCompactionLagMs     int64   // max.compaction.lag.ms
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio
	// SegmentMs (segment.ms) and SegmentBytes (segment.bytes) roll the
	// per-partition segments merging writes.
	SegmentMs    int64
	SegmentBytes int64
}

// ParsePolicy reads a Policy from a topic's effective configs: every name
// above present with its value or default (the gateway's config table
// supplies them). Values were validated when set, so an error here means a
// record was written by something else.
func ParsePolicy(configs map[string]string) (Policy, error) {
	var p Policy
	for _, part := range strings.Split(configs["cleanup.policy"], ",") {
		switch strings.TrimSpace(part) {
		case "delete":
			p.Delete = true
		case "compact":
			p.Compact = true
		}
	}
	longs := []struct {
		name string
		dst  *int64
	}{
		{"retention.ms", &p.RetentionMs},
		{"retention.bytes", &p.RetentionBytes},
		{"delete.retention.ms", &p.DeleteRetentionMs},
		{"min.compaction.lag.ms", &p.MinCompactionLagMs},
		{"max.compaction.lag.ms", &p.MaxCompactionLagMs},
		{"segment.ms", &p.SegmentMs},
		{"segment.bytes", &p.SegmentBytes},
	}
	for _, l := range longs {
		n, err := strconv.ParseInt(configs[l.name], 10, 64)
		if err != nil {
			return Policy{}, fmt.Errorf("topic config %s=%q: %w", l.name, configs[l.name], err)
		}
		*l.dst = n
	}
	r, err := strconv.ParseFloat(configs["min.cleanable.dirty.ratio"], 64)
	if err != nil {
		return Policy{}, fmt.Errorf("topic config min.cleanable.dirty.ratio=%q: %w", configs["min.cleanable.dirty.ratio"], err)
	}
	p.MinCleanableDirtyRatio = r
	return p, nil
}

// RetentionStart returns the log start offset p's retention allows for st
// at nowMs: past every leading block whose newest record is older than
// retention.ms, and past the oldest blocks while the rest still hold
// retention.bytes or more (Kafka's UnifiedLog.deleteRetentionMsBreachedSegments
// and deleteRetentionSizeBreachedSegments, applied to blocks rather than
// segments). Deletion stops at the first block that must stay, so the log
// keeps no holes. Without Delete it returns st.LogStartOffset.
func RetentionStart(st index.Partition, p Policy, nowMs int64) int64 {
	start := st.LogStartOffset
	if !p.Delete {
		return start
	}
	entries := st.Entries
	i := 0
	for i < len(entries) && entries[i].LastOffset < start {
		i++
	}
	var size int64
	for _, e := range entries[i:] {
		size += e.Length
	}
	for ; i < len(entries); i++ {
		e := entries[i]
		byTime := p.RetentionMs >= 0 && e.MaxTimestamp < nowMs-p.RetentionMs
		bySize := p.RetentionBytes >= 0 && size-e.Length >= p.RetentionBytes
		if !byTime && !bySize {
			break
		}
		size -= e.Length
		start = e.LastOffset + 1
	}
	return max(start, st.LogStartOffset)
}

// NeedsTrim reports whether st's index holds blocks wholly below its log
// start offset (left by a flush that raced a DeleteRecords).
func NeedsTrim(st index.Partition) bool {
	return len(st.Entries) > 0 && st.Entries[0].LastOffset < st.LogStartOffset
}

// Usage is what a partition's index says about its size.
type Usage struct {
	// Bytes is the size of the blocks from the log start offset on.
	Bytes int64
	// DirtyBytes is the size of those at or above the cleaner checkpoint
	// (CleanedOffset): what the next key compaction has not seen yet.
	DirtyBytes int64
	// Entries is the number of index entries; Objects the distinct
	// objects they are in.
	Entries, Objects int
}

// Measure returns st's Usage.
func Measure(st index.Partition) Usage {
	u := Usage{Entries: len(st.Entries)}
	prev := ""
	for _, e := range st.Entries {
		if e.LastOffset >= st.LogStartOffset {
			u.Bytes += e.Length
			if e.LastOffset >= st.CleanedOffset {
				u.DirtyBytes += e.Length
			}
		}
		if e.Object != prev {
			u.Objects++
			prev = e.Object
		}
	}
	return u
}

// Merging: a flush adds an entry (a block of a multi-partition object) to
// each partition it carries, so a partition's index grows with every flush.
// Merging rewrites runs of small entries into per-partition segments, one
// index entry each. A run is merged when it holds at least
// MergeConfig.FanIn consecutive entries of similar size (the largest at most
// sizeSpread times the smallest) that together fit the target: the result
// is then at least twice (typically FanIn times) its largest input, so each
// byte is rewritten a few times on its way to a full segment (about
// log_FanIn(target / flush size) when flushes are even), and a partition
// keeps a bounded number of small entries. Entries of a whole segment of
// half the target or more are never merged again. segment.ms rolls segments
// by record time as Kafka's does: a run never spans more of it (a merge
// cuts its output there, and a run that did would be planned again at every
// pass), and a run that reaches it is merged even when shorter than FanIn,
// since it is as large as it will get.

// sizeSpread is how far apart in size the entries of one merge may be.
const sizeSpread = 4

// MergeConfig tunes PlanMerge.
type MergeConfig struct {
	// TargetBytes caps a merged segment; a topic's segment.bytes lowers it.
	TargetBytes int64
	// FanIn is the fewest entries merged at once.
	FanIn int
}

// Defaults for MergeConfig's zero values.
const (
	DefaultMergeTargetBytes = 128 << 20
	DefaultMergeFanIn       = 8
)

func (c *MergeConfig) ensureDefaults() {
	if c.TargetBytes <= 0 {
		c.TargetBytes = DefaultMergeTargetBytes
	}
	if c.FanIn < 2 {
		c.FanIn = DefaultMergeFanIn
	}
}

// Target is the size merged segments of a topic with p are cut at.
func (c MergeConfig) Target(p Policy) int64 {
	c.ensureDefaults()
	if p.SegmentBytes > 0 {
		return min(c.TargetBytes, p.SegmentBytes)
	}
	return c.TargetBytes
}

// PlanMerge returns the oldest run of st's entries due for merging, or nil.
func PlanMerge(st index.Partition, p Policy, c MergeConfig) []segment.IndexEntry {
	c.ensureDefaults()
	target := c.Target(p)
	sealed := func(e segment.IndexEntry) bool { return e.Whole && e.Length >= target/2 }
	entries := st.Entries
	i := 0
	for i < len(entries) && entries[i].LastOffset < st.LogStartOffset {
		i++
	}
	for ; i < len(entries); i++ {
		if sealed(entries[i]) {
			continue
		}
		j, bytes := i, int64(0)
		lo, hi := entries[i].Length, entries[i].Length
		// Where the run's records start, about: the previous entry's
		// newest record.
		start := entries[i].MaxTimestamp
		if i > 0 {
			start = min(start, entries[i-1].MaxTimestamp)
		}
		rolled := false // the run reaches the next entry's segment.ms
		for j < len(entries) {
			e := entries[j]
			nlo, nhi := min(lo, e.Length), max(hi, e.Length)
			if p.SegmentMs > 0 && e.MaxTimestamp-start > p.SegmentMs {
				rolled = true
				break
			}
			if sealed(e) || bytes+e.Length > target || nhi > sizeSpread*max(nlo, 1) {
				break
			}
			lo, hi, bytes = nlo, nhi, bytes+e.Length
			j++
		}
		// A run segment.ms rolls is complete: merged, it is as large as
		// it will get, so it needs fewer than FanIn entries. Only with a
		// flush block in it: merged segments alone are as merged as
		// segment.ms lets them be (where a segment's records start is
		// only estimated, and a wrong estimate would have the merge cut
		// them into as many segments again, at every pass).
		if j-i >= c.FanIn || (rolled && j-i >= 2 && slices.ContainsFunc(entries[i:j], func(e segment.IndexEntry) bool { return !e.Whole })) {
			return entries[i:j]
		}
	}
	return nil
}

// PlanClean decides whether a compacted partition is due for cleaning
// (Kafka's LogCleanerManager: the dirty ratio against
// min.cleanable.dirty.ratio, max.compaction.lag.ms, and tombstones whose
// delete horizon passed, KIP-534). It returns the range: the offset map is
// built from from, and the log is cleaned up to upTo, the end of the last
// block older than min.compaction.lag.ms, and never into the newest block
// until segment.ms has passed over it (Kafka's active segment). Recent data
// (the uncleanable head) is never touched.
func PlanClean(st index.Partition, p Policy, nowMs int64) (from, upTo int64, due bool) {
	if !p.Compact {
		return 0, 0, false
	}
	dirtyStart := max(st.CleanedOffset, st.LogStartOffset)
	var total, dirty int64
	firstDirtyTs := int64(-1)
	upTo = dirtyStart
	for i, e := range st.Entries {
		if e.LastOffset < st.LogStartOffset {
			continue
		}
		if p.MinCompactionLagMs > 0 && e.MaxTimestamp > nowMs-p.MinCompactionLagMs {
			break // the uncleanable head starts here
		}
		if i == len(st.Entries)-1 && (p.SegmentMs <= 0 || e.MaxTimestamp >= nowMs-p.SegmentMs) {
			// The newest block is Kafka's active segment, which is never
			// cleaned until segment.ms rolls it: the log then never ends in
			// a batch cleaning emptied, which some clients (kafkajs) cannot
			// fetch past.
			break
		}
		total += e.Length
		if e.LastOffset >= dirtyStart {
			dirty += e.Length
			if firstDirtyTs < 0 {
				firstDirtyTs = e.MaxTimestamp
			}
		}
		upTo = e.LastOffset + 1
	}
	switch {
	case total == 0:
		return 0, 0, false
	case dirty > 0 && float64(dirty)/float64(total) >= p.MinCleanableDirtyRatio:
		return dirtyStart, upTo, true
	case dirty > 0 && p.MaxCompactionLagMs > 0 && firstDirtyTs >= 0 && firstDirtyTs < nowMs-p.MaxCompactionLagMs:
		return dirtyStart, upTo, true
	case st.DeleteHorizonMs > 0 && nowMs >= st.DeleteHorizonMs:
		// Only tombstones to drop: the map must cover the whole range
		// for the cleaner to know they are each key's latest.
		return st.LogStartOffset, upTo, true
	}
	return 0, 0, false
}
