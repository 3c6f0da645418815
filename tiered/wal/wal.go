package wal

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var (
	// ErrFenced means the partition's subject moved past the sequence the
	// writer expected: another leader appended, and this one must reload.
	ErrFenced = errors.New("wal: another writer appended to the partition")
	// ErrCorrupt means a WAL message failed its checksum or did not parse.
	ErrCorrupt = errors.New("wal: corrupt record")
	// ErrTooLarge means a record does not fit in one NATS message.
	ErrTooLarge = errors.New("wal: record larger than the nats max payload")
	// ErrShardsChanged means the WAL on the server has another shard count
	// than configured and holds data.
	ErrShardsChanged = errors.New("wal: shard count differs from the streams on the server")
)

// DefaultPrefix names the streams and subjects when Config.Prefix is empty.
const DefaultPrefix = "strata"

// maxShards bounds Config.Shards: each shard is a stream with its own Raft
// group, and a few dozen are plenty for any one NATS cluster.
const maxShards = 64

var validPrefix = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Config configures a Log. The zero value of each field means its default.
type Config struct {
	// Prefix starts every stream name and subject, as the coordinator's
	// Config.Prefix does for its buckets. Default DefaultPrefix.
	Prefix string
	// Shards is the number of streams the partitions are spread over.
	// Default 1.
	Shards int
	// Replicas is each stream's replica count: 3 in production. Open
	// refuses existing streams with another count. Default 1.
	Replicas int
}

// Partition names a partition's WAL subject.
type Partition struct {
	TopicID   [16]byte
	Partition int32
}

// Log is the WAL. Its methods are safe for concurrent use.
type Log struct {
	js         jetstream.JetStream
	cfg        Config
	streams    []jetstream.Stream
	committers []*committer // one per shard; see group.go
	maxPayload int

	batches, batchedAppends, fallbacks atomic.Uint64
	// The writer chains' counters (chain.go).
	chainMessages, chainAppends, chainRefusals atomic.Uint64
}

// Open creates the WAL streams, or checks existing ones against cfg.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Log, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if !validPrefix.MatchString(cfg.Prefix) {
		return nil, fmt.Errorf("wal: prefix %q: letters, digits, '-' and '_' only", cfg.Prefix)
	}
	if cfg.Shards == 0 {
		cfg.Shards = 1
	}
	if cfg.Shards < 1 || cfg.Shards > maxShards {
		return nil, fmt.Errorf("wal: %d shards, want 1 to %d", cfg.Shards, maxShards)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	l := &Log{js: js, cfg: cfg, maxPayload: int(js.Conn().MaxPayload())}
	if err := l.checkShards(ctx); err != nil {
		return nil, err
	}
	for n := range cfg.Shards {
		s, err := l.openStream(ctx, n)
		if err != nil {
			return nil, err
		}
		l.streams = append(l.streams, s)
		l.committers = append(l.committers, newCommitter(l, s.CachedInfo().Config.AllowAtomicPublish))
	}
	return l, nil
}

func (l *Log) streamName(n int) string {
	return fmt.Sprintf("%s_WAL_%d", l.cfg.Prefix, n)
}

func (l *Log) subjectPrefix(n int) string {
	return fmt.Sprintf("%s.wal.%d.", strings.ToLower(l.cfg.Prefix), n)
}

