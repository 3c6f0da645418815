package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority for tests: it issues certificates for
// 127.0.0.1, for servers and clients alike.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEM is the CA's certificate.
	PEM []byte
}

// NewCA returns a fresh CA named name, valid for an hour.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Issue returns a PEM certificate with the given common name and serial
// number, valid for 127.0.0.1, and its PEM key.
func (ca *CA) Issue(t testing.TB, cn string, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	now := time.Now()
	return ca.issue(t, cn, serial, now.Add(-time.Hour), now.Add(time.Hour))
}

// issue makes a certificate for cn valid from notBefore to notAfter.
func (ca *CA) issue(t testing.TB, cn string, serial int64, notBefore, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// IssueFiles writes Issue's certificate and key into dir as NAME.crt and
// NAME.key and returns their paths.
func (ca *CA) IssueFiles(t testing.TB, dir, name string, serial int64) (certFile, keyFile string) {
	t.Helper()
	c, k := ca.Issue(t, name, serial)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	for path, b := range map[string][]byte{certFile: c, keyFile: k} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// PEMFile writes ca's certificate to dir/ca.crt, for --ssl-client-ca-file
// and clients that take a CA file, and returns the path.
func (ca *CA) PEMFile(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(path, ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ClientConfig returns a TLS client configuration trusting ca, presenting a
// certificate ca issues for cn when cn is not empty.
func (ca *CA) ClientConfig(t testing.TB, cn string) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	cfg := &tls.Config{RootCAs: pool}
	if cn != "" {
		c, k := ca.Issue(t, cn, 100)
		cert, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

// IssueExpired is Issue for a certificate that expired a minute ago (and
// was valid for the hour before), within the CA's own validity, so that
// expiry is its only fault: a TLS peer that verifies it refuses it with
// x509.Expired.
func (ca *CA) IssueExpired(t testing.TB, cn string, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	now := time.Now()
	return ca.issue(t, cn, serial, now.Add(-time.Hour), now.Add(-time.Minute))
}

// ExpiredClientConfig is ClientConfig presenting a certificate for cn that
// IssueExpired made.
func (ca *CA) ExpiredClientConfig(t testing.TB, cn string) *tls.Config {
	t.Helper()
	cfg := ca.ClientConfig(t, "")
	cert, err := tls.X509KeyPair(ca.IssueExpired(t, cn, 101))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Certificates = []tls.Certificate{cert}
	return cfg
}
