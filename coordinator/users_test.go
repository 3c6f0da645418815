package coordinator

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/stratalog/strata/internal/testenv"
)

func testCredential(user, mechanism string, iterations int) UserCredential {
	return UserCredential{
		User: user, Mechanism: mechanism, Iterations: iterations,
		Salt: []byte("salt-" + user), StoredKey: []byte("stored-" + user), ServerKey: []byte("server-" + user),
	}
}

// TestUserCredentials walks credentials through put, read, list, replace
// and delete, with user names that need escaping, across two stores on the
// same buckets (two gateways).
func TestUserCredentials(t *testing.T) {
	js := testenv.NATS(t).JetStream(t)
	a, b := openStore(t, js, "strata"), openStore(t, js, "strata")
	ctx := t.Context()

	if _, ok, err := a.UserCredential(ctx, "alice", "SCRAM-SHA-256"); ok || err != nil {
		t.Fatalf("before any write: %v, %v", ok, err)
	}
	users := []string{"alice", "al.ice", "bob@example.com", "ünïcode", "a=2Eb"}
	for _, u := range users {
		for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
			if err := a.PutUserCredential(ctx, testCredential(u, m, 4096)); err != nil {
				t.Fatalf("put %s %s: %v", u, m, err)
			}
		}
	}
	got, ok, err := b.UserCredential(ctx, "al.ice", "SCRAM-SHA-512")
	if err != nil || !ok || got.User != "al.ice" || got.Mechanism != "SCRAM-SHA-512" || got.Iterations != 4096 ||
		!bytes.Equal(got.Salt, []byte("salt-al.ice")) || !bytes.Equal(got.StoredKey, []byte("stored-al.ice")) || !bytes.Equal(got.ServerKey, []byte("server-al.ice")) {
		t.Fatalf("read al.ice: %+v, %v, %v", got, ok, err)
	}

	// Replace: the newer iterations win.
	if err := b.PutUserCredential(ctx, testCredential("alice", "SCRAM-SHA-256", 8192)); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := a.UserCredential(ctx, "alice", "SCRAM-SHA-256"); got.Iterations != 8192 {
		t.Fatalf("after replace: %d iterations, want 8192", got.Iterations)
	}

	all, err := a.UserCredentials(ctx)
	if err != nil || len(all) != 2*len(users) {
		t.Fatalf("list all: %d credentials, %v; want %d", len(all), err, 2*len(users))
	}
	for i := 1; i < len(all); i++ {
		if p, c := all[i-1], all[i]; p.User > c.User || p.User == c.User && p.Mechanism >= c.Mechanism {
			t.Fatalf("list not sorted: %s/%s before %s/%s", p.User, p.Mechanism, c.User, c.Mechanism)
		}
	}
	some, err := a.UserCredentials(ctx, "al.ice", "nobody", "a=2Eb")
	if err != nil || len(some) != 4 || some[0].User != "a=2Eb" || some[2].User != "al.ice" {
		t.Fatalf("list two users: %+v, %v", some, err)
	}

	deleted, err := a.DeleteUserCredential(ctx, "al.ice", "SCRAM-SHA-256")
	if err != nil || !deleted {
		t.Fatalf("delete: %v, %v", deleted, err)
	}
	if deleted, err := b.DeleteUserCredential(ctx, "al.ice", "SCRAM-SHA-256"); err != nil || deleted {
		t.Fatalf("delete again: %v, %v; want false", deleted, err)
	}
	if _, ok, _ := b.UserCredential(ctx, "al.ice", "SCRAM-SHA-256"); ok {
		t.Fatal("deleted credential still read")
	}
	if some, _ := b.UserCredentials(ctx, "al.ice"); len(some) != 1 || some[0].Mechanism != "SCRAM-SHA-512" {
		t.Fatalf("after delete: %+v", some)
	}
	// Put after delete re-creates the key over its tombstone.
	if err := b.PutUserCredential(ctx, testCredential("al.ice", "SCRAM-SHA-256", 4096)); err != nil {
		t.Fatalf("put after delete: %v", err)
	}
	if _, ok, _ := a.UserCredential(ctx, "al.ice", "SCRAM-SHA-256"); !ok {
		t.Fatal("re-created credential not read")
	}
}

// TestUserCredentialRaces has many writers replace one credential at once:
// every put succeeds (each retries its compare-and-swap) and the record
// ends as one of them wrote it.
func TestUserCredentialRaces(t *testing.T) {
	js := testenv.NATS(t).JetStream(t)
	stores := []*Store{openStore(t, js, "strata"), openStore(t, js, "strata")}
	ctx := t.Context()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if err := stores[i%2].PutUserCredential(ctx, testCredential("carol", "SCRAM-SHA-512", 4096+i)); err != nil {
				t.Errorf("put %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	got, ok, err := stores[0].UserCredential(ctx, "carol", "SCRAM-SHA-512")
	if err != nil || !ok || got.Iterations < 4096 || got.Iterations >= 4096+8 {
		t.Fatalf("after the race: %+v, %v, %v", got, ok, err)
	}
}

func TestUserKeys(t *testing.T) {
	js := testenv.NATS(t).JetStream(t)
	s := openStore(t, js, "strata")
	ctx := t.Context()
	for _, tc := range []struct {
		user, mechanism string
		tooLarge        bool
	}{
		{"", "SCRAM-SHA-256", false},
		{"alice", "", false},
		{"alice", "SCRAM.SHA", false},
		{"alice", "SCRAM*", false},
		{strings.Repeat(".", 1100), "SCRAM-SHA-256", true},
	} {
		err := s.PutUserCredential(ctx, testCredential(tc.user, tc.mechanism, 4096))
		if err == nil || errors.Is(err, ErrTooLarge) != tc.tooLarge {
			t.Errorf("put user %.20q mechanism %q: %v (want ErrTooLarge: %v)", tc.user, tc.mechanism, err, tc.tooLarge)
		}
	}
	// 1 KiB of bytes that each escape to three still fits.
	if err := s.PutUserCredential(ctx, testCredential(strings.Repeat(".", 1024), "SCRAM-SHA-256", 4096)); err != nil {
		t.Errorf("put a 1 KiB name of escaped bytes: %v", err)
	}
	for key, ok := range map[string]bool{"SCRAM-SHA-256.al=2Eice": true, "SCRAM-SHA-256": false, "SCRAM-SHA-256.=Z": false, "SCRAM-SHA-256.": false} {
		user, _, err := parseUserKey(key)
		if (err == nil) != ok || ok && user != "al.ice" {
			t.Errorf("parseUserKey(%q) = %q, %v", key, user, err)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("parseUserKey(%q): %v, want ErrCorrupt", key, err)
		}
	}
}
