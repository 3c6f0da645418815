package coordinator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// Topic cache design.
//
// Invariants: for each name the table holds the newest state it has heard
// of, by KV revision, and never goes back to an older one; a topic that was
// deleted is never shown again unless it is created again (a new revision).
//
// Mechanism: two writers feed the table. Run's watcher delivers every
// revision of the topics bucket in stream order; Create, Update and Delete
// apply their own result as soon as the write succeeds, so a caller reads
// its own writes without waiting for the watcher. Each entry keeps the
// revision it is at, and an update is applied only if it is newer. A local
// delete does not learn its marker's revision, only that it is the next write
// after the revision it deleted, so it leaves a tombstone at that revision
// which hides older puts still on their way; tombstones at or below the
// watcher's position can no longer be overtaken and are dropped. A local
// write at or below the watcher's position is already reflected (or
// superseded) and is ignored.
//
// Rejected: letting only the watcher write the table (no read-your-writes:
// a CreateTopic followed by Metadata on the same gateway could miss the
// topic), and reading the KV on every lookup (a round trip on the hot path).

// topicTable is the in-memory table of topics, guarded by mu. mu is a leaf
// lock: nothing is called and no I/O is done while holding it.
type topicTable struct {
	mu      sync.Mutex
	byName  map[string]topicState
	byID    map[[16]byte]string
	tombs   int    // entries in byName with deleted set
	watched uint64 // revision of the last watcher entry applied

	running    bool
	synced     chan struct{}
	syncedOnce sync.Once
}

// topicState is one name's entry: a live topic at rev, or (deleted) a
// tombstone meaning "deleted after rev".
type topicState struct {
	topic   Topic
	rev     uint64
	deleted bool
}

func (tt *topicTable) init() {
	tt.byName = make(map[string]topicState)
	tt.byID = make(map[[16]byte]string)
	tt.synced = make(chan struct{})
}

// applyLocal applies the result of a write made through this Store: a topic
// stored at rev, or (deleted) the deletion of the topic stored at rev.
func (tt *topicTable) applyLocal(name string, t Topic, rev uint64, deleted bool) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	cur, ok := tt.byName[name]
	if deleted {
		if ok && cur.rev > rev {
			return
		}
		tt.set(name, topicState{topic: t, rev: rev, deleted: true})
		return
	}
	if rev <= tt.watched || ok && cur.rev >= rev {
		return
	}
	tt.set(name, topicState{topic: t.clone(), rev: rev})
}

// applyWatched applies one watcher entry: a put, or (deleted) a delete or
// purge marker.
func (tt *topicTable) applyWatched(name string, t Topic, rev uint64, deleted bool) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if cur, ok := tt.byName[name]; !ok || cur.rev < rev {
		if deleted {
			tt.remove(name)
		} else {
			tt.set(name, topicState{topic: t, rev: rev})
		}
	}
	tt.watched = max(tt.watched, rev)
	if tt.tombs > 0 {
		for name, st := range tt.byName {
			if st.deleted && st.rev <= tt.watched {
				tt.remove(name)
			}
		}
	}
}

// set and remove keep byID and tombs in step with byName; mu must be held.
func (tt *topicTable) set(name string, st topicState) {
	tt.remove(name)
	tt.byName[name] = st
	if st.deleted {
		tt.tombs++
	} else {
		tt.byID[st.topic.ID] = name
	}
}

func (tt *topicTable) remove(name string) {
	cur, ok := tt.byName[name]
	if !ok {
		return
	}
	delete(tt.byName, name)
	if cur.deleted {
		tt.tombs--
	} else if tt.byID[cur.topic.ID] == name {
		delete(tt.byID, cur.topic.ID)
	}
}

// Run keeps the Store's topic table in step with the topics bucket until ctx
// ends, then returns nil after its watcher has stopped. It returns an error if
// the watch cannot start or the connection closes. Call it once per Store;
// Topic, TopicByID and Topics read the table it maintains, and Synced tells
// when the table first holds every stored topic.
func (s *Store) Run(ctx context.Context) error {
	tt := &s.table
	tt.mu.Lock()
	if tt.running {
		tt.mu.Unlock()
		return errors.New("coordinator: Run called twice")
	}
	tt.running = true
	tt.mu.Unlock()

	w, err := s.topics.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("coordinator: watch topics: %w", err)
	}
	defer stopWatcher(w, s.log)
	lw, err := s.leaders.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("coordinator: watch leaders: %w", err)
	}
	defer stopWatcher(lw, s.log)
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("coordinator: topic watcher closed")
			}
			if e == nil {
				tt.syncedOnce.Do(func() { close(tt.synced) })
				continue
			}
			s.applyEntry(e)
		case e, ok := <-lw.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("coordinator: leader watcher closed")
			}
			if e != nil {
				s.applyLeaderEntry(e)
			}
		}
	}
}

// applyEntry decodes one watcher entry into the table. A record that cannot
// be decoded is logged and skipped: the table keeps what it had.
func (s *Store) applyEntry(e jetstream.KeyValueEntry) {
	name, err := topicName(e.Key())
	if err != nil {
		s.log.Error("skip topic record", "key", e.Key(), "err", err)
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		s.table.applyWatched(name, Topic{}, e.Revision(), true)
		return
	}
	t, err := decodeTopic(e.Key(), e.Value())
	if err != nil {
		s.log.Error("skip topic record", "topic", name, "err", err)
		return
	}
	s.table.applyWatched(name, t, e.Revision(), false)
}

// Synced returns a channel closed once Run has loaded every topic stored when
// it started.
func (s *Store) Synced() <-chan struct{} { return s.table.synced }

// Topic returns the named topic from the table (see Run), and whether it
// exists there.
func (s *Store) Topic(name string) (Topic, bool) {
	tt := &s.table
	tt.mu.Lock()
	defer tt.mu.Unlock()
	st, ok := tt.byName[name]
	if !ok || st.deleted {
		return Topic{}, false
	}
	return st.topic.clone(), true
}

// TopicByID returns the topic with the given id from the table (see Run),
// and whether it exists there.
func (s *Store) TopicByID(id [16]byte) (Topic, bool) {
	tt := &s.table
	tt.mu.Lock()
	defer tt.mu.Unlock()
	name, ok := tt.byID[id]
	if !ok {
		return Topic{}, false
	}
	return tt.byName[name].topic.clone(), true
}

// Topics returns every topic in the table (see Run), sorted by name.
func (s *Store) Topics() []Topic {
	tt := &s.table
	tt.mu.Lock()
	out := make([]Topic, 0, len(tt.byName)-tt.tombs)
	for _, st := range tt.byName {
		if !st.deleted {
			out = append(out, st.topic.clone())
		}
	}
	tt.mu.Unlock()
	slices.SortFunc(out, func(a, b Topic) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// stopWatcher stops w and drains it: its delivery goroutine may be blocked
// handing over an entry, and closes the channel on its way out.
func stopWatcher(w jetstream.KeyWatcher, log *slog.Logger) {
	if err := w.Stop(); err != nil {
		log.Debug("stop watcher", "err", err)
	}
	for range w.Updates() {
	}
}
