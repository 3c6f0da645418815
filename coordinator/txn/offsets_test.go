package txn

import (
	"errors"
	"testing"
)

// TestCommitOffsets: TxnOffsetCommit's checks, pending offsets kept per
// group, topic and partition, carried by the markers of a commit and
// dropped when the transaction completes.
func TestCommitOffsets(t *testing.T) {
	offs := map[string]map[int32]PendingOffset{"in": {0: {Offset: 5, LeaderEpoch: -1, CommitMs: now}}}
	for _, c := range []struct {
		name     string
		cur      *Transaction
		pid      int64
		epoch    int16
		group    string
		implicit bool
		want     error
	}{
		{"no record", nil, pid, epoch, "g", false, ErrInvalidProducerIDMapping},
		{"another producer", rec(Ongoing, groups("g")), pid + 1, epoch, "g", false, ErrInvalidProducerIDMapping},
		{"old epoch", rec(Ongoing, groups("g")), pid, epoch - 1, "g", false, ErrProducerFenced},
		{"completing", rec(PrepareCommit, groups("g")), pid, epoch, "g", false, ErrConcurrentTransactions},
		{"no transaction", rec(CompleteCommit, noParts), pid, epoch, "g", false, ErrInvalidTxnState},
		{"group not added", rec(Ongoing), pid, epoch, "g", false, ErrInvalidTxnState},
		{"empty group", rec(Ongoing), pid, epoch, "", false, ErrInvalidGroupID},
		{"group added", rec(Ongoing, groups("g")), pid, epoch, "g", false, nil},
		{"group added implicitly (v5)", rec(Ongoing), pid, epoch, "g", true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := CommitOffsets(c.cur, c.pid, c.epoch, c.group, offs, c.implicit, now)
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(res.Err, c.want) {
				t.Fatalf("answer %v, want %v", res.Err, c.want)
			}
			if c.want != nil {
				if res.Action != Reply {
					t.Fatalf("action %v with an error", res.Action)
				}
				return
			}
			if res.Action != Store || res.Next.Offsets["g"]["in"][0].Offset != 5 || res.Next.Groups[0] != "g" {
				t.Fatalf("result %+v, next %+v", res, res.Next)
			}
			if _, err := Decode(mustEncode(t, res.Next)); err != nil {
				t.Fatalf("stored record does not decode: %v", err)
			}
		})
	}

	// A later commit of the same partition replaces it; the markers of the
	// commit carry the offsets; completion drops them.
	cur := rec(Ongoing, groups("g"))
	for _, o := range []int64{5, 9} {
		res, err := CommitOffsets(cur, pid, epoch, "g", map[string]map[int32]PendingOffset{"in": {0: {Offset: o}, 1: {Offset: o + 1}}}, false, now)
		if err != nil || res.Err != nil {
			t.Fatal(err, res.Err)
		}
		cur = res.Next
	}
	res, err := EndTxn(cur, pid, epoch, true, false, now, nil)
	if err != nil || res.Err != nil || res.Action != StoreThenMarkers {
		t.Fatalf("end: %+v, %v", res, err)
	}
	if got := res.Markers.Offsets["g"]["in"]; got[0].Offset != 9 || got[1].Offset != 10 {
		t.Fatalf("markers carry offsets %v, want 9 and 10", got)
	}
	done, err := Complete(res.Next, now)
	if err != nil || done.Offsets != nil || done.State != CompleteCommit {
		t.Fatalf("completed %+v, %v", done, err)
	}
}

func mustEncode(t *testing.T, r *Transaction) []byte {
	t.Helper()
	b, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
