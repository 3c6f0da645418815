package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/testenv"
)

func produceN(t *testing.T, s *testServer, topic string, from, n int) {
	t.Helper()
	cl := s.client(t, kgo.DefaultProduceTopic(topic))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "k%d", (from+i)%50), Value: fmt.Appendf(nil, "v%06d", from+i)}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// seen counts records by value across a group's members.
type seen struct {
	mu     sync.Mutex
	counts map[string]int
}

func (s *seen) add(fs kgo.Fetches) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs.EachRecord(func(r *kgo.Record) { s.counts[string(r.Value)]++ })
}

func (s *seen) check(t *testing.T, want int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.counts) < want {
		return fmt.Errorf("%d of %d distinct records consumed", len(s.counts), want)
	}
	return nil
}

// consumeLoop polls cl until ctx ends, recording what it reads.
func consumeLoop(ctx context.Context, cl *kgo.Client, into *seen) {
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		into.add(fs)
	}
}

// TestGroupConsumesFromEarliest: a group consumer with reset-to-earliest reads
// everything produced before it joined, subscribing by name and by regex.
func TestGroupConsumesFromEarliest(t *testing.T) {
	s := startServer(t, serverOpts{})
	createTestTopic(t, s, "orders-topic", 6, nil)
	produceN(t, s, "orders-topic", 0, 600)
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"literal", []kgo.Opt{kgo.ConsumeTopics("orders-topic")}},
		{"regex", []kgo.Opt{kgo.ConsumeRegex(), kgo.ConsumeTopics("^orders.*[Tt]opic")}},
		{"literal-848", []kgo.Opt{kgo.ConsumeTopics("orders-topic"), kgo.ServerSideBalancer()}},
		{"regex-848", []kgo.Opt{kgo.ConsumeRegex(), kgo.ConsumeTopics("^orders.*[Tt]opic"), kgo.ServerSideBalancer()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := &seen{counts: map[string]int{}}
			cl := s.client(t, append(tc.opts, kgo.ConsumerGroup("g-"+tc.name), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); consumeLoop(ctx, cl, got) }()
			testenv.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error { return got.check(t, 600) })
			cancel()
			<-done
			for v, n := range got.counts {
				if n != 1 {
					t.Fatalf("%s read %d times", v, n)
				}
			}
		})
	}
}

// TestGroupRebalanceAndCommittedOffsets: three members share six partitions and
// read each record once; when one leaves, the others take its partitions; a new
// member of the same group starts from the committed offsets, skipping nothing
// and repeating nothing that was committed.
func TestGroupRebalanceAndCommittedOffsets(t *testing.T) {
	s := startServer(t, serverOpts{})
	createTestTopic(t, s, "work", 6, nil)
	produceN(t, s, "work", 0, 300)

	got := &seen{counts: map[string]int{}}
	var members []*kgo.Client
	var stops []func()
	for range 3 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ConsumerGroup("workers"), kgo.ConsumeTopics("work"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.SessionTimeout(6*time.Second),
			kgo.AutoCommitInterval(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); consumeLoop(ctx, cl, got) }()
		members = append(members, cl)
		stops = append(stops, func() { cancel(); <-done; cl.Close() })
	}
	testenv.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error { return got.check(t, 300) })

	// All three own partitions in one generation, none twice.
	adm := kadm.NewClient(s.client(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	testenv.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error {
		dg, err := adm.DescribeGroups(ctx, "workers")
		if err != nil {
			return err
		}
		g := dg["workers"]
		if g.State != "Stable" || len(g.Members) != 3 {
			return fmt.Errorf("state %s with %d members", g.State, len(g.Members))
		}
		owned := map[int32]string{}
		for _, m := range g.Members {
			ca, ok := m.Assigned.AsConsumer()
			if !ok {
				return fmt.Errorf("member %s has no consumer assignment", m.MemberID)
			}
			for _, at := range ca.Topics {
				for _, p := range at.Partitions {
					if prev, dup := owned[p]; dup {
						return fmt.Errorf("partition %d owned by %s and %s", p, prev, m.MemberID)
					}
					owned[p] = m.MemberID
				}
			}
		}
		if len(owned) != 6 {
			return fmt.Errorf("%d partitions assigned", len(owned))
		}
		return nil
	})

	// One member leaves; the others take over its partitions.
	stops[2]()
	produceN(t, s, "work", 300, 300)
	testenv.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error { return got.check(t, 600) })
	for _, stop := range stops[:2] {
		stop() // closing commits what was consumed
	}

	// A new member resumes from the committed offsets.
	produceN(t, s, "work", 600, 60)
	fresh := &seen{counts: map[string]int{}}
	cl := s.client(t, kgo.ConsumerGroup("workers"), kgo.ConsumeTopics("work"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	cctx, ccancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); consumeLoop(cctx, cl, fresh) }()
	testenv.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error { return fresh.check(t, 60) })
	ccancel()
	<-done
	for v := range fresh.counts {
		if v < "v000600" {
			t.Fatalf("resumed member re-read committed record %s", v)
		}
	}
	for v, n := range got.counts {
		if n != 1 {
			t.Fatalf("%s read %d times in a stable group", v, n)
		}
	}
}

