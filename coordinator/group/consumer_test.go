package group

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
)

// topicSet is a mutable list of topics for Config.Topics.
type topicSet struct {
	mu     sync.Mutex
	topics []TopicMeta
}

func (s *topicSet) list() []TopicMeta {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.topics)
}

func (s *topicSet) add(name string, partitions int32) TopicID {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := TopicID{byte(len(s.topics) + 1)}
	s.topics = append(s.topics, TopicMeta{ID: id, Name: name, Partitions: partitions})
	return id
}

func newConsumerCoordinator(t *testing.T, cfg Config) (*Coordinator, *topicSet) {
	t.Helper()
	ts := &topicSet{}
	cfg.Topics = ts.list
	return New(cfg), ts
}

// client models a consumer-protocol member the way a client behaves: it owns
// exactly what the last response assigned it and reports that in every
// heartbeat.
type client struct {
	t        *testing.T
	c        *Coordinator
	group    string
	id       string
	instance *string
	epoch    int32
	owned    Assignment
	topics   []string
	assignor string
}

func newClient(t *testing.T, c *Coordinator, id string, topics ...string) *client {
	return &client{t: t, c: c, group: "g", id: id, topics: topics, assignor: UniformAssignor}
}

func (cl *client) request(epoch int32) ConsumerHeartbeat {
	owned := cl.owned
	if owned == nil {
		owned = Assignment{}
	}
	return ConsumerHeartbeat{
		Group: cl.group, MemberID: cl.id, MemberEpoch: epoch, InstanceID: cl.instance, ClientID: "test",
		RebalanceTimeout: 10 * time.Second, SubscribedTopicNames: cl.topics, ServerAssignor: &cl.assignor, Owned: owned,
	}
}

// heartbeat sends a full heartbeat and adopts the answer.
func (cl *client) heartbeat() ConsumerHeartbeatResult {
	cl.t.Helper()
	req := cl.request(cl.epoch)
	if cl.epoch == joinEpoch {
		req.Owned = Assignment{}
	}
	res := cl.c.ConsumerHeartbeat(context.Background(), req)
	if res.Err != nil {
		return res
	}
	cl.epoch = res.MemberEpoch
	if res.Assignment != nil {
		cl.owned = res.Assignment
	}
	return res
}

// adopt takes a response as a client does: a fenced member gives up
// everything and rejoins.
func (cl *client) adopt(t *testing.T, res ConsumerHeartbeatResult, step int) {
	t.Helper()
	switch {
	case errors.Is(res.Err, ErrFencedMemberEpoch) || errors.Is(res.Err, ErrUnknownMember):
		cl.epoch, cl.owned = joinEpoch, nil
	case res.Err != nil:
		t.Fatalf("step %d: %s: %v", step, cl.id, res.Err)
	default:
		cl.epoch = res.MemberEpoch
		if res.Assignment != nil {
			cl.owned = res.Assignment
		}
	}
}

func (cl *client) mustHeartbeat() ConsumerHeartbeatResult {
	cl.t.Helper()
	res := cl.heartbeat()
	if res.Err != nil {
		cl.t.Fatalf("member %s heartbeat: %v", cl.id, res.Err)
	}
	return res
}

// assertDisjoint fails when two clients own one partition.
func assertDisjoint(t *testing.T, clients ...*client) {
	t.Helper()
	seen := map[string]string{}
	for _, cl := range clients {
		for id, parts := range cl.owned {
			for _, p := range parts {
				k := fmt.Sprintf("%x/%d", id[:1], p)
				if other, ok := seen[k]; ok {
					t.Fatalf("partition %s owned by %s and %s", k, other, cl.id)
				}
				seen[k] = cl.id
			}
		}
	}
}

func owns(cl *client, id TopicID) []int32 { return cl.owned[id] }

