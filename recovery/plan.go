package recovery

import (
	"sort"

	"github.com/stratalog/strata/tiered/segment"
)

// candidate is an index entry a rebuilt partition index may use.
type candidate struct {
	entry segment.IndexEntry
	// fromSnapshot is set on the snapshot's own entries (their objects
	// exist): they win ties against entries read from footers.
	fromSnapshot bool
	// order ranks the entry's object by creation time, newest highest.
	order int
}

// score is what the plan maximises, compared field by field: offsets
// covered, then offsets covered by the snapshot's entries, then recency
// (offsets weighted by their object's rank), then fewer entries.
type score struct {
	covered, fromSnapshot int64
	recency               float64
	entries               int64
}

func (a score) add(b score) score {
	return score{a.covered + b.covered, a.fromSnapshot + b.fromSnapshot, a.recency + b.recency, a.entries + b.entries}
}

func (a score) less(b score) bool {
	switch {
	case a.covered != b.covered:
		return a.covered < b.covered
	case a.fromSnapshot != b.fromSnapshot:
		return a.fromSnapshot < b.fromSnapshot
	case a.recency != b.recency:
		return a.recency < b.recency
	}
	return a.entries > b.entries
}

func (c candidate) score() score {
	n := c.entry.LastOffset - c.entry.BaseOffset + 1
	s := score{covered: n, recency: float64(n) * float64(c.order), entries: 1}
	if c.fromSnapshot {
		s.fromSnapshot = n
	}
	return s
}

// plan picks, from candidates that may overlap, entries that do not overlap
// and together cover the most offsets (ties as score says), in offset order.
// It is weighted interval scheduling: sort by last offset, and for each
// prefix keep the best choice, either without the prefix's last candidate or
// with it after the best choice among the candidates that end before it
// starts. O(n log n).
func plan(cands []candidate) []segment.IndexEntry {
	if len(cands) == 0 {
		return nil
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i].entry, cands[j].entry
		if a.LastOffset != b.LastOffset {
			return a.LastOffset < b.LastOffset
		}
		return a.BaseOffset < b.BaseOffset
	})
	n := len(cands)
	best := make([]score, n+1) // best[k]: the best choice among cands[:k]
	took := make([]bool, n)
	prev := make([]int, n) // how many candidates end before cands[i] starts
	for i, c := range cands {
		base := c.entry.BaseOffset
		prev[i] = sort.Search(i, func(j int) bool { return cands[j].entry.LastOffset >= base })
		with := best[prev[i]].add(c.score())
		if best[i].less(with) {
			best[i+1], took[i] = with, true
		} else {
			best[i+1] = best[i]
		}
	}
	var out []segment.IndexEntry
	for i := n; i > 0; {
		if took[i-1] {
			out = append(out, cands[i-1].entry)
			i = prev[i-1]
		} else {
			i--
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
