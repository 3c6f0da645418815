package gateway

// Transactions: InitProducerId with a transactional id (v0-v4),
// AddPartitionsToTxn v0-v5, AddOffsetsToTxn v0-v4, EndTxn v0-v5,
// TxnOffsetCommit v0-v5, WriteTxnMarkers v0-v1 (gateways only),
// DescribeTransactions v0, ListTransactions v0-v1, DescribeProducers v0.
//
// Behavior:
//   - The transactional id's coordinator (FindCoordinator key type 1) runs
//     Kafka's state machine (coordinator/txn, txn_coordinator.go); any other
//     gateway answers NOT_COORDINATOR. Every transition is stored before it
//     is answered.
//   - AddPartitionsToTxn names unknown topics or partitions with
//     UNKNOWN_TOPIC_OR_PARTITION and the rest of the request with
//     OPERATION_NOT_ATTEMPTED, as Kafka. v4+ (broker to broker) takes
//     several transactions and verify-only checks.
//   - EndTxn answers once the markers are written and the transaction is
//     complete, or after endTxnWait with only the decision stored; v5
//     (transaction version 2) bumps the producer epoch at every end and
//     answers with it.
//   - TxnOffsetCommit goes to the group's coordinator, which checks the
//     member as OffsetCommit does and keeps the offsets in the
//     transaction's record until its end applies (commit) or drops (abort)
//     them; v5 adds the group to the transaction implicitly (KIP-890).
//   - Transactional produce (produce.go) is checked against the record
//     before a producer's first batch of a transaction in a partition
//     (KIP-890 part 1), so a producer cannot write to a partition its
//     transaction does not hold.
//   - Requests predating PRODUCER_FENCED (InitProducerId v0-v3,
//     AddPartitionsToTxn, AddOffsetsToTxn and EndTxn v0-v1, TxnOffsetCommit
//     v0-v2) get INVALID_PRODUCER_EPOCH instead, as Kafka answers them.
//   - WriteTxnMarkers is answered only on connections presenting the
//     cluster's secret (other gateways); clients get
//     CLUSTER_AUTHORIZATION_FAILED.
//
// ACLs (authorize.go), as Kafka's KafkaApis: InitProducerId,
// AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and TxnOffsetCommit need WRITE
// on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
// AddPartitionsToTxn also WRITE on each topic (TOPIC_AUTHORIZATION_FAILED,
// the rest OPERATION_NOT_ATTEMPTED), and its v4+ (broker to broker)
// CLUSTER_ACTION; AddOffsetsToTxn and TxnOffsetCommit READ on the group
// (GROUP_AUTHORIZATION_FAILED), TxnOffsetCommit READ on each topic;
// WriteTxnMarkers CLUSTER_ACTION, which other gateways are trusted with;
// DescribeTransactions DESCRIBE on each id, listing only the topics the
// principal may DESCRIBE; ListTransactions lists only the ids it may
// DESCRIBE; DescribeProducers READ on each topic.
//
// Deviations: ListTransactions v2's id pattern is not offered; the
// coordinator epoch of markers is the transaction record's revision.

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator/group"
	"github.com/stratalog/strata/coordinator/txn"
	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
)

// txnCode is the Kafka code for err from a transition or the store;
// fencedAsEpoch answers PRODUCER_FENCED as INVALID_PRODUCER_EPOCH, for
// request versions that predate it.
func txnCode(err error, fencedAsEpoch bool) int16 {
	if fencedAsEpoch && errors.Is(err, txn.ErrProducerFenced) {
		return kerr.InvalidProducerEpoch.Code
	}
	return errorCode(err)
}

// txnNotReady is the answer when this gateway runs no transaction
// coordinator, or does not coordinate id: 0 when it may go on.
func (s *Server) txnNotReady(id string) int16 {
	switch {
	case s.txns == nil:
		return kerr.TransactionalIDAuthorizationFailed.Code
	case txn.CheckID(id) != nil:
		return kerr.InvalidRequest.Code
	case !s.txns.coordinates(id):
		return kerr.NotCoordinator.Code
	}
	return 0
}