func TestConsumerTwoMembersConverge(t *testing.T) {
	c, ts := newConsumerCoordinator(t, Config{})
	topic := ts.add("t", 6)
	a, b := newClient(t, c, "a", "t"), newClient(t, c, "b", "t")

	ra := a.mustHeartbeat()
	if !slices.Equal(owns(a, topic), []int32{0, 1, 2, 3, 4, 5}) || ra.MemberEpoch <= 0 {
		t.Fatalf("lone member: epoch %d owns %v, want all six", ra.MemberEpoch, owns(a, topic))
	}
	// b's partitions are still a's: b joins owning nothing.
	b.mustHeartbeat()
	if len(owns(b, topic)) != 0 {
		t.Fatalf("b got %v while a still owns them", owns(b, topic))
	}
	if d, _, _ := c.ConsumerDescribe(context.Background(), "g"); d.State != Reconciling {
		t.Fatalf("state %s, want Reconciling", d.State)
	}
	// a is told to give up three; its epoch stays so it can still commit them.
	epochBefore := a.epoch
	a.mustHeartbeat()
	if len(owns(a, topic)) != 3 || a.epoch != epochBefore {
		t.Fatalf("a after revocation: epoch %d (was %d) owns %v", a.epoch, epochBefore, owns(a, topic))
	}
	b.mustHeartbeat()
	assertDisjoint(t, a, b)
	if len(owns(b, topic)) != 0 {
		t.Fatalf("b got %v before a acknowledged the revocation", owns(b, topic))
	}
	// a acknowledges by no longer listing them; then b gets them.
	a.mustHeartbeat()
	b.mustHeartbeat()
	assertDisjoint(t, a, b)
	if len(owns(a, topic)) != 3 || len(owns(b, topic)) != 3 || a.epoch != b.epoch {
		t.Fatalf("after convergence: a %v@%d b %v@%d", owns(a, topic), a.epoch, owns(b, topic), b.epoch)
	}
	d, _, _ := c.ConsumerDescribe(context.Background(), "g")
	if d.State != Stable || d.Epoch != a.epoch || d.AssignmentEpoch != d.Epoch || len(d.Members) != 2 || d.Assignor != UniformAssignor {
		t.Fatalf("describe: %+v", d)
	}

	// a leaves for good: b takes everything.
	if res := c.ConsumerHeartbeat(context.Background(), ConsumerHeartbeat{Group: "g", MemberID: "a", MemberEpoch: leaveEpoch}); res.Err != nil || res.MemberEpoch != leaveEpoch {
		t.Fatalf("leave: %+v", res)
	}
	b.mustHeartbeat()
	if len(owns(b, topic)) != 6 {
		t.Fatalf("b after a left: %v", owns(b, topic))
	}
}

