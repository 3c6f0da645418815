package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/stratalog/strata/internal/testenv"
)

// severableDialer dials for one client and can cut it off: sever closes every
// connection it made and refuses new ones, so to the gateway the client has
// crashed: no leave, no more heartbeats. This is fault injection a live
// client cannot do to itself.
type severableDialer struct {
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func (d *severableDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return nil, errors.New("severed")
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *severableDialer) sever() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = true
	for _, c := range d.conns {
		c.Close()
	}
}

// describeConsumerGroup returns the group as ConsumerGroupDescribe shows it.
func describeConsumerGroup(ctx context.Context, cl *kgo.Client, name string) (kmsg.ConsumerGroupDescribeResponseGroup, error) {
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{name}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return kmsg.ConsumerGroupDescribeResponseGroup{}, err
	}
	g := resp.Groups[0]
	return g, kerr.ErrorForCode(g.ErrorCode)
}

var errDoubleAssignment = errors.New("partition assigned to two members")

// groupView is a group as an admin sees it, for either protocol.
type groupView struct {
	state string
	// epoch is the KIP-848 group epoch (DescribeGroups has no generation).
	epoch int32
	// members maps member ids to their partitions of the group's one topic,
	// and byInstance static members' instance ids.
	members, byInstance map[string][]int32
	// settled is a Stable group whose members (KIP-848) are all at the
	// group epoch.
	settled bool
}

func (v groupView) assigned() int {
	n := 0
	for _, parts := range v.members {
		n += len(parts)
	}
	return n
}

// viewGroup describes a group with DescribeGroups or ConsumerGroupDescribe and
// fails with errDoubleAssignment when a partition is in two members'
// assignments.
func viewGroup(ctx context.Context, cl *kgo.Client, name string, consumerProtocol bool) (groupView, error) {
	v := groupView{members: map[string][]int32{}, byInstance: map[string][]int32{}}
	if consumerProtocol {
		g, err := describeConsumerGroup(ctx, cl, name)
		if err != nil {
			return v, err
		}
		v.state, v.epoch, v.settled = g.State, g.Epoch, g.State == "Stable"
		for _, m := range g.Members {
			v.members[m.MemberID] = []int32{}
			for _, tp := range m.Assignment.TopicPartitions {
				v.members[m.MemberID] = append(v.members[m.MemberID], tp.Partitions...)
			}
			if m.InstanceID != nil {
				v.byInstance[*m.InstanceID] = v.members[m.MemberID]
			}
			v.settled = v.settled && m.MemberEpoch == g.Epoch
		}
	} else {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{name}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return v, err
		}
		g := resp.Groups[0]
		if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
			return v, err
		}
		v.state, v.settled = g.State, g.State == "Stable"
		for _, m := range g.Members {
			var a kmsg.ConsumerMemberAssignment
			if len(m.MemberAssignment) > 0 {
				if err := a.ReadFrom(m.MemberAssignment); err != nil {
					return v, err
				}
			}
			v.members[m.MemberID] = []int32{}
			for _, tp := range a.Topics {
				v.members[m.MemberID] = append(v.members[m.MemberID], tp.Partitions...)
			}
			if m.InstanceID != nil {
				v.byInstance[*m.InstanceID] = v.members[m.MemberID]
			}
		}
	}
	owner := map[int32]string{}
	for id, parts := range v.members {
		for _, p := range parts {
			if prev, dup := owner[p]; dup {
				return v, fmt.Errorf("%w: partition %d held by %s and %s", errDoubleAssignment, p, prev, id)
			}
			owner[p] = id
		}
	}
	return v, nil
}

// reads records what a group read: by value, how often and from which
// partition.
type reads struct {
	mu        sync.Mutex
	count     map[string]int
	partition map[string]int32
}

func (r *reads) add(fs kgo.Fetches) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fs.EachRecord(func(rec *kgo.Record) {
		r.count[string(rec.Value)]++
		r.partition[string(rec.Value)] = rec.Partition
	})
}

// missing returns how many of values v000000..v(n-1) were not read.
func (r *reads) missing(n int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := 0
	for i := range n {
		if r.count[fmt.Sprintf("v%06d", i)] == 0 {
			m++
		}
	}
	return m
}

