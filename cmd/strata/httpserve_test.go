package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
)

// startHTTPServe runs serve in the test's process with args and returns its
// admin and schema registry addresses once they serve.
func startHTTPServe(t *testing.T, args ...string) (httpAddr, registryAddr string) {
	t.Helper()
	cfg, err := parseServeFlags(append([]string{"--listeners", "PLAINTEXT://127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--schema-registry-listen", "127.0.0.1:0", "--embedded-nats-listen", "", "--data-dir", t.TempDir(), "--log-level", "warn"}, args...),
		func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	served, registry := make(chan string, 1), make(chan string, 1)
	cfg.onServing = func(_, http net.Addr) { served <- http.String() }
	cfg.onRegistry = func(a net.Addr) { registry <- a.String() }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, io.Discard) }()
	t.Cleanup(func() { cancel(); <-done })
	for range 2 {
		select {
		case httpAddr = <-served:
		case registryAddr = <-registry:
		case err := <-done:
			t.Fatalf("serve: %v", err)
		case <-time.After(time.Minute):
			t.Fatal("serve did not start")
		}
	}
	return httpAddr, registryAddr
}

// --http-tls puts the admin endpoint and the schema registry behind HTTPS;
// /debug/pprof is served on a loopback admin listener.
func TestHTTPTLSAndPprof(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t, "http-ca")
	certFile, keyFile := ca.IssueFiles(t, dir, "gateway", 2)
	httpAddr, registryAddr := startHTTPServe(t, "--http-tls", "--ssl-cert-file", certFile, "--ssl-key-file", keyFile)

	tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: ca.ClientConfig(t, "")}}
	get := func(c *http.Client, url string) (int, string, error) {
		resp, err := c.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	testenv.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		_, _, err := get(tlsClient, "https://"+httpAddr+"/healthz")
		return err
	})
	for _, url := range []string{"https://" + httpAddr + "/metrics", "https://" + httpAddr + "/debug/pprof/", "https://" + registryAddr + "/subjects"} {
		if code, body, err := get(tlsClient, url); err != nil || code != 200 {
			t.Errorf("GET %s: %d %.80q, %v", url, code, body, err)
		}
	}
	if _, _, err := get(&http.Client{Timeout: 5 * time.Second}, "http://"+registryAddr+"/subjects"); err == nil {
		// A TLS server answers plain HTTP with a 400 of its own; what
		// matters is that no registry answer comes back in the clear.
		code, body, _ := get(&http.Client{Timeout: 5 * time.Second}, "http://"+registryAddr+"/subjects")
		if code == 200 {
			t.Errorf("plain HTTP to the registry: %d %q", code, body)
		}
	}
}

// A non-loopback admin listener without a login serves no profiles.
func TestPprofNotOnOpenListener(t *testing.T) {
	f := httpFront{auth: httpAuthNone}
	for addr, want := range map[string]bool{"127.0.0.1:9644": true, "localhost:9644": true, "[::1]:9644": true, "0.0.0.0:9644": false, ":9644": false, "10.0.0.5:9644": false} {
		if got := f.pprofAllowed(addr); got != want {
			t.Errorf("pprof on %s without a login: %v, want %v", addr, got, want)
		}
	}
	if f := (httpFront{auth: httpAuthBasic}); !f.pprofAllowed("0.0.0.0:9644") {
		t.Error("pprof behind a login refused")
	}
}
