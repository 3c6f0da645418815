package txn

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode decodes arbitrary bytes as a stored record, as a coordinator
// reads whatever is in the store. Invariants: no panic; every error wraps
// ErrCorrupt; a record that decodes encodes again and decodes to the same
// record; and every transition accepts it without panicking, returning
// records that encode.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(validJSON))
	f.Add([]byte(`{"v":1,"id":"a","producer_id":1,"producer_epoch":32766,"last_producer_id":1,` +
		`"last_producer_epoch":-1,"next_producer_id":-1,"timeout_ms":1,"state":"Ongoing",` +
		`"partitions":{"t":[0,1]},"groups":["g"],"start_ms":9223372036854775807,"update_ms":0,"tv2":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := Encode(r)
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		back, err := Decode(again)
		if err != nil || !reflect.DeepEqual(back, r) {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, r)
		}
		transitions(t, r)
	})
}

// transitions runs every transition on r and checks what they would store.
func transitions(t *testing.T, r *Transaction) {
	alloc := func() (int64, error) { return r.ProducerID + 1, nil }
	const at = 1 << 40
	results := []func() (Result, error){
		func() (Result, error) {
			return InitProducerID(r, r.ID, 1000, 0, NoProducerID, NoProducerEpoch, at, alloc)
		},
		func() (Result, error) {
			return InitProducerID(r, r.ID, 1000, 0, r.ProducerID, r.LastProducerEpoch+1, at, alloc)
		},
		func() (Result, error) {
			return AddPartitions(r, r.ProducerID, r.ProducerEpoch, map[string][]int32{"x": {3}}, r.TV2, at)
		},
		func() (Result, error) { return AddGroup(r, r.ProducerID, r.ProducerEpoch, "g2", r.TV2, at) },
		func() (Result, error) { return EndTxn(r, r.ProducerID, r.ProducerEpoch, true, false, at, alloc) },
		func() (Result, error) { return EndTxn(r, r.ProducerID, r.ProducerEpoch, false, true, at, alloc) },
		func() (Result, error) { return EndTxn(r, r.ProducerID, r.ProducerEpoch-1, true, true, at, alloc) },
		func() (Result, error) { return Expired(r, at, alloc) },
	}
	for i, run := range results {
		res, err := run()
		if err != nil {
			t.Fatalf("transition %d on a decoded record: %v", i, err)
		}
		if res.Next == nil {
			continue
		}
		if _, err := Encode(res.Next); err != nil {
			t.Fatalf("transition %d stores an invalid record: %v\nfrom %+v", i, err, r)
		}
		if res.Action == StoreThenMarkers {
			done, err := Complete(res.Next, at)
			if err != nil {
				t.Fatalf("transition %d: Complete: %v", i, err)
			}
			if _, err := Encode(done); err != nil {
				t.Fatalf("transition %d: Complete stores an invalid record: %v", i, err)
			}
		}
	}
	_ = VerifyPartitions(r, r.ProducerID, r.ProducerEpoch, map[string][]int32{"t": {0}})
	_, _ = Describe(r)
	_ = r.Matches(ListFilter{DurationMs: 0}, at)
	_ = IDExpired(r, at, 0)
}
