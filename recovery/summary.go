package recovery

import (
	"fmt"
	"io"
	"time"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/tiered/index"
)

// Summary is what Rebuild found and did.
type Summary struct {
	// Snapshot is the key of the snapshot used ("" when none).
	Snapshot      string
	SnapshotTaken time.Time
	// BadSnapshots are newer snapshots that did not decode, skipped.
	BadSnapshots []string
	// Objects counts the segment objects whose footers were read;
	// BadObjects lists those left out as unreadable.
	Objects    int
	BadObjects []string
	ClusterID  string
	Topics     []*TopicSummary
	// DeletedTopics are topic ids with objects in the bucket, all older
	// than the snapshot, that the snapshot does not list: topics deleted
	// before it whose objects garbage collection had not yet removed. They
	// are left out.
	DeletedTopics [][16]byte
	// Groups counts restored (group, topic) offset records, Txns the
	// transactional ids, Schemas the schema registry's records.
	Groups, Txns, Schemas int
	// NextProducerID is where the producer id counter was set.
	NextProducerID int64
}

// TopicSummary is one rebuilt topic.
type TopicSummary struct {
	Topic coordinator.Topic
	// Generated is set when the topic was known only from footers: its
	// name is GeneratedTopicPrefix and its id, its configs the defaults.
	Generated bool
	Parts     []*PartitionSummary
}

// PartitionSummary is one rebuilt partition.
type PartitionSummary struct {
	Partition  int32
	InSnapshot bool
	// SnapshotHighWatermark is the snapshot's high watermark (0 without).
	SnapshotHighWatermark         int64
	LogStartOffset, HighWatermark int64
	// Entries and Records count the rebuilt index entries and the records
	// their blocks hold.
	Entries int
	Records int64
	// AboveSnapshot counts offsets at or above the snapshot's high
	// watermark recovered from footers.
	AboveSnapshot int64
	// Uncovered counts offsets in [LogStartOffset, HighWatermark) that no
	// entry covers: offsets key compaction removed, or lost ones.
	Uncovered int64
	// MissingObjects counts objects the snapshot's index names that are no
	// longer in the bucket (merged or expired since; their offsets come
	// from the objects that replaced them, where those exist).
	MissingObjects int
	// AbortedOpen counts transactions that began after the snapshot (or
	// any, without one) and were still open at the end of the recovered
	// log: marked aborted, since no transaction coordinator knows them any
	// more.
	AbortedOpen int

	tp    index.TopicPartition
	state index.Partition
	write bool
}

// Totals returns the number of topics, partitions, index entries, records
// and offsets (high watermark minus log start) rebuilt.
func (s *Summary) Totals() (topics, partitions, entries int, records, offsets int64) {
	for _, t := range s.Topics {
		topics++
		for _, p := range t.Parts {
			partitions++
			entries += p.Entries
			records += p.Records
			offsets += p.HighWatermark - p.LogStartOffset
		}
	}
	return
}

// Write prints the summary for an operator.
func (s *Summary) Write(w io.Writer) error {
	pf := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	if s.Snapshot != "" {
		pf("metadata snapshot: %s (taken %s)\n", s.Snapshot, s.SnapshotTaken.UTC().Format(time.RFC3339))
	} else {
		pf("NO METADATA SNAPSHOT: topics are rebuilt from segment footers alone, under generated names (%s<topic id>),\n"+
			"with default configs; committed offsets and transactional ids are lost (producer and transaction state\n"+
			"is rebuilt from the batches; transactions open at the end are aborted)\n", GeneratedTopicPrefix)
	}
	for _, k := range s.BadSnapshots {
		pf("skipped unreadable snapshot: %s\n", k)
	}
	pf("segment objects read: %d, unreadable and left out: %d\n", s.Objects, len(s.BadObjects))
	for _, k := range s.BadObjects {
		pf("  unreadable: %s\n", k)
	}
	for _, t := range s.Topics {
		gen := ""
		if t.Generated {
			gen = " GENERATED NAME: not in the snapshot"
		}
		pf("topic %s (id %x, %d partitions, %d configs)%s\n", t.Topic.Name, t.Topic.ID, t.Topic.Partitions, len(t.Topic.Configs), gen)
		for _, p := range t.Parts {
			pf("  partition %d: offsets %d-%d, %d records in %d index entries", p.Partition, p.LogStartOffset, p.HighWatermark, p.Records, p.Entries)
			if p.InSnapshot {
				pf(", %d offsets after the snapshot's high watermark %d", p.AboveSnapshot, p.SnapshotHighWatermark)
			}
			if p.Uncovered > 0 {
				pf(", %d offsets with no batch (compacted away or lost)", p.Uncovered)
			}
			if p.MissingObjects > 0 {
				pf(", %d snapshot objects gone", p.MissingObjects)
			}
			if p.AbortedOpen > 0 {
				pf(", %d open transactions aborted", p.AbortedOpen)
			}
			pf("\n")
		}
	}
	for _, id := range s.DeletedTopics {
		pf("left out topic id %x: its objects predate the snapshot, which does not list it (deleted before it)\n", id)
	}
	topics, parts, entries, records, offsets := s.Totals()
	pf("recovered %d topics, %d partitions, %d index entries, %d records over %d offsets; %d committed-offset records, %d transactional ids, %d schema registry records; producer ids resume at %d\n",
		topics, parts, entries, records, offsets, s.Groups, s.Txns, s.Schemas, s.NextProducerID)
	pf("lost: whatever was only in the NATS write-ahead tail (acknowledged, not yet flushed), and metadata changes since the snapshot " +
		"(topics created or reconfigured, offsets committed, records deleted)\n")
	return nil
}
