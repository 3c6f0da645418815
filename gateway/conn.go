package gateway

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Connection limits. Each is a constant with its reason; MaxRequestBytes is the
// configurable one.
const (
	// maxControlRequestBytes caps every request but Produce. Only produce
	// carries bulk data; a metadata or config request near this size is
	// already absurd, and decoding amplifies a frame's size in memory.
	maxControlRequestBytes = 8 << 20
	// maxInFlight is how many requests of one connection may be in progress
	// at once. Kafka clients pipeline at most five produce requests; more
	// queue in the kernel's socket buffer, which is the backpressure.
	maxInFlight = 8
	// writeTimeout bounds writing one response, so a client that stops
	// reading cannot pin a connection's memory forever.
	writeTimeout = 30 * time.Second
	// minFrameBytes is the smallest request header: api key, version and
	// correlation id, plus the client id length.
	minFrameBytes = 10
)

// reply produces a request's response; it may wait (a produce's durability, a
// fetch's long poll). A nil response sends nothing (acks=0 produce).
type reply func(ctx context.Context) kmsg.Response

func respond(r kmsg.Response) reply { return func(context.Context) kmsg.Response { return r } }

// pendingReply is one request's place in the connection's response order.
type pendingReply struct {
	corr int32
	key  int16
	// token, when not nil, is a bare SASL token to write size-prefixed in
	// place of a response (the framing after a v0 SaslHandshake).
	token []byte
	done  chan struct{}
	resp  kmsg.Response
	err   error // close the connection instead of responding
	// held are released once resp is written or dropped: budget its
	// bytes hold until then (holdUntilWritten). Set by the reply
	// goroutine before done closes.
	held []func()
}

// releaseHeld runs pr's held releases once.
func (pr *pendingReply) releaseHeld() {
	for _, release := range pr.held {
		release()
	}
	pr.held = nil
}

type pendingReplyKey struct{}

// holdUntilWritten makes release run once the reply being computed under
// ctx is written to the client, or dropped with its connection. Outside a
// connection's reply (no reply in ctx) it runs release at once.
func holdUntilWritten(ctx context.Context, release func()) {
	if pr, ok := ctx.Value(pendingReplyKey{}).(*pendingReply); ok {
		pr.held = append(pr.held, release)
		return
	}
	release()
}

// conn is one client connection: one goroutine reads and dispatches requests in
// order, one writes responses in request order, and each request's reply runs in
// a goroutine of its own so a long poll or a produce waiting for durability does
// not hold up the requests behind it.
type conn struct {
	s        *Server
	ln       *listener
	nc       net.Conn
	remote   string
	host     string // the client's IP address, as ACLs match it
	clientID string

	// principal is who the client is: AnonymousPrincipal until it
	// authenticates, then "User:<name>" from its SASL login or client
	// certificate. Read by the request goroutines, written by the read loop
	// between requests.
	principal atomic.Pointer[string]
	// acls caches the connection's authorization decisions (authorize.go).
	acls aclCache
	// sasl is the SASL login, owned by the read loop (see sasl.go).
	sasl saslState
	// throttle mutes the connection while a client quota throttles it
	// (KIP-219): the read loop reads no request until it ends (quotas.go).
	throttle throttleUntil

	replies chan *pendingReply // in request order; capacity maxInFlight
	// unwritten is the reply the write loop was waiting for when the
	// connection ended; serve releases what it held.
	unwritten *pendingReply
	wg        sync.WaitGroup // reply goroutines
}

func newConn(s *Server, l *listener, nc net.Conn) *conn {
	c := &conn{s: s, ln: l, nc: nc, remote: nc.RemoteAddr().String(), replies: make(chan *pendingReply, maxInFlight)}
	c.host = c.remote
	if host, _, err := net.SplitHostPort(c.remote); err == nil {
		c.host = host
	}
	c.setPrincipal(AnonymousPrincipal)
	return c
}

// Principal returns the connection's principal ("User:alice").
func (c *conn) Principal() string { return *c.principal.Load() }

func (c *conn) setPrincipal(p string) { c.principal.Store(&p) }

// handshake completes a TLS connection's handshake, within the write timeout,
// and takes the principal of its client certificate.
func (c *conn) handshake(ctx context.Context) error {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	p, err := c.s.tlsPrincipal(tc.ConnectionState())
	if err != nil {
		return fmt.Errorf("principal of the client certificate: %w", err)
	}
	c.setPrincipal(p)
	return nil
}

