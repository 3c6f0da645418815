package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
)

type aclEvent struct {
	key string
	acl *ACL
	rev uint64
}

// watchACLs runs s.WatchACLs until the test ends and returns its events.
func watchACLs(t *testing.T, s *Store) <-chan aclEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan aclEvent, 64)
	done := make(chan error, 1)
	go func() {
		done <- s.WatchACLs(ctx, func(key string, a *ACL, rev uint64) {
			select {
			case events <- aclEvent{key, a, rev}:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("WatchACLs: %v", err)
		}
	})
	return events
}

func nextACLEvent(t *testing.T, events <-chan aclEvent) aclEvent {
	t.Helper()
	select {
	case e := <-events:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no acl event within 10s")
		return aclEvent{}
	}
}

var readOrders = ACL{ResourceType: "TOPIC", ResourceName: "orders", PatternType: "LITERAL",
	Principal: "User:alice", Host: "*", Operation: "READ", Permission: "ALLOW"}

// TestACLCreateWatchDelete walks a binding through two gateways' stores:
// created on one, seen by the other's watch, created again as a no-op,
// deleted by revision.
func TestACLCreateWatchDelete(t *testing.T) {
	js := testenv.NATS(t).JetStream(t)
	a, b := openStore(t, js, "strata"), openStore(t, js, "strata")
	ctx := t.Context()

	events := watchACLs(t, b)
	if e := nextACLEvent(t, events); e.key != "" {
		t.Fatalf("first event %+v, want the end-of-initial-records marker", e)
	}
	created, err := a.CreateACL(ctx, readOrders)
	if err != nil || !created {
		t.Fatalf("create: %v, %v", created, err)
	}
	e := nextACLEvent(t, events)
	if e.acl == nil || *e.acl != readOrders || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(e.key) {
		t.Fatalf("watched %+v, want the binding under a 64-hex key", e)
	}
	if last, err := a.ACLRevision(ctx); err != nil || last < e.rev {
		t.Fatalf("ACLRevision = %d, %v; want at least %d", last, err, e.rev)
	}
	if created, err := b.CreateACL(ctx, readOrders); err != nil || created {
		t.Fatalf("create again: %v, %v; want false, nil", created, err)
	}
	other := readOrders
	other.Permission = "DENY"
	if created, err := a.CreateACL(ctx, other); err != nil || !created {
		t.Fatalf("create a different binding: %v, %v", created, err)
	}
	if e2 := nextACLEvent(t, events); e2.key == e.key || *e2.acl != other {
		t.Fatalf("second binding watched as %+v", e2)
	}

	if ok, err := a.DeleteACL(ctx, e.key, e.rev+100); err != nil || ok {
		t.Fatalf("delete at a wrong revision: %v, %v; want false, nil", ok, err)
	}
	if ok, err := a.DeleteACL(ctx, e.key, e.rev); err != nil || !ok {
		t.Fatalf("delete: %v, %v", ok, err)
	}
	if d := nextACLEvent(t, events); d.key != e.key || d.acl != nil || d.rev <= e.rev {
		t.Fatalf("deletion watched as %+v", d)
	}
	if ok, err := b.DeleteACL(ctx, e.key, e.rev); err != nil || ok {
		t.Fatalf("delete again: %v, %v; want false, nil", ok, err)
	}

	// A fresh watch starts from the stored bindings: only the DENY.
	fresh := watchACLs(t, a)
	var seen []ACL
	for e := nextACLEvent(t, fresh); e.key != ""; e = nextACLEvent(t, fresh) {
		if e.acl != nil {
			seen = append(seen, *e.acl)
		}
	}
	if len(seen) != 1 || seen[0] != other {
		t.Fatalf("initial bindings %v, want only %v", seen, other)
	}
}

// TestACLCorruptRecord checks that a record that does not decode, or is not
// stored under its own key, reaches the watcher as a deletion.
func TestACLCorruptRecord(t *testing.T) {
	js := testenv.NATS(t).JetStream(t)
	s := openStore(t, js, "strata")
	ctx := t.Context()
	events := watchACLs(t, s)
	nextACLEvent(t, events) // the marker

	key := aclKey(readOrders)
	if _, err := s.acls.Put(ctx, key, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if e := nextACLEvent(t, events); e.key != key || e.acl != nil {
		t.Fatalf("garbage watched as %+v, want a deletion of %s", e, key)
	}
	moved, _ := json.Marshal(aclRecord{V: aclVersion, ACL: readOrders})
	if _, err := s.acls.Put(ctx, aclKey(ACL{ResourceName: "x"}), moved); err != nil {
		t.Fatal(err)
	}
	if e := nextACLEvent(t, events); e.acl != nil {
		t.Fatalf("record under another binding's key watched as %+v", e)
	}
	future, _ := json.Marshal(aclRecord{V: 2, ACL: readOrders})
	if _, err := decodeACL(key, future); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("version 2 record: %v, want ErrCorrupt", err)
	}
}

// TestACLKey pins the key encoding: a binding is found again by its key, so
// a change would store every existing binding a second time.
func TestACLKey(t *testing.T) {
	const golden = "9cb4c3a82869053d1767f6bfeaa72c81d742aa267496a92d218c8c8c1fb77e8e"
	if got := aclKey(readOrders); got != golden {
		t.Fatalf("aclKey = %s, want %s", got, golden)
	}
	shifted := readOrders
	shifted.ResourceType, shifted.ResourceName = "TOPICo", "rders"
	if aclKey(shifted) == golden {
		t.Fatal("fields are not delimited: moving a byte across a boundary kept the key")
	}
}