func TestConsumerFencingAndValidation(t *testing.T) {
	c, ts := newConsumerCoordinator(t, Config{})
	ts.add("t", 3)
	a := newClient(t, c, "a", "t")
	a.mustHeartbeat()
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		name string
		req  ConsumerHeartbeat
		want error
	}{
		{"epoch ahead", ConsumerHeartbeat{Group: "g", MemberID: "a", MemberEpoch: a.epoch + 5}, ErrFencedMemberEpoch},
		{"epoch behind without owned", ConsumerHeartbeat{Group: "g", MemberID: "a", MemberEpoch: a.epoch - 1}, ErrFencedMemberEpoch},
		{"unknown member", ConsumerHeartbeat{Group: "g", MemberID: "ghost", MemberEpoch: 3}, ErrUnknownMember},
		{"no group id", ConsumerHeartbeat{MemberID: "x"}, ErrInvalidHeartbeat},
		{"no member id (v1)", ConsumerHeartbeat{Group: "g", Owned: Assignment{}, SubscribedTopicNames: []string{}}, ErrInvalidHeartbeat},
		{"join owning partitions", ConsumerHeartbeat{Group: "g", MemberID: "n", Owned: Assignment{{1}: {0}}, SubscribedTopicNames: []string{"t"}}, ErrInvalidHeartbeat},
		{"join without subscription", ConsumerHeartbeat{Group: "g", MemberID: "n", Owned: Assignment{}}, ErrInvalidHeartbeat},
		{"join without rebalance timeout", ConsumerHeartbeat{Group: "g", MemberID: "n", Owned: Assignment{}, SubscribedTopicNames: []string{}, RebalanceTimeout: -1}, ErrInvalidHeartbeat},
		{"bad epoch", ConsumerHeartbeat{Group: "g", MemberID: "a", MemberEpoch: -3}, ErrInvalidHeartbeat},
		{"static leave without instance", ConsumerHeartbeat{Group: "g", MemberID: "a", MemberEpoch: staticLeaveEpoch}, ErrInvalidHeartbeat},
		{"empty instance id", ConsumerHeartbeat{Group: "g", MemberID: "a", MemberEpoch: 1, InstanceID: str("")}, ErrInvalidHeartbeat},
		{"unknown assignor", ConsumerHeartbeat{Group: "g", MemberID: "n", Owned: Assignment{}, SubscribedTopicNames: []string{}, ServerAssignor: str("sticky")}, ErrUnsupportedAssignor},
		{"bad regex", ConsumerHeartbeat{Group: "g", MemberID: "n", Owned: Assignment{}, SubscribedTopicRegex: str("(")}, ErrInvalidRegex},
		{"huge regex", ConsumerHeartbeat{Group: "g", MemberID: "n", Owned: Assignment{}, SubscribedTopicRegex: str(strings.Repeat("a", 5000))}, ErrInvalidRegex},
		{"leave unknown member", ConsumerHeartbeat{Group: "g", MemberID: "ghost", MemberEpoch: leaveEpoch}, ErrUnknownMember},
	} {
		if res := c.ConsumerHeartbeat(context.Background(), tc.req); !errors.Is(res.Err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, res.Err, tc.want)
		}
	}

	// A classic group with members is not a consumer group, and the other
	// way round.
	joinOne(t, c, "classic")
	if res := c.ConsumerHeartbeat(context.Background(), ConsumerHeartbeat{Group: "classic", MemberID: "m", Owned: Assignment{}, SubscribedTopicNames: []string{}}); !errors.Is(res.Err, ErrNotConsumerGroup) {
		t.Errorf("heartbeat to a classic group: %v", res.Err)
	}
	if res := c.Join(t.Context(), joinReq("g", "", "")); !errors.Is(res.Err, ErrInconsistentProtocol) {
		t.Errorf("classic join of a consumer group: %v", res.Err)
	}
	if _, ok, _ := c.Describe(context.Background(), "g"); ok {
		t.Error("Describe (classic) shows a consumer group")
	}
	if err := c.Delete(context.Background(), "g"); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("delete a group with members: %v", err)
	}
	if s := c.Groups()["g"]; s.Type != ConsumerType || s.State != Stable {
		t.Errorf("summary: %+v", s)
	}
}

func TestConsumerMaxMembers(t *testing.T) {
	c, ts := newConsumerCoordinator(t, Config{MaxMembers: 3})
	ts.add("t", 1)
	for i := range 3 {
		newClient(t, c, fmt.Sprint(i), "t").mustHeartbeat()
	}
	if res := newClient(t, c, "3", "t").heartbeat(); !errors.Is(res.Err, ErrGroupFull) {
		t.Fatalf("fourth member: %v, want ErrGroupFull", res.Err)
	}
}

