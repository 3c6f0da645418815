package gateway

// Produce: v3-v11
//
// Behavior:
//   - Each partition's records must be exactly one RecordBatch v2 (magic 2), as
//     Kafka requires from v3 on; anything else is INVALID_RECORD, a bad CRC is
//     CORRUPT_MESSAGE, a batch over the topic's max.message.bytes is
//     MESSAGE_TOO_LARGE, and control batches from clients are INVALID_RECORD.
//   - Batches are appended in request order (idempotent sequences depend on it),
//     then the response waits until every batch is durable: in the JetStream
//     write-ahead tail, stored by a quorum, for topics with
//     strata.durability=wal (the default); in object storage and committed to
//     the index for strata.durability=s3. The same for acks=1 and acks=all,
//     since JetStream and the object store are the replication. acks=0 gets
//     no response, as in Kafka.
//   - A batch larger than a WAL message (the NATS servers' max_payload) is
//     MESSAGE_TOO_LARGE; when too much, or too old, waits for object storage
//     (--max-tail-bytes, --max-tail-age) the partition gets
//     KAFKA_STORAGE_ERROR, which clients retry.
//   - The wait is bounded by the request's timeout; past it the partition gets
//     REQUEST_TIMED_OUT, and the batch may still land (as in Kafka, a retry by
//     an idempotent producer is then recognised as a duplicate).
//   - A record without a key in a topic whose cleanup.policy includes compact
//     is INVALID_RECORD and nothing of its batch is appended (Kafka's
//     LogValidator).
//   - A topic with confluent.value.schema.validation (or .key.) takes only
//     records carrying a schema id registered under its subject
//     (produce_records.go); otherwise the batch is INVALID_RECORD, with the
//     first bad record named in record_errors (v8+).
//   - Idempotent producers: duplicates of any of the last five batches return
//     the original offset; gaps return OUT_OF_ORDER_SEQUENCE_NUMBER; an older
//     epoch returns INVALID_PRODUCER_EPOCH.
//
//   - Transactional batches are checked against their transaction before
//     the producer's first batch of it in the partition (transactions.go):
//     a partition the transaction does not hold is INVALID_TXN_STATE.
//
//   - ACLs (authorize.go): WRITE on each topic (TOPIC_AUTHORIZATION_FAILED
//     for its partitions), and with transactional batches WRITE on the
//     transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED for all).
//
// Deviation: LogAppendTime is always -1 because
// message.timestamp.type=LogAppendTime is not accepted yet.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/tiered"
	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
)

// producedPartition is a batch appended in the in-order phase, with the
// indexes of its partition's entry in the response.
type producedPartition struct {
	topic, partition int
	tp               index.TopicPartition
	appended         *tiered.Appended
}

