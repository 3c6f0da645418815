package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// What the S3 servers (MinIO, LocalStack) share: a child process with its
// output kept for failure messages, a binary installed into the cache
// directory by a scripts/install-*.sh, and buckets made per test.

const (
	// serverLogLimit caps how much of a server's output is kept for failure
	// messages.
	serverLogLimit = 64 << 10
	// serverStopTimeout bounds waiting for a killed process to be reaped.
	serverStopTimeout = 10 * time.Second
	// bucketRemoveTimeout bounds deleting a test's bucket in its cleanup.
	bucketRemoveTimeout = 30 * time.Second
)

// S3Endpoint is what an S3 client needs to reach a test server.
type S3Endpoint struct {
	// Endpoint is the server's base URL, "http://127.0.0.1:PORT".
	Endpoint string
	// AccessKey and SecretKey are the credentials.
	AccessKey, SecretKey string
	// Region is the region the server reports and expects in signatures.
	Region string
}

// cacheDir returns where installers put what tests run: $STRATA_CACHE_DIR,
// else $XDG_CACHE_HOME/strata, else $HOME/.cache/strata (the rule of
// scripts/cache-dir.sh).
func cacheDir() (string, error) {
	if dir := os.Getenv("STRATA_CACHE_DIR"); dir != "" {
		return dir, nil
	}
	if dir := os.Getenv("XDG_CACHE_HOME"); dir != "" {
		return filepath.Join(dir, "strata"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("testenv: find cache directory: %w", err)
	}
	return filepath.Join(home, ".cache", "strata"), nil
}

// installedBinary returns $envVar if set, else the cache directory joined
// with rel. The error wraps notInstalled when no executable file is there.
func installedBinary(envVar string, notInstalled error, rel ...string) (string, error) {
	bin := os.Getenv(envVar)
	if bin == "" {
		cache, err := cacheDir()
		if err != nil {
			return "", err
		}
		bin = filepath.Join(append([]string{cache}, rel...)...)
	}
	info, err := os.Stat(bin)
	if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
		return bin, fmt.Errorf("%w at %s", notInstalled, bin)
	}
	return bin, nil
}

// freeLoopbackPorts returns n distinct ports that were free on 127.0.0.1. All
// listeners stay open until every port is picked, so the ports differ.
func freeLoopbackPorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testenv: pick a free port: %w", err)
		}
		defer l.Close() // closing a listener we only used to pick a port
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// process is a running server child process. Its owner calls kill (or sees
// exited closed) before dropping it.
type process struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd.Wait returned
	waitErr error         // cmd.Wait's result; read only after exited is closed
}

// startProcess starts cmd with its output going to log, and a goroutine,
// owned by the returned process, that reaps it.
func startProcess(cmd *exec.Cmd, log *tailLog) (*process, error) {
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testenv: start %s: %w", cmd.Path, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// kill stops the process at once (SIGKILL, to its whole process group if it
// leads one) and waits for it to be reaped. Killing a process that already
// exited is not an error.
func (p *process) kill() error {
	var err error
	if attr := p.cmd.SysProcAttr; attr != nil && attr.Setpgid {
		err = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			err = nil // the group is gone already
		}
	} else {
		err = p.cmd.Process.Kill()
		if errors.Is(err, os.ErrProcessDone) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("testenv: kill %s: %w", filepath.Base(p.cmd.Path), err)
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(serverStopTimeout):
		return fmt.Errorf("testenv: %s pid %d not reaped after kill", filepath.Base(p.cmd.Path), p.cmd.Process.Pid)
	}
}

// errExitedDuringStart marks a start attempt whose process exited before it
// was healthy. Start functions retry those with new ports: almost always,
// another process took a port between our picking it and the server
// binding it.
var errExitedDuringStart = errors.New("testenv: server exited during start")

// startAttempts bounds those retries.
const startAttempts = 3

// retryStart calls start until it succeeds, fails other than with
// errExitedDuringStart, or has been tried startAttempts times.
func retryStart[S any](start func() (S, error)) (S, error) {
	for attempt := 1; ; attempt++ {
		s, err := start()
		if err == nil || !errors.Is(err, errExitedDuringStart) || attempt == startAttempts {
			return s, err
		}
	}
}