// initTransactionalProducer answers InitProducerId with a transactional id.
func (s *Server) initTransactionalProducer(ctx context.Context, req *kmsg.InitProducerIDRequest, resp *kmsg.InitProducerIDResponse) {
	id := *req.TransactionalID
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if resp.ErrorCode = s.txnNotReady(id); resp.ErrorCode != 0 {
		return
	}
	res, err := s.txns.decide(ctx, id, func(cur *txn.Transaction) (txn.Result, error) {
		return txn.InitProducerID(cur, id, req.TransactionTimeoutMillis, s.txns.maxTimeoutMs, req.ProducerID, req.ProducerEpoch,
			s.now().UnixMilli(), s.txns.allocate(ctx))
	})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		resp.ErrorCode = txnCode(err, req.Version < 4)
		return
	}
	resp.ProducerID, resp.ProducerEpoch = res.ProducerID, res.ProducerEpoch
}

// txnAuth is what a principal was refused in one transaction's
// AddPartitionsToTxn: the transactional id, or topics.
type txnAuth struct {
	idDenied bool
	topics   map[string]bool // denied topics
}

func (s *Server) authorizeAddPartitions(ctx context.Context, c *conn, id string, topics []kmsg.AddPartitionsToTxnRequestTransactionTopic) txnAuth {
	if !s.authorize(ctx, c, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, id) {
		return txnAuth{idDenied: true}
	}
	var a txnAuth
	for _, rt := range topics {
		if !s.authorize(ctx, c, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, rt.Topic) {
			if a.topics == nil {
				a.topics = map[string]bool{}
			}
			a.topics[rt.Topic] = true
		}
	}
	return a
}

func (s *Server) handleAddPartitionsToTxn(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.AddPartitionsToTxnRequest)
	var v3Topics []kmsg.AddPartitionsToTxnRequestTransactionTopic
	for _, rt := range req.Topics {
		v3Topics = append(v3Topics, kmsg.AddPartitionsToTxnRequestTransactionTopic{Topic: rt.Topic, Partitions: rt.Partitions})
	}
	// v4+ is for brokers only (KIP-890): Kafka asks CLUSTER_ACTION.
	peer := s.txns != nil && s.txns.peers.isPeer(c.clientID)
	brokerDenied := req.Version >= 4 && s.cfg.Authorizer != nil && !peer &&
		!s.authorizeCluster(ctx, c, kmsg.ACLOperationClusterAction)
	auths := make([]txnAuth, len(req.Transactions))
	if req.Version < 4 {
		auths = []txnAuth{s.authorizeAddPartitions(ctx, c, req.TransactionalID, v3Topics)}
	} else if !brokerDenied {
		for i, rtx := range req.Transactions {
			auths[i] = s.authorizeAddPartitions(ctx, c, rtx.TransactionalID, rtx.Topics)
		}
	}
	return func(ctx context.Context) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
		if brokerDenied {
			resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			return resp
		}
		if req.Version < 4 {
			codes := s.addPartitions(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, false, v3Topics, req.Version < 2, auths[0])
			for _, rt := range req.Topics {
				st := kmsg.NewAddPartitionsToTxnResponseTopic()
				st.Topic = rt.Topic
				for _, p := range rt.Partitions {
					sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
					sp.Partition, sp.ErrorCode = p, codes[rt.Topic][p]
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
			return resp
		}
		for i, rtx := range req.Transactions {
			codes := s.addPartitions(ctx, rtx.TransactionalID, rtx.ProducerID, rtx.ProducerEpoch, rtx.VerifyOnly, rtx.Topics, false, auths[i])
			stx := kmsg.NewAddPartitionsToTxnResponseTransaction()
			stx.TransactionalID = rtx.TransactionalID
			for _, rt := range rtx.Topics {
				st := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
				st.Topic = rt.Topic
				for _, p := range rt.Partitions {
					sp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
					sp.Partition, sp.ErrorCode = p, codes[rt.Topic][p]
					st.Partitions = append(st.Partitions, sp)
				}
				stx.Topics = append(stx.Topics, st)
			}
			resp.Transactions = append(resp.Transactions, stx)
		}
		return resp
	}, nil
}

