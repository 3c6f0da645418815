package coordinator

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
)

// TestCASBatcher: writes made at once to the leaders bucket are stored by
// atomic batches, creates and updates alike, each at the revision it
// expected; a write whose expectation is stale loses alone, as a single
// write would; and a key that was deleted can be created again.
func TestCASBatcher(t *testing.T) {
	js := testenv.NATS(t).JetStream(t)
	s := openStore(t, js, "strata")
	b := s.leaderWrites
	if !b.atomic {
		t.Fatal("the server did not take atomic batches on the leaders bucket")
	}
	ctx := t.Context()
	const n = 300
	key := func(i int) string { return "k." + strconv.Itoa(i) }

	// Writes made while a batch is in flight queue for the next one. The
	// batch in flight is staged here, so that all n are sure to queue.
	b.mu.Lock()
	b.running, b.idle = true, make(chan struct{})
	b.mu.Unlock()
	revs := make([]uint64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			revs[i], errs[i] = b.write(ctx, key(i), []byte("v1 "+key(i)), 0)
		})
	}
	testenv.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.queue) < n {
			return fmt.Errorf("%d of %d writes queued", len(b.queue), n)
		}
		return nil
	})
	b.mu.Lock()
	b.running = false
	close(b.idle)
	b.mu.Unlock()
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("create %s: %v", key(i), errs[i])
		}
		checkValue(ctx, t, s, key(i), "v1 "+key(i), revs[i])
	}
	if got := b.batchedWrites.Load(); got != n {
		t.Fatalf("%d queued creates, %d stored by a batch, want all in one", n, got)
	}

	// Updates at once, one of them with a stale revision and one creating
	// a key that exists: those two lose, every other lands.
	stale, exists := 7, 11
	for i := range n {
		wg.Go(func() {
			prev := revs[i]
			switch i {
			case stale:
				prev--
			case exists:
				prev = 0
			}
			revs[i], errs[i] = b.write(ctx, key(i), []byte("v2 "+key(i)), prev)
		})
	}
	wg.Wait()
	for i := range n {
		switch i {
		case stale, exists:
			if !isCASMismatch(errs[i]) {
				t.Fatalf("update %s on a revision it is not at: %v, want a compare-and-swap mismatch", key(i), errs[i])
			}
			e, err := s.leaders.Get(ctx, key(i))
			if err != nil || string(e.Value()) != "v1 "+key(i) {
				t.Fatalf("%s after its lost update: %v", key(i), err)
			}
		default:
			if errs[i] != nil {
				t.Fatalf("update %s: %v", key(i), errs[i])
			}
			checkValue(ctx, t, s, key(i), "v2 "+key(i), revs[i])
		}
	}

	// A batch with one stale expectation stores nothing; its writers then
	// write alone.
	batch := make([]*casWrite, 20)
	for i := range batch {
		e, err := s.leaders.Get(ctx, key(i))
		if err != nil {
			t.Fatal(err)
		}
		batch[i] = &casWrite{key: key(i), data: []byte("v3"), prev: e.Revision(), done: make(chan struct{})}
	}
	batch[len(batch)-1].prev--
	b.commit(ctx, batch)
	for _, w := range batch {
		if !w.writeAlone {
			t.Fatalf("%s in a refused batch: not left to its writer (rev %d, err %v)", w.key, w.rev, w.err)
		}
		if e, err := s.leaders.Get(ctx, w.key); err != nil || string(e.Value()) == "v3" {
			t.Fatalf("%s was stored by a refused batch (%v)", w.key, err)
		}
	}

	// A deleted key is created again, alone after the batch refuses it.
	if err := s.leaders.Delete(ctx, key(0)); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		wg.Go(func() {
			revs[i], errs[i] = b.write(ctx, "again."+key(i), []byte("v4"), 0)
		})
	}
	rev, err := b.write(ctx, key(0), []byte("v4"), 0)
	wg.Wait()
	if err != nil {
		t.Fatalf("create deleted key %s: %v", key(0), err)
	}
	checkValue(ctx, t, s, key(0), "v4", rev)
	for i := range 10 {
		if errs[i] != nil {
			t.Fatalf("create again.%s: %v", key(i), errs[i])
		}
		checkValue(ctx, t, s, "again."+key(i), "v4", revs[i])
	}
}

func checkValue(ctx context.Context, t *testing.T, s *Store, key, want string, rev uint64) {
	t.Helper()
	e, err := s.leaders.Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if got := fmt.Sprintf("%s@%d", e.Value(), e.Revision()); got != fmt.Sprintf("%s@%d", want, rev) {
		t.Fatalf("%s is %s, want %s@%d", key, got, want, rev)
	}
}