// serve runs the connection until the client closes it, a protocol error, or ctx
// ends. Shutdown order: 1. the read loop stops and closes replies; 2. ctx is
// cancelled, ending waiting replies; 3. the write loop drains and exits; 4. reply
// goroutines are waited for; 5. the socket is closed.
func (c *conn) serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { c.nc.Close() })
	defer stop()
	if err := c.handshake(ctx); err != nil {
		c.s.cfg.Logger.Debug("closing connection", "remote", c.remote, "listener", c.ln.Name, "err", err)
		c.nc.Close()
		return
	}

	var writer sync.WaitGroup
	writer.Go(func() {
		defer cancel() // a write error ends the read loop too
		c.writeLoop(ctx)
	})
	err := c.readLoop(ctx)
	close(c.replies)
	if err != nil && ctx.Err() == nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.s.cfg.Logger.Debug("closing connection", "remote", c.remote, "err", err)
	}
	// The client may have half-closed after its last request; let its
	// replies finish unless the connection is being torn down.
	writer.Wait()
	cancel()
	c.wg.Wait()
	c.nc.Close()
	// Replies the write loop did not write: their budget goes back.
	if c.unwritten != nil {
		c.unwritten.releaseHeld()
	}
	for pr := range c.replies {
		pr.releaseHeld()
	}
}

// readLoop reads frames until an error or a failed SASL login, which ends
// the connection once the replies enqueued so far are written. It reads a
// frame's size (and then its api key) before allocating anything for it.
func (c *conn) readLoop(ctx context.Context) error {
	var head [8]byte // frame size, api key, api version
	for {
		if err := c.throttle.wait(ctx); err != nil {
			return err
		}
		// A connection that sends nothing for ConnectionsMaxIdle is
		// closed (connections.max.idle.ms), so idle and abandoned
		// connections, logged in or not, do not pile up.
		if err := c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.ConnectionsMaxIdle)); err != nil {
			return err
		}
		if _, err := io.ReadFull(c.nc, head[:4]); err != nil {
			return err
		}
		size := int32(binary.BigEndian.Uint32(head[0:4]))
		if c.sasl.raw {
			if err := c.saslToken(ctx, size); err != nil {
				return err
			}
			continue
		}
		if size < minFrameBytes {
			c.s.metrics.badFrames.Inc()
			return fmt.Errorf("frame of %d bytes, minimum %d", size, minFrameBytes)
		}
		if _, err := io.ReadFull(c.nc, head[4:]); err != nil {
			return err
		}
		key := int16(binary.BigEndian.Uint16(head[4:6]))
		if limit := c.frameLimit(key); size > limit {
			c.s.metrics.badFrames.Inc()
			return fmt.Errorf("frame of %d bytes for api key %d over the limit of %d", size, key, limit)
		}
		// Take the frame's bytes from the server-wide budget before
		// allocating them; they go back when its reply is done.
		if err := c.s.inflight.acquire(ctx, int64(size)); err != nil {
			return err
		}
		release := sync.OnceFunc(func() { c.s.inflight.release(int64(size)) })
		body := make([]byte, size)
		copy(body, head[4:])
		if _, err := io.ReadFull(c.nc, body[4:]); err != nil {
			release()
			return err
		}
		if err := c.dispatch(ctx, body, release); err != nil {
			release()
			c.s.metrics.badFrames.Inc()
			return err
		}
		if c.sasl.closing != nil {
			return c.sasl.closing
		}
	}
}

// frameLimit is the largest frame of api key the connection may send now.
func (c *conn) frameLimit(key int16) int32 {
	limit := min(c.s.cfg.MaxRequestBytes, maxControlRequestBytes)
	if key == produceKey {
		limit = c.s.cfg.MaxRequestBytes
	}
	// Other gateways send transaction markers without logging in, and one
	// marker request lists every partition of a transaction on its leader;
	// its handler refuses anyone else.
	if c.preAuth() && !(key == writeTxnMarkersKey && c.s.txns != nil) {
		limit = min(limit, maxPreAuthFrameBytes)
	}
	return limit
}

// dispatch parses one request frame and starts serving it. An error closes the
// connection: Kafka closes connections that send an unknown api key, an
// unsupported version (but for ApiVersions) or an undecodable request.
func (c *conn) dispatch(ctx context.Context, body []byte, release func()) error {
	started := c.s.now() // request time, for request_percentage, runs from here
	r := kbin.Reader{Src: body}
	key, version, corr := r.Int16(), r.Int16(), r.Int32()
	clientID := r.NullableString()
	if !r.Ok() {
		return errors.New("truncated request header")
	}
	if clientID != nil {
		c.clientID = *clientID
	}
	if err := c.saslGate(key); err != nil {
		return err
	}
	a, known := apiByKey(key)
	if !known {
		return fmt.Errorf("unknown api key %d", key)
	}
	if version < a.min || version > a.max {
		if key != apiVersionsKey {
			return fmt.Errorf("unsupported version %d of %s", version, kmsg.NameForKey(key))
		}
		// KIP-511: answer an ApiVersions of an unknown version with a v0
		// response, without parsing a body we may not understand.
		return c.enqueue(ctx, corr, key, respond(unsupportedApiVersions()), release)
	}
	req := kmsg.RequestForKey(key)
	req.SetVersion(version)
	if req.IsFlexible() {
		kmsg.SkipTags(&r)
	}
	if !r.Ok() {
		return errors.New("truncated request header tags")
	}
	if err := req.ReadFrom(r.Src); err != nil {
		return fmt.Errorf("decode %s v%d: %w", kmsg.NameForKey(key), version, err)
	}
	c.s.metrics.requests[key].Inc()

	rep, err := c.startQuota(ctx, a, req, len(body)+4, started, &c.throttle)
	if err != nil {
		return err
	}
	return c.enqueue(ctx, corr, key, rep, release)
}

