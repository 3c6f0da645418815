package wal

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Writer chains. A Writer is one gateway run's appender: it has chainLanes
// subjects per shard, "<prefix>.wal.<n>.w.<writer id>.<chain number>", its
// chains, each partition always on the same one, and every round of its
// group commit on a chain is one message (or one atomic batch of them, when
// a round holds more than a message carries) with the records of every
// partition of the chain that was waiting. So the WAL's message count follows the
// gateway's rounds, not its partitions: at 1,000 partitions a round is one
// message per chain, where per-partition subjects made it 1,000.
//
// Fencing moves from the partition to the chain. Each chain has a fence
// subject, "<prefix>.wal.<n>.f.<chain>", that only fences go to. Every chain
// message names the fence subject's last sequence the writer knows
// (JetStream's Nats-Expected-Last-Subject-Sequence with
// Nats-Expected-Last-Subject-Sequence-Subject), and only its writer appends
// records to the chain. A new leader of a partition fences the previous
// writer by publishing a fence entry (the partition and the new leader's
// epoch) on that writer's fence subject (Fence). From the fence's sequence
// on, the writer's next message is refused as a whole, since it expected an
// older last sequence: none of its records, of any partition, is stored. The
// writer then reads the fences, and sends the round again without the fenced
// partitions' records: those fail with ErrFenced. A writer's records of a
// partition therefore all lie below the fence, and the new leader replays
// exactly them (ReplayChain up to the fence's sequence): nothing the old
// writer appends after it can have been acknowledged.
//
// Why a subject of its own: the server checks an expected sequence by
// loading the subject's last message. On the chain itself that was the
// writer's previous round, up to a megabyte copied per append, and the read
// kept the stream's block buffers from being reused: about ten seconds of
// the WAL's writes stayed in the server's memory. A fence subject is empty
// unless the writer was fenced, and the writer empties it again once it has
// read the fences (it purges what it read; a fence published after the
// read stays and refuses the next message), so the check loads nothing.
//
// A fence names an epoch: the writer refuses its appends of the partition
// with a lower epoch, so it may lead the partition again under a later
// claim.
//
// Writers of the release before fence subjects checked the chain's own last
// sequence. Fence therefore publishes each fence on the chain too, in the
// same atomic batch, and a gateway of this release takes partitions over
// from those writers during an upgrade. Their record messages are version
// 2, this writer's version 3, which that release refuses as corrupt: it
// cannot take a partition over from a writer it could not fence.