// TestGroupUnderLoad: three franz-go members share six partitions under
// steady production, with the classic protocol and with KIP-848's. No
// partition is ever assigned to two members; in the stable group every record
// is read once; when one member dies its partitions move to the others after
// the session timeout and nothing is lost; a new member of the group then
// resumes from the committed offsets.
func TestGroupUnderLoad(t *testing.T) {
	t.Run("classic", func(t *testing.T) { testGroupUnderLoad(t, false) })
	t.Run("consumer", func(t *testing.T) { testGroupUnderLoad(t, true) })
}

func testGroupUnderLoad(t *testing.T, consumerProtocol bool) {
	const session = 6 * time.Second
	s := startServer(t, serverOpts{consumerSession: session, consumerHeartbeat: 200 * time.Millisecond})
	groupName := "events-classic"
	groupOpts := []kgo.Opt{kgo.SessionTimeout(session), kgo.HeartbeatInterval(500 * time.Millisecond)}
	if consumerProtocol {
		groupName, groupOpts = "events-848", []kgo.Opt{kgo.ServerSideBalancer()}
	}
	createTestTopic(t, s, "events", 6, nil)
	produceN(t, s, "events", 0, 300)

	// Steady production: 20 records every 20 ms until stopped.
	var produced atomic.Int64
	produced.Store(300)
	prodCtx, stopProducing := context.WithCancel(context.Background())
	prodDone := make(chan error, 1)
	producer := s.client(t, kgo.DefaultProduceTopic("events"))
	go func() {
		for i := 300; ; i += 20 {
			if prodCtx.Err() != nil {
				prodDone <- nil
				return
			}
			recs := make([]*kgo.Record, 20)
			for j := range recs {
				recs[j] = &kgo.Record{Key: []byte(strconv.Itoa((i + j) % 50)), Value: fmt.Appendf(nil, "v%06d", i+j)}
			}
			if err := producer.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				prodDone <- err
				return
			}
			produced.Store(int64(i + 20))
			time.Sleep(20 * time.Millisecond)
		}
	}()

	got := &reads{count: map[string]int{}, partition: map[string]int32{}}
	type member struct {
		cl     *kgo.Client
		dialer *severableDialer
		stop   func()
	}
	var members []member
	for range 3 {
		d := &severableDialer{}
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.addr), kgo.Dialer(d.dial), kgo.ConsumerGroup(groupName), kgo.ConsumeTopics("events"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(100 * time.Millisecond)}, groupOpts...)...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				got.add(cl.PollFetches(ctx))
			}
		}()
		members = append(members, member{cl: cl, dialer: d, stop: func() { cancel(); <-done; cl.Close() }})
	}

	// Watch the group throughout: no partition may ever be in two members'
	// assignments.
	admin := s.client(t)
	watchCtx, stopWatching := context.WithCancel(context.Background())
	var violation atomic.Pointer[error]
	var epochs atomic.Int64
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		last := int32(-1)
		for watchCtx.Err() == nil {
			v, err := viewGroup(watchCtx, admin, groupName, consumerProtocol)
			if errors.Is(err, errDoubleAssignment) {
				violation.Store(&err)
			}
			if err == nil && v.epoch != last {
				last = v.epoch
				epochs.Add(1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	defer func() {
		stopWatching()
		<-watchDone
		if v := violation.Load(); v != nil {
			t.Fatal(*v)
		}
	}()

	stable := func(n int) func() error {
		return func() error {
			v, err := viewGroup(context.Background(), admin, groupName, consumerProtocol)
			switch {
			case err != nil:
				return err
			case !v.settled || len(v.members) != n || v.assigned() != 6:
				return fmt.Errorf("state %s (settled %v), %d members, %d partitions assigned", v.state, v.settled, len(v.members), v.assigned())
			}
			return nil
		}
	}
	testenv.CheckFor(t, 60*time.Second, 50*time.Millisecond, stable(3))
	v, _ := viewGroup(context.Background(), admin, groupName, consumerProtocol)
	for id, parts := range v.members {
		if len(parts) != 2 {
			t.Fatalf("member %s holds %d partitions, want 2", id, len(parts))
		}
	}
	testenv.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		if m := got.missing(int(produced.Load())); m > 0 {
			return fmt.Errorf("%d records not yet read", m)
		}
		return nil
	})
	got.mu.Lock()
	for v, n := range got.count {
		if n != 1 {
			t.Errorf("stable group read %s %d times", v, n)
		}
	}
	got.mu.Unlock()

	// The third member dies: no leave, no heartbeats. Its partitions move
	// once the session times out.
	victim := members[2]
	victimID, _ := victim.cl.GroupMetadata()
	victimParts := map[int32]bool{}
	v, _ = viewGroup(context.Background(), admin, groupName, consumerProtocol)
	for _, p := range v.members[victimID] {
		victimParts[p] = true
	}
	if len(victimParts) != 2 {
		t.Fatalf("victim %s holds %v", victimID, victimParts)
	}
	killedAt := time.Now()
	victim.dialer.sever()
	testenv.CheckFor(t, session+30*time.Second, 50*time.Millisecond, stable(2))
	moved := time.Since(killedAt)
	victim.stop()
	t.Logf("dead member's partitions moved after %v (session timeout %v)", moved.Round(100*time.Millisecond), session)

	stopProducing()
	if err := <-prodDone; err != nil {
		t.Fatal(err)
	}
	total := int(produced.Load())
	testenv.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		if m := got.missing(total); m > 0 {
			return fmt.Errorf("%d of %d records not yet read", m, total)
		}
		return nil
	})
	for _, m := range members[:2] {
		m.stop() // closing commits what was read
	}
	// Records read twice are the dead member's: read, not yet committed
	// when it died, and read again by its successor.
	dups := 0
	for v, n := range got.count {
		if n > 1 {
			dups++
			if !victimParts[got.partition[v]] {
				t.Errorf("%s (partition %d, not the dead member's) read %d times", v, got.partition[v], n)
			}
		}
	}

	// A new member resumes from the committed offsets.
	produceN(t, s, "events", total, 60)
	fresh := &reads{count: map[string]int{}, partition: map[string]int32{}}
	cl := s.client(t, append([]kgo.Opt{kgo.ConsumerGroup(groupName), kgo.ConsumeTopics("events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, groupOpts...)...)
	testenv.CheckFor(t, 60*time.Second, 10*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		fresh.add(cl.PollFetches(ctx))
		if n := len(fresh.count); n < 60 {
			return fmt.Errorf("new member read %d of 60", n)
		}
		return nil
	})
	for v := range fresh.count {
		if v < fmt.Sprintf("v%06d", total) {
			t.Fatalf("new member re-read committed record %s", v)
		}
	}
	t.Logf("%d records produced, %d read again after the member died, %d group epochs observed (KIP-848 only)", total+60, dups, epochs.Load())
}

// TestConsumerProtocolErrors drives the KIP-848 APIs with raw requests and
// checks Kafka's error codes: bad heartbeats, fenced and stale epochs,
// commits from old request versions, and the classic/consumer split.
func TestConsumerProtocolErrors(t *testing.T) {
	s := startServer(t, serverOpts{})
	createTestTopic(t, s, "t", 2, nil)
	topicID := s.topicID(t, "t")
	cl := s.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	heartbeat := func(mod func(*kmsg.ConsumerGroupHeartbeatRequest)) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.RebalanceTimeoutMillis = "g848", "member-a", 10_000
		req.SubscribedTopicNames, req.Topics = []string{"t"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		mod(req)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	joined := heartbeat(func(*kmsg.ConsumerGroupHeartbeatRequest) {})
	if joined.ErrorCode != 0 || joined.MemberEpoch <= 0 || joined.Assignment == nil || len(joined.Assignment.Topics) != 1 ||
		joined.Assignment.Topics[0].TopicID != topicID || len(joined.Assignment.Topics[0].Partitions) != 2 || joined.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("join: %v %+v", kerr.ErrorForCode(joined.ErrorCode), deref(joined.ErrorMessage))
	}
	epoch := joined.MemberEpoch

	for _, tc := range []struct {
		name string
		mod  func(*kmsg.ConsumerGroupHeartbeatRequest)
		want *kerr.Error
	}{
		{"epoch ahead", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = epoch + 3 }, kerr.FencedMemberEpoch},
		{"unknown member", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID, r.MemberEpoch = "ghost", 1 }, kerr.UnknownMemberID},
		{"no member id", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" }, kerr.InvalidRequest},
		{"join owning partitions", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberID = "member-b"
			r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: topicID, Partitions: []int32{0}}}
		}, kerr.InvalidRequest},
		{"unknown assignor", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberID, r.ServerAssignor = "member-b", kmsg.StringPtr("sticky")
		}, kerr.UnsupportedAssignor},
		{"bad regex", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberID, r.SubscribedTopicRegex = "member-b", kmsg.StringPtr("([")
		}, kerr.InvalidRegularExpression},
	} {
		if resp := heartbeat(tc.mod); resp.ErrorCode != tc.want.Code {
			t.Errorf("%s: %v, want %v", tc.name, kerr.ErrorForCode(resp.ErrorCode), tc.want)
		}
	}

	v8 := kversion.Stable()
	v8.SetMaxKeyVersion(8, 8)
	clV8 := s.client(t, kgo.MaxVersions(v8))
	commit := func(version int16, member string, epoch int32) int16 {
		t.Helper()
		client := cl
		if version == 8 {
			client = clV8 // a client pins requests to the versions it supports
		}
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.MemberID, req.Generation = version, "g848", member, epoch
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, 1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		kresp, err := client.Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return kresp.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	for _, tc := range []struct {
		name    string
		version int16
		member  string
		epoch   int32
		want    int16
	}{
		{"v9 at the member's epoch", 9, "member-a", epoch, 0},
		{"v9 ahead of the member's epoch", 9, "member-a", epoch + 1, kerr.StaleMemberEpoch.Code},
		{"v9 unknown member", 9, "ghost", epoch, kerr.UnknownMemberID.Code},
		{"v8 from a consumer-protocol member", 8, "member-a", epoch, kerr.UnsupportedVersion.Code},
		{"standalone commit to a live group", 9, "", -1, kerr.UnknownMemberID.Code},
	} {
		if got := commit(tc.version, tc.member, tc.epoch); got != tc.want {
			t.Errorf("commit %s: %v, want %v", tc.name, kerr.ErrorForCode(got), kerr.ErrorForCode(tc.want))
		}
	}

	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 9
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group, rg.MemberID, rg.MemberEpoch = "g848", kmsg.StringPtr("member-a"), epoch-1
	fetch.Groups = append(fetch.Groups, rg)
	if resp, err := fetch.RequestWith(ctx, cl); err != nil || resp.Groups[0].ErrorCode != kerr.StaleMemberEpoch.Code {
		t.Fatalf("offset fetch at an old epoch: %v %+v", err, resp)
	}
	fetch.Groups[0].MemberEpoch = epoch
	if resp, err := fetch.RequestWith(ctx, cl); err != nil || resp.Groups[0].ErrorCode != 0 || resp.Groups[0].Topics[0].Partitions[0].Offset != 1 {
		t.Fatalf("offset fetch at the member's epoch: %v %+v", err, resp)
	}

	// The group is a consumer-protocol group: ListGroups says so, DescribeGroups
	// does not describe it, ConsumerGroupDescribe does, and a classic join is
	// refused while it has members.
	lg := kmsg.NewPtrListGroupsRequest()
	lg.TypesFilter = []string{"consumer"}
	if resp, err := lg.RequestWith(ctx, cl); err != nil || len(resp.Groups) != 1 || resp.Groups[0].GroupType != "consumer" || resp.Groups[0].GroupState != "Stable" {
		t.Fatalf("list consumer groups: %v %+v", err, resp)
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{"g848"}
	if resp, err := dg.RequestWith(ctx, cl); err != nil || resp.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe (classic) a consumer group: %v %+v", err, resp)
	}
	if g, err := describeConsumerGroup(ctx, cl, "g848"); err != nil || len(g.Members) != 1 || g.Members[0].MemberID != "member-a" ||
		g.AssignorName != "uniform" || g.Members[0].Assignment.TopicPartitions[0].Topic != "t" || g.Members[0].MemberType != 1 {
		t.Fatalf("consumer group describe: %v %+v", err, g)
	}
	if _, err := describeConsumerGroup(ctx, cl, "nope"); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("consumer group describe of a missing group: %v", err)
	}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.MemberID, join.ProtocolType, join.SessionTimeoutMillis = "g848", "", "consumer", 10_000
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	if resp, err := join.RequestWith(ctx, cl); err != nil || resp.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("classic join of a consumer group: %v %+v", err, resp)
	}

	// After the member leaves, the group is empty and can be deleted.
	left := heartbeat(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -1 })
	if left.ErrorCode != 0 || left.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", left)
	}
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"g848"}
	if resp, err := del.RequestWith(ctx, cl); err != nil || resp.Groups[0].ErrorCode != 0 {
		t.Fatalf("delete: %v %+v", err, resp)
	}
}