func (s *Server) handleProduce(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)

	var produced []producedPartition
	var rtxn requestTxn
	// Kafka refuses the whole request when it carries transactional
	// batches the principal may not write for its transactional id.
	txnDenied := s.cfg.Authorizer != nil && hasTransactionalBatch(req) &&
		(req.TransactionID == nil || !s.authorize(ctx, c, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *req.TransactionID))
	topics := make([]coordinator.Topic, len(req.Topics))
	denied := make([]bool, len(req.Topics))
	var led []index.TopicPartition
	for i, rt := range req.Topics {
		topics[i], _ = s.cfg.Topics.Topic(rt.Topic)
		denied[i] = !txnDenied && !s.authorize(ctx, c, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, rt.Topic)
		if !txnDenied && !denied[i] {
			led = appendLed(s, led, topics[i], rt.Partitions, func(rp kmsg.ProduceRequestTopicPartition) int32 { return rp.Partition })
		}
	}
	s.loadLed(ctx, led)
	// Sized up front: grown by appends, these were 7% of what a
	// 10,000-partition producer's gateway allocated.
	resp.Topics = make([]kmsg.ProduceResponseTopic, 0, len(req.Topics))
	produced = make([]producedPartition, 0, len(led))
	for i, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, 0, len(rt.Partitions))
		t, topicDenied := topics[i], denied[i]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			tp, exists := t.Partition(rp.Partition)
			_, internal := internalTopicNamed(rt.Topic, [16]byte{}, false)
			switch {
			case txnDenied:
				sp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			case topicDenied:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
				sp.ErrorCode = kerr.InvalidRequiredAcks.Code
			case internal:
				sp.ErrorCode = kerr.InvalidTopicException.Code
			case !exists:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !s.view.leads(t, tp):
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			case req.TransactionID != nil && s.txns == nil:
				sp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			default:
				a, err := s.appendBatch(ctx, t, tp, req.TransactionID, &rtxn, rp.Records)
				if err != nil {
					sp.ErrorCode = errorCode(err)
					sp.ErrorMessage = errorMessage(err)
					var re *recordError
					if errors.As(err, &re) {
						e := kmsg.NewProduceResponseTopicPartitionErrorRecord()
						e.RelativeOffset = re.index
						msg := re.reason.Error()
						e.ErrorMessage = &msg
						sp.ErrorRecords = append(sp.ErrorRecords, e)
					}
					s.cfg.Logger.Debug("produce refused", "remote", c.remote, "topic", t.Name, "partition", rp.Partition, "err", err)
				} else {
					produced = append(produced, producedPartition{topic: len(resp.Topics), partition: len(st.Partitions), tp: tp, appended: a})
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 {
		return func(context.Context) kmsg.Response { return nil }, nil
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	if timeout <= 0 {
		timeout = DefaultProduceTimeout
	}
	return func(ctx context.Context) kmsg.Response {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		for _, p := range produced {
			sp := &resp.Topics[p.topic].Partitions[p.partition]
			if err := p.appended.Wait(ctx); err != nil {
				sp.ErrorCode = errorCode(err)
				sp.ErrorMessage = errorMessage(err)
				continue
			}
			sp.BaseOffset = p.appended.BaseOffset
			if o, err := s.cfg.Logs.Offsets(ctx, p.tp); err == nil {
				sp.LogStartOffset = o.LogStart
			}
		}
		return resp
	}, nil
}

// appendBatch validates one partition's records and appends them.
func (s *Server) appendBatch(ctx context.Context, t coordinator.Topic, tp index.TopicPartition, txnID *string, rtxn *requestTxn, records []byte) (*tiered.Appended, error) {
	h, err := batch.Verify(records)
	if err != nil {
		return nil, err
	}
	switch {
	case h.Size() != len(records):
		return nil, kerr.InvalidRecord // more than one batch
	case h.Control():
		return nil, kerr.InvalidRecord
	case h.Size() > maxMessageBytes(t.Configs):
		return nil, kerr.MessageTooLarge
	case h.Transactional() && !h.Idempotent():
		return nil, kerr.InvalidRecord
	}
	if h.Transactional() {
		if err := s.verifyTransactional(ctx, rtxn, txnID, t.Name, tp, h); err != nil {
			return nil, err
		}
	}
	if err := s.checkRecords(t, records); err != nil {
		return nil, err
	}
	a, err := s.cfg.Logs.Append(ctx, tp, records)
	// The partition is loaded now (or failed to load): fetches waiting on
	// it as never written read it again.
	s.unwritten.forget(tp)
	return a, err
}

// hasTransactionalBatch reports whether any partition's records are a
// transactional batch (Kafka's RequestUtils.hasTransactionalRecords); a
// batch too short to tell is left to appendBatch to refuse.
func hasTransactionalBatch(req *kmsg.ProduceRequest) bool {
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			if h, err := batch.ReadHeader(rp.Records); err == nil && h.Transactional() {
				return true
			}
		}
	}
	return false
}

// maxDecompressedFactor bounds what checkRecords decompresses, as a multiple
// of the batch limit: more than any real codec's ratio on real records, and
// still a bound a hostile batch cannot exceed.
const maxDecompressedFactor = 64

// appendLed appends to led the partitions of t, as a request names them,
// that this gateway leads.
func appendLed[P any](s *Server, led []index.TopicPartition, t coordinator.Topic, parts []P, partition func(P) int32) []index.TopicPartition {
	for _, rp := range parts {
		if tp, exists := t.Partition(partition(rp)); exists && s.view.leads(t, tp) {
			led = append(led, tp)
		}
	}
	return led
}

// loadLed loads, several at a time, the partitions a request names that this
// gateway leads, before the request uses them one by one: the first produce
// or fetch of a 10,000-partition topic would otherwise load them serially,
// a few coordinator round trips each.
func (s *Server) loadLed(ctx context.Context, led []index.TopicPartition) {
	if len(led) > 1 {
		s.cfg.Logs.Load(ctx, led)
	}
}