// addPartitions adds (or with verifyOnly checks) partitions of one
// transaction and returns each partition's code. What auth denies fails the
// transaction's partitions first, as Kafka answers before its coordinator.
func (s *Server) addPartitions(ctx context.Context, id string, pid int64, epoch int16, verifyOnly bool, topics []kmsg.AddPartitionsToTxnRequestTransactionTopic, fencedAsEpoch bool, auth txnAuth) map[string]map[int32]int16 {
	codes := map[string]map[int32]int16{}
	all := func(code int16) map[string]map[int32]int16 {
		for _, rt := range topics {
			if codes[rt.Topic] == nil {
				codes[rt.Topic] = map[int32]int16{}
			}
			for _, p := range rt.Partitions {
				if _, set := codes[rt.Topic][p]; !set {
					codes[rt.Topic][p] = code
				}
			}
		}
		return codes
	}
	if auth.idDenied {
		return all(kerr.TransactionalIDAuthorizationFailed.Code)
	}
	if len(auth.topics) == 0 {
		if code := s.txnNotReady(id); code != 0 {
			return all(code)
		}
	}
	parts := map[string][]int32{}
	refused := false // a partition is refused: the others are not attempted
	for _, rt := range topics {
		t, known := s.cfg.Topics.Topic(rt.Topic)
		for _, p := range rt.Partitions {
			if auth.topics[rt.Topic] {
				if codes[rt.Topic] == nil {
					codes[rt.Topic] = map[int32]int16{}
				}
				codes[rt.Topic][p] = kerr.TopicAuthorizationFailed.Code
				refused = true
				continue
			}
			if _, ok := t.Partition(p); !known || !ok {
				if codes[rt.Topic] == nil {
					codes[rt.Topic] = map[int32]int16{}
				}
				codes[rt.Topic][p] = kerr.UnknownTopicOrPartition.Code
				refused = true
				continue
			}
			parts[rt.Topic] = append(parts[rt.Topic], p)
		}
	}
	if refused {
		return all(kerr.OperationNotAttempted.Code)
	}
	for topic := range parts {
		slices.Sort(parts[topic])
		parts[topic] = slices.Compact(parts[topic])
	}
	if verifyOnly {
		data, rev, err := s.txns.store.LoadTxn(ctx, id)
		var cur *txn.Transaction
		if err == nil && rev != 0 {
			cur, err = txn.Decode(data)
		}
		if err != nil {
			return all(errorCode(err))
		}
		for topic, perPartition := range txn.VerifyPartitions(cur, pid, epoch, parts) {
			for p, err := range perPartition {
				if codes[topic] == nil {
					codes[topic] = map[int32]int16{}
				}
				codes[topic][p] = txnCode(err, fencedAsEpoch)
			}
		}
		return codes
	}
	res, err := s.txns.decide(ctx, id, func(cur *txn.Transaction) (txn.Result, error) {
		return txn.AddPartitions(cur, pid, epoch, parts, false, s.now().UnixMilli())
	})
	if err == nil {
		err = res.Err
	}
	return all(txnCode(err, fencedAsEpoch))
}

func (s *Server) handleAddOffsetsToTxn(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.AddOffsetsToTxnRequest)
	switch {
	case !s.authorize(ctx, c, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID):
		resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return respond(resp), nil
	case !s.authorize(ctx, c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group):
		resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp), nil
	}
	return func(ctx context.Context) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		if resp.ErrorCode = s.txnNotReady(req.TransactionalID); resp.ErrorCode != 0 {
			return resp
		}
		res, err := s.txns.decide(ctx, req.TransactionalID, func(cur *txn.Transaction) (txn.Result, error) {
			return txn.AddGroup(cur, req.ProducerID, req.ProducerEpoch, req.Group, false, s.now().UnixMilli())
		})
		if err == nil {
			err = res.Err
		}
		resp.ErrorCode = txnCode(err, req.Version < 2)
		return resp
	}, nil
}

func (s *Server) handleEndTxn(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.EndTxnRequest)
	if !s.authorize(ctx, c, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID) {
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return respond(resp), nil
	}
	return func(ctx context.Context) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		if resp.ErrorCode = s.txnNotReady(req.TransactionalID); resp.ErrorCode != 0 {
			return resp
		}
		res, err := s.txns.decide(ctx, req.TransactionalID, func(cur *txn.Transaction) (txn.Result, error) {
			return txn.EndTxn(cur, req.ProducerID, req.ProducerEpoch, req.Commit, req.Version >= 5, s.now().UnixMilli(), s.txns.allocate(ctx))
		})
		if err == nil {
			err = res.Err
		}
		if err != nil {
			resp.ErrorCode = txnCode(err, req.Version < 2)
			return resp
		}
		if res.Action == txn.StoreThenMarkers {
			t := time.NewTimer(endTxnWait)
			defer t.Stop()
			select {
			case <-s.txns.complete(req.TransactionalID):
			case <-t.C:
			case <-ctx.Done():
			}
		}
		resp.ProducerID, resp.ProducerEpoch = res.ProducerID, res.ProducerEpoch
		return resp
	}, nil
}

