package compact

import (
	"errors"
	"testing"

	"github.com/stratalog/strata/tiered/batch"
)

func TestOffsetMap(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			m := NewOffsetMap(3, 0)
			defer m.Close()
			if m.LatestOffset() != -1 || m.Len() != 0 {
				t.Fatalf("new map: latest %d, len %d", m.LatestOffset(), m.Len())
			}
			// Duplicate and null keys take no extra entry.
			add(t, m, encode(t, spec{base: 0, codec: c, recs: []kv{rec("a", "1"), rec("b", "1"), rec("a", "2"), rec("<nil>", "x")}}))
			assertMap(t, m, 2, 3, map[string]int64{"a": 2, "b": 1})

			// Two new keys do not fit in the one entry left: nothing of
			// the batch is added, not even the known key a.
			full := encode(t, spec{base: 4, codec: c, recs: []kv{rec("a", "3"), rec("c", "1"), rec("d", "1")}})
			if err := m.Add(full); !errors.Is(err, ErrMapFull) {
				t.Fatalf("Add: %v, want ErrMapFull", err)
			}
			assertMap(t, m, 2, 3, map[string]int64{"a": 2, "b": 1})

			// Known keys are free; one new key fills the map.
			add(t, m, encode(t, spec{base: 4, codec: c, recs: []kv{rec("a", "3"), rec("b", "<nil>"), rec("c", "1")}}))
			assertMap(t, m, 3, 6, map[string]int64{"a": 4, "b": 5, "c": 6})

			// Older records never lower a key's offset: batches may come
			// in any order.
			add(t, m, encode(t, spec{base: 1, codec: c, recs: []kv{rec("a", "old")}}))
			assertMap(t, m, 3, 6, map[string]int64{"a": 4, "b": 5, "c": 6})

			if got := m.MemoryBytes(); got != 3*offsetMapEntryBytes {
				t.Fatalf("MemoryBytes %d", got)
			}
		})
	}
}

func TestOffsetMapControlBatch(t *testing.T) {
	m := NewOffsetMap(10, 0)
	ctl := encode(t, spec{base: 7, attrs: batch.AttrControl | batch.AttrTransactional, pid: 9,
		recs: []kv{{key: []byte{0, 0, 0, 1}, value: []byte{0, 0, 0, 0, 0, 0}}}})
	add(t, m, ctl)
	if m.Len() != 0 || m.LatestOffset() != 7 {
		t.Fatalf("after a control batch: len %d, latest offset %d; want 0, 7", m.Len(), m.LatestOffset())
	}
}

func TestOffsetMapBadBatch(t *testing.T) {
	good := encode(t, spec{base: 0, codec: batch.CodecGzip, recs: []kv{rec("a", "1"), rec("b", "2")}})
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)-3] ^= 0xff
	for _, tc := range []struct {
		name            string
		b               []byte
		maxDecompressed int
		want            []error
	}{
		{"crc", flipped, 0, []error{ErrCorrupt, batch.ErrCorrupt}},
		{"truncated", good[:len(good)-1], 0, []error{ErrCorrupt, batch.ErrTruncated}},
		{"too large", good, 4, []error{batch.ErrTooLarge}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewOffsetMap(10, tc.maxDecompressed)
			err := m.Add(tc.b)
			for _, want := range tc.want {
				if !errors.Is(err, want) {
					t.Fatalf("Add: %v, want %v", err, want)
				}
			}
			if tc.name == "too large" && errors.Is(err, ErrCorrupt) {
				t.Fatalf("Add: %v: a size limit is not corruption", err)
			}
			assertMap(t, m, 0, -1, nil)
		})
	}
}

func TestMaxEntriesFor(t *testing.T) {
	if got := MaxEntriesFor(10 * offsetMapEntryBytes); got != 10 {
		t.Fatalf("MaxEntriesFor: %d", got)
	}
	if got := MaxEntriesFor(-1); got != 0 {
		t.Fatalf("MaxEntriesFor(-1): %d", got)
	}
}

func add(t testing.TB, m *OffsetMap, b []byte) {
	t.Helper()
	if err := m.Add(b); err != nil {
		t.Fatalf("Add: %v", err)
	}
}

func assertMap(t *testing.T, m *OffsetMap, n int, latest int64, want map[string]int64) {
	t.Helper()
	if m.Len() != n || m.LatestOffset() != latest {
		t.Fatalf("len %d, latest offset %d; want %d, %d", m.Len(), m.LatestOffset(), n, latest)
	}
	for key, off := range want {
		if got, ok := m.Latest([]byte(key)); !ok || got != off {
			t.Fatalf("Latest(%q) = %d, %v; want %d", key, got, ok, off)
		}
	}
	if _, ok := m.Latest(nil); ok {
		t.Fatal("the map holds a null key")
	}
}
