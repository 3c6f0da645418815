package coordinator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
)

func qname(s string) *string { return &s }

func TestQuotaKeyRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		entity QuotaEntity
		key    string
	}{
		{QuotaEntity{{Type: "user", Name: qname("alice")}}, "user.nalice"},
		{QuotaEntity{{Type: "user", Name: qname("alice")}, {Type: "client-id"}}, "client-id.d.user.nalice"},
		{QuotaEntity{{Type: "client-id", Name: qname("app.v2")}}, "client-id.napp=2Ev2"},
		{QuotaEntity{{Type: "ip"}}, "ip.d"},
		{QuotaEntity{{Type: "user", Name: qname("")}}, "user.n"},
		{QuotaEntity{{Type: "user", Name: qname("d")}}, "user.nd"},
		{QuotaEntity{{Type: "user", Name: qname("CN=a, O=b")}}, "user.nCN=3Da=2C=20O=3Db"},
		{QuotaEntity{{Type: "user", Name: qname("ünï")}}, "user.n=C3=BCn=C3=AF"},
	} {
		key, err := quotaKey(tc.entity)
		if err != nil || key != tc.key {
			t.Errorf("quotaKey(%v) = %q, %v; want %q", tc.entity, key, err, tc.key)
			continue
		}
		back, err := parseQuotaKey(key)
		if err != nil {
			t.Errorf("parseQuotaKey(%q): %v", key, err)
			continue
		}
		if again, _ := quotaKey(back); again != key {
			t.Errorf("parseQuotaKey(%q) = %v, which encodes as %q", key, back, again)
		}
	}
}

func TestQuotaKeyErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		entity QuotaEntity
		is     error
	}{
		{"empty", nil, nil},
		{"no type", QuotaEntity{{Name: qname("a")}}, nil},
		{"type twice", QuotaEntity{{Type: "user"}, {Type: "user", Name: qname("a")}}, nil},
		{"too long", QuotaEntity{{Type: "client-id", Name: qname(strings.Repeat(".", 1100))}}, ErrTooLarge},
	} {
		_, err := quotaKey(tc.entity)
		if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("%s: err = %v, want an error (%v)", tc.name, err, tc.is)
		}
	}
	for _, key := range []string{"user", "user.x", "user.n=Z", "=ZZ.d"} {
		if _, err := parseQuotaKey(key); !errors.Is(err, ErrCorrupt) {
			t.Errorf("parseQuotaKey(%q) = %v, want ErrCorrupt", key, err)
		}
	}
}

// set returns an AlterClientQuota change that sets and removes keys.
func set(kv map[string]float64, remove ...string) func(map[string]float64) error {
	return func(v map[string]float64) error {
		maps.Copy(v, kv)
		for _, k := range remove {
			delete(v, k)
		}
		return nil
	}
}