func (s *Server) handleTxnOffsetCommit(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.TxnOffsetCommitRequest)
	var authErr error
	deniedTopics := map[string]bool{}
	switch {
	case !s.authorize(ctx, c, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID):
		authErr = kerr.TransactionalIDAuthorizationFailed
	case !s.authorize(ctx, c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group):
		authErr = kerr.GroupAuthorizationFailed
	default:
		for _, rt := range req.Topics {
			if !s.authorize(ctx, c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, rt.Topic) {
				deniedTopics[rt.Topic] = true
			}
		}
	}
	return func(ctx context.Context) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		var (
			groupErr error
			check    func(topicID [16]byte, partition int32) error
		)
		switch {
		case authErr != nil:
		case s.txns == nil:
			groupErr = kerr.TransactionalIDAuthorizationFailed
		case txn.CheckID(req.TransactionalID) != nil:
			groupErr = kerr.InvalidRequest
		case req.Group == "":
			groupErr = kerr.InvalidGroupID
		case !s.coordinates(req.Group):
			groupErr = kerr.NotCoordinator
		case req.Version >= 3 && req.MemberID != "":
			// Generation is a consumer-protocol member's epoch (KIP-848),
			// at any version.
			check, groupErr = s.groups.CheckCommit(ctx, group.CommitRequest{
				Group: req.Group, MemberID: req.MemberID, InstanceID: deref(req.InstanceID), Generation: req.Generation,
				MemberEpochs: true,
			})
		}
		nowMs := s.now().UnixMilli()
		codes := map[string]map[int32]int16{}
		offsets := map[string]map[int32]txn.PendingOffset{}
		for _, rt := range req.Topics {
			codes[rt.Topic] = map[int32]int16{}
			t, known := s.cfg.Topics.Topic(rt.Topic)
			for _, rp := range rt.Partitions {
				_, exists := t.Partition(rp.Partition)
				switch {
				case authErr != nil:
					codes[rt.Topic][rp.Partition] = errorCode(authErr)
				case deniedTopics[rt.Topic]:
					// Before the coordinator's checks, as Kafka.
					codes[rt.Topic][rp.Partition] = kerr.TopicAuthorizationFailed.Code
				case groupErr != nil:
					codes[rt.Topic][rp.Partition] = errorCode(groupErr)
				case !known || !exists:
					codes[rt.Topic][rp.Partition] = kerr.UnknownTopicOrPartition.Code
				case check != nil && check(t.ID, rp.Partition) != nil:
					codes[rt.Topic][rp.Partition] = kerr.StaleMemberEpoch.Code
				case len(deref(rp.Metadata)) > maxOffsetMetadata:
					codes[rt.Topic][rp.Partition] = kerr.OffsetMetadataTooLarge.Code
				default:
					epoch := rp.LeaderEpoch
					if req.Version < 2 {
						epoch = -1
					}
					if offsets[rt.Topic] == nil {
						offsets[rt.Topic] = map[int32]txn.PendingOffset{}
					}
					offsets[rt.Topic][rp.Partition] = txn.PendingOffset{Offset: rp.Offset, LeaderEpoch: epoch, Metadata: deref(rp.Metadata), CommitMs: nowMs}
				}
			}
		}
		if len(offsets) > 0 {
			res, err := s.txns.decide(ctx, req.TransactionalID, func(cur *txn.Transaction) (txn.Result, error) {
				return txn.CommitOffsets(cur, req.ProducerID, req.ProducerEpoch, req.Group, offsets, req.Version >= 5, nowMs)
			})
			if err == nil {
				err = res.Err
			}
			code := txnCode(err, req.Version < 3)
			for topic, parts := range offsets {
				for p := range parts {
					codes[topic][p] = code
				}
			}
		}
		for _, rt := range req.Topics {
			st := kmsg.NewTxnOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, codes[rt.Topic][rp.Partition]
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}, nil
}

