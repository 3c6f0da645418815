package gc

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/objstore/fs"
	"github.com/stratalog/strata/tiered/segment"
)

// clock is a settable time for the collector; object keys carry real times
// chosen by the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type env struct {
	nats   *testenv.NATSServer
	store  *coordinator.Store
	bucket objstore.Bucket
	clock  *clock
	live   map[[16]byte]bool
	c      *Collector
}

const grace = time.Minute

func newEnv(t *testing.T) *env {
	t.Helper()
	ns := testenv.NATS(t)
	store, err := coordinator.Open(t.Context(), ns.JetStream(t), coordinator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{nats: ns, store: store, bucket: b, clock: &clock{now: time.Now()}, live: map[[16]byte]bool{}}
	e.c, err = New(Config{Bucket: b, Index: store, Grace: grace, Now: e.clock.Now,
		Live: func(id [16]byte) bool { return e.live[id] }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// put writes an object created at created, by the tiered log's key scheme.
func (e *env) put(t *testing.T, created time.Time, name string) string {
	t.Helper()
	key := fmt.Sprintf("segments/0/%s/%020d-%s.seg", created.UTC().Format("2006-01-02"), created.UnixNano(), name)
	if err := e.bucket.Put(t.Context(), key, bytes.NewReader([]byte(name)), int64(len(name))); err != nil {
		t.Fatal(err)
	}
	return key
}

// commit stores a partition state whose entries reference objects.
func (e *env) commit(t *testing.T, tp index.TopicPartition, objects ...string) {
	t.Helper()
	var st index.Partition
	for i, o := range objects {
		st.Entries = append(st.Entries, segment.IndexEntry{Object: o, TopicID: tp.TopicID, Partition: tp.Partition,
			BaseOffset: int64(i), LastOffset: int64(i), Length: 1, Records: 1})
	}
	st.HighWatermark = int64(len(objects))
	_, rev, err := e.store.LoadPartition(t.Context(), tp)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.CommitPartition(t.Context(), tp, st, rev); err != nil {
		t.Fatal(err)
	}
}

func (e *env) objects(t *testing.T) []string {
	t.Helper()
	var keys []string
	if err := e.bucket.List(t.Context(), "", func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

func (e *env) pass(t *testing.T) Stats {
	t.Helper()
	st, err := e.c.Pass(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestCollectsOnlyUnreferencedObjectsPastTheGrace(t *testing.T) {
	e := newEnv(t)
	tp := index.TopicPartition{TopicID: [16]byte{1}}
	e.live[tp.TopicID] = true
	old := e.clock.Now().Add(-2 * grace)
	referenced := e.put(t, old, "referenced")
	orphan := e.put(t, old, "orphan")
	young := e.put(t, e.clock.Now(), "young")
	undated := "segments/0/not-a-segment-name.seg"
	if err := e.bucket.Put(t.Context(), undated, bytes.NewReader(nil), 0); err != nil {
		t.Fatal(err)
	}
	e.commit(t, tp, referenced)

	// First pass: the orphan is found, not yet deleted (a reader may hold
	// a state from before it was unreferenced).
	if st := e.pass(t); st.ObjectsDeleted != 0 {
		t.Fatalf("first pass deleted %d objects", st.ObjectsDeleted)
	}
	e.clock.add(grace / 2)
	if st := e.pass(t); st.ObjectsDeleted != 0 {
		t.Fatalf("a pass within the grace deleted %d objects", st.ObjectsDeleted)
	}
	e.clock.add(grace / 2)
	st := e.pass(t)
	if st.ObjectsDeleted != 1 {
		t.Fatalf("deleted %d objects, want the orphan only", st.ObjectsDeleted)
	}
	want := []string{referenced, undated, young}
	slices.Sort(want)
	if got := e.objects(t); !slices.Equal(got, want) {
		t.Fatalf("left %v, want %v", got, want)
	}
	_ = orphan
}

func TestReferencedAgainIsKept(t *testing.T) {
	e := newEnv(t)
	tp := index.TopicPartition{TopicID: [16]byte{2}}
	e.live[tp.TopicID] = true
	o := e.put(t, e.clock.Now().Add(-2*grace), "late-commit")
	e.pass(t) // unreferenced: a candidate
	e.commit(t, tp, o)
	e.clock.add(2 * grace)
	if st := e.pass(t); st.ObjectsDeleted != 0 {
		t.Fatal("an object referenced since the last pass was deleted")
	}
}

func TestUnreachableCoordinatorDeletesNothing(t *testing.T) {
	e := newEnv(t)
	e.put(t, e.clock.Now().Add(-2*grace), "orphan")
	e.pass(t)
	e.clock.add(2 * grace)
	e.nats.Shutdown()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := e.c.Pass(ctx); err == nil {
		t.Fatal("a pass without the coordinator succeeded")
	}
	if n := len(e.objects(t)); n != 1 {
		t.Fatalf("%d objects left, want the orphan kept", n)
	}
}

func TestDeletedTopicsStateCollected(t *testing.T) {
	e := newEnv(t)
	gone := index.TopicPartition{TopicID: [16]byte{3}}
	kept := index.TopicPartition{TopicID: [16]byte{4}}
	e.live[kept.TopicID] = true
	old := e.clock.Now().Add(-2 * grace)
	// Enough entries that the deleted partition has chunk records too.
	var goneObjects []string
	for i := range 300 {
		goneObjects = append(goneObjects, e.put(t, old, fmt.Sprint("gone", i)))
	}
	e.commit(t, gone, goneObjects...)
	keptObject := e.put(t, old, "kept")
	e.commit(t, kept, keptObject)

	e.pass(t) // gone's topic is missing: a candidate
	e.clock.add(grace)
	if st := e.pass(t); st.PartitionsDeleted != 1 {
		t.Fatalf("deleted %d partitions, want 1", st.PartitionsDeleted)
	}
	// Its objects and chunks are now unreferenced: gone after the grace.
	e.clock.add(grace)
	e.pass(t)
	e.clock.add(2 * grace) // chunk records are dated by the server's clock
	e.pass(t)
	if got := e.objects(t); !slices.Equal(got, []string{keptObject}) {
		t.Fatalf("left %d objects, want only the kept topic's", len(got))
	}
	tps, err := e.store.Partitions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tps, []index.TopicPartition{kept}) {
		t.Fatalf("partitions left: %v", tps)
	}
	if err := e.store.Chunks(t.Context(), func(c index.StoredChunk) error {
		return fmt.Errorf("chunk %s left", c.Key)
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.LoadPartition(t.Context(), kept); err != nil {
		t.Fatal(err)
	}
}
