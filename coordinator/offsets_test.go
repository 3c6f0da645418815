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

// TestOffsetsShards: a group's offsets for a topic of many partitions are
// kept in shards of offsetsShardSize partitions; a record written before
// sharding (every partition in "<group>.<topic>") is still read, its entries
// lose to newer ones in their own shard, and deletes and expiry remove both;
// the group and topic are listed once, and go once their last offset does.
func TestOffsetsShards(t *testing.T) {
	ns := testenv.NATS(t)
	s := openStore(t, ns.JetStream(t), "shards")
	ctx := t.Context()
	// The layout before sharding: one record holding partitions far past
	// the first shard.
	legacy := `{"partitions":{"0":{"offset":10,"leader_epoch":-1,"commit_ms":100},` +
		`"2000":{"offset":20,"leader_epoch":-1,"commit_ms":100},` +
		`"5000":{"offset":50,"leader_epoch":3,"metadata":"old","commit_ms":100}}}`
	if _, err := s.offsets.Create(ctx, offsetsKey("g", "t"), []byte(legacy)); err != nil {
		t.Fatal(err)
	}
	fetch := func(want map[int32]int64) {
		t.Helper()
		got, err := s.FetchOffsets(ctx, "g", "t")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("fetched %v, want offsets %v", got, want)
		}
		for p, o := range want {
			if got[p].Offset != o {
				t.Fatalf("partition %d: %+v, want offset %d (all: %v)", p, got[p], o, got)
			}
		}
	}
	fetch(map[int32]int64{0: 10, 2000: 20, 5000: 50})

	commit := map[int32]CommittedOffset{1: {Offset: 11, CommitMs: 900}, 2000: {Offset: 21, CommitMs: 900}, 3000: {Offset: 30, CommitMs: 100}}
	for p := int32(6000); p < 10_000; p++ {
		commit[p] = CommittedOffset{Offset: int64(p), CommitMs: 900}
	}
	if err := s.CommitOffsets(ctx, "g", "t", commit); err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{0: 10, 1: 11, 2000: 21, 3000: 30, 5000: 50}
	for p := int32(6000); p < 10_000; p++ {
		want[p] = int64(p)
	}
	fetch(want)
	// The metadata snapshot reads the shards as one topic's offsets.
	all, err := s.AllOffsets(ctx)
	if err != nil || len(all) != 1 || all[0].Group != "g" || all[0].Topic != "t" || len(all[0].Partitions) != len(want) || all[0].Partitions[2000].Offset != 21 {
		t.Fatalf("all offsets: %d records, %v", len(all), err)
	}
	if topics, err := s.OffsetTopics(ctx, "g"); err != nil || len(topics) != 1 || topics[0] != "t" {
		t.Fatalf("offset topics: %v, %v", topics, err)
	}
	if groups, err := s.OffsetGroups(ctx); err != nil || len(groups) != 1 || groups[0] != "g" {
		t.Fatalf("offset groups: %v, %v", groups, err)
	}

	// Deleting 2000 removes its entry in its shard and the older one.
	if err := s.DeleteOffsets(ctx, "g", "t", []int32{2000}); err != nil {
		t.Fatal(err)
	}
	delete(want, 2000)
	fetch(want)

	// 0, 3000 and 5000 were committed at 100: three expire, whichever
	// record holds them.
	if n, err := s.ExpireOffsets(ctx, "g", "t", 500); err != nil || n != 3 {
		t.Fatalf("expire: %d, %v; want 3", n, err)
	}
	delete(want, 0)
	delete(want, 3000)
	delete(want, 5000)
	fetch(want)

	// Once every offset has expired, the topic and group are gone.
	if n, err := s.ExpireOffsets(ctx, "g", "t", 1000); err != nil || n != len(want) {
		t.Fatalf("expire the rest: %d, %v; want %d", n, err, len(want))
	}
	if topics, err := s.OffsetTopics(ctx, "g"); err != nil || len(topics) != 0 {
		t.Fatalf("offset topics after expiry: %v, %v", topics, err)
	}
	if keys, err := s.listKeys(ctx, s.offsets, ">"); err != nil || len(keys) != 0 {
		t.Fatalf("keys after expiry: %v, %v", keys, err)
	}

	// A commit of only a later shard is found, and deleting the topic's
	// offsets removes every shard.
	if err := s.CommitOffsets(ctx, "g2", "t", map[int32]CommittedOffset{1500: {Offset: 15, CommitMs: 900}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.FetchOffsets(ctx, "g2", "t"); err != nil || len(got) != 1 || got[1500].Offset != 15 {
		t.Fatalf("fetch a later shard only: %v, %v", got, err)
	}
	if topics, err := s.OffsetTopics(ctx, "g2"); err != nil || len(topics) != 1 {
		t.Fatalf("offset topics of g2: %v, %v", topics, err)
	}
	if err := s.DeleteTopicOffsets(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if keys, err := s.listKeys(ctx, s.offsets, ">"); err != nil || len(keys) != 0 {
		t.Fatalf("keys after deleting the topic's offsets: %v, %v", keys, err)
	}
}
