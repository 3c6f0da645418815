package gateway

// Listeners. A gateway serves Kafka on one or more named listeners, as a Kafka
// broker does (listeners, advertised.listeners,
// listener.security.protocol.map): each has its own security protocol and the
// address it advertises, and a client is told, in Metadata and
// FindCoordinator, every gateway's address on the listener it connected to.
// The first listener is the inter-broker one: other gateways send their
// requests (transaction markers) to its advertised address.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
)

// SecurityProtocol is a listener's Kafka security protocol.
type SecurityProtocol string

// The security protocols, by Kafka's names.
const (
	Plaintext     SecurityProtocol = "PLAINTEXT"
	SSL           SecurityProtocol = "SSL"
	SASLPlaintext SecurityProtocol = "SASL_PLAINTEXT"
	SASLSSL       SecurityProtocol = "SASL_SSL"
)

// ParseSecurityProtocol parses one of Kafka's security protocol names.
func ParseSecurityProtocol(s string) (SecurityProtocol, error) {
	switch p := SecurityProtocol(s); p {
	case Plaintext, SSL, SASLPlaintext, SASLSSL:
		return p, nil
	}
	return "", fmt.Errorf("unknown security protocol %q (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", s)
}

// TLS reports whether connections to the listener use TLS.
func (p SecurityProtocol) TLS() bool { return p == SSL || p == SASLSSL }

// SASL reports whether clients must authenticate with SASL before any
// request but ApiVersions and the SASL handshake.
func (p SecurityProtocol) SASL() bool { return p == SASLPlaintext || p == SASLSSL }

// Listener is one named Kafka listener.
type Listener struct {
	// Name is the listener's name (PLAINTEXT, INTERNAL, ...), unique among
	// the gateway's listeners and the same on every gateway of a cluster,
	// since clients are told other gateways' addresses by it.
	Name string
	// Protocol is the listener's security protocol. For SSL and SASL_SSL,
	// Listener hands out *tls.Conn (tls.NewListener).
	Protocol SecurityProtocol
	// Listener accepts the connections.
	Listener net.Listener
	// Advertise is the host:port clients of this listener are given.
	// Default: the listener's address.
	Advertise string
}

// AnonymousPrincipal is the principal of connections that have not
// authenticated: PLAINTEXT ones, and SSL ones without a client certificate.
const AnonymousPrincipal = "User:ANONYMOUS"

// listener is a Listener as the server uses it.
type listener struct {
	Listener
	host string
	port int32
}

func newListener(l Listener) (*listener, error) {
	if l.Advertise == "" {
		l.Advertise = l.Listener.Addr().String()
	}
	host, port, err := splitHostPort(l.Advertise)
	if err != nil {
		return nil, fmt.Errorf("gateway: listener %s: advertised address %q: %w", l.Name, l.Advertise, err)
	}
	return &listener{Listener: l, host: host, port: port}, nil
}

func splitHostPort(addr string) (string, int32, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseInt(portStr, 10, 32)
	if err != nil || port <= 0 {
		return "", 0, fmt.Errorf("bad port %q", portStr)
	}
	return host, int32(port), nil
}

// tlsPrincipal is the principal of a TLS connection's verified client
// certificate, or AnonymousPrincipal when the client sent none.
func (s *Server) tlsPrincipal(cs tls.ConnectionState) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return AnonymousPrincipal, nil
	}
	name, err := s.cfg.SSLPrincipal(cs.PeerCertificates[0])
	if err != nil {
		return "", err
	}
	return "User:" + name, nil
}

// subjectDN is the default SSLPrincipal: the certificate's subject as an
// RFC 2253 distinguished name, most specific part first, as Kafka's default
// principal builder gives it ("CN=client,OU=eng,O=Example,C=US").
func subjectDN(cert *x509.Certificate) (string, error) {
	return cert.Subject.String(), nil
}