// openStream creates shard n's stream, or checks the existing one.
func (l *Log) openStream(ctx context.Context, n int) (jetstream.Stream, error) {
	want := jetstream.StreamConfig{
		Name:        l.streamName(n),
		Description: "Strata write-ahead tail: record batches acknowledged but not yet in object storage",
		Subjects:    []string{l.subjectPrefix(n) + ">"},
		Storage:     jetstream.FileStorage,
		Replicas:    l.cfg.Replicas,
		Retention:   jetstream.LimitsPolicy,
		// Nothing is ever discarded by a limit: the tail is bounded by
		// tiered's backpressure, and a limit would drop acknowledged data.
		Discard:    jetstream.DiscardNew,
		DenyDelete: true,
		// Direct gets may be answered by a lagging replica; replay must
		// see every acknowledged append, so reads go to the leader.
		AllowDirect: false,
		// The group commit sends concurrent appends as atomic batches.
		AllowAtomicPublish: true,
	}
	s, err := l.js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = l.js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = l.js.Stream(ctx, want.Name) // another gateway created it
		}
	}
	if err != nil {
		return nil, fmt.Errorf("wal: open stream %s: %w", want.Name, err)
	}
	if got := s.CachedInfo().Config; !got.AllowAtomicPublish {
		// A stream made before the group commit: allow batches. A server
		// too old for them ignores the flag, and appends go one by one.
		got.AllowAtomicPublish = true
		if updated, err := l.js.UpdateStream(ctx, got); err == nil {
			s = updated
		}
	}
	got := s.CachedInfo().Config
	switch {
	case got.Replicas != want.Replicas:
		return nil, fmt.Errorf("wal: stream %s has %d replicas, configured %d", want.Name, got.Replicas, want.Replicas)
	case got.Storage != jetstream.FileStorage:
		return nil, fmt.Errorf("wal: stream %s is not on file storage", want.Name)
	case len(got.Subjects) != 1 || got.Subjects[0] != want.Subjects[0]:
		return nil, fmt.Errorf("wal: stream %s has subjects %q, want %q", want.Name, got.Subjects, want.Subjects)
	}
	return s, nil
}

// checkShards refuses a shard count that differs from the existing streams'
// while any of them holds messages: partitions would hash to other shards and
// their tails would be lost from view.
func (l *Log) checkShards(ctx context.Context) error {
	prefix := l.cfg.Prefix + "_WAL_"
	// One listing carries every stream's state: no request per stream.
	streams := l.js.ListStreams(ctx)
	existing, nonEmpty := 0, false
	var empty []string
	for info := range streams.Info() {
		name := info.Config.Name
		n, err := strconv.Atoi(strings.TrimPrefix(name, prefix))
		if !strings.HasPrefix(name, prefix) || err != nil {
			continue
		}
		existing = max(existing, n+1)
		if info.State.Msgs > 0 {
			nonEmpty = true
		} else if n >= l.cfg.Shards {
			empty = append(empty, name)
		}
	}
	if err := streams.Err(); err != nil {
		return fmt.Errorf("wal: list streams: %w", err)
	}
	if existing == 0 || existing == l.cfg.Shards {
		return nil
	}
	if nonEmpty {
		return fmt.Errorf("%w: %d shards on the server hold data, configured %d; start with --wal-shards=%d until they are flushed", ErrShardsChanged, existing, l.cfg.Shards, existing)
	}
	// All empty: the count may change. Remove shards beyond it so an old
	// stream does not keep capturing subjects of the new layout.
	for _, name := range empty {
		if err := l.js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("wal: delete empty stream %s: %w", name, err)
		}
	}
	return nil
}

// Shards returns the number of shards.
func (l *Log) Shards() int { return len(l.streams) }

// StreamNames returns the WAL's stream names, for durability checks.
func (l *Log) StreamNames() []string {
	names := make([]string, len(l.streams))
	for i := range l.streams {
		names[i] = l.streamName(i)
	}
	return names
}

// natsHeaderBytes is room left in a message for the NATS headers an append
// carries: the expected last subject sequence and, in a group commit, the
// batch's id, sequence and commit mark (about 150 bytes).
const natsHeaderBytes = 256

// MaxDataBytes is the most batch data one Record may carry: the server's max
// payload less the NATS headers and the larger of a partition message's
// header and a chain message's header and entry.
func (l *Log) MaxDataBytes() int {
	return l.maxPayload - natsHeaderBytes - max(HeaderBytes, chainHeaderBytes+recordEntryBytes)
}

// shard returns p's shard number and subject.
func (l *Log) shard(p Partition) (int, string) {
	n := int(partitionHash(p) % uint32(len(l.streams)))
	return n, l.subjectPrefix(n) + hex.EncodeToString(p.TopicID[:]) + "." + strconv.Itoa(int(p.Partition))
}

