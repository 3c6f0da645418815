package coordinator

import (
	"slices"
	"testing"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/segment"
)

// TestSnapshotReadsAndRestores: what a metadata snapshot reads (a partition
// with chunks, every group's offsets, the producer id counter) and what a
// recovery writes (the cluster id, a raised counter) into a store that
// HoldsMetadata tells from an empty one.
func TestSnapshotReadsAndRestores(t *testing.T) {
	ctx := t.Context()
	js := testenv.NATS(t).JetStream(t)
	s := openStore(t, js, "restore")
	if holds, err := s.HoldsMetadata(ctx); err != nil || holds {
		t.Fatalf("empty store: holds %v, %v", holds, err)
	}
	if id, err := s.RestoreClusterID(ctx, "cluster-a"); err != nil || id != "cluster-a" {
		t.Fatalf("restore cluster id: %q, %v", id, err)
	}
	if id, err := s.RestoreClusterID(ctx, "cluster-b"); err != nil || id != "cluster-a" {
		t.Fatalf("restore cluster id again: %q, %v (the first stays)", id, err)
	}

	topic, err := s.CreateTopic(ctx, Topic{Name: "a.b", Partitions: 1, ID: [16]byte{1, 2, 3}})
	if err != nil || topic.ID != [16]byte{1, 2, 3} {
		t.Fatalf("create with an id: %+v, %v", topic, err)
	}
	tp := index.TopicPartition{TopicID: topic.ID}
	entries := testEntries(tp, 0, 600) // over two chunks and a tail
	p := index.Partition{LeaderEpoch: 2, HighWatermark: entries[len(entries)-1].LastOffset + 1, Entries: entries}
	stored, rev, err := s.CommitPartition(ctx, tp, p, 0)
	if err != nil || len(stored.Chunks) == 0 {
		t.Fatalf("commit: %d chunks, %v", len(stored.Chunks), err)
	}
	known := map[string][]segment.IndexEntry{}
	got, gotRev, err := s.ReadPartition(ctx, tp, known)
	if err != nil || gotRev != rev || !slices.Equal(got.Entries, entries) || got.HighWatermark != p.HighWatermark {
		t.Fatalf("read partition: rev %d (want %d), %d entries, %v", gotRev, rev, len(got.Entries), err)
	}
	if len(known) != len(stored.Chunks) {
		t.Errorf("%d chunks cached, want %d", len(known), len(stored.Chunks))
	}
	if again, _, err := s.ReadPartition(ctx, tp, known); err != nil || !slices.Equal(again.Entries, entries) {
		t.Errorf("read partition from the cached chunks: %v", err)
	}

	if err := s.CommitOffsets(ctx, "g.1", "a.b", map[int32]CommittedOffset{0: {Offset: 7}}); err != nil {
		t.Fatal(err)
	}
	all, err := s.AllOffsets(ctx)
	if err != nil || len(all) != 1 || all[0].Group != "g.1" || all[0].Topic != "a.b" || all[0].Partitions[0].Offset != 7 {
		t.Fatalf("all offsets: %+v, %v", all, err)
	}
	if holds, err := s.HoldsMetadata(ctx); err != nil || !holds {
		t.Fatalf("holds %v, %v", holds, err)
	}

	if next, err := s.NextProducerID(ctx); err != nil || next != FirstProducerID {
		t.Fatalf("next producer id %d, %v", next, err)
	}
	if err := s.RaiseProducerID(ctx, 1<<40); err != nil {
		t.Fatal(err)
	}
	if err := s.RaiseProducerID(ctx, 5000); err != nil { // never lowered
		t.Fatal(err)
	}
	if first, err := s.AllocateProducerIDs(ctx, 1); err != nil || first != 1<<40 {
		t.Fatalf("allocated %d, %v; want %d", first, err, int64(1)<<40)
	}
}

// The security buckets' records go into a snapshot as they are and come back
// into an empty store unchanged; a record already there is kept.
func TestSecurityRecordsRoundTrip(t *testing.T) {
	ctx := t.Context()
	js := testenv.NATS(t).JetStream(t)
	src := openStore(t, js, "secsrc")
	want := map[string]map[string][]byte{
		"users":  {"SCRAM-SHA-512.alice": []byte(`{"v":1}`), "SCRAM-SHA-256.bob": []byte(`{"v":1,"b":2}`)},
		"acls":   {"0123abcd": []byte(`{"v":1,"acl":true}`)},
		"quotas": {"user.alice": []byte(`{"v":1,"q":1}`)},
	}
	for bucket, recs := range want {
		for key, value := range recs {
			if err := src.RestoreSecurityRecord(ctx, bucket, key, value); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := src.SecurityRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dst := openStore(t, js, "secdst")
	if err := dst.RestoreSecurityRecord(ctx, "users", "SCRAM-SHA-512.alice", []byte("newer")); err != nil {
		t.Fatal(err)
	}
	for bucket, recs := range got {
		for key, value := range recs {
			if err := dst.RestoreSecurityRecord(ctx, bucket, key, value); err != nil {
				t.Fatal(err)
			}
		}
	}
	restored, err := dst.SecurityRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want["users"]["SCRAM-SHA-512.alice"] = []byte("newer")
	for bucket, recs := range want {
		if len(restored[bucket]) != len(recs) {
			t.Errorf("%s: %d records, want %d", bucket, len(restored[bucket]), len(recs))
		}
		for key, value := range recs {
			if string(restored[bucket][key]) != string(value) {
				t.Errorf("%s %s = %q, want %q", bucket, key, restored[bucket][key], value)
			}
		}
	}
	if err := dst.RestoreSecurityRecord(ctx, "nope", "k", nil); err == nil {
		t.Error("restoring into an unknown bucket succeeded")
	}
}
