package testenv_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
)

func TestMinIO(t *testing.T) {
	start := time.Now()
	srv := testenv.MinIO(t)
	t.Logf("minio healthy at %s after %v", srv.Endpoint, time.Since(start))
	if !strings.HasPrefix(srv.Endpoint, "http://127.0.0.1:") {
		t.Errorf("Endpoint = %q, want a loopback http URL", srv.Endpoint)
	}
	a, b := srv.NewBucket(t), srv.NewBucket(t)
	if a == b {
		t.Fatalf("NewBucket returned %q twice", a)
	}
	resp, err := http.Get(srv.Endpoint + "/minio/health/live")
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("live: %s", resp.Status)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := http.Get(srv.Endpoint + "/minio/health/live"); err == nil {
		t.Fatal("server still answers after Stop")
	}
}

func TestMinIOBinaryMissing(t *testing.T) {
	t.Setenv("STRATA_MINIO_BIN", filepath.Join(t.TempDir(), "no-such-minio"))
	_, err := testenv.StartMinIO(t.Context())
	if !errors.Is(err, testenv.ErrMinIONotInstalled) {
		t.Fatalf("StartMinIO without a binary: got %v, want ErrMinIONotInstalled", err)
	}
}

func TestMinIOBinaryCacheDir(t *testing.T) {
	t.Setenv("STRATA_MINIO_BIN", "")
	cache := t.TempDir()
	t.Setenv("STRATA_CACHE_DIR", cache)
	bin := filepath.Join(cache, "minio", testenv.MinIOVersion, "minio")
	if got, err := testenv.MinIOBinary(); got != bin || !errors.Is(err, testenv.ErrMinIONotInstalled) {
		t.Fatalf("MinIOBinary() = %q, %v; want %q, ErrMinIONotInstalled", got, err, bin)
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := testenv.MinIOBinary(); got != bin || err != nil {
		t.Fatalf("MinIOBinary() = %q, %v; want %q, nil", got, err, bin)
	}

	t.Setenv("STRATA_CACHE_DIR", "")
	xdg := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", xdg)
	want := filepath.Join(xdg, "strata", "minio", testenv.MinIOVersion, "minio")
	if got, _ := testenv.MinIOBinary(); got != want {
		t.Fatalf("MinIOBinary() with XDG_CACHE_HOME = %q, want %q", got, want)
	}
}

func TestCheckFor(t *testing.T) {
	calls := 0
	testenv.CheckFor(t, time.Second, time.Millisecond, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 {
		t.Fatalf("f called %d times, want 3", calls)
	}
}
