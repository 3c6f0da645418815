package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheckServingGateway(t *testing.T) {
	_, httpAddr := startServeAddrs(t)
	var out, errOut bytes.Buffer
	noEnv := func(string) (string, bool) { return "", false }
	if code := healthcheck([]string{"--http", httpAddr}, noEnv, &out, &errOut); code != 0 {
		t.Fatalf("healthcheck of a serving gateway exited %d: %s", code, errOut.String())
	}
	// The address comes from STRATA_HTTP_LISTEN when no flag names it, and
	// an unspecified host is asked on loopback.
	_, port, _ := net.SplitHostPort(httpAddr)
	env := func(k string) (string, bool) { return "0.0.0.0:" + port, k == "STRATA_HTTP_LISTEN" }
	if code := healthcheck(nil, env, &out, &errOut); code != 0 {
		t.Fatalf("healthcheck from STRATA_HTTP_LISTEN exited %d: %s", code, errOut.String())
	}
}

func TestHealthcheckUnhealthy(t *testing.T) {
	unhealthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not serving", http.StatusServiceUnavailable)
	}))
	defer unhealthy.Close()
	noEnv := func(string) (string, bool) { return "", false }
	var out, errOut bytes.Buffer
	if code := healthcheck([]string{"--http", unhealthy.Listener.Addr().String()}, noEnv, &out, &errOut); code != 1 {
		t.Fatalf("healthcheck of a 503 exited %d, want 1", code)
	}
	if !strings.Contains(errOut.String(), "503") {
		t.Errorf("message %q does not name the status", errOut.String())
	}

	// Nothing listening: exit 1, not a hang.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	if code := healthcheck([]string{"--http", closed, "--timeout", "2s"}, noEnv, &out, &errOut); code != 1 {
		t.Fatalf("healthcheck of a closed port exited %d, want 1", code)
	}
	if code := healthcheck([]string{"--http", "no-port"}, noEnv, &out, &errOut); code != 2 {
		t.Fatalf("healthcheck of a bad address exited %d, want 2", code)
	}
}
