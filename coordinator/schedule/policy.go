package schedule

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/stratalog/strata/tiered/index"
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
		}
		if e.Object != prev {
			u.Objects++
			prev = e.Object
		}
	}
	return u
}
