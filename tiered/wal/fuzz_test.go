package wal

import (
	"bytes"
	"testing"
)

// FuzzParseRecord feeds arbitrary message bodies to the record decoder: a
// damaged WAL message must be refused with ErrCorrupt, never crash a replay,
// and whatever parses must encode back to the same bytes.
func FuzzParseRecord(f *testing.F) {
	f.Add(appendRecord(nil, Record{Epoch: 3, BaseOffset: 10, LastOffset: 19, Data: []byte("batch")}))
	f.Add(appendRecord(nil, Record{}))
	f.Add([]byte{recordVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRecord(b)
		if err != nil {
			return
		}
		if again := appendRecord(nil, r); !bytes.Equal(again, b) {
			t.Fatalf("record %+v encodes to %x, parsed from %x", r, again, b)
		}
	})
}
