package gateway

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/tiered/batch"
)

// FuzzConnection writes arbitrary bytes as one client connection's input to a
// gateway over real parts, then closes its side and drains the answer.
//
// Invariants: serving never panics (a panic is recovered per connection, but
// logged, and any logged panic fails the run), and afterwards the gateway still
// answers a new connection. Frame sizes are capped (MaxRequestBytes 1 MiB), so
// an input cannot make the gateway allocate more than that per frame.
func FuzzConnection(f *testing.F) {
	s := startServer(f, serverOpts{noAutoCreate: true, maxRequestBytes: 1 << 20})
	createTestTopic(f, s, "fuzz", 2, nil)
	for _, req := range seedRequests(f) {
		a, _ := apiByKey(req.Key())
		for v := a.min; v <= a.max; v++ {
			req.SetVersion(v)
			f.Add(kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz")).AppendRequest(nil, req, 1))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(in); err != nil {
			return // the server may close before reading everything
		}
		_ = c.(*net.TCPConn).CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, _ = io.Copy(io.Discard, c)
		if n := s.logs.panics(); n > 0 {
			t.Fatalf("%d panics while serving %q", n, in)
		}
		requireServing(t, s.addr)
	})
}

// seedRequests returns one well-formed request of every API served.
func seedRequests(tb testing.TB) []kmsg.Request {
	topic := "fuzz"
	recs, err := batch.Encode(batch.Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: records(2, 8)})
	if err != nil {
		tb.Fatal(err)
	}
	produce := produceRequest(topic, 0, -1, recs)

	fetch := kmsg.NewPtrFetchRequest()
	fetch.MaxWaitMillis, fetch.MaxBytes, fetch.SessionEpoch = 10, 1<<20, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)

	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)

	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &topic
	md.Topics = append(md.Topics, mt)

	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "created", 1, 1
	ct.Topics = append(ct.Topics, ctt)

	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.TopicNames = []string{"created"}
	dtt := kmsg.NewDeleteTopicsRequestTopic()
	name := "created"
	dtt.Topic = &name
	dt.Topics = append(dt.Topics, dtt)

	dc := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	dc.Resources = append(dc.Resources, dr)

	ac := kmsg.NewPtrAlterConfigsRequest()
	ar := kmsg.NewAlterConfigsRequestResource()
	ar.ResourceType, ar.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	v := "1000"
	arc := kmsg.NewAlterConfigsRequestResourceConfig()
	arc.Name, arc.Value = "retention.ms", &v
	ar.Configs = append(ar.Configs, arc)
	ac.Resources = append(ac.Resources, ar)

	iac := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ir := kmsg.NewIncrementalAlterConfigsRequestResource()
	ir.ResourceType, ir.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	irc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	policy := "compact"
	irc.Name, irc.Op, irc.Value = "cleanup.policy", kmsg.IncrementalAlterConfigOpAppend, &policy
	ir.Configs = append(ir.Configs, irc)
	iac.Resources = append(iac.Resources, ir)

	cp := kmsg.NewPtrCreatePartitionsRequest()
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic, cpt.Count = topic, 3
	cp.Topics = append(cp.Topics, cpt)

	return append([]kmsg.Request{
		kmsg.NewPtrApiVersionsRequest(), md, produce, fetch, lo, ct, dt, dc, ac, iac, cp,
		kmsg.NewPtrInitProducerIDRequest(), kmsg.NewPtrDescribeClusterRequest(),
	}, groupSeedRequests(topic)...)
}

// groupSeedRequests returns one well-formed request of every group API.
func groupSeedRequests(topic string) []kmsg.Request {
	const g = "fuzz-group"
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey, fc.CoordinatorKeys = g, []string{g}

	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = g, 6000, 100, "consumer"
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{topic}
	jp := kmsg.NewJoinGroupRequestProtocol()
	jp.Name, jp.Metadata = "range", meta.AppendTo(nil)
	join.Protocols = append(join.Protocols, jp)

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.Generation, sync.MemberID = g, 1, "m"
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.Generation, hb.MemberID = g, 1, "m"
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group, leave.MemberID = g, "m"
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = "m"
	leave.Members = append(leave.Members, lm)

	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group, oc.Generation = g, -1
	oct := kmsg.NewOffsetCommitRequestTopic()
	oct.Topic = topic
	ocp := kmsg.NewOffsetCommitRequestTopicPartition()
	ocp.Offset = 1
	oct.Partitions = append(oct.Partitions, ocp)
	oc.Topics = append(oc.Topics, oct)

	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group = g
	ofg := kmsg.NewOffsetFetchRequestGroup()
	ofg.Group = g
	of.Groups = append(of.Groups, ofg)

	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{g}
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{g}
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = g
	odt := kmsg.NewOffsetDeleteRequestTopic()
	odt.Topic = topic
	odt.Partitions = append(odt.Partitions, kmsg.NewOffsetDeleteRequestTopicPartition())
	od.Topics = append(od.Topics, odt)

	cgh := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	cgh.Group, cgh.MemberID, cgh.RebalanceTimeoutMillis = g, "m", 1000
	cgh.SubscribedTopicNames, cgh.SubscribedTopicRegex = []string{topic}, kmsg.StringPtr(".*")
	cgh.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	cgd := kmsg.NewPtrConsumerGroupDescribeRequest()
	cgd.Groups = []string{g}

	ofle := kmsg.NewPtrOffsetForLeaderEpochRequest()
	ofle.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{{LeaderEpoch: 1, CurrentLeaderEpoch: 1}}}}

	return []kmsg.Request{fc, join, sync, hb, leave, oc, of, kmsg.NewPtrListGroupsRequest(), dg, del, od, cgh, cgd, ofle}
}