// TestOffsetDeleteAndDeleteGroups: offsets of a topic the live group consumes
// stay; others go; a group with members cannot be deleted, an empty one can.
func TestOffsetDeleteAndDeleteGroups(t *testing.T) {
	s := startServer(t, serverOpts{})
	createTestTopic(t, s, "kept", 1, nil)
	createTestTopic(t, s, "dropped", 1, nil)
	produceN(t, s, "kept", 0, 10)
	adm := kadm.NewClient(s.client(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	offsets := kadm.Offsets{}
	offsets.AddOffset("dropped", 0, 5, -1)
	if _, err := adm.CommitOffsets(ctx, "od", offsets); err != nil {
		t.Fatal(err)
	}
	member := s.client(t, kgo.ConsumerGroup("od"), kgo.ConsumeTopics("kept"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := &seen{counts: map[string]int{}}
	testenv.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error {
		got.add(member.PollRecords(ctx, 10))
		return got.check(t, 10)
	})
	if err := member.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DeleteGroup(ctx, "od"); !errors.Is(err, kerr.NonEmptyGroup) {
		t.Fatalf("delete a group with members: %v, want NON_EMPTY_GROUP", err)
	}
	del := kadm.TopicsSet{}
	del.Add("kept", 0)
	del.Add("dropped", 0)
	resps, err := adm.DeleteOffsets(ctx, "od", del)
	if err != nil {
		t.Fatal(err)
	}
	if e := resps["kept"][0]; !errors.Is(e, kerr.GroupSubscribedToTopic) {
		t.Fatalf("delete offsets of a consumed topic: %v, want GROUP_SUBSCRIBED_TO_TOPIC", e)
	}
	if e := resps["dropped"][0]; e != nil {
		t.Fatalf("delete offsets of an unconsumed topic: %v", e)
	}
	fetched, err := adm.FetchOffsets(ctx, "od")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fetched.Lookup("dropped", 0); ok {
		t.Fatal("deleted offset still fetched")
	}
	if o, ok := fetched.Lookup("kept", 0); !ok || o.At != 10 {
		t.Fatalf("kept offset: %+v %v, want 10", o, ok)
	}
	member.Close()
	testenv.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error {
		_, err := adm.DeleteGroup(ctx, "od")
		return err
	})
	if topics, _ := s.store.OffsetTopics(ctx, "od"); len(topics) != 0 {
		t.Fatalf("offsets left after DeleteGroups: %v", topics)
	}
	if _, err := adm.DeleteGroup(ctx, "od"); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("delete a deleted group: %v, want GROUP_ID_NOT_FOUND", err)
	}
}

// TestStandaloneCommitsAndMetadata: a consumer without group membership
// commits offsets with metadata and reads them back; metadata over
// offset.metadata.max.bytes is OFFSET_METADATA_TOO_LARGE and stores nothing;
// unknown topics and partitions are refused.
func TestStandaloneCommitsAndMetadata(t *testing.T) {
	s := startServer(t, serverOpts{})
	createTestTopic(t, s, "meta", 2, nil)
	adm := kadm.NewClient(s.client(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: "meta", Partition: 0, At: 42, LeaderEpoch: -1, Metadata: "checkpoint-7"})
	offsets.Add(kadm.Offset{Topic: "meta", Partition: 1, At: 9, LeaderEpoch: -1, Metadata: strings.Repeat("x", maxOffsetMetadata+1)})
	offsets.Add(kadm.Offset{Topic: "meta", Partition: 5, At: 1, LeaderEpoch: -1})
	offsets.Add(kadm.Offset{Topic: "missing", Partition: 0, At: 1, LeaderEpoch: -1})
	resps, err := adm.CommitOffsets(ctx, "standalone", offsets)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		topic     string
		partition int32
		want      error
	}{
		{"meta", 0, nil},
		{"meta", 1, kerr.OffsetMetadataTooLarge},
		{"meta", 5, kerr.UnknownTopicOrPartition},
		{"missing", 0, kerr.UnknownTopicOrPartition},
	} {
		r, ok := resps.Lookup(tc.topic, tc.partition)
		if !ok || !errors.Is(r.Err, tc.want) {
			t.Errorf("commit %s/%d: %v, want %v", tc.topic, tc.partition, r.Err, tc.want)
		}
	}
	fetched, err := adm.FetchOffsets(ctx, "standalone")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup("meta", 0); !ok || o.At != 42 || o.Metadata != "checkpoint-7" {
		t.Fatalf("fetched %+v, want 42 with its metadata", o)
	}
	if _, ok := fetched.Lookup("meta", 1); ok {
		t.Fatal("an offset with oversized metadata was stored")
	}
}

