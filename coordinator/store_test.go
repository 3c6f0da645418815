package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stratalog/strata/internal/testenv"
)

// openStore opens a Store on js with the test's prefix.
func openStore(t *testing.T, js jetstream.JetStream, prefix string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, js, Config{Prefix: prefix})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return s
}

// runStore runs s.Run until the test ends, and waits for it to return.
func runStore(t *testing.T, s *Store) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.Synced():
	case err := <-done:
		t.Fatalf("Run returned before syncing: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("topic table not synced after 30s")
	}
}

func TestOpenDisablesDirectGets(t *testing.T) {
	js := testenv.NATS(t).JetStream(t)
	openStore(t, js, "strata")
	// Open again: binding existing buckets must not turn direct gets on.
	openStore(t, js, "strata")
	for _, b := range []string{"topics", "partitions", "chunks", "counters"} {
		st, err := js.Stream(t.Context(), "KV_strata_"+b)
		if err != nil {
			t.Fatal(err)
		}
		cfg := st.CachedInfo().Config
		if cfg.AllowDirect {
			t.Errorf("bucket %s allows direct gets", b)
		}
		if cfg.Storage != jetstream.FileStorage || cfg.Replicas != 1 || cfg.MaxMsgsPerSubject != 1 {
			t.Errorf("bucket %s: storage %v replicas %d history %d", b, cfg.Storage, cfg.Replicas, cfg.MaxMsgsPerSubject)
		}
	}
}

func TestOpenConcurrently(t *testing.T) {
	n := testenv.NATS(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		js := n.JetStream(t)
		wg.Go(func() {
			_, err := Open(t.Context(), js, Config{Prefix: "race"})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Open: %v", err)
		}
	}
	js := n.JetStream(t)
	for _, b := range []string{"topics", "partitions", "chunks", "counters"} {
		st, err := js.Stream(t.Context(), "KV_race_"+b)
		if err != nil {
			t.Fatal(err)
		}
		if st.CachedInfo().Config.AllowDirect {
			t.Errorf("bucket %s allows direct gets", b)
		}
	}
}

func TestOpenRefusesOtherReplicas(t *testing.T) {
	js := testenv.NATS(t).JetStream(t)
	openStore(t, js, "strata")
	// A single server cannot host R3 buckets, but the check against an
	// existing R1 bucket comes first.
	_, err := Open(t.Context(), js, Config{Replicas: 3})
	if !errors.Is(err, ErrBucketConfig) {
		t.Fatalf("Open with Replicas 3 on R1 buckets = %v, want ErrBucketConfig", err)
	}
}

func TestOpenRefusesMemoryStorage(t *testing.T) {
	js := testenv.NATS(t).JetStream(t)
	if _, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "mem_topics", Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), js, Config{Prefix: "mem"}); !errors.Is(err, ErrBucketConfig) {
		t.Fatalf("Open on a memory bucket = %v, want ErrBucketConfig", err)
	}
}

func TestOpenConfigErrors(t *testing.T) {
	js := testenv.NATS(t).JetStream(t)
	for _, cfg := range []Config{{Prefix: "a.b"}, {Prefix: "a b"}, {Replicas: 6}, {Replicas: -1}} {
		if _, err := Open(t.Context(), js, cfg); err == nil {
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
}

// TestRestart checks that everything the Store wrote survives a restart of
// the NATS server on the same store directory.
func TestRestart(t *testing.T) {
	n := testenv.NATS(t)
	s := openStore(t, n.JetStream(t), "strata")
	ctx := t.Context()

	topic, err := s.CreateTopic(ctx, Topic{Name: "a.b", Partitions: 2, Configs: map[string]string{"retention.ms": "1000"}})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.AllocateProducerIDs(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	tp := testTP(topic.ID, 1)
	want, _, err := s.CommitPartition(ctx, tp, testPartition(tp, 600, 3), 0)
	if err != nil {
		t.Fatal(err)
	}

	n.Restart(t)

	s = openStore(t, n.JetStream(t), "strata")
	runStore(t, s)
	if got, ok := s.Topic("a.b"); !ok || !topicsEqual(got, topic) {
		t.Errorf("topic after restart = %+v, %v; want %+v", got, ok, topic)
	}
	next, err := s.AllocateProducerIDs(ctx, 1)
	if err != nil || next != first+10 {
		t.Errorf("producer id after restart = %d, %v; want %d", next, err, first+10)
	}
	got, _, err := s.LoadPartition(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	if err := equalPartitions(got, want); err != nil {
		t.Errorf("partition after restart: %v", err)
	}
}

func TestRetryCASGivesUp(t *testing.T) {
	calls := 0
	err := retryCAS(t.Context(), func() error { calls++; return errCASLost })
	if !errors.Is(err, ErrConflict) || calls != maxCASAttempts {
		t.Fatalf("retryCAS = %v after %d calls, want ErrConflict after %d", err, calls, maxCASAttempts)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = retryCAS(ctx, func() error { return errCASLost })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("retryCAS with a cancelled context = %v", err)
	}
	want := fmt.Errorf("boom")
	if err := retryCAS(t.Context(), func() error { return want }); err != want {
		t.Fatalf("retryCAS = %v, want %v", err, want)
	}
}
