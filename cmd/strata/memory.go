package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The memory budget. --memory-limit is what one gateway process may use.
// The parts that grow with load are each bounded by a flag; those left unset
// get a share of the limit:
//
//	part                 flag                          share
//	WAL tail             --max-tail-bytes              1/4
//	block cache          --cache-bytes                 1/4
//	requests in flight   --max-inflight-request-bytes  1/8, at least --max-request-bytes
//	fetch responses      --max-fetch-response-bytes    1/8
//
// The rest is headroom for what grows with the parts above or with the
// partition count rather than with load: the segment a flush builds (at most
// the tail it packs), per-partition state, the embedded NATS server, goroutine
// stacks. A start whose parts add up to more than the limit is refused.
//
// Go's soft memory limit (runtime/debug.SetMemoryLimit; GOMEMLIMIT, when
// set, wins) is a tenth below it (goMemoryLimit): near it the collector runs
// more often instead of letting the heap grow to twice what is live.
type memoryBudget struct {
	Limit          int64
	Tail           int64
	Cache          int64
	Requests       int64
	FetchResponses int64
}

// minMemoryLimit is the smallest --memory-limit accepted.
const minMemoryLimit = 128 << 20

// planMemory fills the parts c leaves unset from c.MemoryLimit and checks
// that they fit in it.
func planMemory(c serveConfig) (memoryBudget, error) {
	limit := int64(c.MemoryLimit)
	if limit < minMemoryLimit {
		return memoryBudget{}, fmt.Errorf("--memory-limit %s: at least %s", sizeString(int64(c.MemoryLimit)), sizeString(minMemoryLimit))
	}
	share := func(set byteSize, fraction int64) int64 {
		if set > 0 {
			return int64(set)
		}
		return limit / fraction
	}
	b := memoryBudget{
		Limit:          limit,
		Tail:           share(c.MaxTailBytes, 4),
		Cache:          share(c.CacheBytes, 4),
		Requests:       share(c.MaxInFlight, 8),
		FetchResponses: share(c.MaxFetchResponseBytes, 8),
	}
	if c.MaxInFlight == 0 {
		// A frame waits for its whole size: the budget must hold the
		// largest one.
		b.Requests = max(b.Requests, int64(c.MaxRequestBytes))
	}
	if b.Requests < int64(c.MaxRequestBytes) {
		return memoryBudget{}, fmt.Errorf("--max-inflight-request-bytes %s is less than --max-request-bytes %s: a request that large could never be read",
			sizeString(b.Requests), sizeString(int64(c.MaxRequestBytes)))
	}
	if sum := b.Tail + b.Cache + b.Requests + b.FetchResponses; sum > limit {
		return memoryBudget{}, fmt.Errorf("--memory-limit %s is less than its parts: tail %s, cache %s, requests %s, fetch responses %s (%s); raise it or lower a part",
			sizeString(limit), sizeString(b.Tail), sizeString(b.Cache), sizeString(b.Requests), sizeString(b.FetchResponses), sizeString(sum))
	}
	return b, nil
}

// sizeString writes n in the largest binary unit that divides it, as the
// size flags are written.
func sizeString(n int64) string {
	switch {
	case n != 0 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n != 0 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n != 0 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// applyGoMemoryLimit makes goMemoryLimit(b) the Go runtime's soft memory
// limit unless GOMEMLIMIT sets one. Only the strata binary calls it: the
// limit is the process's, and tests run several gateways in one.
func applyGoMemoryLimit(b memoryBudget) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(goMemoryLimit(b))
	}
}

// goMemoryLimit is the soft limit the collector keeps to: a tenth below the
// budget, because a soft limit is overshot while the collector catches up
// with a burst of allocation (a flush's segment, a large fetch), but never
// below the parts' sum. At the budget itself the gateway's peak RSS under
// full produce load was 2-3% over it, at 6 partitions and at 10,000.
func goMemoryLimit(b memoryBudget) int64 {
	return max(b.Limit-b.Limit/10, b.Tail+b.Cache+b.Requests+b.FetchResponses)
}

// memoryUse reads what each budgeted part holds now.
type memoryUse struct {
	Tail           func() int64
	Cache          func() int64
	Requests       func() int64
	FetchResponses func() int64
}

// registerMemoryMetrics exports the budget and its use, per part.
func registerMemoryMetrics(reg prometheus.Registerer, b memoryBudget, use memoryUse) {
	f := promauto.With(reg)
	parts := []struct {
		name  string
		limit int64
		used  func() int64
	}{
		{"tail", b.Tail, use.Tail},
		{"block_cache", b.Cache, use.Cache},
		{"requests", b.Requests, use.Requests},
		{"fetch_responses", b.FetchResponses, use.FetchResponses},
	}
	for _, p := range parts {
		f.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "strata_memory_budget_bytes",
			Help:        "Bytes of the gateway's memory budget (--memory-limit) given to each part.",
			ConstLabels: prometheus.Labels{"part": p.name},
		}, func() float64 { return float64(p.limit) })
		f.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "strata_memory_used_bytes",
			Help:        "Bytes each budgeted part holds now.",
			ConstLabels: prometheus.Labels{"part": p.name},
		}, func() float64 { return float64(p.used()) })
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "strata_memory_budget_bytes",
		Help:        "Bytes of the gateway's memory budget (--memory-limit) given to each part.",
		ConstLabels: prometheus.Labels{"part": "total"},
	}, func() float64 { return float64(b.Limit) })
}