// partitionHash spreads partitions over shards, and over a writer's chains
// in a shard.
func partitionHash(p Partition) uint32 {
	h := fnv.New32a()
	h.Write(p.TopicID[:])
	h.Write([]byte{byte(p.Partition >> 24), byte(p.Partition >> 16), byte(p.Partition >> 8), byte(p.Partition)})
	return h.Sum32()
}

// stream returns p's shard stream and subject.
func (l *Log) stream(p Partition) (jetstream.Stream, string) {
	n, subject := l.shard(p)
	return l.streams[n], subject
}

// Append publishes r to p's subject if the subject's last sequence is still
// expectLast (0: the subject has no messages), and returns r's sequence once
// the stream's quorum has stored it. It returns ErrFenced (wrapped) when the
// subject moved on: another writer appended. Any other error leaves the
// outcome unknown; the caller must not assume r was or was not stored.
// Appends of other partitions waiting at the same time share a round trip
// (group.go).
func (l *Log) Append(ctx context.Context, p Partition, r Record, expectLast uint64) (uint64, error) {
	if n := r.DataLen(); n > l.MaxDataBytes() {
		return 0, fmt.Errorf("%w: %d bytes of batches, at most %d", ErrTooLarge, n, l.MaxDataBytes())
	}
	n, subject := l.shard(p)
	req := &appendReq{
		subject:    subject,
		data:       appendRecord(make([]byte, 0, HeaderBytes+r.DataLen()), r),
		expectLast: expectLast,
		done:       make(chan struct{}),
	}
	l.committers[n].submit(req)
	select {
	case <-req.done:
		return req.seq, req.err
	case <-ctx.Done():
		return 0, fmt.Errorf("wal: append to %s: outcome unknown: %w", subject, ctx.Err())
	}
}

// appendTimeout bounds one round of appends: JetStream answers in
// milliseconds, and a producer waiting longer is better told to retry.
const appendTimeout = 10 * time.Second

// appendOne publishes one encoded record on its own.
func (l *Log) appendOne(ctx context.Context, subject string, data []byte, expectLast uint64) (uint64, error) {
	for attempt := 1; ; attempt++ {
		msg := &nats.Msg{Subject: subject, Data: data}
		ack, err := l.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(expectLast))
		switch code := apiErrorCode(err); {
		case err == nil:
			return ack.Sequence, nil
		case code == jetstream.JSErrCodeStreamWrongLastSequence:
			return 0, fmt.Errorf("%w: %s after sequence %d: %w", ErrFenced, subject, expectLast, err)
		case code == jetstream.JSErrCodeStreamWrongLastSequenceConstant && attempt < undecidedAttempts:
			// The server could not check: a message on the subject was
			// still in process (nats-server acknowledges a publish
			// before it clears that mark). Ask again once it is done.
			if err := sleep(ctx, time.Duration(attempt)*time.Millisecond); err != nil {
				return 0, fmt.Errorf("wal: append to %s: %w", subject, err)
			}
		case code == jetstream.JSErrCodeStreamWrongLastSequenceConstant:
			// Still undecided: another writer keeps the subject busy.
			return 0, fmt.Errorf("%w: %s busy after %d attempts: %w", ErrFenced, subject, attempt, err)
		default:
			return 0, fmt.Errorf("wal: append to %s: %w", subject, err)
		}
	}
}

// undecidedAttempts bounds the attempts of an append the server answers with
// "wrong last sequence" without deciding (error 10164).
const undecidedAttempts = 8