func TestConsumerCommitChecks(t *testing.T) {
	c, ts := newConsumerCoordinator(t, Config{})
	topic := ts.add("t", 4)
	a := newClient(t, c, "a", "t")
	a.mustHeartbeat()
	first := a.epoch

	commit := func(member string, epoch int32, v9 bool) (PartitionCheck, error) {
		return c.CheckCommit(context.Background(), CommitRequest{Group: "g", MemberID: member, Generation: epoch, MemberEpochs: v9})
	}
	if check, err := commit("a", first, true); err != nil || check != nil {
		t.Fatalf("current epoch: %v", err)
	}
	for _, tc := range []struct {
		name   string
		member string
		epoch  int32
		v9     bool
		want   error
	}{
		{"before v9", "a", first, false, ErrUnsupportedCommitVersion},
		{"unknown member", "x", first, true, ErrUnknownMember},
		{"standalone commit to a group with members", "", -1, true, ErrUnknownMember},
		{"epoch ahead", "a", first + 1, true, ErrStaleMemberEpoch},
	} {
		if _, err := commit(tc.member, tc.epoch, tc.v9); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}

	// b joins: a moves on a few epochs and gives up two partitions. A commit
	// from a's first epoch may cover the partitions it kept, not those it
	// gave up (KIP-1251).
	b := newClient(t, c, "b", "t")
	b.mustHeartbeat()
	a.mustHeartbeat()
	a.mustHeartbeat()
	b.mustHeartbeat()
	if a.epoch == first {
		t.Fatalf("a's epoch did not move on")
	}
	check, err := commit("a", first, true)
	if err != nil || check == nil {
		t.Fatalf("commit from an earlier epoch: check %v err %v", check != nil, err)
	}
	for _, p := range owns(a, topic) {
		if err := check(topic, p); err != nil {
			t.Errorf("kept partition %d: %v", p, err)
		}
	}
	for _, p := range owns(b, topic) {
		if err := check(topic, p); !errors.Is(err, ErrStaleMemberEpoch) {
			t.Errorf("partition %d now b's: %v, want stale", p, err)
		}
	}
	if err := c.CheckFetch(context.Background(), "g", "a", a.epoch); err != nil {
		t.Errorf("fetch at the current epoch: %v", err)
	}
	if err := c.CheckFetch(context.Background(), "g", "a", first); !errors.Is(err, ErrStaleMemberEpoch) {
		t.Errorf("fetch at an old epoch: %v", err)
	}
	if err := c.CheckFetch(context.Background(), "g", "", -1); err != nil {
		t.Errorf("admin fetch: %v", err)
	}

	// Once everyone left, standalone commits go through again.
	for _, id := range []string{"a", "b"} {
		c.ConsumerHeartbeat(context.Background(), ConsumerHeartbeat{Group: "g", MemberID: id, MemberEpoch: leaveEpoch})
	}
	if _, err := commit("", -1, false); err != nil {
		t.Errorf("standalone commit to an empty group: %v", err)
	}
	if s := c.Groups()["g"]; s.State != Empty {
		t.Errorf("state after everyone left: %s", s.State)
	}
}

func TestConsumerStaticMemberRestart(t *testing.T) {
	c, ts := newConsumerCoordinator(t, Config{})
	topic := ts.add("t", 4)
	inst := "instance-1"
	a, b := newClient(t, c, "a1", "t"), newClient(t, c, "b", "t")
	a.instance = &inst
	for range 3 {
		a.mustHeartbeat()
		b.mustHeartbeat()
	}
	assertDisjoint(t, a, b)
	before := slices.Clone(owns(a, topic))
	d, _, _ := c.ConsumerDescribe(context.Background(), "g")
	groupEpoch := d.Epoch

	// Another process with the same instance id cannot join while a is in.
	dup := newClient(t, c, "dup", "t")
	dup.instance = &inst
	if res := dup.heartbeat(); !errors.Is(res.Err, ErrUnreleasedInstance) {
		t.Fatalf("second instance: %v, want UNRELEASED_INSTANCE_ID", res.Err)
	}

	// a shuts down as a static member, then restarts under a new member id.
	if res := c.ConsumerHeartbeat(context.Background(), ConsumerHeartbeat{Group: "g", MemberID: "a1", MemberEpoch: staticLeaveEpoch, InstanceID: &inst}); res.Err != nil || res.MemberEpoch != staticLeaveEpoch {
		t.Fatalf("static leave: %+v", res)
	}
	b.mustHeartbeat()
	if len(owns(b, topic)) != 2 {
		t.Fatalf("b took a parked member's partitions: %v", owns(b, topic))
	}
	a2 := newClient(t, c, "a2", "t")
	a2.instance = &inst
	a2.mustHeartbeat()
	if !slices.Equal(owns(a2, topic), before) {
		t.Fatalf("restarted static member owns %v, want %v", owns(a2, topic), before)
	}
	if d, _, _ := c.ConsumerDescribe(context.Background(), "g"); d.Epoch != groupEpoch || d.State != Stable {
		t.Fatalf("static restart changed the group: epoch %d→%d, state %s", groupEpoch, d.Epoch, d.State)
	}
	// The old member id is fenced.
	if res := a.heartbeat(); !errors.Is(res.Err, ErrFencedInstance) {
		t.Fatalf("old instance heartbeat: %v, want FENCED_INSTANCE_ID", res.Err)
	}
}

