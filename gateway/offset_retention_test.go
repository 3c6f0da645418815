package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/testenv"
)

// TestOffsetRetention: with a 3 s retention, a group without members loses
// its offsets once idle for that long; a live KIP-848 group keeps the offsets
// of the topic it consumes (and keeps committing) but loses those of a topic
// no member subscribes to.
func TestOffsetRetention(t *testing.T) {
	const retention = 3 * time.Second
	s := startServer(t, serverOpts{offsetsRetention: retention, offsetsRetentionCheck: 100 * time.Millisecond, consumerHeartbeat: 200 * time.Millisecond})
	createTestTopic(t, s, "consumed", 1, nil)
	createTestTopic(t, s, "abandoned", 1, nil)
	adm := kadm.NewClient(s.client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	commit := func(group, topic string) {
		t.Helper()
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1, LeaderEpoch: -1})
		resp, err := adm.CommitOffsets(ctx, group, os)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("commit %s/%s: %v", group, topic, err)
		}
	}
	commit("standalone", "consumed")
	commit("live", "abandoned") // before the group has members

	// A live member of "live" consumes (and commits) "consumed" throughout.
	produceN(t, s, "consumed", 0, 10)
	member := s.client(t, kgo.ConsumerGroup("live"), kgo.ConsumeTopics("consumed"), kgo.ServerSideBalancer(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(100*time.Millisecond))
	mctx, mcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for mctx.Err() == nil {
			member.PollFetches(mctx)
		}
	}()
	defer func() { mcancel(); <-done }()
	stopProducing := make(chan struct{})
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		pr := s.client(t, kgo.DefaultProduceTopic("consumed"))
		for i := 10; ; i++ {
			select {
			case <-stopProducing:
				return
			case <-time.After(200 * time.Millisecond):
			}
			pr.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%06d", i)})
		}
	}()
	defer func() { close(stopProducing); <-produced }()

	committed := func(group, topic string) (bool, error) {
		fetched, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return false, err
		}
		o, ok := fetched.Lookup(topic, 0)
		return ok && o.At >= 0, o.Err
	}
	testenv.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		for _, c := range []struct {
			group, topic string
			want         bool
		}{{"standalone", "consumed", false}, {"live", "abandoned", false}, {"live", "consumed", true}} {
			has, err := committed(c.group, c.topic)
			if err != nil {
				return err
			}
			if has != c.want {
				return fmt.Errorf("%s/%s committed: %v, want %v", c.group, c.topic, has, c.want)
			}
		}
		return nil
	})
	// A retention period later, the live group's offsets are still there.
	time.Sleep(retention + time.Second)
	if has, err := committed("live", "consumed"); err != nil || !has {
		t.Fatalf("live group's offsets of the topic it consumes: %v, %v", has, err)
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := groups["standalone"]; ok {
		t.Fatalf("a group whose offsets all expired is still listed: %v", groups.Groups())
	}
}