// enqueue takes the request's place in the response order, waiting while
// maxInFlight requests are in progress, and runs rep in its own goroutine,
// calling release once the response is made.
func (c *conn) enqueue(ctx context.Context, corr int32, key int16, rep reply, release func()) error {
	pr := &pendingReply{corr: corr, key: key, done: make(chan struct{})}
	select {
	case c.replies <- pr:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.wg.Go(func() {
		defer close(pr.done)
		defer release()
		defer c.recoverInto(pr)
		pr.resp = rep(context.WithValue(ctx, pendingReplyKey{}, pr))
	})
	return nil
}

// enqueueToken takes the next place in the response order for a bare SASL
// token (after a v0 SaslHandshake).
func (c *conn) enqueueToken(ctx context.Context, token []byte) error {
	if token == nil {
		token = []byte{} // nil would mean "a response"
	}
	pr := &pendingReply{key: saslAuthenticateKey, token: token, done: make(chan struct{})}
	close(pr.done)
	select {
	case c.replies <- pr:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start runs the in-order part of a handler, turning a panic into a closed
// connection.
func (c *conn) start(ctx context.Context, a api, req kmsg.Request) (rep reply, err error) {
	defer func() {
		if v := recover(); v != nil {
			c.s.cfg.Logger.Error("panic serving request", "remote", c.remote, "api", kmsg.NameForKey(a.key), "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic serving %s: %v", kmsg.NameForKey(a.key), v)
		}
	}()
	return a.handle(c.s, ctx, c, req)
}

func (c *conn) recoverInto(pr *pendingReply) {
	if v := recover(); v != nil {
		c.s.cfg.Logger.Error("panic serving request", "remote", c.remote, "api", kmsg.NameForKey(pr.key), "panic", v, "stack", string(debug.Stack()))
		pr.resp, pr.err = nil, fmt.Errorf("panic serving %s: %v", kmsg.NameForKey(pr.key), v)
	}
}

func (c *conn) writeLoop(ctx context.Context) {
	var buf []byte
	for pr := range c.replies {
		select {
		case <-pr.done:
		case <-ctx.Done():
			c.unwritten = pr // its reply may still be running
			return
		}
		if err := c.writeReply(pr, &buf); err != nil {
			return
		}
	}
}

// writeReply writes pr's response, if it has one, through *buf, and
// releases what the response held. An error ends the connection.
func (c *conn) writeReply(pr *pendingReply, buf *[]byte) error {
	defer pr.releaseHeld()
	if pr.err != nil {
		return pr.err
	}
	switch {
	case pr.token != nil:
		*buf = binary.BigEndian.AppendUint32((*buf)[:0], uint32(len(pr.token)))
		*buf = append(*buf, pr.token...)
	case pr.resp == nil:
		return nil
	default:
		if hint := responseSizeHint(pr.resp); cap(*buf) < hint {
			*buf = make([]byte, 0, hint)
		}
		*buf = appendResponse((*buf)[:0], pr.corr, pr.resp)
	}
	if err := c.nc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	_, err := c.nc.Write(*buf)
	if cap(*buf) > maxKeptWriteBuffer {
		*buf = nil // one large fetch must not pin its size per connection
	}
	if err != nil {
		c.s.cfg.Logger.Debug("write response", "remote", c.remote, "err", err)
	}
	return err
}

// responseSizeHint is about the encoded size of a fetch response (its record
// batches, up to fetch.max.bytes, and a little per partition), 0 for other
// responses. Encoding a large response into a buffer grown by doubling
// copied its records twice over and cleared as much again: 8% of a
// gateway's CPU consuming 10,000 partitions.
func responseSizeHint(resp kmsg.Response) int {
	fr, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return 0
	}
	n := 64
	for i := range fr.Topics {
		t := &fr.Topics[i]
		n += 32 + len(t.Topic)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			n += 64 + len(p.RecordBatches) + 16*len(p.AbortedTransactions)
		}
	}
	return n
}

// maxKeptWriteBuffer is the largest write buffer a connection keeps between
// responses. Larger ones (fetch responses of up to fetch.max.bytes, 50 MiB by
// default) are dropped after their write: kept, a thousand idle consumers
// would each hold their largest response.
const maxKeptWriteBuffer = 1 << 20

// appendResponse frames resp: size, correlation id, the response header's tags
// when flexible (except ApiVersions, whose response header is always v0 so that
// clients can parse it before they know our versions), then the body.
func appendResponse(dst []byte, corr int32, resp kmsg.Response) []byte {
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[:4], uint32(len(dst)-4))
	return dst
}