func TestClientQuotaAlter(t *testing.T) {
	js := testenv.NATS(t).JetStream(t)
	s := openStore(t, js, "strata")
	ctx := t.Context()
	alice := QuotaEntity{{Type: "user", Name: qname("alice")}}
	aliceApp := QuotaEntity{{Type: "client-id", Name: qname("app")}, {Type: "user", Name: qname("alice")}}

	got, err := s.AlterClientQuota(ctx, alice, set(map[string]float64{"producer_byte_rate": 1024, "consumer_byte_rate": 2048}))
	if err != nil || len(got) != 2 {
		t.Fatalf("create: %v, %v", got, err)
	}
	if _, err := s.AlterClientQuota(ctx, aliceApp, set(map[string]float64{"request_percentage": 12.5})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AlterClientQuota(ctx, alice, set(map[string]float64{"producer_byte_rate": 4096}, "consumer_byte_rate")); err != nil {
		t.Fatal(err)
	}
	// A change that fails writes nothing.
	boom := errors.New("refused")
	if _, err := s.AlterClientQuota(ctx, alice, func(v map[string]float64) error { clear(v); return boom }); !errors.Is(err, boom) {
		t.Fatalf("failing change: %v, want %v", err, boom)
	}
	// Removing a key an entity does not have changes nothing, and creates
	// no record.
	nobody := QuotaEntity{{Type: "client-id"}}
	if _, err := s.AlterClientQuota(ctx, nobody, set(nil, "producer_byte_rate")); err != nil {
		t.Fatal(err)
	}

	all, err := s.ClientQuotas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []ClientQuota{
		{Entity: aliceApp, Values: map[string]float64{"request_percentage": 12.5}},
		{Entity: alice, Values: map[string]float64{"producer_byte_rate": 4096}},
	}
	if fmt.Sprint(describe(all)) != fmt.Sprint(describe(want)) {
		t.Fatalf("ClientQuotas = %v, want %v", describe(all), describe(want))
	}

	// Removing the last quota deletes the record.
	if _, err := s.AlterClientQuota(ctx, aliceApp, set(nil, "request_percentage")); err != nil {
		t.Fatal(err)
	}
	if keys, err := s.listKeys(ctx, s.quotas, ">"); err != nil || len(keys) != 1 || keys[0] != "user.nalice" {
		t.Fatalf("keys after removing the last quota: %v, %v", keys, err)
	}
	// And it can be created again.
	if _, err := s.AlterClientQuota(ctx, aliceApp, set(map[string]float64{"request_percentage": 1})); err != nil {
		t.Fatal(err)
	}
}

// describe renders quotas deterministically for comparison.
func describe(qs []ClientQuota) []string {
	var out []string
	for _, q := range qs {
		var parts []string
		for _, c := range q.Entity {
			n := "<default>"
			if c.Name != nil {
				n = *c.Name
			}
			parts = append(parts, c.Type+"="+n)
		}
		out = append(out, fmt.Sprintf("%s%v", strings.Join(parts, ","), q.Values))
	}
	return out
}

// TestClientQuotaConcurrentAlters checks that concurrent changes to one
// entity from several stores (as several gateways) all land: each is a
// compare-and-swap that retries on the other's write.
func TestClientQuotaConcurrentAlters(t *testing.T) {
	js := testenv.NATS(t).JetStream(t)
	stores := []*Store{openStore(t, js, "strata"), openStore(t, js, "strata")}
	e := QuotaEntity{{Type: "user"}}
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := stores[i%2].AlterClientQuota(t.Context(), e, set(map[string]float64{fmt.Sprintf("k%d", i): float64(i + 1)}))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	all, err := stores[0].ClientQuotas(t.Context())
	if err != nil || len(all) != 1 || len(all[0].Values) != n {
		t.Fatalf("after %d concurrent alters: %v, %v", n, describe(all), err)
	}
}

// TestClientQuotaWatch checks the watch's order (stored records, the synced
// mark, then changes), that deletes arrive as nil values, and that a record
// that cannot be decoded is skipped.
func TestClientQuotaWatch(t *testing.T) {
	js := testenv.NATS(t).JetStream(t)
	s := openStore(t, js, "strata")
	ctx := t.Context()
	alice := QuotaEntity{{Type: "user", Name: qname("alice")}}
	if _, err := s.AlterClientQuota(ctx, alice, set(map[string]float64{"producer_byte_rate": 1})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.quotas.Put(ctx, "user.nbroken", []byte("{")); err != nil {
		t.Fatal(err)
	}

	events := make(chan QuotaEvent, 16)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.WatchClientQuotas(wctx, func(e QuotaEvent) { events <- e }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("WatchClientQuotas: %v", err)
		}
	})
	next := func() QuotaEvent {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(time.Second):
			t.Fatal("no watch event within a second")
			return QuotaEvent{}
		}
	}
	if e := next(); e.Synced || !e.Entity.equal(alice) || e.Values["producer_byte_rate"] != 1 {
		t.Fatalf("first event %+v, want alice's record", e)
	}
	if e := next(); !e.Synced {
		t.Fatalf("second event %+v, want the synced mark (the broken record skipped)", e)
	}
	if _, err := s.AlterClientQuota(ctx, alice, set(map[string]float64{"producer_byte_rate": 2})); err != nil {
		t.Fatal(err)
	}
	if e := next(); !e.Entity.equal(alice) || e.Values["producer_byte_rate"] != 2 {
		t.Fatalf("update event %+v", e)
	}
	if _, err := s.AlterClientQuota(ctx, alice, set(nil, "producer_byte_rate")); err != nil {
		t.Fatal(err)
	}
	if e := next(); !e.Entity.equal(alice) || e.Values != nil {
		t.Fatalf("delete event %+v, want alice with nil values", e)
	}
}

// equal compares entities whose components come in the same order.
func (e QuotaEntity) equal(o QuotaEntity) bool {
	return fmt.Sprint(describe([]ClientQuota{{Entity: e}})) == fmt.Sprint(describe([]ClientQuota{{Entity: o}}))
}
