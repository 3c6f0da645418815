package gateway

// The transaction coordinator. Each transactional id has one coordinating
// gateway, chosen like a group's (rendezvous hashing on the id over the live
// gateways, coordinatorFor); its state is one record in the coordinator
// store (coordinator/txn decides every transition, this file runs them):
//
//   - A request loads the record, asks coordinator/txn for the transition,
//     and writes the result by compare-and-swap; a lost race decides again
//     on the new record. No transition is answered before it is stored, so
//     a gateway dying at any point loses nothing acknowledged.
//   - Ending a transaction stores PrepareCommit or PrepareAbort, then writes
//     the markers: each partition's leader appends a control batch
//     (WriteTxnMarkers to another gateway, AppendMarker for its own), and on
//     commit the transaction's offsets are committed to their groups; then
//     the record moves to CompleteCommit or CompleteAbort. EndTxn answers
//     once that is done, or, if it takes longer than the request may wait,
//     once Prepare* is stored (as Kafka does): the completion carries on.
//   - Every TransactionScanInterval, and whenever the membership changes,
//     the coordinator lists the records of the ids it coordinates: it
//     finishes any Prepare* transaction (a coordinator that died mid-way,
//     or one that moved here), aborts Ongoing ones past their timeout with
//     the producer's epoch bumped (fencing it), and deletes ids idle past
//     transactional.id.expiration.ms.
//
// Markers are idempotent for readers: a marker for a producer with no open
// transaction in the partition ends nothing. A marker is written only while
// the record is in Prepare*, and the producer cannot start its next
// transaction before the record leaves it, so markers of one transaction
// cannot end the next one, except from a deposed coordinator still writing
// after the new one completed the transaction (a gateway paused past its
// lease): the partition leader refuses markers for a producer whose current
// transaction it verified against a newer record (see verifiedTxns).

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/coordinator/txn"
	"github.com/stratalog/strata/tiered"
	"github.com/stratalog/strata/tiered/index"
)

// Transactions stores transactional ids' records; coordinator.Store
// implements it.
type Transactions interface {
	LoadTxn(ctx context.Context, id string) (data []byte, rev uint64, err error)
	SaveTxn(ctx context.Context, id string, data []byte, prevRev uint64) (uint64, error)
	DeleteTxn(ctx context.Context, id string, prevRev uint64) error
	Txns(ctx context.Context) (map[string]coordinator.TxnRecord, error)
}

// Transaction coordinator defaults: Kafka's transaction.max.timeout.ms and
// transactional.id.expiration.ms, and a scan interval shorter than Kafka's
// 10 s cleanup interval so that a hanging transaction's abort comes sooner.
const (
	DefaultTransactionMaxTimeout     = 15 * time.Minute
	DefaultTransactionalIDExpiration = 7 * 24 * time.Hour
	DefaultTransactionScanInterval   = 5 * time.Second
)

const (
	// txnDecideAttempts bounds the compare-and-swap retries of one
	// transition; each loss means another writer moved the record on.
	txnDecideAttempts = 16
	// endTxnWait is how long EndTxn waits for the markers before answering
	// with only Prepare* stored.
	endTxnWait = 10 * time.Second
	// markerBackoff paces retries of markers a leader could not write.
	markerBackoffMin, markerBackoffMax = 50 * time.Millisecond, 2 * time.Second
)

// txnCoordinator runs the transitions and completions of the transactional
// ids this gateway coordinates. Completions belong to run's context: they
// outlive the request that started them and stop with the gateway.
type txnCoordinator struct {
	s     *Server
	store Transactions
	peers *peers

	maxTimeoutMs   int32
	idExpirationMs int64
	scanInterval   time.Duration

	mu         sync.Mutex
	ctx        context.Context // run's; nil before run
	completing map[string]chan struct{}
	// records holds the records this gateway last read or wrote (decide).
	records map[string]knownTxn
	wg      sync.WaitGroup
	rescan  chan struct{}
}

func newTxnCoordinator(s *Server) *txnCoordinator {
	c := s.cfg
	return &txnCoordinator{
		s:              s,
		store:          c.Transactions,
		peers:          newPeers(c.ClusterSecret, c.PeerTLS),
		maxTimeoutMs:   int32(c.TransactionMaxTimeout.Milliseconds()),
		idExpirationMs: c.TransactionalIDExpiration.Milliseconds(),
		scanInterval:   c.TransactionScanInterval,
		completing:     map[string]chan struct{}{},
		records:        map[string]knownTxn{},
		rescan:         make(chan struct{}, 1),
	}
}

