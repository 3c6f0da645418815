package recovery

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stratalog/strata/tiered/segment"
)

// c is a candidate over offsets base-last in object obj (whose rank is its
// number), from the snapshot when snap is set.
func c(obj string, base, last int64, snap bool) candidate {
	order := 0
	fmt.Sscanf(strings.TrimLeft(obj, "abcdefghijklmnopqrstuvwxyz"), "%d", &order)
	return candidate{entry: segment.IndexEntry{Object: obj, BaseOffset: base, LastOffset: last}, fromSnapshot: snap, order: order}
}

func describe(es []segment.IndexEntry) string {
	var parts []string
	for _, e := range es {
		parts = append(parts, fmt.Sprintf("%s:%d-%d", e.Object, e.BaseOffset, e.LastOffset))
	}
	return strings.Join(parts, " ")
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cands []candidate
		want  string
	}{
		{"empty", nil, ""},
		{"snapshot only", []candidate{c("f1", 0, 9, true), c("f2", 10, 19, true)}, "f1:0-9 f2:10-19"},
		{"snapshot wins a tie with a newer object",
			[]candidate{c("f1", 0, 9, true), c("f3", 0, 9, false)}, "f1:0-9"},
		{"newer object wins a tie among footers",
			[]candidate{c("f1", 0, 9, false), c("f3", 0, 9, false)}, "f3:0-9"},
		{"after the snapshot's end, from footers",
			[]candidate{c("f1", 0, 9, true), c("f1", 0, 9, false), c("f2", 10, 19, false)}, "f1:0-9 f2:10-19"},
		{"a merged object replaces a gone snapshot object, its blocks straddling a kept one",
			// f1 (kept) 0-499, f2 (gone) 500-999; merged m5 in blocks 0-300, 301-700, 701-999.
			[]candidate{c("f1", 0, 499, true), c("m5", 0, 300, false), c("m5", 301, 700, false), c("m5", 701, 999, false)},
			"m5:0-300 m5:301-700 m5:701-999"},
		{"a whole entry beats its own blocks",
			[]candidate{c("m5", 0, 300, false), c("m5", 301, 999, false), c("m5", 0, 999, false)}, "m5:0-999"},
		{"coverage beats the snapshot",
			// a longer uncommitted object cannot push out a contiguous run.
			[]candidate{c("d9", 100, 130, false), c("n4", 100, 120, false), c("n4", 121, 140, false)}, "n4:100-120 n4:121-140"},
		{"gaps are allowed", []candidate{c("f1", 0, 9, false), c("f2", 20, 29, false)}, "f1:0-9 f2:20-29"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := describe(plan(tc.cands)); got != tc.want {
				t.Errorf("plan = %q, want %q", got, tc.want)
			}
		})
	}
}