// waitHealthy calls healthy every interval until it returns nil, p exits
// (an error wrapping errExitedDuringStart), ctx is done, or timeout passes.
// what and endpoint name the server in errors.
func (p *process) waitHealthy(ctx context.Context, what, endpoint string, timeout, interval time.Duration,
	healthy func(context.Context, *http.Client) error,
) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var last error
	for {
		if last = healthy(ctx, client); last == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%w: %s: %v", errExitedDuringStart, what, p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("testenv: %s at %s not healthy: %w (last: %v)", what, endpoint, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// envWithout returns the environment without the variables whose names
// start with one of prefixes, plus extra.
func envWithout(prefixes []string, extra ...string) []string {
	var env []string
outer:
	for _, kv := range os.Environ() {
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				continue outer
			}
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// serversRequired reports whether a missing server must fail tests: under CI.
func serversRequired() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI")) // unset or junk: not CI
	return ci
}

// requireStarted ends t unless startErr is nil: a server that is not
// installed (startErr wraps notInstalled) skips it with hint, unless CI=true,
// where that and every other start error fail it.
func requireStarted(t testing.TB, what string, startErr, notInstalled error, hint string) {
	t.Helper()
	switch {
	case startErr == nil:
	case errors.Is(startErr, notInstalled) && !serversRequired():
		t.Skipf("skipping: %v; %s", startErr, hint)
	default:
		t.Fatalf("start %s: %v", what, startErr)
	}
}

// testBuckets makes a bucket per test on one server, through minio-go, which
// speaks plain S3 for everything used here.
type testBuckets struct {
	ep S3Endpoint
	// forceDelete removes a bucket with its objects in one request, a MinIO
	// extension; without it, objects are deleted first.
	forceDelete bool
	n           atomic.Uint64 // names buckets uniquely
	stopped     atomic.Bool   // set when the server stops; cleanups then have nothing to do
}

// newBucket creates a bucket with a fresh name derived from t's name and
// returns the name. t.Cleanup deletes it with its objects, so a server
// shared by a package does not accumulate buckets (unless the server has
// been stopped by then, which removed it anyway).
func (b *testBuckets) newBucket(t testing.TB) string {
	t.Helper()
	client, err := b.client()
	if err != nil {
		t.Fatalf("s3 admin client: %v", err)
	}
	name := b.name(t.Name())
	if err := client.MakeBucket(t.Context(), name, minio.MakeBucketOptions{Region: b.ep.Region}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	t.Cleanup(func() {
		if b.stopped.Load() {
			return // the bucket went with the server
		}
		// t.Context is already done when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), bucketRemoveTimeout)
		defer cancel()
		if err := b.remove(ctx, client, name); err != nil {
			t.Errorf("remove bucket %s: %v", name, err)
		}
	})
	return name
}

func (b *testBuckets) remove(ctx context.Context, client *minio.Client, name string) error {
	if b.forceDelete {
		return client.RemoveBucketWithOptions(ctx, name, minio.RemoveBucketOptions{ForceDelete: true})
	}
	objects := client.ListObjects(ctx, name, minio.ListObjectsOptions{Recursive: true})
	var errs []error
	for rerr := range client.RemoveObjects(ctx, name, objects, minio.RemoveObjectsOptions{}) {
		errs = append(errs, fmt.Errorf("remove %s: %w", rerr.ObjectName, rerr.Err)) // drained, so its goroutine ends
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return client.RemoveBucket(ctx, name)
}

func (b *testBuckets) client() (*minio.Client, error) {
	u, err := url.Parse(b.ep.Endpoint)
	if err != nil {
		return nil, err
	}
	return minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(b.ep.AccessKey, b.ep.SecretKey, ""),
		Secure: false,
		Region: b.ep.Region,
	})
}

// name turns a test name into a valid, unique S3 bucket name: 3-63
// characters of [a-z0-9-], starting and ending with a letter or digit.
func (b *testBuckets) name(testName string) string {
	const maxStem = 32
	stem := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		default:
			return '-'
		}
	}, testName)
	stem = strings.Trim(stem[:min(len(stem), maxStem)], "-")
	var salt [3]byte
	_, _ = rand.Read(salt[:]) // crypto/rand.Read never fails on supported platforms
	return fmt.Sprintf("t-%s-%d-%s", stem, b.n.Add(1), hex.EncodeToString(salt[:]))
}

// tailLog keeps the last serverLogLimit bytes written to it. os/exec writes
// from its own goroutine, so it is locked.
type tailLog struct {
	mu  sync.Mutex
	buf []byte
}

func (l *tailLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if over := len(l.buf) - serverLogLimit; over > 0 {
		l.buf = append(l.buf[:0], l.buf[over:]...)
	}
	return len(p), nil
}

func (l *tailLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}