// run scans for work until ctx ends, then waits for the completions.
func (tc *txnCoordinator) run(ctx context.Context) {
	tc.mu.Lock()
	tc.ctx = ctx
	tc.mu.Unlock()
	defer tc.peers.close()
	defer tc.wg.Wait()
	t := time.NewTicker(tc.scanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-tc.rescan:
		}
		if err := tc.scan(ctx); err != nil && ctx.Err() == nil {
			tc.s.cfg.Logger.Warn("transaction scan failed", "err", err)
		}
	}
}

// membershipChanged forgets the records of ids that moved away and asks for
// a scan: ids may have moved here.
func (tc *txnCoordinator) membershipChanged() {
	tc.forgetUncoordinated()
	select {
	case tc.rescan <- struct{}{}:
	default:
	}
}

// coordinates reports whether this gateway coordinates transactional id.
func (tc *txnCoordinator) coordinates(id string) bool {
	return tc.s.view.member() && tc.s.view.coordinatorFor(id) == tc.s.cfg.NodeID
}

// scan finishes, times out and expires the records this gateway
// coordinates.
func (tc *txnCoordinator) scan(ctx context.Context) error {
	recs, err := tc.store.Txns(ctx)
	if err != nil {
		return err
	}
	nowMs := tc.s.now().UnixMilli()
	for _, id := range slices.Sorted(maps.Keys(recs)) {
		if !tc.coordinates(id) {
			continue
		}
		cur, err := txn.Decode(recs[id].Data)
		if err != nil {
			tc.s.cfg.Logger.Error("unreadable transaction record", "transactional_id", id, "err", err)
			continue
		}
		switch {
		case cur.PendingMarkers() != nil:
			tc.complete(id)
		case txn.IDExpired(cur, nowMs, tc.idExpirationMs):
			if err := tc.store.DeleteTxn(ctx, id, recs[id].Revision); err != nil && !errors.Is(err, coordinator.ErrConflict) {
				tc.s.cfg.Logger.Warn("expire transactional id", "transactional_id", id, "err", err)
			}
		default:
			if deadline, ok := cur.Deadline(); ok && nowMs >= deadline {
				tc.s.cfg.Logger.Info("aborting a timed-out transaction", "transactional_id", id, "producer_id", cur.ProducerID)
				if _, err := tc.decide(ctx, id, func(cur *txn.Transaction) (txn.Result, error) {
					return txn.Expired(cur, tc.s.now().UnixMilli(), tc.allocate(ctx))
				}); err != nil {
					tc.s.cfg.Logger.Warn("abort timed-out transaction", "transactional_id", id, "err", err)
				}
			}
		}
	}
	return nil
}

// allocate returns the producer id allocator transitions call.
func (tc *txnCoordinator) allocate(ctx context.Context) func() (int64, error) {
	return func() (int64, error) { return tc.s.pids.next(ctx) }
}

// decide runs one transition of id's record: load, decide, store by
// compare-and-swap (deciding again on a lost race), and start the
// completion a StoreThenMarkers result asks for. It returns the stored
// result; its Err is the client's answer. A nil cur is an id without a
// record.
//
// The record this gateway last read or wrote is remembered (known), and a
// transition starts from it: a write on a stale copy loses its
// compare-and-swap and decides again from the store, and an answer that
// stores nothing is given only once the store confirms the copy's revision.
// So a transaction's usual requests cost one store round trip each.
func (tc *txnCoordinator) decide(ctx context.Context, id string, transition func(cur *txn.Transaction) (txn.Result, error)) (txn.Result, error) {
	k, cached := tc.known(id)
	for range txnDecideAttempts {
		if !cached {
			var err error
			if k, err = tc.load(ctx, id); err != nil {
				return txn.Result{}, err
			}
		}
		res, err := transition(k.cur.Clone())
		if err != nil {
			return res, err
		}
		if res.Action == txn.Reply {
			if cached {
				if _, rev, err := tc.store.LoadTxn(ctx, id); err != nil || rev != k.rev {
					cached = false // stale, or the store did not answer: decide afresh
					continue
				}
			}
			return res, nil
		}
		data, err := txn.Encode(res.Next)
		if err != nil {
			return txn.Result{}, err
		}
		rev, err := tc.store.SaveTxn(ctx, id, data, k.rev)
		if errors.Is(err, coordinator.ErrConflict) {
			cached = false
			continue
		} else if err != nil {
			tc.forget(id)
			return txn.Result{}, err
		}
		tc.remember(id, knownTxn{cur: res.Next.Clone(), rev: rev})
		if res.Action == txn.StoreThenMarkers {
			tc.step("txn:prepared")
			tc.complete(id)
		}
		return res, nil
	}
	tc.forget(id)
	return txn.Result{}, fmt.Errorf("transactional id %q: %w", id, coordinator.ErrConflict)
}

