package gateway

// Requests one gateway sends another, over the Kafka protocol to the other's
// advertised address, as Kafka's brokers do for transaction markers: the
// transaction coordinator asks each partition's leader to write its marker
// (WriteTxnMarkers). Such requests carry the cluster's secret in their
// client id (peerClientID), which is how the receiving gateway tells a
// gateway from a client; clients are refused these APIs.

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// peerClientIDPrefix starts the client id gateways use with one another; the
// cluster secret follows it.
const peerClientIDPrefix = "strata-gateway/"

// peerDialTimeout bounds connecting to another gateway.
const peerDialTimeout = 5 * time.Second

// maxPeerResponse caps a response from another gateway.
const maxPeerResponse = 16 << 20

// peers holds one connection per other gateway, dialled on first use and
// dropped on any error (the next request dials again). Requests to one
// gateway go one at a time: they are rare (one per transaction end per
// leader) and small.
type peers struct {
	clientID string

	// tls, when set, is the client side of the gateways' TLS listeners:
	// requests to other gateways go over TLS as clients' do.
	tls *tls.Config

	mu    sync.Mutex
	conns map[string]*peerConn // by address
}

type peerConn struct {
	mu   sync.Mutex // one request at a time
	nc   net.Conn
	br   *bufio.Reader
	corr int32
}

func newPeers(secret string, tlsCfg *tls.Config) *peers {
	return &peers{clientID: peerClientIDPrefix + secret, tls: tlsCfg, conns: map[string]*peerConn{}}
}

// isPeer reports whether a connection's client id is a gateway's.
func (p *peers) isPeer(clientID string) bool {
	return p != nil && len(p.clientID) > len(peerClientIDPrefix) && clientID == p.clientID
}

// request sends req (at its set version) to the gateway at addr and returns
// its response.
func (p *peers) request(ctx context.Context, addr string, req kmsg.Request) (kmsg.Response, error) {
	p.mu.Lock()
	pc := p.conns[addr]
	if pc == nil {
		pc = &peerConn{}
		p.conns[addr] = pc
	}
	p.mu.Unlock()

	pc.mu.Lock()
	defer pc.mu.Unlock()
	resp, err := pc.roundTrip(ctx, addr, p.clientID, p.tls, req)
	if err != nil && pc.nc != nil {
		pc.nc.Close()
		pc.nc = nil
	}
	return resp, err
}

// close closes every connection.
func (p *peers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, pc := range p.conns {
		pc.mu.Lock()
		if pc.nc != nil {
			pc.nc.Close()
		}
		pc.mu.Unlock()
		delete(p.conns, addr)
	}
}

// roundTrip writes one request and reads its response. The caller holds mu.
func (pc *peerConn) roundTrip(ctx context.Context, addr, clientID string, tlsCfg *tls.Config, req kmsg.Request) (kmsg.Response, error) {
	if pc.nc == nil {
		d := net.Dialer{Timeout: peerDialTimeout}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("dial gateway %s: %w", addr, err)
		}
		if tlsCfg != nil {
			cfg := tlsCfg.Clone()
			if cfg.ServerName == "" {
				cfg.ServerName, _, _ = net.SplitHostPort(addr)
			}
			tc := tls.Client(nc, cfg)
			hctx, cancel := context.WithTimeout(ctx, peerDialTimeout)
			err = tc.HandshakeContext(hctx)
			cancel()
			if err != nil {
				nc.Close()
				return nil, fmt.Errorf("tls handshake with gateway %s: %w", addr, err)
			}
			nc = tc
		}
		pc.nc, pc.br = nc, bufio.NewReader(nc)
	}
	stop := context.AfterFunc(ctx, func() { pc.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if deadline, ok := ctx.Deadline(); ok {
		pc.nc.SetDeadline(deadline)
	} else {
		pc.nc.SetDeadline(time.Time{})
	}
	pc.corr++
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))
	if _, err := pc.nc.Write(formatter.AppendRequest(nil, req, pc.corr)); err != nil {
		return nil, fmt.Errorf("write to gateway %s: %w", addr, err)
	}
	var size [4]byte
	if _, err := io.ReadFull(pc.br, size[:]); err != nil {
		return nil, fmt.Errorf("read from gateway %s: %w", addr, err)
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > maxPeerResponse {
		return nil, fmt.Errorf("gateway %s answered a %d-byte frame", addr, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(pc.br, body); err != nil {
		return nil, fmt.Errorf("read from gateway %s: %w", addr, err)
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != pc.corr {
		return nil, fmt.Errorf("gateway %s answered correlation id %d, want %d", addr, corr, pc.corr)
	}
	body = body[4:]
	resp := req.ResponseKind()
	if resp.IsFlexible() && req.Key() != apiVersionsKey {
		// The flexible response header's tagged fields.
		r := kbin.Reader{Src: body}
		for range r.Uvarint() {
			r.Uvarint()
			r.Span(int(r.Uvarint()))
		}
		if err := r.Complete(); err != nil {
			return nil, fmt.Errorf("response header from gateway %s: %w", addr, err)
		}
		body = r.Src
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode %T from gateway %s: %w", resp, addr, err)
	}
	return resp, nil
}
