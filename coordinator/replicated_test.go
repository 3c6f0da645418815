package coordinator

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/jsready"
	"github.com/stratalog/strata/internal/testenv"
)

// TestReplicatedStoreSurvivesNodeLoss: on a three-node JetStream cluster with
// R3 buckets, the store keeps committing while one node is down, and what it
// committed is all there once the node is back.
func TestReplicatedStoreSurvivesNodeLoss(t *testing.T) {
	cluster := testenv.StartNATSCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// As strata serve does: the meta leader may still be settling, and a
	// request it drops goes unanswered.
	js := cluster.JetStream(t)
	s, err := jsready.Open(ctx, slog.New(slog.DiscardHandler), "coordinator", func(ctx context.Context) (*Store, error) {
		return Open(ctx, js, Config{Replicas: 3})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTopic(ctx, Topic{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	commit := func(i int) {
		t.Helper()
		// A commit during the failover may time out; the caller retries as
		// a client would, bounded here.
		testenv.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
			cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
			defer ccancel()
			return s.CommitOffsets(cctx, "g", "t", map[int32]CommittedOffset{0: {Offset: int64(i), CommitMs: int64(i)}})
		})
	}
	for i := range 20 {
		commit(i)
	}
	cluster.Nodes[0].Kill()
	for i := 20; i < 40; i++ {
		commit(i)
	}
	cluster.Nodes[0].Restart(t)
	cluster.WaitReady(t)
	cluster.Nodes[1].Kill()
	for i := 40; i < 60; i++ {
		commit(i)
	}
	got, err := s.FetchOffsets(ctx, "g", "t")
	if err != nil || got[0].Offset != 59 {
		t.Fatalf("after two node losses: %+v, %v", got, err)
	}
}
