package httpauth

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/security/sasl"
)

type memCredentials struct {
	mu    sync.Mutex
	creds map[string]sasl.Credential // by user
}

func (m *memCredentials) Credential(_ context.Context, user, mechanism string) (sasl.Credential, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.creds[user]
	if !ok || c.Mechanism != mechanism {
		return sasl.Credential{}, false, nil
	}
	return c, true, nil
}

func (m *memCredentials) set(t *testing.T, user, password string) {
	c, err := sasl.NewCredential(sasl.ScramSHA512, password, 4096)
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.creds[user] = c
}

func TestBasicAuth(t *testing.T) {
	creds := &memCredentials{creds: map[string]sasl.Credential{}}
	creds.set(t, "alice", "alice-secret")
	a, err := New(Config{Credentials: creds, Open: func(r *http.Request) bool { return r.URL.Path == "/healthz" }})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	a.now = func() time.Time { return now }
	srv := httptest.NewServer(a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := Principal(r.Context())
		if !ok {
			p = "none"
		}
		_, _ = io.WriteString(w, p)
	})))
	defer srv.Close()

	get := func(path, user, password string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("401 without a challenge")
		}
		return resp.StatusCode, string(body)
	}
	for _, tc := range []struct {
		path, user, password string
		code                 int
		body                 string
	}{
		{"/metrics", "alice", "alice-secret", 200, "User:alice"},
		{"/metrics", "alice", "wrong", 401, ""},
		{"/metrics", "mallory", "alice-secret", 401, ""},
		{"/metrics", "", "", 401, ""},
		{"/healthz", "", "", 200, "none"},
	} {
		code, body := get(tc.path, tc.user, tc.password)
		if code != tc.code || tc.body != "" && body != tc.body {
			t.Errorf("GET %s as %q/%q: %d %q, want %d %q", tc.path, tc.user, tc.password, code, body, tc.code, tc.body)
		}
	}

	// A changed password: the old one is remembered for CacheTTL, then not.
	creds.set(t, "alice", "new-secret")
	if code, _ := get("/metrics", "alice", "alice-secret"); code != 200 {
		t.Errorf("old password within the cache TTL: %d", code)
	}
	if code, _ := get("/metrics", "alice", "new-secret"); code != 200 {
		t.Errorf("new password: %d", code)
	}
	now = now.Add(DefaultCacheTTL + time.Second)
	if code, _ := get("/metrics", "alice", "alice-secret"); code != 401 {
		t.Errorf("old password after the cache TTL: %d", code)
	}
}