// knownTxn is a transactional id's record as this gateway last read or
// wrote it: cur is nil when there was none (rev 0).
type knownTxn struct {
	cur *txn.Transaction
	rev uint64
}

// load reads id's record from the store and remembers it.
func (tc *txnCoordinator) load(ctx context.Context, id string) (knownTxn, error) {
	data, rev, err := tc.store.LoadTxn(ctx, id)
	if err != nil {
		return knownTxn{}, err
	}
	k := knownTxn{rev: rev}
	if rev != 0 {
		if k.cur, err = txn.Decode(data); err != nil {
			return knownTxn{}, err
		}
	}
	tc.remember(id, k)
	return k, nil
}

func (tc *txnCoordinator) known(id string) (knownTxn, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	k, ok := tc.records[id]
	return k, ok
}

func (tc *txnCoordinator) remember(id string, k knownTxn) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.records[id] = k
}

func (tc *txnCoordinator) forget(id string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	delete(tc.records, id)
}

// forgetUncoordinated drops the records of ids this gateway no longer
// coordinates: another gateway writes them now.
func (tc *txnCoordinator) forgetUncoordinated() {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for id := range tc.records {
		if !tc.coordinates(id) {
			delete(tc.records, id)
		}
	}
}

// complete starts (or joins) the completion of id's Prepare* transaction
// and returns a channel closed when it is done.
func (tc *txnCoordinator) complete(id string) <-chan struct{} {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if done, ok := tc.completing[id]; ok {
		return done
	}
	done := make(chan struct{})
	if tc.ctx == nil || tc.ctx.Err() != nil {
		close(done) // not running: the next coordinator's scan completes it
		return done
	}
	tc.completing[id] = done
	ctx := tc.ctx
	tc.wg.Go(func() {
		defer func() {
			tc.mu.Lock()
			delete(tc.completing, id)
			tc.mu.Unlock()
			close(done)
		}()
		if err := tc.finish(ctx, id); err != nil && ctx.Err() == nil {
			tc.s.cfg.Logger.Warn("transaction completion stopped; the next scan resumes it", "transactional_id", id, "err", err)
		}
	})
	return done
}

// finish writes the markers of id's Prepare* record until all are written,
// then completes the record. It stops without completing when the record is
// no longer in Prepare* (another coordinator completed it), when this
// gateway stops coordinating the id, or when ctx ends.
func (tc *txnCoordinator) finish(ctx context.Context, id string) error {
	backoff := markerBackoffMin
	k, cached := tc.known(id)
	for {
		if !cached {
			var err error
			if k, err = tc.load(ctx, id); err != nil {
				return err
			}
		}
		cached = false // a retry reads the store again
		cur, rev := k.cur, k.rev
		if rev == 0 {
			return nil
		}
		m := cur.PendingMarkers()
		if m == nil || !tc.coordinates(id) {
			return nil
		}
		err := tc.writeMarkers(ctx, m, rev)
		if err == nil {
			tc.step("txn:marked")
			_, err = tc.decide(ctx, id, func(now *txn.Transaction) (txn.Result, error) {
				if now == nil || now.PendingMarkers() == nil || now.ProducerID != cur.ProducerID || now.ProducerEpoch != cur.ProducerEpoch {
					return txn.Result{Action: txn.Reply}, nil // completed meanwhile
				}
				next, err := txn.Complete(now, tc.s.now().UnixMilli())
				if err != nil {
					return txn.Result{}, err
				}
				return txn.Result{Action: txn.Store, Next: next}, nil
			})
			if err == nil {
				return nil
			}
		}
		tc.s.cfg.Logger.Info("transaction markers not all written yet, retrying", "transactional_id", id, "err", err, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, markerBackoffMax)
	}
}

