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

// FuzzParseChain does the same for chain messages, which name the
// partitions and lengths of their entries: a count or length the message
// cannot hold is refused before anything is allocated for it.
func FuzzParseChain(f *testing.F) {
	p := Partition{TopicID: [16]byte{1, 2}, Partition: 3}
	f.Add(encodeChain(chainRecords, []Entry{
		{Partition: p, Record: Record{Epoch: 3, BaseOffset: 10, LastOffset: 19, Data: []byte("batch")}},
		{Partition: Partition{Partition: 9}, Record: Record{Epoch: 1}},
	}))
	f.Add(encodeChain(chainFences, []Entry{{Partition: p, Record: Record{Epoch: 4}}}))
	f.Add(encodeChain(chainRecords, nil))
	f.Add([]byte{chainVersion})
	f.Add([]byte{chainVersionV2})
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, entries, err := parseChain(b)
		if err != nil {
			return
		}
		// A version 2 record message encodes as version 3; the checksum
		// does not cover the version byte.
		if again := encodeChain(kind, entries); !bytes.Equal(again[1:], b[1:]) {
			t.Fatalf("chain message %d %+v encodes to %x, parsed from %x", kind, entries, again, b)
		}
	})
}