func TestConsumerSessionExpiry(t *testing.T) {
	c, ts := newConsumerCoordinator(t, Config{ConsumerSessionTimeout: 200 * time.Millisecond})
	topic := ts.add("t", 2)
	a, b := newClient(t, c, "a", "t"), newClient(t, c, "b", "t")
	for range 3 {
		a.mustHeartbeat()
		b.mustHeartbeat()
	}
	if len(owns(a, topic)) != 1 || len(owns(b, topic)) != 1 {
		t.Fatalf("a %v b %v", owns(a, topic), owns(b, topic))
	}
	// a stops heartbeating; b keeps going and takes a's partition.
	testenv.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if res := b.heartbeat(); res.Err != nil {
			return res.Err
		}
		if len(owns(b, topic)) != 2 {
			return fmt.Errorf("b owns %v", owns(b, topic))
		}
		return nil
	})
	if res := a.heartbeat(); !errors.Is(res.Err, ErrUnknownMember) {
		t.Fatalf("expired member: %v, want UNKNOWN_MEMBER_ID", res.Err)
	}
}

func TestConsumerRangeAndRegex(t *testing.T) {
	c, ts := newConsumerCoordinator(t, Config{})
	x := ts.add("orders-topic", 3)
	a, b := newClient(t, c, "a", "orders-topic"), newClient(t, c, "b", "orders-topic")
	a.assignor, b.assignor = RangeAssignor, RangeAssignor
	for range 3 {
		a.mustHeartbeat()
		b.mustHeartbeat()
	}
	if !slices.Equal(owns(a, x), []int32{0, 1}) || !slices.Equal(owns(b, x), []int32{2}) {
		t.Fatalf("range: a %v b %v", owns(a, x), owns(b, x))
	}
	if d, _, _ := c.ConsumerDescribe(context.Background(), "g"); d.Assignor != RangeAssignor {
		t.Fatalf("assignor %q", d.Assignor)
	}

	// A regex member picks up a matching topic created after it joined.
	re := `.*[Tt]opic`
	r := &client{t: t, c: c, group: "regex", id: "r", assignor: UniformAssignor}
	req := r.request(0)
	req.SubscribedTopicNames, req.SubscribedTopicRegex = nil, &re
	res := c.ConsumerHeartbeat(context.Background(), req)
	if res.Err != nil || len(res.Assignment[x]) != 3 {
		t.Fatalf("regex join: %+v", res)
	}
	r.epoch, r.owned = res.MemberEpoch, res.Assignment
	y := ts.add("payments-Topic", 2)
	ts.add("unrelated", 2)
	testenv.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		req := r.request(r.epoch)
		req.SubscribedTopicNames = nil
		res := c.ConsumerHeartbeat(context.Background(), req)
		if res.Err != nil {
			return res.Err
		}
		r.epoch = res.MemberEpoch
		if res.Assignment != nil {
			r.owned = res.Assignment
		}
		if len(r.owned[y]) != 2 || len(r.owned) != 2 {
			return fmt.Errorf("regex member owns %v", r.owned)
		}
		return nil
	})
}

