package batch

import (
	"errors"
	"testing"
)

func TestMarkers(t *testing.T) {
	for _, commit := range []bool{true, false} {
		b := EncodeMarker(Marker{ProducerID: 7, ProducerEpoch: 3, Commit: commit, CoordinatorEpoch: 9, Timestamp: 1700000000000})
		h, err := Verify(b)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Control() || !h.Transactional() || h.ProducerID != 7 || h.ProducerEpoch != 3 || h.NumRecords != 1 || h.BaseSequence != -1 {
			t.Fatalf("marker header %+v", h)
		}
		typ, err := MarkerType(b)
		want := ControlAbort
		if commit {
			want = ControlCommit
		}
		if err != nil || typ != want {
			t.Fatalf("MarkerType = %v, %v; want %v", typ, err, want)
		}
		recs, err := Records(b, 1<<10)
		if err != nil || len(recs) != 1 || string(recs[0].Value) != "\x00\x00\x00\x00\x00\x09" {
			t.Fatalf("marker record %+v, %v", recs, err)
		}
	}
	data := mustEncode(t, Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: []Record{{Value: []byte("x")}}})
	if _, err := MarkerType(data); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("MarkerType of a data batch: %v", err)
	}
	short := mustEncode(t, Batch{Attributes: AttrControl | AttrTransactional, ProducerID: 1, BaseSequence: -1, Records: []Record{{Key: []byte{0}}}})
	if _, err := MarkerType(short); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("MarkerType with a short key: %v", err)
	}
}
