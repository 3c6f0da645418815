package group

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
)

const sessionTimeout = 6 * time.Second

func joinReq(group, member, instance string) JoinRequest {
	return JoinRequest{
		Group: group, MemberID: member, InstanceID: instance, ClientID: "c", ProtocolType: "consumer",
		Protocols:      []Protocol{{Name: "range", Metadata: []byte("m")}},
		SessionTimeout: sessionTimeout, RebalanceTimeout: 10 * time.Second, RequireKnownMemberID: true,
	}
}

// joinOne takes a lone member through KIP-394's two joins and a sync.
func joinOne(t *testing.T, c *Coordinator, group string) JoinResult {
	t.Helper()
	ctx := context.Background()
	first := c.Join(ctx, joinReq(group, "", ""))
	if !errors.Is(first.Err, ErrMemberIDRequired) || first.MemberID == "" {
		t.Fatalf("first join: %+v, want MEMBER_ID_REQUIRED with an id", first)
	}
	res := c.Join(ctx, joinReq(group, first.MemberID, ""))
	if res.Err != nil || res.Leader != res.MemberID || res.Generation != 1 || res.Protocol != "range" || len(res.Members) != 1 {
		t.Fatalf("second join: %+v", res)
	}
	sr := c.Sync(ctx, SyncRequest{Group: group, MemberID: res.MemberID, Generation: 1, Assignments: map[string][]byte{res.MemberID: []byte("a")}})
	if sr.Err != nil || string(sr.Assignment) != "a" {
		t.Fatalf("sync: %+v", sr)
	}
	return res
}

func TestFencing(t *testing.T) {
	c := New(Config{})
	res := joinOne(t, c, "g")
	id := res.MemberID
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"heartbeat ok", c.Heartbeat(context.Background(), "g", id, "", 1), nil},
		{"heartbeat stale generation", c.Heartbeat(context.Background(), "g", id, "", 0), ErrIllegalGeneration},
		{"heartbeat unknown member", c.Heartbeat(context.Background(), "g", "nobody", "", 1), ErrUnknownMember},
		{"heartbeat unknown group", c.Heartbeat(context.Background(), "nope", id, "", 1), ErrUnknownMember},
		{"commit ok", checkCommit(c, "g", id, 1), nil},
		{"commit stale generation", checkCommit(c, "g", id, 7), ErrIllegalGeneration},
		{"standalone commit to an active group", checkCommit(c, "g", "", -1), ErrUnknownMember},
		{"standalone commit to no group", checkCommit(c, "other", "", -1), nil},
		{"member commit to no group", checkCommit(c, "other", "x", 3), ErrIllegalGeneration},
		{"sync unknown member", c.Sync(context.Background(), SyncRequest{Group: "g", MemberID: "x", Generation: 1}).Err, ErrUnknownMember},
		{"join unknown member", c.Join(context.Background(), joinReq("g", "x", "")).Err, ErrUnknownMember},
		{"session timeout too short", c.Join(context.Background(), JoinRequest{Group: "g", ProtocolType: "consumer", Protocols: []Protocol{{Name: "range"}}, SessionTimeout: time.Second}).Err, ErrInvalidSessionTimeout},
		{"other protocol type", c.Join(context.Background(), JoinRequest{Group: "g", MemberID: "", ProtocolType: "connect", Protocols: []Protocol{{Name: "range"}}, SessionTimeout: sessionTimeout}).Err, ErrInconsistentProtocol},
		{"no common assignor", c.Join(context.Background(), JoinRequest{Group: "g", ProtocolType: "consumer", Protocols: []Protocol{{Name: "sticky"}}, SessionTimeout: sessionTimeout}).Err, ErrInconsistentProtocol},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if errs := c.Leave(context.Background(), "g", []LeavingMember{{MemberID: id}, {MemberID: "ghost"}}); errs[0] != nil || !errors.Is(errs[1], ErrUnknownMember) {
		t.Fatalf("leave: %v", errs)
	}
	if d, _, _ := c.Describe(context.Background(), "g"); d.State != Empty {
		t.Fatalf("after the last member left: %s, want Empty", d.State)
	}
	if err := c.Delete(context.Background(), "g"); err != nil {
		t.Fatal(err)
	}
}