// TestConsumerRandomSchedule drives members through joins, leaves, lost
// heartbeats and topic growth in random order and checks, after every step,
// that no partition is owned by two clients and, at the end, that a stable
// group owns every partition once.
func TestConsumerRandomSchedule(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, seed))
			c, ts := newConsumerCoordinator(t, Config{})
			ids := []TopicID{ts.add("a", 4), ts.add("b", 7)}
			var clients []*client
			next := 0
			for step := range 400 {
				switch k := rng.IntN(20); {
				case k == 0 && len(clients) < 8:
					cl := newClient(t, c, fmt.Sprint("m", next), "a", "b")
					if rng.IntN(2) == 0 {
						cl.assignor = RangeAssignor
					}
					next++
					clients = append(clients, cl)
				case k == 1 && len(clients) > 0:
					i := rng.IntN(len(clients))
					c.ConsumerHeartbeat(context.Background(), ConsumerHeartbeat{Group: "g", MemberID: clients[i].id, MemberEpoch: leaveEpoch})
					clients = slices.Delete(clients, i, i+1)
				case k == 2 && step < 300:
					ts.mu.Lock()
					ts.topics[rng.IntN(2)].Partitions++
					ts.mu.Unlock()
				case k == 3 && len(clients) > 0:
					// The response is lost: the client keeps what it owns
					// and its epoch.
					cl := clients[rng.IntN(len(clients))]
					c.ConsumerHeartbeat(context.Background(), cl.request(cl.epoch))
				case k == 4 && len(clients) > 0:
					// A keepalive: only the epoch, nothing else.
					cl := clients[rng.IntN(len(clients))]
					if cl.epoch == joinEpoch {
						break
					}
					res := c.ConsumerHeartbeat(context.Background(), ConsumerHeartbeat{Group: "g", MemberID: cl.id, MemberEpoch: cl.epoch, RebalanceTimeout: -1})
					cl.adopt(t, res, step)
				case len(clients) > 0:
					cl := clients[rng.IntN(len(clients))]
					cl.adopt(t, c.ConsumerHeartbeat(context.Background(), cl.request(cl.epoch)), step)
				}
				assertDisjoint(t, clients...)
			}
			if len(clients) == 0 {
				return
			}
			time.Sleep(subscriptionRefresh) // let the last partition growth be seen
			for range 10 {
				for _, cl := range clients {
					cl.mustHeartbeat()
					assertDisjoint(t, clients...)
				}
			}
			total := 0
			for _, cl := range clients {
				for _, id := range ids {
					total += len(cl.owned[id])
				}
			}
			want := 0
			for _, tm := range ts.list() {
				want += int(tm.Partitions)
			}
			if d, _, _ := c.ConsumerDescribe(context.Background(), "g"); total != want || d.State != Stable {
				t.Fatalf("after settling: %d of %d partitions owned, state %s", total, want, d.State)
			}
		})
	}
}

// TestConsumerThousandsOfMembers: a group of 2,000 members over 3,000
// partitions converges to a balanced, disjoint assignment, and member 2,001
// gets GROUP_MAX_SIZE_REACHED.
func TestConsumerThousandsOfMembers(t *testing.T) {
	const members = 2000
	// Sessions outlast the test: under -race on a loaded machine, joining
	// 2,000 members one by one can take longer than the default 45 s, and
	// the first would expire before the last joined.
	c, ts := newConsumerCoordinator(t, Config{MaxMembers: members, ConsumerSessionTimeout: time.Hour})
	ids := []TopicID{ts.add("a", 1000), ts.add("b", 2000)}
	clients := make([]*client, members)
	for i := range clients {
		clients[i] = newClient(t, c, fmt.Sprintf("m%04d", i), "a", "b")
		clients[i].mustHeartbeat()
	}
	if res := newClient(t, c, "one-too-many", "a").heartbeat(); !errors.Is(res.Err, ErrGroupFull) {
		t.Fatalf("member %d: %v, want ErrGroupFull", members+1, res.Err)
	}
	for round := 0; ; round++ {
		if round == 10 {
			d, _, _ := c.ConsumerDescribe(context.Background(), "g")
			t.Fatalf("not stable after %d rounds: %s", round, d.State)
		}
		for _, cl := range clients {
			cl.mustHeartbeat()
		}
		assertDisjoint(t, clients...)
		if d, _, _ := c.ConsumerDescribe(context.Background(), "g"); d.State == Stable {
			break
		}
	}
	total := 0
	for _, cl := range clients {
		n := len(cl.owned[ids[0]]) + len(cl.owned[ids[1]])
		if n != 1 && n != 2 {
			t.Fatalf("member %s owns %d partitions, want 1 or 2", cl.id, n)
		}
		total += n
	}
	if total != 3000 {
		t.Fatalf("%d of 3000 partitions owned", total)
	}
}