// TestRegexSubscriptionSeesNewTopics: a regex group consumer picks up a
// matching topic created after it joined, since Metadata lists every topic.
func TestRegexSubscriptionSeesNewTopics(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"classic", nil},
		// With KIP-848 the coordinator resolves the regex and assigns new
		// matching topics itself.
		{"consumer", []kgo.Opt{kgo.ServerSideBalancer()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, serverOpts{consumerHeartbeat: 200 * time.Millisecond})
			createTestTopic(t, s, "late-topic-a", 1, nil)
			got := &seen{counts: map[string]int{}}
			cl := s.client(t, append(tc.opts, kgo.ConsumerGroup("rx"), kgo.ConsumeRegex(), kgo.ConsumeTopics("^late-.*[Tt]opic"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(200*time.Millisecond))...)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); consumeLoop(ctx, cl, got) }()
			defer func() { cancel(); <-done }()

			produceN(t, s, "late-topic-a", 0, 5)
			testenv.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error { return got.check(t, 5) })
			createTestTopic(t, s, "late-Topic-b", 1, nil)
			createTestTopic(t, s, "unrelated", 1, nil)
			produceN(t, s, "late-Topic-b", 5, 5)
			produceN(t, s, "unrelated", 100, 5)
			testenv.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error { return got.check(t, 10) })
			got.mu.Lock()
			defer got.mu.Unlock()
			for v := range got.counts {
				if v >= "v000100" {
					t.Fatalf("read %s from a topic the regex does not match", v)
				}
			}
		})
	}
}

// TestListAndDescribeGroupVersions: ListGroups v5 filters by type and state,
// and DescribeGroups v6 answers GROUP_ID_NOT_FOUND for a group that does not
// exist while older versions say Dead.
func TestListAndDescribeGroupVersions(t *testing.T) {
	s := startServer(t, serverOpts{})
	createTestTopic(t, s, "lg", 1, nil)
	adm := kadm.NewClient(s.client(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	offsets := kadm.Offsets{}
	offsets.AddOffset("lg", 0, 1, -1)
	if _, err := adm.CommitOffsets(ctx, "only-offsets", offsets); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.addr)
	list := func(types, states []string) []kmsg.ListGroupsResponseGroup {
		req := kmsg.NewPtrListGroupsRequest()
		req.Version, req.TypesFilter, req.StatesFilter = 5, types, states
		return c.request(req).(*kmsg.ListGroupsResponse).Groups
	}
	if gs := list([]string{"classic"}, []string{"Empty"}); len(gs) != 1 || gs[0].Group != "only-offsets" || gs[0].GroupType != "classic" {
		t.Fatalf("classic Empty groups: %+v", gs)
	}
	if gs := list([]string{"consumer"}, nil); len(gs) != 0 {
		t.Fatalf("consumer-type groups: %+v, want none", gs)
	}
	describe := func(version int16) kmsg.DescribeGroupsResponseGroup {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Version, req.Groups = version, []string{"nobody"}
		return c.request(req).(*kmsg.DescribeGroupsResponse).Groups[0]
	}
	if g := describe(6); g.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("v6 unknown group: error %d, want GROUP_ID_NOT_FOUND", g.ErrorCode)
	}
	if g := describe(5); g.ErrorCode != 0 || g.State != "Dead" {
		t.Fatalf("v5 unknown group: %+v, want Dead", g)
	}
}
