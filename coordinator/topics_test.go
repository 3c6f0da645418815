package coordinator

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
)

func TestTopicLifecycle(t *testing.T) {
	s := openStore(t, testenv.NATS(t).JetStream(t), "strata")
	ctx := t.Context()

	created, err := s.CreateTopic(ctx, Topic{Name: "orders", Partitions: 3, Configs: map[string]string{"cleanup.policy": "compact"}})
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == ([16]byte{}) || created.CreatedMs == 0 {
		t.Errorf("created topic lacks id or time: %+v", created)
	}
	// Read-your-writes without Run.
	if got, ok := s.Topic("orders"); !ok || !topicsEqual(got, created) {
		t.Errorf("Topic = %+v, %v; want %+v", got, ok, created)
	}
	if got, ok := s.TopicByID(created.ID); !ok || got.Name != "orders" {
		t.Errorf("TopicByID = %+v, %v", got, ok)
	}

	if _, err := s.CreateTopic(ctx, Topic{Name: "orders", Partitions: 1}); !errors.Is(err, ErrTopicExists) {
		t.Errorf("second create = %v, want ErrTopicExists", err)
	}
	if _, err := s.CreateTopic(ctx, Topic{Name: "x", Partitions: 0}); !errors.Is(err, ErrInvalidPartitions) {
		t.Errorf("create with 0 partitions = %v, want ErrInvalidPartitions", err)
	}
	if _, err := s.CreateTopic(ctx, Topic{Name: "..", Partitions: 1}); !errors.Is(err, ErrInvalidTopic) {
		t.Errorf("create \"..\" = %v, want ErrInvalidTopic", err)
	}

	updated, err := s.UpdateTopic(ctx, "orders", func(tp *Topic) error {
		tp.Partitions = 5
		tp.Configs["retention.ms"] = "60000"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := created.clone()
	want.Partitions = 5
	want.Configs["retention.ms"] = "60000"
	if !topicsEqual(updated, want) {
		t.Errorf("updated = %+v, want %+v", updated, want)
	}
	if got, _ := s.Topic("orders"); !topicsEqual(got, want) {
		t.Errorf("table after update = %+v, want %+v", got, want)
	}

	if _, err := s.UpdateTopic(ctx, "orders", func(tp *Topic) error { tp.Partitions = 4; return nil }); !errors.Is(err, ErrInvalidPartitions) {
		t.Errorf("lowering partitions = %v, want ErrInvalidPartitions", err)
	}
	if _, err := s.UpdateTopic(ctx, "orders", func(tp *Topic) error { tp.ID[0]++; return nil }); !errors.Is(err, ErrInvalidTopic) {
		t.Errorf("changing id = %v, want ErrInvalidTopic", err)
	}
	abort := errors.New("abort")
	if _, err := s.UpdateTopic(ctx, "orders", func(*Topic) error { return abort }); !errors.Is(err, abort) {
		t.Errorf("aborted update = %v, want %v", err, abort)
	}
	if _, err := s.UpdateTopic(ctx, "missing", func(*Topic) error { return nil }); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("update of missing topic = %v, want ErrUnknownTopic", err)
	}

	deleted, err := s.DeleteTopic(ctx, "orders")
	if err != nil || !topicsEqual(deleted, want) {
		t.Fatalf("DeleteTopic = %+v, %v; want %+v", deleted, err, want)
	}
	if _, ok := s.Topic("orders"); ok {
		t.Error("deleted topic still in the table")
	}
	if _, ok := s.TopicByID(created.ID); ok {
		t.Error("deleted topic still found by id")
	}
	if _, err := s.DeleteTopic(ctx, "orders"); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("second delete = %v, want ErrUnknownTopic", err)
	}

	// The name can be used again, with a new id.
	again, err := s.CreateTopic(ctx, Topic{Name: "orders", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID == created.ID {
		t.Error("re-created topic reuses the old id")
	}
	if got, ok := s.Topic("orders"); !ok || got.ID != again.ID {
		t.Errorf("table after re-create = %+v, %v", got, ok)
	}
}

// TestUpdateTopicConcurrent has writers on several Stores each set their own
// config keys by read-modify-CAS; none may be lost.
func TestUpdateTopicConcurrent(t *testing.T) {
	n := testenv.NATS(t)
	const stores, writersPerStore, updates = 3, 3, 10
	var ss []*Store
	for range stores {
		ss = append(ss, openStore(t, n.JetStream(t), "strata"))
	}
	if _, err := ss[0].CreateTopic(t.Context(), Topic{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, stores*writersPerStore)
	for i, s := range ss {
		for w := range writersPerStore {
			wg.Go(func() {
				for u := range updates {
					key := fmt.Sprintf("w%d.%d.%d", i, w, u)
					_, err := s.UpdateTopic(t.Context(), "t", func(tp *Topic) error {
						if tp.Configs == nil {
							tp.Configs = make(map[string]string)
						}
						tp.Configs[key] = strconv.Itoa(u)
						return nil
					})
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("UpdateTopic: %v", err)
	}
	got, _, err := ss[0].getTopic(t.Context(), "t")
	if err != nil {
		t.Fatal(err)
	}
	if want := stores * writersPerStore * updates; len(got.Configs) != want {
		t.Errorf("%d configs after %d updates: lost updates", len(got.Configs), want)
	}
}

// TestWatcherSeesOtherStore checks that Run picks up topics written through
// another Store, and their updates and deletion.
func TestWatcherSeesOtherStore(t *testing.T) {
	n := testenv.NATS(t)
	writer := openStore(t, n.JetStream(t), "strata")
	reader := openStore(t, n.JetStream(t), "strata")

	before, err := writer.CreateTopic(t.Context(), Topic{Name: "before.run", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	runStore(t, reader)
	// Synced: everything stored before Run is in the table.
	if got, ok := reader.Topic("before.run"); !ok || !topicsEqual(got, before) {
		t.Fatalf("after Synced: Topic = %+v, %v; want %+v", got, ok, before)
	}

	after, err := writer.CreateTopic(t.Context(), Topic{Name: "after.run", Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	check := func(desc string, f func() error) {
		t.Helper()
		testenv.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			if err := f(); err != nil {
				return fmt.Errorf("%s: %w", desc, err)
			}
			return nil
		})
	}
	check("created", func() error {
		if got, ok := reader.TopicByID(after.ID); !ok || !topicsEqual(got, after) {
			return fmt.Errorf("TopicByID = %+v, %v", got, ok)
		}
		return nil
	})
	if _, err := writer.UpdateTopic(t.Context(), "after.run", func(tp *Topic) error { tp.Partitions = 4; return nil }); err != nil {
		t.Fatal(err)
	}
	check("updated", func() error {
		if got, _ := reader.Topic("after.run"); got.Partitions != 4 {
			return fmt.Errorf("partitions %d", got.Partitions)
		}
		return nil
	})
	if _, err := writer.DeleteTopic(t.Context(), "before.run"); err != nil {
		t.Fatal(err)
	}
	check("deleted", func() error {
		names := topicNames(reader.Topics())
		if !reflect.DeepEqual(names, []string{"after.run"}) {
			return fmt.Errorf("Topics = %q", names)
		}
		return nil
	})
}

func topicNames(ts []Topic) []string {
	var names []string
	for _, t := range ts {
		names = append(names, t.Name)
	}
	return names
}

func TestTopicsSorted(t *testing.T) {
	s := openStore(t, testenv.NATS(t).JetStream(t), "strata")
	for _, name := range []string{"c", "a.x", "b", "a"} {
		if _, err := s.CreateTopic(t.Context(), Topic{Name: name, Partitions: 1}); err != nil {
			t.Fatal(err)
		}
	}
	runStore(t, s)
	if got, want := topicNames(s.Topics()), []string{"a", "a.x", "b", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Topics = %q, want %q", got, want)
	}
	// The table hands out copies.
	got, _ := s.Topic("a")
	got.Configs = map[string]string{"x": "y"}
	if again, _ := s.Topic("a"); again.Configs != nil {
		t.Error("Topic returned the table's own map")
	}
}

// TestTopicTableOrdering drives the table directly with the interleavings
// the watcher and local writes can produce.
func TestTopicTableOrdering(t *testing.T) {
	v := func(rev uint64, parts int32) Topic {
		return Topic{Name: "t", ID: [16]byte{byte(rev)}, Partitions: parts}
	}
	type step struct {
		local, deleted bool
		rev            uint64
		parts          int32
	}
	for _, tc := range []struct {
		name  string
		steps []step
		want  int32 // partitions of the visible topic; 0: absent
	}{
		{"watcher older than local", []step{{local: true, rev: 5, parts: 2}, {rev: 3, parts: 1}}, 2},
		{"local older than watcher", []step{{rev: 5, parts: 2}, {local: true, rev: 3, parts: 1}}, 2},
		{"local delete hides late create", []step{{local: true, rev: 3, parts: 1}, {local: true, deleted: true, rev: 3}, {rev: 3, parts: 1}}, 0},
		{"watcher delete then late local update", []step{{rev: 3, parts: 1}, {rev: 4, deleted: true}, {local: true, rev: 3, parts: 9}}, 0},
		{"re-create after delete", []step{{rev: 3, parts: 1}, {local: true, deleted: true, rev: 3}, {rev: 4, deleted: true}, {rev: 5, parts: 7}}, 7},
		{"local delete of an older revision", []step{{rev: 6, parts: 6}, {local: true, deleted: true, rev: 3}}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tt topicTable
			tt.init()
			for _, s := range tc.steps {
				if s.local {
					tt.applyLocal("t", v(s.rev, s.parts), s.rev, s.deleted)
				} else {
					tt.applyWatched("t", v(s.rev, s.parts), s.rev, s.deleted)
				}
			}
			st, ok := tt.byName["t"]
			var got int32
			if ok && !st.deleted {
				got = st.topic.Partitions
			}
			if got != tc.want {
				t.Errorf("partitions = %d, want %d (state %+v)", got, tc.want, st)
			}
			if n := len(tt.byID); (tc.want != 0) != (n == 1) || n > 1 {
				t.Errorf("byID has %d entries", n)
			}
		})
	}
}
