package coordinator

import (
	"slices"
	"sync"
	"testing"

	"github.com/stratalog/strata/internal/testenv"
)

// TestAllocateProducerIDs allocates ranges from goroutines on two Stores and
// checks that no id is handed out twice.
func TestAllocateProducerIDs(t *testing.T) {
	n := testenv.NATS(t)
	stores := []*Store{openStore(t, n.JetStream(t), "strata"), openStore(t, n.JetStream(t), "strata")}

	first, err := stores[0].AllocateProducerIDs(t.Context(), 1)
	if err != nil || first != FirstProducerID {
		t.Fatalf("first allocation = %d, %v; want %d", first, err, FirstProducerID)
	}

	type alloc struct{ first, n int64 }
	var (
		mu     sync.Mutex
		allocs = []alloc{{first, 1}}
		wg     sync.WaitGroup
	)
	for g := range 8 {
		s := stores[g%2]
		wg.Go(func() {
			for i := range 10 {
				n := int64(g + i + 1)
				first, err := s.AllocateProducerIDs(t.Context(), n)
				if err != nil {
					t.Errorf("allocate: %v", err)
					return
				}
				mu.Lock()
				allocs = append(allocs, alloc{first, n})
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	slices.SortFunc(allocs, func(a, b alloc) int { return int(a.first - b.first) })
	next := int64(FirstProducerID)
	for _, a := range allocs {
		if a.first != next {
			t.Fatalf("range at %d, want %d: overlap or gap in %v", a.first, next, allocs)
		}
		next += a.n
	}
	if _, err := stores[0].AllocateProducerIDs(t.Context(), 0); err == nil {
		t.Error("allocating 0 ids succeeded")
	}
}
