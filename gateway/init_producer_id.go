package gateway

// InitProducerID: v0-v4
//
// Behavior:
//   - Idempotent producers (no transactional id) get a fresh producer id at
//     epoch 0 on every call, as Kafka does for non-transactional producers,
//     including the KIP-360 form that names the producer's current id and epoch.
//   - Producer ids come from the coordinator in blocks (producerIDBlockSize), so
//     ids are unique across gateways and restarts without a round trip each.
//
//   - With a transactional id, the id's transaction coordinator answers
//     (transactions.go): the id's producer id, its epoch bumped to fence
//     the previous producer, as Kafka's.
//   - ACLs (authorize.go): WRITE on the transactional id
//     (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); without one, IDEMPOTENT_WRITE
//     on the cluster or WRITE on at least one topic (KIP-679), else
//     CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// producerIDBlockSize is how many ids a gateway takes from the coordinator at
// once: one KV compare-and-swap per thousand producers.
const producerIDBlockSize = 1000

func (s *Server) handleInitProducerID(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	switch {
	case req.TransactionalID != nil && !s.authorize(ctx, c, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *req.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
	case req.TransactionalID == nil && !s.authorizeCluster(ctx, c, kmsg.ACLOperationIdempotentWrite) &&
		!s.authorizeAny(ctx, c, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic):
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	}
	if resp.ErrorCode != 0 {
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		return respond(resp), nil
	}
	if req.TransactionalID != nil {
		return func(ctx context.Context) kmsg.Response {
			s.initTransactionalProducer(ctx, req, resp)
			return resp
		}, nil
	}
	id, err := s.pids.next(ctx)
	if err != nil {
		s.cfg.Logger.Warn("allocate producer id", "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return respond(resp), nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return respond(resp), nil
}

// producerIDBlock hands out ids from a block taken from the coordinator.
type producerIDBlock struct {
	ids ProducerIDs

	mu       sync.Mutex
	cur, end int64 // ids in [cur, end) are ours to give
}

func (b *producerIDBlock) next(ctx context.Context) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur >= b.end {
		first, err := b.ids.AllocateProducerIDs(ctx, producerIDBlockSize)
		if err != nil {
			return 0, err
		}
		b.cur, b.end = first, first+producerIDBlockSize
	}
	id := b.cur
	b.cur++
	return id, nil
}