func (s *Server) handleWriteTxnMarkers(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.WriteTxnMarkersRequest)
	// Other gateways are trusted; with ACLs, so is a principal with
	// CLUSTER_ACTION, as Kafka's brokers' own.
	peer := s.txns != nil && (s.txns.peers.isPeer(c.clientID) ||
		s.cfg.Authorizer != nil && s.authorizeCluster(ctx, c, kmsg.ACLOperationClusterAction))
	return func(ctx context.Context) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
		for _, rm := range req.Markers {
			sm := kmsg.NewWriteTxnMarkersResponseMarker()
			sm.ProducerID = rm.ProducerID
			m := markerRequest{producerID: rm.ProducerID, epoch: rm.ProducerEpoch, commit: rm.Committed, coordinatorEpoch: rm.CoordinatorEpoch,
				partitions: map[string][]int32{}}
			for _, rt := range rm.Topics {
				m.partitions[rt.Topic] = append(m.partitions[rt.Topic], rt.Partitions...)
			}
			var codes map[string]map[int32]int16
			if peer && rm.ProducerID >= 0 && rm.ProducerEpoch >= 0 {
				codes = s.writeMarkers(ctx, m)
			}
			for _, rt := range rm.Topics {
				st := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
				st.Topic = rt.Topic
				for _, p := range rt.Partitions {
					sp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
					sp.Partition = p
					switch {
					case !peer:
						sp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
					case rm.ProducerID < 0 || rm.ProducerEpoch < 0:
						sp.ErrorCode = kerr.InvalidRequest.Code
					default:
						sp.ErrorCode = codes[rt.Topic][p]
					}
					st.Partitions = append(st.Partitions, sp)
				}
				sm.Topics = append(sm.Topics, st)
			}
			resp.Markers = append(resp.Markers, sm)
		}
		return resp
	}, nil
}

func (s *Server) handleDescribeTransactions(_ context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.DescribeTransactionsRequest)
	return func(ctx context.Context) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
		for _, id := range req.TransactionalIDs {
			st := kmsg.NewDescribeTransactionsResponseTransactionState()
			st.TransactionalID = id
			st.ProducerID, st.ProducerEpoch, st.StartTimestamp = -1, -1, -1
			if !s.authorize(ctx, c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, id) {
				st.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			} else if st.ErrorCode = s.txnNotReady(id); st.ErrorCode == 0 {
				st.ErrorCode = s.describeTransaction(ctx, id, &st)
			}
			// Only the partitions of topics the principal may describe.
			st.Topics = slices.DeleteFunc(st.Topics, func(t kmsg.DescribeTransactionsResponseTransactionStateTopic) bool {
				return !s.authorize(ctx, c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t.Topic)
			})
			resp.TransactionStates = append(resp.TransactionStates, st)
		}
		return resp
	}, nil
}

func (s *Server) describeTransaction(ctx context.Context, id string, st *kmsg.DescribeTransactionsResponseTransactionState) int16 {
	data, rev, err := s.txns.store.LoadTxn(ctx, id)
	if err != nil {
		return errorCode(err)
	}
	if rev == 0 {
		return kerr.TransactionalIDNotFound.Code
	}
	cur, err := txn.Decode(data)
	if err != nil {
		return errorCode(err)
	}
	d, err := txn.Describe(cur)
	if err != nil {
		return errorCode(err)
	}
	st.State, st.TimeoutMillis, st.StartTimestamp = d.State, d.TimeoutMs, d.StartMs
	st.ProducerID, st.ProducerEpoch = d.ProducerID, d.ProducerEpoch
	for _, topic := range slices.Sorted(maps.Keys(d.Partitions)) {
		t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
		t.Topic, t.Partitions = topic, d.Partitions[topic]
		st.Topics = append(st.Topics, t)
	}
	return 0
}

func (s *Server) handleListTransactions(_ context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.ListTransactionsRequest)
	return func(ctx context.Context) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
		if s.txns == nil {
			return resp
		}
		var filter txn.ListFilter
		for _, name := range req.StateFilters {
			if st, ok := txn.ParseState(name); ok {
				filter.States = append(filter.States, st)
			} else {
				resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
			}
		}
		if len(req.StateFilters) > 0 && len(filter.States) == 0 {
			return resp // only unknown states: nothing matches
		}
		filter.ProducerIDs = req.ProducerIDFilters
		if req.Version >= 1 && req.DurationFilterMillis > 0 {
			filter.DurationMs = req.DurationFilterMillis
		}
		recs, err := s.txns.store.Txns(ctx)
		if err != nil {
			resp.ErrorCode = errorCode(err)
			return resp
		}
		nowMs := s.now().UnixMilli()
		for _, id := range slices.Sorted(maps.Keys(recs)) {
			if !s.txns.coordinates(id) || !s.authorize(ctx, c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, id) {
				continue
			}
			cur, err := txn.Decode(recs[id].Data)
			if err != nil || !cur.Matches(filter, nowMs) {
				continue
			}
			ts := kmsg.NewListTransactionsResponseTransactionState()
			ts.TransactionalID, ts.ProducerID, ts.TransactionState = id, cur.ProducerID, cur.State.String()
			resp.TransactionStates = append(resp.TransactionStates, ts)
		}
		return resp
	}, nil
}