// TestSecondMemberRebalances: a new member joining a stable group sends the
// existing one back to rejoin; both then share the new generation.
func TestSecondMemberRebalances(t *testing.T) {
	c := New(Config{})
	a := joinOne(t, c, "g")
	ctx := context.Background()
	bID := c.Join(ctx, joinReq("g", "", "")).MemberID
	bDone := make(chan JoinResult, 1)
	go func() { bDone <- c.Join(ctx, joinReq("g", bID, "")) }()
	// a learns of the rebalance from its heartbeat, then rejoins.
	testenv.CheckFor(t, 30*time.Second, 5*time.Millisecond, func() error {
		if err := c.Heartbeat(context.Background(), "g", a.MemberID, "", 1); !errors.Is(err, ErrRebalanceInProgress) {
			return fmt.Errorf("heartbeat: %v", err)
		}
		return nil
	})
	ra := c.Join(ctx, joinReq("g", a.MemberID, ""))
	rb := <-bDone
	if ra.Err != nil || rb.Err != nil || ra.Generation != 2 || rb.Generation != 2 || ra.Leader != a.MemberID {
		t.Fatalf("rejoin: %+v / %+v", ra, rb)
	}
	if len(ra.Members) != 2 || len(rb.Members) != 0 {
		t.Fatalf("only the leader gets the members: leader %d, follower %d", len(ra.Members), len(rb.Members))
	}
	if err := checkCommit(c, "g", a.MemberID, 2); !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("commit while awaiting assignment: %v, want REBALANCE_IN_PROGRESS", err)
	}
	follower := make(chan SyncResult, 1)
	go func() { follower <- c.Sync(ctx, SyncRequest{Group: "g", MemberID: rb.MemberID, Generation: 2}) }()
	c.Sync(ctx, SyncRequest{Group: "g", MemberID: a.MemberID, Generation: 2, Assignments: map[string][]byte{a.MemberID: []byte("0-2"), rb.MemberID: []byte("3-5")}})
	if r := <-follower; r.Err != nil || string(r.Assignment) != "3-5" {
		t.Fatalf("follower sync: %+v", r)
	}
}

// TestStaticMemberRestartsWithoutRebalance (KIP-345): a static member that comes
// back with the same instance id and subscription gets a new member id, the
// same generation and its assignment, and the old id is fenced.
func TestStaticMemberRestartsWithoutRebalance(t *testing.T) {
	c := New(Config{})
	ctx := context.Background()
	first := c.Join(ctx, joinReq("s", "", "instance-1"))
	if first.Err != nil || first.Generation != 1 {
		t.Fatalf("static join: %+v", first)
	}
	c.Sync(ctx, SyncRequest{Group: "s", MemberID: first.MemberID, InstanceID: "instance-1", Generation: 1, Assignments: map[string][]byte{first.MemberID: []byte("all")}})
	again := c.Join(ctx, joinReq("s", "", "instance-1"))
	if again.Err != nil || again.Generation != 1 || again.MemberID == first.MemberID {
		t.Fatalf("static rejoin: %+v", again)
	}
	if sr := c.Sync(ctx, SyncRequest{Group: "s", MemberID: again.MemberID, InstanceID: "instance-1", Generation: 1}); sr.Err != nil || string(sr.Assignment) != "all" {
		t.Fatalf("sync after static rejoin: %+v", sr)
	}
	if err := c.Heartbeat(context.Background(), "s", first.MemberID, "instance-1", 1); !errors.Is(err, ErrFencedInstance) {
		t.Fatalf("old instance heartbeat: %v, want FENCED_INSTANCE_ID", err)
	}
	if d, _, _ := c.Describe(context.Background(), "s"); d.State != Stable {
		t.Fatalf("state %s, want Stable: no rebalance", d.State)
	}
}

// TestSessionExpiry: a member that stops heartbeating is dropped.
func TestSessionExpiry(t *testing.T) {
	c := New(Config{MinSessionTimeout: time.Millisecond})
	ctx := context.Background()
	req := joinReq("e", "", "")
	req.RequireKnownMemberID = false
	req.SessionTimeout = 50 * time.Millisecond
	res := c.Join(ctx, req)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	testenv.CheckFor(t, 30*time.Second, 5*time.Millisecond, func() error {
		if d, _, _ := c.Describe(context.Background(), "e"); d.State != Empty || len(d.Members) != 0 {
			return fmt.Errorf("state %s with %d members", d.State, len(d.Members))
		}
		return nil
	})
	if err := c.Heartbeat(context.Background(), "e", res.MemberID, "", res.Generation); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("heartbeat after expiry: %v", err)
	}
}

// TestGroupSizeCap: a join past MaxMembers gets GROUP_MAX_SIZE_REACHED and
// leaves the group as it was.
func TestGroupSizeCap(t *testing.T) {
	c := New(Config{MaxMembers: 1})
	ctx := context.Background()
	req := joinReq("big", "", "")
	req.RequireKnownMemberID = false
	first := c.Join(ctx, req)
	if first.Err != nil {
		t.Fatal(first.Err)
	}
	if r := c.Join(ctx, req); !errors.Is(r.Err, ErrGroupFull) {
		t.Fatalf("second member: %v, want GROUP_MAX_SIZE_REACHED", r.Err)
	}
	if d, _, _ := c.Describe(context.Background(), "big"); len(d.Members) != 1 || d.Members[0].MemberID != first.MemberID {
		t.Fatalf("members after a refused join: %+v", d.Members)
	}
}

// checkCommit checks a classic member's commit (OffsetCommit before v9).
func checkCommit(c *Coordinator, group, member string, generation int32) error {
	_, err := c.CheckCommit(context.Background(), CommitRequest{Group: group, MemberID: member, Generation: generation})
	return err
}