// validWriterID is what a writer id may hold: it is a subject token.
var validWriterID = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// validChain is what a chain's name may be: "<writer id>.<number>", one
// subject token per part, so that one subject filter covers a writer's
// chains in a shard (PurgeWriter); or, from the release before fence
// subjects, "<writer id>-<number>", one token.
var validChain = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}(\.[0-9]{1,6})?$`)

// chainLanes is the chains a Writer has per shard. Each message names the one
// before it on its chain, so a chain has one round in flight at a time:
// several lanes per shard keep several in flight, as the partition subjects
// did, while a round's message still carries many partitions.
const chainLanes = 8

// Writer appends records of many partitions to its chains, chainLanes per
// shard, each partition always to the same one (ChainOf). Its id must be
// unique to the process run that uses it (a node id and an incarnation): two
// writers on one chain would fence each other's rounds. Its methods are safe
// for concurrent use.
type Writer struct {
	log    *Log
	id     string
	chains []*chain // shard*chainLanes + lane
}

// Writer returns the writer with id, whose chains are empty or were last
// written by this process.
func (l *Log) Writer(id string) (*Writer, error) {
	if !validWriterID.MatchString(id) || len(id) > 60 {
		return nil, fmt.Errorf("wal: writer id %q: 1 to 60 letters, digits, '-' and '_'", id)
	}
	w := &Writer{log: l, id: id}
	for n := range l.streams {
		for lane := range chainLanes {
			// Numbered across shards: a chain's name is unique to it.
			name := id + "." + strconv.Itoa(n*chainLanes+lane)
			w.chains = append(w.chains, &chain{
				log: l, shard: n, name: name,
				subject:      l.chainSubject(n, name),
				fenceSubject: l.fenceSubject(n, name),
				fences:       map[Partition]int32{},
			})
		}
	}
	return w, nil
}

// ID returns the writer's id.
func (w *Writer) ID() string { return w.id }

// chainOf returns p's chain.
func (w *Writer) chainOf(p Partition) *chain {
	h := partitionHash(p)
	shard := int(h % uint32(len(w.log.streams)))
	lane := int(h / uint32(len(w.log.streams)) % chainLanes)
	return w.chains[shard*chainLanes+lane]
}

// ChainOf names the chain p's records go to: what Fence, ReplayChain and the
// other chain methods of Log take.
func (w *Writer) ChainOf(p Partition) string { return w.chainOf(p).name }

// Owns reports whether chain is one of the writer's.
func (w *Writer) Owns(chain string) bool {
	lane, ok := strings.CutPrefix(chain, w.id+".")
	_, err := strconv.ParseUint(lane, 10, 32)
	return ok && err == nil
}

// KnownLast returns the last sequence of p's chain that the writer knows: no
// later Append of any partition on that chain returns a sequence at or below
// it.
func (w *Writer) KnownLast(p Partition) uint64 { return w.chainOf(p).last.Load() }

// ChainState is one of a writer's chains and the last sequence it knows.
type ChainState struct {
	Shard     int
	Chain     string
	KnownLast uint64
}

// Chains returns the writer's chains.
func (w *Writer) Chains() []ChainState {
	out := make([]ChainState, len(w.chains))
	for i, c := range w.chains {
		out[i] = ChainState{Shard: c.shard, Chain: c.name, KnownLast: c.last.Load()}
	}
	return out
}

func (l *Log) chainSubject(shard int, chain string) string {
	return l.subjectPrefix(shard) + "w." + chain
}

// fenceSubject is where chain's fences go: what its writer's messages are
// checked against.
func (l *Log) fenceSubject(shard int, chain string) string {
	return l.subjectPrefix(shard) + "f." + chain
}

// Shard returns the number of the shard p's records go to.
func (l *Log) Shard(p Partition) int {
	n, _ := l.shard(p)
	return n
}

// Append adds r, p's next records, to the writer's chain in p's shard and
// returns the stream sequence of the message that holds them, once the
// stream's quorum stored it. Records of other partitions waiting at the same
// time share the message. It returns ErrFenced (wrapped) when a fence of p at
// an epoch above r.Epoch is on the chain. Any other error leaves the outcome
// unknown.
func (w *Writer) Append(ctx context.Context, p Partition, r Record) (uint64, error) {
	done := make(chan struct{})
	var seq uint64
	var err error
	if err := w.AppendAsync(p, r, func(s uint64, e error) {
		seq, err = s, e
		close(done)
	}); err != nil {
		return 0, err
	}
	select {
	case <-done:
		return seq, err
	case <-ctx.Done():
		return 0, fmt.Errorf("wal: append of partition %d to %s: outcome unknown: %w", p.Partition, w.chainOf(p).subject, ctx.Err())
	}
}

// AppendAsync adds r as Append does without waiting for it: done gets
// Append's results once the round that carried r ends, which appendTimeout
// bounds. done runs on the chain's goroutine, after the round and before
// the next one: it must not block, and it may call AppendAsync. An error
// returned here (a record too large) means done is not called.
//
// A caller with many partitions appending at once needs no goroutine per
// partition: at 10,000 partitions, a goroutine and a channel per append
// made the collector a fifth of a gateway's CPU.
func (w *Writer) AppendAsync(p Partition, r Record, done func(seq uint64, err error)) error {
	n := r.DataLen()
	if n > w.log.MaxDataBytes() {
		return fmt.Errorf("%w: %d bytes of batches, at most %d", ErrTooLarge, n, w.log.MaxDataBytes())
	}
	w.chainOf(p).submit(newChainReq(p, r, n, done))
	return nil
}

// newChainReq is an append of r, with n bytes of data, to p's chain.
func newChainReq(p Partition, r Record, n int, done func(seq uint64, err error)) *chainReq {
	return &chainReq{entry: Entry{Partition: p, Record: r}, bytes: recordEntryBytes + n, done: done}
}

// Fence publishes a fence of p at epoch for chain (Writer.ChainOf) and
// returns its sequence: the chain's writer's messages from then on hold no
// record of p with a lower epoch, so its records of p below that epoch all
// lie below the returned sequence.
func (l *Log) Fence(ctx context.Context, chain string, p Partition, epoch int32) (uint64, error) {
	if !validChain.MatchString(chain) {
		return 0, fmt.Errorf("wal: chain %q is not one", chain)
	}
	n, _ := l.shard(p)
	data := encodeChain(chainFences, []Entry{{Partition: p, Record: Record{Epoch: epoch}}})
	// On the fence subject, and on the chain for a writer of the release
	// before fence subjects (see the file comment). The chain's copy comes
	// last: its sequence bounds the records of either kind of writer.
	fence, legacy := nats.NewMsg(l.fenceSubject(n, chain)), nats.NewMsg(l.chainSubject(n, chain))
	fence.Data, legacy.Data = data, data
	seq, err := publishAtomic(ctx, l.js.Conn(), []*nats.Msg{fence, legacy})
	if err != nil {
		return 0, fmt.Errorf("wal: fence partition %d at epoch %d on %s: %w", p.Partition, epoch, fence.Subject, err)
	}
	return seq, nil
}

// ChainLastSeq returns the sequence of the last message on chain in p's
// shard, 0 if it has none.
func (l *Log) ChainLastSeq(ctx context.Context, chain string, p Partition) (uint64, error) {
	n, _ := l.shard(p)
	return l.lastSeq(ctx, l.streams[n], l.chainSubject(n, chain))
}

// ReplayChain calls fn, in order, for each record on chain in shard in a
// message after sequence after, up to the chain's last message at
// the time of the call, and returns that last sequence (or after, when there
// is nothing newer). Every partition's records are passed: one read of the
// chain serves all the partitions a new leader takes over from its writer.
// Fences are not passed. A message that fails its checksum stops the replay
// with ErrCorrupt.
func (l *Log) ReplayChain(ctx context.Context, chain string, shard int, after uint64, fn func(seq uint64, e Entry) error) (uint64, error) {
	if shard < 0 || shard >= len(l.streams) {
		return after, fmt.Errorf("wal: shard %d of %d", shard, len(l.streams))
	}
	last, err := l.lastSeq(ctx, l.streams[shard], l.chainSubject(shard, chain))
	if err != nil {
		return after, err
	}
	return l.ReplayChainThrough(ctx, chain, shard, after, last, fn)
}

// ReplayChainThrough is ReplayChain up to last, the chain's last sequence
// as the caller read it (ChainLastSeq): reading it is a load of the whole
// last message, up to the max payload, which a caller that has it need not
// make again.
func (l *Log) ReplayChainThrough(ctx context.Context, chain string, shard int, after, last uint64, fn func(seq uint64, e Entry) error) (uint64, error) {
	if shard < 0 || shard >= len(l.streams) {
		return after, fmt.Errorf("wal: shard %d of %d", shard, len(l.streams))
	}
	subject := l.chainSubject(shard, chain)
	return replaySubjectThrough(ctx, l.streams[shard], subject, after, last, func(seq uint64, data []byte) error {
		kind, entries, err := parseChain(data)
		if err != nil {
			return fmt.Errorf("%s sequence %d: %w", subject, seq, err)
		}
		if kind != chainRecords {
			return nil
		}
		for _, e := range entries {
			if err := fn(seq, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// PurgeChain removes the messages of chain in shard below before. As Purge,
// the caller keeps what it still needs. (A writer of the release before
// fence subjects checks its chain's last message: removed, its next message
// is refused once, and sent again after it read the chain.)
func (l *Log) PurgeChain(ctx context.Context, chain string, shard int, before uint64) error {
	if before <= 1 || shard < 0 || shard >= len(l.streams) {
		return nil
	}
	return purgeSubject(ctx, l.streams[shard], l.chainSubject(shard, chain), before)
}

// Purge removes the messages of all the writer's chains in shard below
// before, which the caller has made durable elsewhere: one purge, so the
// server reads each message block once, where a purge per chain read the
// blocks the chains share once per chain (and kept them in memory for
// ten seconds). The chains' last messages may go too: a writer is checked
// against its fence subjects, which this leaves alone.
func (w *Writer) Purge(ctx context.Context, shard int, before uint64) error {
	if before <= 1 || shard < 0 || shard >= len(w.log.streams) {
		return nil
	}
	return purgeSubject(ctx, w.log.streams[shard], w.log.chainSubject(shard, w.id+".*"), before)
}

// chainReq is one Append waiting for its round.
type chainReq struct {
	entry Entry
	bytes int // the entry's encoded size

	seq  uint64
	err  error
	done func(seq uint64, err error)
}

// chain is one of a writer's chains. One round at a time runs on it, since
// each message must name the one before it.
type chain struct {
	log          *Log
	shard        int
	name         string
	subject      string
	fenceSubject string

	mu      sync.Mutex
	queue   []*chainReq
	running bool

	// last is the chain's last sequence as far as the writer knows; only
	// the running round writes it.
	last atomic.Uint64

	// Owned by the running round.
	synced bool // the fence subject is read: fenceLast is its last sequence
	// fenceLast is the fence subject's last sequence that the next message
	// names; fenceRead is the last fence read.
	fenceLast, fenceRead uint64
	// fences holds the highest fence epoch read per partition.
	fences map[Partition]int32
	// msgBufs are the buffers of the last round's messages, which the next
	// round encodes into while rounds run back to back (the client copies
	// a message when it publishes it). New buffers, cleared on allocation,
	// were a tenth of what a 10,000-partition producer's gateway
	// allocated; a sync.Pool did not keep them, as the collector runs
	// several times a second there.
	msgBufs [][]byte
}

// maxKeptMsgBufs bounds the message buffers a chain keeps between rounds:
// a round is at most maxBatchBytes, so this keeps its messages' buffers
// while rounds are about as large, and the chain drops them when its queue
// runs empty.
const maxKeptMsgBufs = 2

// msgBuf returns an empty buffer for the i-th message of a round, of n
// bytes: the last round's i-th if it is large enough, else a new one with
// room to spare (within the message size limit), so that rounds of about
// the same size reuse it.
func (c *chain) msgBuf(i, n int) []byte {
	if i < len(c.msgBufs) && cap(c.msgBufs[i]) >= n {
		return c.msgBufs[i][:0]
	}
	return make([]byte, 0, max(n, min(n+n/2, c.log.maxPayload)))
}

// keepMsgBufs keeps the buffers of msgs, published, for the next round.
func (c *chain) keepMsgBufs(msgs []chainMsg) {
	c.msgBufs = c.msgBufs[:0]
	for _, m := range msgs[:min(len(msgs), maxKeptMsgBufs)] {
		c.msgBufs = append(c.msgBufs, m.data)
	}
}

// submit queues req and starts the rounds if none run. The goroutine ends
// when the queue is empty; each round is bounded by appendTimeout.
func (c *chain) submit(req *chainReq) {
	c.mu.Lock()
	c.queue = append(c.queue, req)
	start := !c.running
	c.running = true
	c.mu.Unlock()
	if start {
		go c.run()
	}
}

func (c *chain) run() {
	for {
		round := c.take()
		if round == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
		c.commit(ctx, round)
		cancel()
		for _, req := range round {
			req.done(req.seq, req.err)
		}
	}
}

// take removes the next round from the queue: what one atomic batch holds.
// It returns nil, and marks the rounds stopped, when none wait.
func (c *chain) take() []*chainReq {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.msgBufs = nil // before the next round's goroutine can start
		c.running = false
		return nil
	}
	n, size := 0, 0
	for n < len(c.queue) && (n == 0 || size+c.queue[n].bytes <= maxBatchBytes) {
		size += c.queue[n].bytes
		n++
	}
	round := c.queue[:n:n]
	c.queue = append([]*chainReq(nil), c.queue[n:]...)
	return round
}

// chainAttempts bounds the sends of one round: each retry follows fences
// published meanwhile, and a chain fenced this often is busy being taken
// over.
const chainAttempts = 8

// commit sends round as one or more messages after the chain's last
// sequence, retrying without the fenced partitions' records while fences
// refuse it.
func (c *chain) commit(ctx context.Context, round []*chainReq) {
	live := round
	for attempt := 1; ; attempt++ {
		if !c.synced {
			if err := c.sync(ctx); err != nil {
				failAll(live, fmt.Errorf("wal: read chain %s: %w", c.subject, err))
				return
			}
		}
		live = c.dropFenced(live)
		if len(live) == 0 {
			return
		}
		msgs := c.encode(live)
		seqs, err := c.publish(ctx, msgs)
		c.keepMsgBufs(msgs)
		code := apiErrorCode(err)
		switch {
		case err == nil:
			for i, m := range msgs {
				for _, req := range m.reqs {
					req.seq = seqs[i]
				}
			}
			c.last.Store(seqs[len(seqs)-1])
			c.log.chainMessages.Add(uint64(len(msgs)))
			c.log.chainAppends.Add(uint64(len(live)))
			return
		case (code == jetstream.JSErrCodeStreamWrongLastSequence || code == jetstream.JSErrCodeStreamWrongLastSequenceConstant) && attempt < chainAttempts:
			// Refused whole: a fence, or (10164) one still in process.
			// Read the fences and send again.
			c.log.chainRefusals.Add(1)
			c.synced = false
			if code == jetstream.JSErrCodeStreamWrongLastSequenceConstant {
				if err := sleep(ctx, time.Duration(attempt)*time.Millisecond); err != nil {
					failAll(live, fmt.Errorf("wal: append to %s: %w", c.subject, err))
					return
				}
			}
		case code != 0:
			// Refused, so nothing is stored, and not for a fence.
			failAll(live, fmt.Errorf("wal: append to %s: %w", c.subject, err))
			return
		default:
			// Unknown outcome: the messages may be stored. Read the chain
			// again before the next round.
			c.synced = false
			failAll(live, fmt.Errorf("wal: append to %s: outcome unknown: %w", c.subject, err))
			return
		}
	}
}

func failAll(reqs []*chainReq, err error) {
	for _, req := range reqs {
		req.err = err
	}
}

// dropFenced fails the requests whose partition is fenced above their epoch
// and returns the rest.
func (c *chain) dropFenced(reqs []*chainReq) []*chainReq {
	var live []*chainReq
	for _, req := range reqs {
		e := req.entry
		if f, ok := c.fences[e.Partition]; ok && f > e.Record.Epoch {
			req.err = fmt.Errorf("%w: partition %d fenced at epoch %d on %s, appending at %d", ErrFenced, e.Partition.Partition, f, c.subject, e.Record.Epoch)
			continue
		}
		live = append(live, req)
	}
	return live
}

// sync reads the fences published since the last sync, empties the fence
// subject of them, and reads the chain's last sequence, which an append of
// unknown outcome may have moved.
func (c *chain) sync(ctx context.Context) error {
	s := c.log.streams[c.shard]
	last, err := c.log.lastSeq(ctx, s, c.fenceSubject)
	if err != nil {
		return err
	}
	after := c.fenceRead
	if last < after {
		after = 0 // emptied by the last sync, or the stream was recreated
	}
	if last > after {
		_, err = replaySubjectThrough(ctx, s, c.fenceSubject, after, last, func(seq uint64, data []byte) error {
			kind, entries, err := parseChain(data)
			if err != nil {
				return fmt.Errorf("%s sequence %d: %w", c.fenceSubject, seq, err)
			}
			if kind == chainFences {
				for _, e := range entries {
					c.fences[e.Partition] = max(c.fences[e.Partition], e.Record.Epoch)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	c.fenceRead, c.fenceLast = last, last
	if last != 0 {
		// Only the fences read go: one published since stays and refuses
		// the next message. Should the purge fail, the next message names
		// the last fence, and if the purge did happen it is refused once
		// and this runs again.
		if err := purgeSubject(ctx, s, c.fenceSubject, last+1); err == nil {
			c.fenceLast = 0
		}
	}
	chainLast, err := c.log.lastSeq(ctx, s, c.subject)
	if err != nil {
		return err
	}
	c.last.Store(chainLast)
	c.synced = true
	return nil
}

// chainMsg is one message of a round and the requests it carries.
type chainMsg struct {
	data []byte
	reqs []*chainReq
}

// encode packs reqs into as few messages as the server's max payload allows.
func (c *chain) encode(reqs []*chainReq) []chainMsg {
	limit := c.log.maxPayload - natsHeaderBytes
	var msgs []chainMsg
	for len(reqs) > 0 {
		n, size := 0, chainHeaderBytes
		for n < len(reqs) && (n == 0 || size+reqs[n].bytes <= limit) {
			size += reqs[n].bytes
			n++
		}
		data := appendChainHeader(c.msgBuf(len(msgs), size), chainRecords, n)
		for _, req := range reqs[:n] {
			data = appendEntry(data, chainRecords, req.entry)
		}
		finishChain(data)
		msgs = append(msgs, chainMsg{data: data, reqs: reqs[:n:n]})
		reqs = reqs[n:]
	}
	return msgs
}

// publish sends msgs, expecting the fence subject's last sequence to be
// c.fenceLast: one message as a plain publish, more as one atomic batch
// whose first message names it (the rest follow it in the same batch). It
// returns each message's sequence.
func (c *chain) publish(ctx context.Context, msgs []chainMsg) ([]uint64, error) {
	if len(msgs) == 1 {
		ack, err := c.log.js.PublishMsg(ctx, &nats.Msg{Subject: c.subject, Data: msgs[0].data}, jetstream.WithExpectLastSequenceForSubject(c.fenceLast, c.fenceSubject))
		if err != nil {
			return nil, err
		}
		return []uint64{ack.Sequence}, nil
	}
	batch := make([]*nats.Msg, len(msgs))
	for i, m := range msgs {
		batch[i] = nats.NewMsg(c.subject)
		batch[i].Data = m.data
	}
	batch[0].Header.Set(hdrExpectLast, strconv.FormatUint(c.fenceLast, 10))
	batch[0].Header.Set(hdrExpectLastSubject, c.fenceSubject)
	last, err := publishAtomic(ctx, c.log.js.Conn(), batch)
	if err != nil {
		return nil, err
	}
	seqs := make([]uint64, len(msgs))
	for i := range seqs {
		seqs[i] = last - uint64(len(msgs)-1-i)
	}
	return seqs, nil
}

// publishAtomic sends msgs as one atomic batch (publishBatch) and returns
// the sequence of the last; the others are at the sequences before it. A
// refusal is the server's error (an *jetstream.APIError).
func publishAtomic(ctx context.Context, nc *nats.Conn, msgs []*nats.Msg) (uint64, error) {
	ack, err := publishBatch(ctx, nc, msgs)
	if err != nil {
		return 0, err
	}
	if ack.Error != nil {
		return 0, ack.Error
	}
	if ack.Count != len(msgs) || ack.Seq < uint64(len(msgs)) {
		return 0, fmt.Errorf("a batch of %d acknowledged as %d messages through sequence %d", len(msgs), ack.Count, ack.Seq)
	}
	return ack.Seq, nil
}

// lastSeq returns the sequence of subject's last message in s, 0 if none.
func (l *Log) lastSeq(ctx context.Context, s jetstream.Stream, subject string) (uint64, error) {
	m, err := s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("wal: last message of %s: %w", subject, err)
	}
	return m.Sequence, nil
}

// ChainInfo describes one chain in a shard.
type ChainInfo struct {
	Chain    string
	Messages uint64
	// LastTime is when its last message was stored.
	LastTime time.Time
}

// Chains lists the chains in shard that hold messages.
func (l *Log) Chains(ctx context.Context, shard int) ([]ChainInfo, error) {
	if shard < 0 || shard >= len(l.streams) {
		return nil, fmt.Errorf("wal: shard %d of %d", shard, len(l.streams))
	}
	s := l.streams[shard]
	prefix := l.subjectPrefix(shard) + "w."
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return nil, fmt.Errorf("wal: list the chains of shard %d: %w", shard, err)
	}
	var chains []ChainInfo
	for subject, n := range info.State.Subjects {
		m, err := s.GetLastMsgForSubject(ctx, subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // purged meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("wal: last message of %s: %w", subject, err)
		}
		chains = append(chains, ChainInfo{Chain: subject[len(prefix):], Messages: n, LastTime: m.Time})
	}
	return chains, nil
}
