package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
)

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// serve accepts TLS connections on a loopback listener and completes their
// handshakes until the test ends.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Write([]byte("x"))
			}()
		}
	}()
	return ln.Addr().String()
}

// served dials addr and returns the serial number of the server's leaf.
func served(t *testing.T, addr string, client *tls.Config) (int64, error) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, client)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 1)
	if _, err := c.Read(buf); err != nil {
		return 0, err
	}
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64(), nil
}

// TestReloadsRenewedCertificate: a certificate replaced on disk is served to
// the next connection once the check interval has passed; a broken
// replacement keeps the previous one; TLS 1.1 is refused.
func TestReloadsRenewedCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t, "ca")
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c, k := ca.Issue(t, "gateway", 10)
	write(t, certFile, c)
	write(t, keyFile, k)
	cfg, r, err := newConfig(Files{CertFile: certFile, KeyFile: keyFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The test moves the reloader's clock instead of sleeping.
	clock := time.Now()
	r.mu.Lock()
	r.now = func() time.Time { return clock }
	r.mu.Unlock()
	addr := serve(t, cfg)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	client := &tls.Config{RootCAs: pool}
	if serial, err := served(t, addr, client); err != nil || serial != 10 {
		t.Fatalf("first certificate: serial %d, %v", serial, err)
	}

	c, k = ca.Issue(t, "gateway", 11)
	write(t, certFile, c)
	write(t, keyFile, k)
	clock = clock.Add(CheckInterval)
	if serial, err := served(t, addr, client); err != nil || serial != 11 {
		t.Fatalf("after renewal: serial %d, %v; want 11", serial, err)
	}

	write(t, keyFile, []byte("not a key"))
	clock = clock.Add(CheckInterval)
	if serial, err := served(t, addr, client); err != nil || serial != 11 {
		t.Fatalf("after a broken renewal: serial %d, %v; want the previous, 11", serial, err)
	}

	old := client.Clone()
	old.MaxVersion = tls.VersionTLS11
	if _, err := served(t, addr, old); err == nil {
		t.Fatal("a TLS 1.1 client connected")
	}
}

// TestMutualTLS: with client CAs, a client without a certificate, or with
// one from another CA, is refused; one signed by the CA connects.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, other := testenv.NewCA(t, "ca"), testenv.NewCA(t, "other")
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")
	c, k := ca.Issue(t, "gateway", 10)
	write(t, certFile, c)
	write(t, keyFile, k)
	write(t, caFile, ca.PEM)
	cfg, err := Config(Files{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile, ClientAuth: ClientAuthRequired}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, cfg)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	if _, err := served(t, addr, &tls.Config{RootCAs: pool}); err == nil {
		t.Fatal("a client without a certificate connected")
	}
	for _, tc := range []struct {
		name   string
		issuer *testenv.CA
		ok     bool
	}{{"other", other, false}, {"ca", ca, true}} {
		cp, kp := tc.issuer.Issue(t, "client", 20)
		cert, err := tls.X509KeyPair(cp, kp)
		if err != nil {
			t.Fatal(err)
		}
		_, err = served(t, addr, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}})
		if (err == nil) != tc.ok {
			t.Fatalf("client certificate from %s: err %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestConfigRefusesMissingFiles(t *testing.T) {
	if _, err := Config(Files{CertFile: "nope.crt", KeyFile: "nope.key"}, nil); err == nil {
		t.Fatal("Config loaded files that do not exist")
	}
	if _, err := Config(Files{CertFile: "only.crt"}, nil); err == nil {
		t.Fatal("Config accepted a certificate without a key")
	}
}