func apiErrorCode(err error) jetstream.ErrorCode {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// LastSeq returns the sequence of p's last message, 0 if it has none.
func (l *Log) LastSeq(ctx context.Context, p Partition) (uint64, error) {
	s, subject := l.stream(p)
	return l.lastSeq(ctx, s, subject)
}

// Replay calls fn for each of p's messages after sequence after, in order, up
// to the last one at the time of the call, and returns that last sequence (or
// after, when there is nothing newer). When the subject's last sequence is
// below after, the stream was recreated and Replay starts from its first
// message. A record that fails its checksum stops the replay with ErrCorrupt:
// the tail holds acknowledged data, and skipping it would lose some silently.
func (l *Log) Replay(ctx context.Context, p Partition, after uint64, fn func(seq uint64, r Record) error) (uint64, error) {
	s, subject := l.stream(p)
	return l.replaySubject(ctx, s, subject, after, func(seq uint64, data []byte) error {
		r, err := parseRecord(data)
		if err != nil {
			return fmt.Errorf("%s sequence %d: %w", subject, seq, err)
		}
		return fn(seq, r)
	})
}

// replaySubject calls visit with each of subject's messages in s after
// sequence after, in order, up to its last one at the time of the call, and
// returns that last sequence (or after, when there is nothing newer); from
// the start when the subject's last sequence is below after (the stream was
// recreated).
func (l *Log) replaySubject(ctx context.Context, s jetstream.Stream, subject string, after uint64, visit func(seq uint64, data []byte) error) (uint64, error) {
	last, err := l.lastSeq(ctx, s, subject)
	if err != nil {
		return after, err
	}
	return replaySubjectThrough(ctx, s, subject, after, last, visit)
}

// replaySubjectThrough is replaySubject up to last, the subject's last
// sequence as the caller read it.
func replaySubjectThrough(ctx context.Context, s jetstream.Stream, subject string, after, last uint64, visit func(seq uint64, data []byte) error) (uint64, error) {
	var err error
	if last < after {
		after = 0
	}
	if last == after {
		return after, nil
	}
	seq := after + 1
	if last-after > bulkReplaySpan {
		if seq, err = replayBulk(ctx, s, subject, seq, last, visit); err != nil {
			return 0, err
		}
	}
	for seq <= last {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if err != nil {
			return 0, fmt.Errorf("wal: read %s from sequence %d: %w", subject, seq, err)
		}
		if m.Sequence > last {
			break
		}
		if err := visit(m.Sequence, m.Data); err != nil {
			return 0, err
		}
		seq = m.Sequence + 1
	}
	return last, nil
}

// Bulk replay: above bulkReplaySpan stream sequences, Replay streams the
// messages through a short-lived ordered consumer, bulkFetch at a time,
// rather than with one get per message (a round trip each). Gets finish
// whatever the consumer did not deliver: it may sit on a replica that lags
// the leader, and it is only a faster path, not the source of truth.
const (
	bulkReplaySpan = 64
	bulkFetch      = 512
	bulkFetchWait  = time.Second
)

// replayBulk replays from sequence from through last and returns the
// sequence to continue from.
func replayBulk(ctx context.Context, s jetstream.Stream, subject string, from, last uint64, visit func(uint64, []byte) error) (uint64, error) {
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{subject},
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		InactiveThreshold: 10 * time.Second,
	})
	if err != nil {
		return from, nil
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = s.DeleteConsumer(dctx, cons.CachedInfo().Name) // else it expires
	}()
	next := from
	for next <= last {
		batch, err := cons.Fetch(bulkFetch, jetstream.FetchMaxWait(bulkFetchWait))
		if err != nil {
			return next, nil
		}
		delivered := 0
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil || md.Sequence.Stream > last {
				continue
			}
			if err := visit(md.Sequence.Stream, m.Data()); err != nil {
				return 0, err
			}
			next = md.Sequence.Stream + 1
			delivered++
			if next > last {
				// Done: not waiting out the fetch, which on a subject
				// sparse in its stream has fewer messages than it asks
				// for and would run to bulkFetchWait.
				return next, nil
			}
		}
		if delivered == 0 {
			break
		}
	}
	return next, nil
}

// Purge removes p's messages with sequences below before. The caller passes
// the sequence of the last message whose data is durable elsewhere, so that
// message stays as the chain's anchor (see the package documentation).
func (l *Log) Purge(ctx context.Context, p Partition, before uint64) error {
	if before <= 1 {
		return nil
	}
	s, subject := l.stream(p)
	return purgeSubject(ctx, s, subject, before)
}

// purgeSubject removes the messages of subject (a filter) in s below
// before.
func purgeSubject(ctx context.Context, s jetstream.Stream, subject string, before uint64) error {
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(subject), jetstream.WithPurgeSequence(before)); err != nil {
		return fmt.Errorf("wal: purge %s below %d: %w", subject, before, err)
	}
	return nil
}
