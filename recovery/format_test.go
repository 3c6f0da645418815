package recovery

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/segment"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenSnapshot is a snapshot with every field set.
func goldenSnapshot() *Snapshot {
	return &Snapshot{
		ClusterID: "Q2x1c3Rlci1pZC1nb2xkZW4", NodeID: "3", TakenMs: 1764547200000, NextProducerID: 4000,
		Topics: []TopicState{{
			Name: "orders", ID: hex.EncodeToString(testTopic[:]), Partitions: 1, Configs: map[string]string{"retention.ms": "-1"}, CreatedMs: 1764540000000,
			States: []PartitionState{{Partition: 0, State: index.Partition{
				LeaderEpoch: 4, LogStartOffset: 10, HighWatermark: 300,
				Producers:     map[int64]index.Producer{1000: {Epoch: 1, Batches: []index.ProducerBatch{{FirstSequence: 0, LastSequence: 9, BaseOffset: 290, LastOffset: 299}}, LastTimestamp: 1764547100000}},
				Epochs:        []index.EpochStart{{Epoch: 4, StartOffset: 0}},
				CleanedOffset: 100, OpenTxns: map[int64]int64{1001: 295}, Aborted: []index.AbortedTxn{{ProducerID: 1002, FirstOffset: 20, LastOffset: 25}},
			}, Entries: []segment.IndexEntry{
				{Object: "segments/0/2025-12-01/01764540000000000000-00.seg", TopicID: testTopic, BaseOffset: 0, LastOffset: 199, MaxTimestamp: 1764540001000, Position: 0, Length: 9000, Records: 200, Whole: true},
				{Object: "segments/0/2025-12-01/01764547000000000000-01.seg", TopicID: testTopic, BaseOffset: 200, LastOffset: 299, MaxTimestamp: 1764547000000, Position: 512, Length: 4000, Records: 100},
			}}},
		}},
		Offsets: []coordinator.GroupOffsets{{Group: "readers", Topic: "orders", Partitions: map[int32]coordinator.CommittedOffset{0: {Offset: 42, LeaderEpoch: 4, Metadata: "m", CommitMs: 1764547150000}}}},
		Txns:    map[string][]byte{"tx-1": []byte(`{"v":1}`)},
		Schemas: map[string][]byte{"subject.orders-value": []byte(`{"v":1}`)},
	}
}

// TestSnapshotGolden: version 1's bytes (before zstd) are
// testdata/snapshot-v1.json, and that file decodes to the same snapshot, so
// snapshots written by this version stay readable. -update rewrites it.
func TestSnapshotGolden(t *testing.T) {
	path := filepath.Join("testdata", "snapshot-v1.json")
	data, err := Encode(goldenSnapshot())
	if err != nil {
		t.Fatal(err)
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	raw, err := dec.DecodeAll(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, want) {
		t.Errorf("encoding changed: got\n%s\nwant\n%s\n(run with -update if intended, and bump FormatVersion if readers must tell)", raw, want)
	}
	s, err := Decode(zstdOf(t, string(want)))
	if err != nil {
		t.Fatal(err)
	}
	again, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if raw2, err := dec.DecodeAll(again, nil); err != nil || !bytes.Equal(raw2, want) {
		t.Errorf("the golden snapshot does not survive decoding and encoding again: %v", err)
	}
}

// FuzzDecode: Decode never panics, and any input it accepts encodes again
// to something it decodes to the same bytes.
func FuzzDecode(f *testing.F) {
	for _, s := range []*Snapshot{goldenSnapshot(), {}} {
		data, err := Encode(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("not zstd"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		enc, err := Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(enc); err != nil {
			t.Fatalf("re-encoded snapshot does not decode: %v", err)
		}
	})
}
