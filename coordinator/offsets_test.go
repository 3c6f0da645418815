package coordinator

import (
	"testing"

	"github.com/stratalog/strata/internal/testenv"
)

// TestExpireOffsets: only offsets committed before the cutoff go; a record
// whose partitions all expire is deleted, so the group no longer lists the
// topic; a commit made after the cutoff survives.
func TestExpireOffsets(t *testing.T) {
	ns := testenv.NATS(t)
	s := openStore(t, ns.JetStream(t), "exp")
	ctx := t.Context()
	commit := func(topic string, offsets map[int32]CommittedOffset) {
		t.Helper()
		if err := s.CommitOffsets(ctx, "g", topic, offsets); err != nil {
			t.Fatal(err)
		}
	}
	commit("mixed", map[int32]CommittedOffset{0: {Offset: 5, CommitMs: 100}, 1: {Offset: 7, CommitMs: 900}})
	commit("old", map[int32]CommittedOffset{0: {Offset: 1, CommitMs: 50}})

	for _, tc := range []struct {
		topic string
		want  int
	}{{"mixed", 1}, {"old", 1}, {"missing", 0}} {
		n, err := s.ExpireOffsets(ctx, "g", tc.topic, 500)
		if err != nil || n != tc.want {
			t.Fatalf("expire %s: %d, %v; want %d", tc.topic, n, err, tc.want)
		}
	}
	got, err := s.FetchOffsets(ctx, "g", "mixed")
	if err != nil || len(got) != 1 || got[1].Offset != 7 {
		t.Fatalf("mixed after expiry: %v, %v", got, err)
	}
	topics, err := s.OffsetTopics(ctx, "g")
	if err != nil || len(topics) != 1 || topics[0] != "mixed" {
		t.Fatalf("topics after expiry: %v, %v", topics, err)
	}
	// A commit newer than the cutoff is kept.
	commit("old", map[int32]CommittedOffset{0: {Offset: 2, CommitMs: 600}})
	if n, err := s.ExpireOffsets(ctx, "g", "old", 500); err != nil || n != 0 {
		t.Fatalf("expire a fresh commit: %d, %v", n, err)
	}
}
