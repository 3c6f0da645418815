// Package tlsfiles builds the TLS configuration of a listener from PEM files
// on disk: a certificate chain and its key, and optionally the CAs that sign
// client certificates (mutual TLS). The files are read again whenever they
// change, so that a certificate renewed on disk (cert-manager, certbot, a
// secrets agent) is served to new connections without a restart;
// connections already open keep the certificate they were set up with.
//
// A change is noticed by the files' size and modification time, checked at
// most once per CheckInterval, on a handshake: there is no goroutine to stop.
// A renewal that fails to load (a half-written file, a key that does not
// match) keeps the previous certificate and is retried at the next check;
// Config fails at start instead, so that a wrong path is never a silent
// fallback.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// CheckInterval is how often, at most, the files are checked for a change.
const CheckInterval = 5 * time.Second

// Files names the PEM files of a listener.
type Files struct {
	// CertFile holds the certificate chain, leaf first; KeyFile its key.
	CertFile, KeyFile string
	// ClientCAFile, if set, holds the CAs that sign client certificates,
	// which ClientAuth asks for.
	ClientCAFile string
	// ClientAuth is Kafka's ssl.client.auth: whether clients are asked for
	// a certificate signed by ClientCAFile. Needs ClientCAFile unless none.
	ClientAuth ClientAuth
}

// ClientAuth is Kafka's ssl.client.auth.
type ClientAuth string

// The ssl.client.auth values. A certificate that is sent is always
// verified; requested only lets a client send none.
const (
	ClientAuthNone      ClientAuth = "none"
	ClientAuthRequested ClientAuth = "requested"
	ClientAuthRequired  ClientAuth = "required"
)

// ParseClientAuth parses an ssl.client.auth value; empty is none.
func ParseClientAuth(s string) (ClientAuth, error) {
	switch a := ClientAuth(s); a {
	case "":
		return ClientAuthNone, nil
	case ClientAuthNone, ClientAuthRequested, ClientAuthRequired:
		return a, nil
	}
	return "", fmt.Errorf("ssl client auth %q: want none, requested or required", s)
}

func (a ClientAuth) tlsType() tls.ClientAuthType {
	switch a {
	case ClientAuthRequired:
		return tls.RequireAndVerifyClientCert
	case ClientAuthRequested:
		return tls.VerifyClientCertIfGiven
	}
	return tls.NoClientCert
}

// Config returns a server TLS configuration (TLS 1.2 and later) serving the
// files' certificate, reloaded as the package doc says. It fails if the
// files cannot be loaded now.
func Config(f Files, logger *slog.Logger) (*tls.Config, error) {
	cfg, _, err := newConfig(f, logger)
	return cfg, err
}

func newConfig(f Files, logger *slog.Logger) (*tls.Config, *reloader, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, nil, errors.New("tls: a certificate file and a key file are both needed")
	}
	if f.ClientAuth.tlsType() != tls.NoClientCert && f.ClientCAFile == "" {
		return nil, nil, fmt.Errorf("tls: client auth %s needs a client CA file", f.ClientAuth)
	}
	r := &reloader{files: f, log: logger, now: time.Now}
	if err := r.load(); err != nil {
		return nil, nil, err
	}
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return r.certificate(), nil },
	}
	if auth := f.ClientAuth.tlsType(); auth != tls.NoClientCert {
		// Client CAs are reloaded too: GetConfigForClient hands each
		// handshake the current pool.
		cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := cfg.Clone()
			c.GetConfigForClient = nil
			c.ClientAuth = auth
			c.ClientCAs = r.clientCAs()
			return c, nil
		}
	}
	return cfg, r, nil
}

type reloader struct {
	files Files
	log   *slog.Logger
	now   func() time.Time

	mu        sync.Mutex
	cert      *tls.Certificate
	cas       *x509.CertPool
	stamp     string // the files' sizes and modification times when loaded
	checkedAt time.Time
}

func (r *reloader) certificate() *tls.Certificate {
	r.maybeReload()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cert
}

func (r *reloader) clientCAs() *x509.CertPool {
	r.maybeReload()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cas
}

// maybeReload loads the files again if CheckInterval has passed since the
// last check and they changed.
func (r *reloader) maybeReload() {
	r.mu.Lock()
	now := r.now()
	due := now.Sub(r.checkedAt) >= CheckInterval
	if due {
		r.checkedAt = now
	}
	old := r.stamp
	r.mu.Unlock()
	if !due || stampOf(r.files) == old {
		return
	}
	if err := r.load(); err != nil {
		r.log.Warn("tls files changed but do not load; serving the previous certificate", "cert", r.files.CertFile, "err", err)
		return
	}
	r.log.Info("tls certificate reloaded", "cert", r.files.CertFile)
}

func (r *reloader) load() error {
	stamp := stampOf(r.files)
	cert, err := tls.LoadX509KeyPair(r.files.CertFile, r.files.KeyFile)
	if err != nil {
		return fmt.Errorf("tls: load %s and %s: %w", r.files.CertFile, r.files.KeyFile, err)
	}
	var cas *x509.CertPool
	if r.files.ClientCAFile != "" {
		pem, err := os.ReadFile(r.files.ClientCAFile)
		if err != nil {
			return fmt.Errorf("tls: client CAs: %w", err)
		}
		cas = x509.NewCertPool()
		if !cas.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tls: client CAs: no certificate in %s", r.files.ClientCAFile)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cert, r.cas, r.stamp = &cert, cas, stamp
	return nil
}

// stampOf sums up the files' sizes and modification times; a file that
// cannot be read stamps as missing.
func stampOf(f Files) string {
	var s string
	for _, name := range []string{f.CertFile, f.KeyFile, f.ClientCAFile} {
		if name == "" {
			continue
		}
		fi, err := os.Stat(name)
		if err != nil {
			s += name + ":missing;"
			continue
		}
		s += fmt.Sprintf("%s:%d:%d;", name, fi.Size(), fi.ModTime().UnixNano())
	}
	return s
}

// PeerConfig returns the client side of server (a Config) for gateways
// connecting to one another's listeners: they present the same certificate
// (kept current as server's is) and verify the other's against the
// system's roots and the client CAs, if any.
func PeerConfig(server *tls.Config, f Files) (*tls.Config, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if f.ClientCAFile != "" {
		pem, err := os.ReadFile(f.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: client CAs: %w", err)
		}
		roots.AppendCertsFromPEM(pem)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    roots,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return server.GetCertificate(nil)
		},
	}, nil
}