// writeMarkers writes m's markers into every partition (through each
// partition's leader) and, on commit, its offsets into their groups. rev is
// the Prepare* record's revision, carried as the markers' coordinator
// epoch. A partition of a deleted topic needs no marker.
func (tc *txnCoordinator) writeMarkers(ctx context.Context, m *txn.Markers, rev uint64) error {
	byLeader := map[int32]map[string][]int32{}
	for topic, parts := range m.Partitions {
		t, ok := tc.s.cfg.Topics.Topic(topic)
		if !ok {
			continue
		}
		for _, p := range parts {
			if _, ok := t.Partition(p); !ok {
				continue
			}
			leader := tc.s.view.leader(t, p)
			if byLeader[leader] == nil {
				byLeader[leader] = map[string][]int32{}
			}
			byLeader[leader][topic] = append(byLeader[leader][topic], p)
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for leader, parts := range byLeader {
		marker := markerRequest{producerID: m.ProducerID, epoch: m.ProducerEpoch, commit: m.Commit, coordinatorEpoch: coordinatorEpoch(rev), partitions: parts}
		wg.Go(func() {
			if err := tc.writeMarkersTo(ctx, leader, marker); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if !m.Commit {
		return nil
	}
	for group, topics := range m.Offsets {
		for topic, parts := range topics {
			offsets := make(map[int32]coordinator.CommittedOffset, len(parts))
			for p, o := range parts {
				offsets[p] = coordinator.CommittedOffset{Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata, CommitMs: o.CommitMs}
			}
			if err := tc.s.cfg.Offsets.CommitOffsets(ctx, group, topic, offsets); err != nil {
				return fmt.Errorf("commit group %q offsets of %q: %w", group, topic, err)
			}
		}
	}
	return nil
}

// coordinatorEpoch folds a record revision into the marker's int32
// coordinator epoch field, which only orders markers of one producer.
func coordinatorEpoch(rev uint64) int32 { return int32(rev & 0x7fffffff) }

// markerRequest is the markers of one transaction for one leader.
type markerRequest struct {
	producerID       int64
	epoch            int16
	commit           bool
	coordinatorEpoch int32
	partitions       map[string][]int32
}

// writeMarkersTo has gateway node write the markers: itself, or another
// gateway by WriteTxnMarkers.
func (tc *txnCoordinator) writeMarkersTo(ctx context.Context, node int32, m markerRequest) error {
	if node == tc.s.cfg.NodeID {
		var errs []error
		for topic, parts := range tc.s.writeMarkers(ctx, m) {
			for p, code := range parts {
				if code != 0 {
					errs = append(errs, fmt.Errorf("marker for %s/%d: %w", topic, p, kerr.ErrorForCode(code)))
				}
			}
		}
		return errors.Join(errs...)
	}
	g, ok := tc.s.view.gateway(node)
	if !ok {
		return fmt.Errorf("leader %d is not a live gateway", node)
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1
	rm := kmsg.NewWriteTxnMarkersRequestMarker()
	rm.ProducerID, rm.ProducerEpoch, rm.Committed, rm.CoordinatorEpoch = m.producerID, m.epoch, m.commit, m.coordinatorEpoch
	for topic, parts := range m.partitions {
		rt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		rt.Topic, rt.Partitions = topic, parts
		rm.Topics = append(rm.Topics, rt)
	}
	req.Markers = append(req.Markers, rm)
	kresp, err := tc.peers.request(ctx, g.Addr, req)
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.WriteTxnMarkersResponse)
	var errs []error
	for _, rm := range resp.Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != 0 {
					errs = append(errs, fmt.Errorf("gateway %d: marker for %s/%d: %w", node, rt.Topic, rp.Partition, kerr.ErrorForCode(rp.ErrorCode)))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// writeMarkers appends m's markers to the partitions this gateway leads,
// all before waiting for any (they become durable together), and returns
// each partition's Kafka error code. A marker older than the producer's
// epoch in the partition, or from a record older than the one its current
// transaction was verified against, is a stale coordinator's: it is not
// written, and reported as written.
func (s *Server) writeMarkers(ctx context.Context, m markerRequest) map[string]map[int32]int16 {
	codes := map[string]map[int32]int16{}
	type appended struct {
		topic string
		tp    index.TopicPartition
		a     *tiered.Appended
	}
	var waits []appended
	for topic, parts := range m.partitions {
		codes[topic] = map[int32]int16{}
		t, known := s.cfg.Topics.Topic(topic)
		for _, p := range parts {
			tp, ok := t.Partition(p)
			switch {
			case !known || !ok:
				continue // deleted: nothing to mark
			case !s.view.leads(t, tp):
				codes[topic][p] = kerr.NotLeaderForPartition.Code
				continue
			case s.verified.stale(tp, m.producerID, m.coordinatorEpoch):
				continue
			}
			a, err := s.cfg.Logs.AppendMarker(ctx, tp, tiered.Marker{ProducerID: m.producerID, ProducerEpoch: m.epoch, Commit: m.commit, CoordinatorEpoch: m.coordinatorEpoch})
			if err != nil {
				codes[topic][p] = markerCode(err)
				continue
			}
			waits = append(waits, appended{topic, tp, a})
		}
	}
	for _, w := range waits {
		if err := w.a.Wait(ctx); err != nil {
			codes[w.topic][w.tp.Partition] = markerCode(err)
			continue
		}
		s.verified.forget(w.tp, m.producerID)
	}
	return codes
}

// markerCode is a marker append's error as a Kafka code: a fenced epoch
// means a newer epoch's transaction is in the partition, so this one's is
// over there and nothing needs writing.
func markerCode(err error) int16 {
	if errors.Is(err, tiered.ErrProducerFenced) {
		return 0
	}
	return errorCode(err)
}

// verifiedTxns remembers, per partition this gateway leads, the producers
// whose current transaction a transactional produce was verified against
// the coordinator's record (KIP-890 part 1): the epoch, and the record's
// revision. A later batch of the same producer and epoch needs no new
// check until the transaction's marker; and a marker from a record older
// than the verified one is a deposed coordinator's.
type verifiedTxns struct {
	mu sync.Mutex
	m  map[verifiedKey]verifiedTxn
}

type verifiedKey struct {
	tp         index.TopicPartition
	producerID int64
}

type verifiedTxn struct {
	epoch int16
	// leaderEpoch is the partition's leader epoch at the check: a
	// partition that moved away and back re-verifies.
	leaderEpoch int32
	rev         int32
}

func (v *verifiedTxns) get(tp index.TopicPartition, pid int64) (verifiedTxn, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.m[verifiedKey{tp, pid}]
	return t, ok
}

func (v *verifiedTxns) put(tp index.TopicPartition, pid int64, t verifiedTxn) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[verifiedKey]verifiedTxn{}
	}
	v.m[verifiedKey{tp, pid}] = t
}

func (v *verifiedTxns) forget(tp index.TopicPartition, pid int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.m, verifiedKey{tp, pid})
}

// stale reports whether a marker from a record at revision rev comes from
// before the producer's verified transaction.
func (v *verifiedTxns) stale(tp index.TopicPartition, pid int64, rev int32) bool {
	t, ok := v.get(tp, pid)
	return ok && rev < t.rev
}

// forgetUnless drops the entries of partitions keep refuses (no longer led).
func (v *verifiedTxns) forgetUnless(keep func(index.TopicPartition) bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k := range v.m {
		if !keep(k.tp) {
			delete(v.m, k)
		}
	}
}

// pendingOffsets returns the partitions, by topic, whose offsets for group
// are in a transaction not yet complete.
func (tc *txnCoordinator) pendingOffsets(ctx context.Context, group string) (map[string]map[int32]bool, error) {
	recs, err := tc.store.Txns(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int32]bool{}
	for _, r := range recs {
		cur, err := txn.Decode(r.Data)
		if err != nil {
			continue
		}
		for topic, parts := range cur.Offsets[group] {
			if out[topic] == nil {
				out[topic] = map[int32]bool{}
			}
			for p := range parts {
				out[topic][p] = true
			}
		}
	}
	return out, nil
}

func (tc *txnCoordinator) step(name string) {
	if tc.s.cfg.StepHook != nil {
		tc.s.cfg.StepHook(name)
	}
}
