package s3_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/objstore/objstoretest"
	"github.com/stratalog/strata/tiered/objstore/s3"
)

// One MinIO process and one LocalStack process (a second, independent S3
// implementation) serve every test in the package; each test gets its own
// bucket. The servers and their start errors are written once, in TestMain,
// before any test.
var (
	minio         *testenv.MinIOServer
	minioErr      error
	localStack    *testenv.LocalStackServer
	localStackErr error
)

func TestMain(m *testing.M) {
	// Started side by side: LocalStack takes seconds of Python imports.
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Go(func() { minio, minioErr = testenv.StartMinIO(ctx) })
	wg.Go(func() { localStack, localStackErr = testenv.StartLocalStack(ctx) })
	wg.Wait()
	code := m.Run()
	if minio != nil {
		if err := minio.Stop(); err != nil {
			os.Stderr.WriteString("stop minio: " + err.Error() + "\n")
			code = 1
		}
	}
	if localStack != nil {
		if err := localStack.Stop(); err != nil {
			os.Stderr.WriteString("stop localstack: " + err.Error() + "\n")
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
	return configFor(srv.S3Endpoint, srv.NewBucket(t))
}

// localStackConfig is config on the package's LocalStack.
func localStackConfig(t *testing.T) s3.Config {
	t.Helper()
	srv := testenv.RequireLocalStack(t, localStack, localStackErr)
	return configFor(srv.S3Endpoint, srv.NewBucket(t))
}

func configFor(ep testenv.S3Endpoint, bucket string) s3.Config {
	return s3.Config{
		Endpoint:  ep.Endpoint,
		Bucket:    bucket,
		Region:    ep.Region,
		PathStyle: true,
		AccessKey: ep.AccessKey,
		SecretKey: ep.SecretKey,
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

func TestAcceptance(t *testing.T) { runAcceptance(t, config, "") }

// TestAcceptancePrefix runs the suite again with a key prefix, which every
// method must add and List must strip.
func TestAcceptancePrefix(t *testing.T) { runAcceptance(t, config, "tenant-a") }

// TestAcceptanceLocalStack and TestAcceptancePrefixLocalStack run the suite
// against LocalStack's S3, so that the S3 code is checked against more than
// one server's reading of the API.
func TestAcceptanceLocalStack(t *testing.T) { runAcceptance(t, localStackConfig, "") }

func TestAcceptancePrefixLocalStack(t *testing.T) { runAcceptance(t, localStackConfig, "tenant-a") }

func runAcceptance(t *testing.T, config func(*testing.T) s3.Config, prefix string) {
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
		cfg := config(t)
		cfg.Prefix = prefix // New appends the '/'
		return newBucket(t, cfg)
	})
}

func TestPrefixIsolation(t *testing.T) { testPrefixIsolation(t, config(t)) }

func TestPrefixIsolationLocalStack(t *testing.T) { testPrefixIsolation(t, localStackConfig(t)) }

func testPrefixIsolation(t *testing.T, cfg s3.Config) {
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

func TestCreateBucket(t *testing.T) { testCreateBucket(t, config(t)) }

func TestCreateBucketLocalStack(t *testing.T) { testCreateBucket(t, localStackConfig(t)) }

func testCreateBucket(t *testing.T, cfg s3.Config) {
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