// TestStaticMemberRestart: a static member (group.instance.id) that restarts
// within the session timeout gets its partitions back without the group
// rebalancing, with both protocols: the other member's assignment never
// changes.
func TestStaticMemberRestart(t *testing.T) {
	s := startServer(t, serverOpts{consumerHeartbeat: 200 * time.Millisecond})
	createTestTopic(t, s, "static", 4, nil)
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"classic", []kgo.Opt{kgo.SessionTimeout(30 * time.Second)}},
		{"consumer", []kgo.Opt{kgo.ServerSideBalancer()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			groupName := "static-" + tc.name
			var mu sync.Mutex
			var otherChanges []string
			newMember := func(instance string, onChange func(string)) *kgo.Client {
				opts := append([]kgo.Opt{kgo.SeedBrokers(s.addr), kgo.ConsumerGroup(groupName), kgo.ConsumeTopics("static"), kgo.InstanceID(instance),
					kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { onChange(fmt.Sprint("assigned ", m)) }),
					kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { onChange(fmt.Sprint("revoked ", m)) }),
				}, tc.opts...)
				cl, err := kgo.NewClient(opts...)
				if err != nil {
					t.Fatal(err)
				}
				return cl
			}
			poll := func(ctx context.Context, cl *kgo.Client) {
				for ctx.Err() == nil {
					cl.PollFetches(ctx)
				}
			}
			other := newMember("other", func(c string) { mu.Lock(); otherChanges = append(otherChanges, c); mu.Unlock() })
			defer other.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go poll(ctx, other)
			restarting := newMember("restarting", func(string) {})
			rctx, rcancel := context.WithCancel(context.Background())
			rdone := make(chan struct{})
			go func() { defer close(rdone); poll(rctx, restarting) }()

			admin := s.client(t)
			owned := func() (map[string][]int32, error) {
				v, err := viewGroup(ctx, admin, groupName, tc.name == "consumer")
				switch {
				case err != nil:
					return nil, err
				case !v.settled || len(v.byInstance) != 2 || len(v.byInstance["other"]) != 2 || len(v.byInstance["restarting"]) != 2:
					return nil, fmt.Errorf("group %s (settled %v), assignments by instance: %v", v.state, v.settled, v.byInstance)
				}
				return v.byInstance, nil
			}
			testenv.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error { _, err := owned(); return err })
			before, _ := owned()
			mu.Lock()
			changesBefore := len(otherChanges)
			mu.Unlock()

			rcancel()
			<-rdone
			restarting.Close() // a static member's close does not give up its partitions
			restarted := newMember("restarting", func(string) {})
			defer restarted.Close()
			go poll(ctx, restarted)
			testenv.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
				after, err := owned()
				if err != nil {
					return err
				}
				if fmt.Sprint(after) != fmt.Sprint(before) {
					return fmt.Errorf("assignments %v, before the restart %v", after, before)
				}
				return nil
			})
			mu.Lock()
			defer mu.Unlock()
			if len(otherChanges) != changesBefore {
				t.Fatalf("the other member saw a rebalance: %v", otherChanges[changesBefore:])
			}
		})
	}
}
