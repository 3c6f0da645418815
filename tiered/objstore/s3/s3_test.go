package s3_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/objstore/objstoretest"
	"github.com/stratalog/strata/tiered/objstore/s3"
)

// One MinIO process serves every test in the package; each test gets its own
// bucket. minio and minioErr are written once, in TestMain, before any test.
var (
	minio    *testenv.MinIOServer
	minioErr error
)

func TestMain(m *testing.M) {
	minio, minioErr = testenv.StartMinIO(context.Background())
	code := m.Run()
	if minio != nil {
		if err := minio.Stop(); err != nil {
			os.Stderr.WriteString("stop minio: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// config returns a Config for a fresh bucket on the package's MinIO, or
// skips (locally) or fails (CI) t when MinIO is not installed.
func config(t *testing.T) s3.Config {
	t.Helper()
	srv := testenv.RequireMinIO(t, minio, minioErr)
	return s3.Config{
		Endpoint:  srv.Endpoint,
		Bucket:    srv.NewBucket(t),
		Region:    srv.Region,
		PathStyle: true,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
	}
}

func newBucket(t *testing.T, cfg s3.Config) *s3.Bucket {
	t.Helper()
	b, err := s3.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("s3.New: %v", err)
	}
	return b
}

func TestAcceptance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket { return newBucket(t, config(t)) })
}

// TestAcceptancePrefix runs the suite again with a key prefix, which every
// method must add and List must strip.
func TestAcceptancePrefix(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
		cfg := config(t)
		cfg.Prefix = "tenant-a" // New appends the '/'
		return newBucket(t, cfg)
	})
}

func TestPrefixIsolation(t *testing.T) {
	cfg := config(t)
	a, b := cfg, cfg
	a.Prefix, b.Prefix = "a/", "b/"
	ba, bb := newBucket(t, a), newBucket(t, b)
	ctx := t.Context()
	if err := ba.Put(ctx, "k", strings.NewReader("from a"), 6); err != nil {
		t.Fatal(err)
	}
	if err := bb.Put(ctx, "k", strings.NewReader("from b"), 6); err != nil {
		t.Fatalf("Put of the same key under another prefix: %v", err)
	}
	whole := newBucket(t, cfg)
	var keys []string
	if err := whole.List(ctx, "", func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "a/k,b/k" {
		t.Fatalf("unprefixed List = %q, want [a/k b/k]", keys)
	}
	keys = nil
	if err := ba.List(ctx, "", func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "k" {
		t.Fatalf("List under prefix a/ = %q, want [k]", keys)
	}
}

func TestCreateBucket(t *testing.T) {
	cfg := config(t)
	cfg.Bucket += "-new"
	ctx := t.Context()

	// Without CreateBucket, New makes no request; a missing bucket is not
	// confused with a missing object (except by Size: see the package doc).
	b := newBucket(t, cfg)
	if err := b.Put(ctx, "k", bytes.NewReader([]byte("v")), 1); err == nil {
		t.Fatal("Put into a missing bucket succeeded")
	}
	_, err := b.GetRange(ctx, "k", 0, -1)
	if err == nil || errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("GetRange in a missing bucket: got %v, want a non-ErrNotExist error", err)
	}

	cfg.CreateBucket = true
	b = newBucket(t, cfg)
	t.Cleanup(func() {
		// The bucket is ours, not NewBucket's: empty and remove it.
		ctx := context.Background()
		if err := b.Delete(ctx, "k"); err != nil {
			t.Error(err)
		}
	})
	if err := b.Put(ctx, "k", bytes.NewReader([]byte("v")), 1); err != nil {
		t.Fatalf("Put into a created bucket: %v", err)
	}
	newBucket(t, cfg) // creating an existing bucket is fine
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  s3.Config
	}{
		{"no bucket", s3.Config{}},
		{"negative attempts", s3.Config{Bucket: "b", MaxAttempts: -1}},
		{"access key without secret", s3.Config{Bucket: "b", AccessKey: "k"}},
		{"secret without access key", s3.Config{Bucket: "b", SecretKey: "s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s3.New(t.Context(), tc.cfg); err == nil {
				t.Fatalf("New(%+v) succeeded, want an error", tc.cfg)
			}
		})
	}
}