func (s *Server) handleDescribeProducers(_ context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.DescribeProducersRequest)
	return func(ctx context.Context) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewDescribeProducersResponseTopic()
			st.Topic = rt.Topic
			t, known := s.cfg.Topics.Topic(rt.Topic)
			denied := !s.authorize(ctx, c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, rt.Topic)
			for _, p := range rt.Partitions {
				sp := kmsg.NewDescribeProducersResponseTopicPartition()
				sp.Partition = p
				tp, exists := t.Partition(p)
				switch {
				case denied:
					sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				case !known || !exists:
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case !s.view.leads(t, tp):
					sp.ErrorCode = kerr.NotLeaderForPartition.Code
				default:
					sp.ErrorCode, sp.ActiveProducers = s.activeProducers(ctx, tp)
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}, nil
}

func (s *Server) activeProducers(ctx context.Context, tp index.TopicPartition) (int16, []kmsg.DescribeProducersResponseTopicPartitionActiveProducer) {
	producers, err := s.cfg.Logs.Producers(ctx, tp)
	if err != nil {
		return errorCode(err), nil
	}
	out := make([]kmsg.DescribeProducersResponseTopicPartitionActiveProducer, 0, len(producers))
	for _, p := range producers {
		ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
		ap.ProducerID, ap.ProducerEpoch, ap.LastSequence, ap.LastTimestamp = p.ProducerID, int32(p.Epoch), p.LastSequence, p.LastTimestamp
		ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = -1, p.TxnStartOffset
		out = append(out, ap)
	}
	return 0, out
}

// requestTxn is the transaction record a produce request's transactional
// batches are checked against, read from the store at most once per request
// (all its batches carry one transactional id).
type requestTxn struct {
	read bool
	cur  *txn.Transaction
	rev  uint64
	err  error
}

func (r *requestTxn) get(ctx context.Context, store Transactions, id string) (*txn.Transaction, uint64, error) {
	if !r.read {
		r.read = true
		var data []byte
		data, r.rev, r.err = store.LoadTxn(ctx, id)
		if r.err == nil && r.rev != 0 {
			r.cur, r.err = txn.Decode(data)
		}
	}
	return r.cur, r.rev, r.err
}

// verifyTransactional checks a transactional batch before it is appended
// (KIP-890 part 1): its producer's transaction must hold the partition.
// The first batch of a transaction in a partition is checked against the
// record (read once for the request, rt); later ones of the same producer
// epoch pass on what that check remembered.
func (s *Server) verifyTransactional(ctx context.Context, rt *requestTxn, id *string, topic string, tp index.TopicPartition, h batch.Header) error {
	switch {
	case s.txns == nil:
		return kerr.TransactionalIDAuthorizationFailed
	case id == nil || txn.CheckID(*id) != nil:
		return kerr.InvalidRecord // a transactional batch needs its transactional id
	}
	leaderEpoch, err := s.cfg.Logs.LeaderEpoch(ctx, tp)
	if err != nil {
		return err
	}
	if v, ok := s.verified.get(tp, h.ProducerID); ok && v.epoch == h.ProducerEpoch && v.leaderEpoch == leaderEpoch {
		return nil
	}
	cur, rev, err := rt.get(ctx, s.txns.store, *id)
	if err != nil {
		return err
	}
	switch err := txn.VerifyPartitions(cur, h.ProducerID, h.ProducerEpoch, map[string][]int32{topic: {tp.Partition}})[topic][tp.Partition]; {
	case errors.Is(err, txn.ErrProducerFenced):
		return kerr.InvalidProducerEpoch
	case errors.Is(err, txn.ErrTransactionAbortable):
		// Not in the transaction: the producer skipped AddPartitionsToTxn,
		// or the transaction ended (a hanging write).
		return kerr.InvalidTxnState
	case err != nil:
		return err
	}
	s.verified.put(tp, h.ProducerID, verifiedTxn{epoch: h.ProducerEpoch, leaderEpoch: leaderEpoch, rev: coordinatorEpoch(rev)})
	return nil
}
