package coordinator

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stratalog/strata/internal/testenv"
)

// TestTxnCompareAndSwap walks one transactional id through create, update,
// stale writes, delete and re-create, as two coordinators racing on it
// would.
func TestTxnCompareAndSwap(t *testing.T) {
	js := testenv.NATS(t).JetStream(t)
	a, b := openStore(t, js, "strata"), openStore(t, js, "strata") // two gateways
	ctx := t.Context()
	const id = "orders-app-1"

	data, rev, err := a.LoadTxn(ctx, id)
	if err != nil || rev != 0 || data != nil {
		t.Fatalf("load before any write: %q, %d, %v", data, rev, err)
	}
	rev1, err := a.SaveTxn(ctx, id, []byte("one"), 0)
	if err != nil || rev1 == 0 {
		t.Fatalf("create: %d, %v", rev1, err)
	}
	if _, err := b.SaveTxn(ctx, id, []byte("other"), 0); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	data, rev, err = b.LoadTxn(ctx, id)
	if err != nil || rev != rev1 || string(data) != "one" {
		t.Fatalf("load: %q, %d, %v; want one at %d", data, rev, err, rev1)
	}
	rev2, err := b.SaveTxn(ctx, id, []byte("two"), rev1)
	if err != nil || rev2 <= rev1 {
		t.Fatalf("update: %d, %v", rev2, err)
	}
	// a still holds revision rev1: its write and its delete both lose.
	if _, err := a.SaveTxn(ctx, id, []byte("stale"), rev1); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
	if err := a.DeleteTxn(ctx, id, rev1); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale delete: %v, want ErrConflict", err)
	}
	if data, rev, _ := a.LoadTxn(ctx, id); string(data) != "two" || rev != rev2 {
		t.Fatalf("after the stale writes: %q at %d, want two at %d", data, rev, rev2)
	}
	if err := a.DeleteTxn(ctx, id, 0); err != nil {
		t.Fatalf("delete with no revision: %v", err)
	}
	if err := a.DeleteTxn(ctx, id, rev2); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if data, rev, err := b.LoadTxn(ctx, id); err != nil || rev != 0 || data != nil {
		t.Fatalf("load after delete: %q, %d, %v", data, rev, err)
	}
	if err := b.DeleteTxn(ctx, id, rev2); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete again: %v, want ErrConflict", err)
	}
	if _, err := b.SaveTxn(ctx, id, []byte("two"), rev2); !errors.Is(err, ErrConflict) {
		t.Fatalf("update of a deleted record: %v, want ErrConflict", err)
	}
	rev3, err := b.SaveTxn(ctx, id, []byte("three"), 0)
	if err != nil || rev3 <= rev2 {
		t.Fatalf("create after delete: %d, %v", rev3, err)
	}
	if data, rev, _ := a.LoadTxn(ctx, id); string(data) != "three" || rev != rev3 {
		t.Fatalf("after re-create: %q at %d", data, rev)
	}
}

// oddIDs are transactional ids that are not valid KV keys as they are.
var oddIDs = []string{
	"a.b", ".", "..", ".leading", "trailing.", "a..b", "with space", "a/b", "*", ">", "a.*.>", "$KV",
	"=", "=2E", "ünïcödé", "tab\tand\nnewline", "nul\x00byte", "dash-and_underscore", "MiXeD",
	strings.Repeat(".", 1024), // every byte escaped: the longest key allowed
}

func TestTxnsListing(t *testing.T) {
	s := openStore(t, testenv.NATS(t).JetStream(t), "strata")
	ctx := t.Context()
	got, err := s.Txns(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty bucket: %v, %v", got, err)
	}
	want := make(map[string]TxnRecord)
	for i, id := range oddIDs {
		data := []byte("record " + strings.Repeat("x", i))
		rev, err := s.SaveTxn(ctx, id, data, 0)
		if err != nil {
			t.Fatalf("create %q: %v", id, err)
		}
		want[id] = TxnRecord{Data: data, Revision: rev}
	}
	// One updated, one deleted: the listing has the latest revision and
	// no deleted record.
	upd, gone := oddIDs[0], oddIDs[1]
	rev, err := s.SaveTxn(ctx, upd, []byte("updated"), want[upd].Revision)
	if err != nil {
		t.Fatal(err)
	}
	want[upd] = TxnRecord{Data: []byte("updated"), Revision: rev}
	if err := s.DeleteTxn(ctx, gone, want[gone].Revision); err != nil {
		t.Fatal(err)
	}
	delete(want, gone)

	got, err = s.Txns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(got, want, func(a, b TxnRecord) bool { return a.Revision == b.Revision && string(a.Data) == string(b.Data) }) {
		t.Fatalf("listing\n got %v\nwant %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	// Each id loads at the revision listed, so a scan's revisions are good
	// for compare-and-swap.
	for id, r := range got {
		data, rev, err := s.LoadTxn(ctx, id)
		if err != nil || rev != r.Revision || string(data) != string(r.Data) {
			t.Errorf("load %q: %q at %d, %v; listed %q at %d", id, data, rev, err, r.Data, r.Revision)
		}
	}
}

func TestTxnLimits(t *testing.T) {
	s := openStore(t, testenv.NATS(t).JetStream(t), "strata")
	ctx := t.Context()
	if _, err := s.SaveTxn(ctx, "big", make([]byte, s.RecordLimit()+1), 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("record over the limit: %v, want ErrTooLarge", err)
	}
	long := strings.Repeat(".", 1025) // a key of 3075 bytes
	if _, err := s.SaveTxn(ctx, long, []byte("x"), 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("save with a key over the limit: %v, want ErrTooLarge", err)
	}
	if _, _, err := s.LoadTxn(ctx, long); !errors.Is(err, ErrTooLarge) {
		t.Errorf("load with a key over the limit: %v, want ErrTooLarge", err)
	}
	if err := s.DeleteTxn(ctx, long, 1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("delete with a key over the limit: %v, want ErrTooLarge", err)
	}
	if _, err := s.SaveTxn(ctx, "", []byte("x"), 0); err == nil {
		t.Error("save with an empty id succeeded")
	}
	// The connection is still good.
	if _, err := s.SaveTxn(ctx, "after", []byte("x"), 0); err != nil {
		t.Fatalf("save after the refusals: %v", err)
	}
}

// TestTxnsBucket checks the bucket follows the Store's rules: file storage,
// history 1, the configured replicas, no direct gets.
func TestTxnsBucket(t *testing.T) {
	js := testenv.NATS(t).JetStream(t)
	s := openStore(t, js, "p1")
	if !slices.Contains(s.StreamNames(), "KV_p1_txns") {
		t.Fatalf("streams %v lack KV_p1_txns", s.StreamNames())
	}
	st, err := js.Stream(t.Context(), "KV_p1_txns")
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if cfg.AllowDirect || cfg.Storage != jetstream.FileStorage || cfg.Replicas != 1 || cfg.MaxMsgsPerSubject != 1 {
		t.Errorf("txns bucket: direct %v storage %v replicas %d history %d", cfg.AllowDirect, cfg.Storage, cfg.Replicas, cfg.MaxMsgsPerSubject)
	}
}
