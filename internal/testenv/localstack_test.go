package testenv_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
)

func TestLocalStack(t *testing.T) {
	start := time.Now()
	srv, err := testenv.StartLocalStack(t.Context())
	srv = testenv.RequireLocalStack(t, srv, err)
	t.Logf("localstack healthy at %s after %v", srv.Endpoint, time.Since(start))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("localstack output:\n%s", srv.Logs())
		}
	})
	if !strings.HasPrefix(srv.Endpoint, "http://127.0.0.1:") {
		t.Errorf("Endpoint = %q, want a loopback http URL", srv.Endpoint)
	}
	a, b := srv.NewBucket(t), srv.NewBucket(t)
	if a == b {
		t.Fatalf("NewBucket returned %q twice", a)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := http.Get(srv.Endpoint + "/_localstack/health"); err == nil {
		t.Fatal("server still answers after Stop")
	}
}

func TestLocalStackNotInstalled(t *testing.T) {
	t.Setenv("STRATA_LOCALSTACK_BIN", filepath.Join(t.TempDir(), "no-such-localstack"))
	_, err := testenv.StartLocalStack(t.Context())
	if !errors.Is(err, testenv.ErrLocalStackNotInstalled) {
		t.Fatalf("StartLocalStack without an installation: got %v, want ErrLocalStackNotInstalled", err)
	}
}

func TestLocalStackBinaryCacheDir(t *testing.T) {
	t.Setenv("STRATA_LOCALSTACK_BIN", "")
	cache := t.TempDir()
	t.Setenv("STRATA_CACHE_DIR", cache)
	want := filepath.Join(cache, "localstack", testenv.LocalStackVersion, "localstack")
	if got, err := testenv.LocalStackBinary(); got != want || !errors.Is(err, testenv.ErrLocalStackNotInstalled) {
		t.Fatalf("LocalStackBinary() = %q, %v; want %q, ErrLocalStackNotInstalled", got, err, want)
	}
}

// TestLocalStackVersionPinned checks that the installer installs the
// version testenv looks for.
func TestLocalStackVersionPinned(t *testing.T) {
	script, err := os.ReadFile("../../scripts/install-localstack.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^version=(\S+)$`).FindSubmatch(script)
	if m == nil || string(m[1]) != testenv.LocalStackVersion {
		t.Fatalf("scripts/install-localstack.sh pins version %q, testenv.LocalStackVersion is %q", m, testenv.LocalStackVersion)
	}
}
