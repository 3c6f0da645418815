package gateway

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzSASLConnection writes arbitrary bytes as one client connection's input
// to a SASL_PLAINTEXT listener, after seeds of the handshake and
// authenticate requests at every version, bare v0 tokens and SCRAM
// messages.
//
// Invariants: serving never panics, the gateway still answers a new
// connection afterwards, and an input without alice's password never gets
// past the gate: the gateway decodes no request of it but ApiVersions,
// SaslHandshake and SaslAuthenticate (its request counters say so).
func FuzzSASLConnection(f *testing.F) {
	g := startSASLGateway(f, newBackend(f, 0), saslOpts{reauth: time.Minute})
	upsertUsers(f, g.admin(f), kadm.UpsertSCRAM{User: "alice", Mechanism: kadm.ScramSha256, Password: "alice-pw"})
	format := func(corr int32, req kmsg.Request) []byte {
		return kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz")).AppendRequest(nil, req, corr)
	}
	bare := func(token string) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(token))), token...)
	}
	// Correlation ids: 1 ApiVersions, 2 SaslHandshake, 3 SaslAuthenticate,
	// 100 Metadata (served only after a login).
	for _, v := range []int16{0, 1} {
		for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI"} {
			in := format(1, kmsg.NewPtrApiVersionsRequest())
			in = append(in, format(2, handshake(v, mech))...)
			for _, tok := range []string{"\x00alice\x00alice-pw", "\x00alice\x00wrong", "n,,n=alice,r=abc", "n,,n=alice,r=abc,tokenauth=true"} {
				if v == 0 {
					f.Add(append(append([]byte(nil), in...), bare(tok)...))
					continue
				}
				for av := int16(0); av <= 2; av++ {
					f.Add(append(append(append([]byte(nil), in...), format(3, authenticate(av, tok))...), format(100, metadata())...))
				}
			}
		}
	}
	f.Add(format(100, metadata()))
	f.Add(format(3, authenticate(2, "\x00alice\x00alice-pw")))

	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.DialTimeout("tcp", g.saslAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		before := gatedRequests(t, g)
		if _, err := c.Write(in); err == nil {
			_ = c.(*net.TCPConn).CloseWrite()
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, _ = io.Copy(io.Discard, c)
		if n := g.logs.panics(); n > 0 {
			t.Fatalf("%d panics while serving %q", n, in)
		}
		if got := gatedRequests(t, g); got != before && !bytes.Contains(in, []byte("alice-pw")) {
			t.Fatalf("input without the password had %v requests past the gate: %q", got-before, in)
		}
		requireServing(t, g.saslAddr)
	})
}

// gatedRequests counts the requests the gateway has decoded other than
// those served before a login.
func gatedRequests(t *testing.T, g *saslGateway) float64 {
	t.Helper()
	n := 0.0
	for api, c := range g.requestCounts(t) {
		switch api {
		case kmsg.NameForKey(apiVersionsKey), kmsg.NameForKey(saslHandshakeKey), kmsg.NameForKey(saslAuthenticateKey):
		default:
			n += c
		}
	}
	return n
}
