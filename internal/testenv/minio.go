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

// MinIOVersion is the pinned github.com/minio/minio module version. `make
// test` installs it with scripts/install-minio.sh into the cache directory
// where MinIOBinary looks for it.
const MinIOVersion = "v0.0.0-20260212201848-7aac2a2c5b7c"

// Root credentials and region of every test MinIO server.
const (
	MinIOAccessKey = "strata-test"
	MinIOSecretKey = "strata-test-secret"
	MinIORegion    = "us-east-1"
)

const (
	// minioStartTimeout bounds one start attempt, from exec to healthy. A
	// cold start on a loaded two-core CI machine takes a few seconds.
	minioStartTimeout = 30 * time.Second
	// minioPollInterval is how often the health endpoints are polled.
	minioPollInterval = 50 * time.Millisecond
	// minioStartAttempts bounds retries when the process exits during start,
	// which is almost always another process taking a port between our
	// picking it and MinIO binding it.
	minioStartAttempts = 3
	// minioLogLimit caps how much of MinIO's output is kept for failure
	// messages.
	minioLogLimit = 64 << 10
	// minioStopTimeout bounds waiting for the killed process to be reaped.
	minioStopTimeout = 10 * time.Second
)

// ErrMinIONotInstalled is returned by StartMinIO when the MinIO binary is not
// where MinIOBinary says. Outside CI, tests skip on it.
var ErrMinIONotInstalled = errors.New("testenv: minio binary not installed")

// MinIOServer is a MinIO process serving plain HTTP on 127.0.0.1 with a
// throw-away data directory. Its exported fields are what an S3 client needs.
type MinIOServer struct {
	// Endpoint is the server's base URL, "http://127.0.0.1:PORT".
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string
	// Region is the region the server reports and expects in signatures.
	Region string

	dir     string        // temp dir with data and certs; removed by Stop
	cmd     *exec.Cmd     // the running process
	exited  chan struct{} // closed once cmd.Wait returned
	waitErr error         // cmd.Wait's result; read only after exited is closed
	log     *minioLog
	buckets atomic.Uint64 // names NewBucket's buckets uniquely
	stopped atomic.Bool   // set when Stop starts; NewBucket's cleanups then have nothing to do
	stop    sync.Once
	stopErr error // set inside stop
	// down is set by Kill and cleared by Restart, so that Stop does not
	// report the killed process as having died on its own.
	down bool
}

// MinIOBinary returns the path of the MinIO binary tests run: $STRATA_MINIO_BIN
// if set, else <cache>/minio/<MinIOVersion>/minio, where <cache> is
// $STRATA_CACHE_DIR, else $XDG_CACHE_HOME/strata, else $HOME/.cache/strata
// (the same rule as scripts/install-minio.sh). The error wraps
// ErrMinIONotInstalled when no executable file is there.
func MinIOBinary() (string, error) {
	bin := os.Getenv("STRATA_MINIO_BIN")
	if bin == "" {
		cache, err := minioCacheDir()
		if err != nil {
			return "", err
		}
		bin = filepath.Join(cache, "minio", MinIOVersion, "minio")
	}
	info, err := os.Stat(bin)
	if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
		return bin, fmt.Errorf("%w at %s", ErrMinIONotInstalled, bin)
	}
	return bin, nil
}

func minioCacheDir() (string, error) {
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

// StartMinIO starts a MinIO server on random free loopback ports with a
// fresh temp data directory and returns once it reports healthy. The caller
// must call Stop. It is meant for TestMain, to share one server per package;
// tests use MinIO or RequireMinIO. The error wraps ErrMinIONotInstalled when
// the binary is missing.
func StartMinIO(ctx context.Context) (*MinIOServer, error) {
	bin, err := MinIOBinary()
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		s, err := startMinIOOnce(ctx, bin)
		if err == nil || !errors.Is(err, errMinIOExited) || attempt == minioStartAttempts {
			return s, err
		}
	}
}

// errMinIOExited marks a start attempt whose process exited before it was
// healthy; StartMinIO retries those with new ports.
var errMinIOExited = errors.New("testenv: minio exited during start")

// startMinIOOnce starts one process in a new temp dir, which Stop (also on
// failure here) removes.
func startMinIOOnce(ctx context.Context, bin string) (*MinIOServer, error) {
	ports, err := freeLoopbackPorts(2)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "strata-minio-")
	if err != nil {
		return nil, fmt.Errorf("testenv: minio temp dir: %w", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	s := &MinIOServer{
		Endpoint:  "http://" + addr,
		AccessKey: MinIOAccessKey,
		SecretKey: MinIOSecretKey,
		Region:    MinIORegion,
		dir:       dir,
		exited:    make(chan struct{}),
		log:       &minioLog{},
	}
	s.cmd = exec.Command(bin, "server",
		"--address", addr,
		"--console-address", "127.0.0.1:"+strconv.Itoa(ports[1]),
		"--certs-dir", filepath.Join(dir, "certs"), // keep MinIO out of $HOME
		filepath.Join(dir, "data"))
	s.cmd.Env = minioEnv()
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	if err := s.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir) // best effort; the start error is the one to report
		return nil, fmt.Errorf("testenv: start %s: %w", bin, err)
	}
	go func() { // owned by s: Stop waits for exited
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitHealthy(ctx); err != nil {
		_ = s.Stop() // the health error is the one to report
		return nil, fmt.Errorf("%w\nminio output:\n%s", err, s.Logs())
	}
	return s, nil
}

// minioEnv is the environment without inherited MINIO_ settings, plus ours.
func minioEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"MINIO_ROOT_USER="+MinIOAccessKey,
		"MINIO_ROOT_PASSWORD="+MinIOSecretKey,
		"MINIO_SITE_REGION="+MinIORegion,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=on", // allow a data dir on the root disk, as in CI containers
	)
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

// waitHealthy polls the liveness and readiness endpoints until both answer
// 200, the process exits, ctx is done, or minioStartTimeout passes.
func (s *MinIOServer) waitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, minioStartTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(minioPollInterval)
	defer tick.Stop()
	var last error
	for {
		if last = s.health(ctx, client); last == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("%w: %v", errMinIOExited, s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("testenv: minio at %s not healthy: %w (last: %v)", s.Endpoint, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func (s *MinIOServer) health(ctx context.Context, client *http.Client) error {
	for _, path := range []string{"/minio/health/live", "/minio/health/ready"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+path, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close() // empty body
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
	}
	return nil
}

// Stop kills the server, waits for the process to exit and removes its data
// directory. It is safe to call more than once and returns the first call's
// result: an error if the process had already died on its own, or if the
// directory could not be removed.
func (s *MinIOServer) Stop() error {
	s.stop.Do(func() {
		s.stopped.Store(true)
		select {
		case <-s.exited:
			if s.down {
				break // Kill stopped it
			}
			s.stopErr = fmt.Errorf("testenv: minio exited unexpectedly: %v\nminio output:\n%s", s.waitErr, s.Logs())
		default:
			// Kill, not a graceful signal: the data is thrown away, and
			// MinIO's graceful shutdown waits for idle connections.
			if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				s.stopErr = fmt.Errorf("testenv: kill minio: %w", err)
				return
			}
			select {
			case <-s.exited:
			case <-time.After(minioStopTimeout):
				s.stopErr = fmt.Errorf("testenv: minio pid %d not reaped after kill", s.cmd.Process.Pid)
				return
			}
		}
		if err := os.RemoveAll(s.dir); err != nil && s.stopErr == nil {
			s.stopErr = fmt.Errorf("testenv: remove minio dir: %w", err)
		}
	})
	return s.stopErr
}

// Pause freezes the server with SIGSTOP: the kernel still accepts its
// connections, but every request hangs unanswered, as with a store that
// stopped responding without closing anything. Resume thaws it. Pause, Resume,
// Kill, Restart and Stop must not be called concurrently.
func (s *MinIOServer) Pause() error {
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("testenv: pause minio: %w", err)
	}
	return nil
}

// Resume thaws a server frozen by Pause (SIGCONT).
func (s *MinIOServer) Resume() error {
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return fmt.Errorf("testenv: resume minio: %w", err)
	}
	return nil
}

// Kill stops the server at once (SIGKILL) and waits for it to exit, keeping
// its address and data directory for Restart: clients meanwhile have their
// connections reset and new ones refused.
func (s *MinIOServer) Kill() error {
	s.down = true
	if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("testenv: kill minio: %w", err)
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(minioStopTimeout):
		return fmt.Errorf("testenv: minio pid %d not reaped after kill", s.cmd.Process.Pid)
	}
}

// Restart starts a server stopped by Kill again, with the same command line
// (address, data directory, credentials), and returns once it is healthy.
// Its buckets and objects are those it had when killed.
func (s *MinIOServer) Restart(ctx context.Context) error {
	if !s.down {
		return errors.New("testenv: restart minio: not killed")
	}
	<-s.exited // Kill waited for it
	cmd := exec.Command(s.cmd.Path, s.cmd.Args[1:]...)
	cmd.Env, cmd.Stdout, cmd.Stderr = s.cmd.Env, s.log, s.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testenv: restart minio: %w", err)
	}
	exited := make(chan struct{})
	s.cmd, s.exited, s.waitErr, s.down = cmd, exited, nil, false
	go func() { // owned by s: Stop waits for exited
		err := cmd.Wait()
		s.waitErr = err
		close(exited)
	}()
	return s.waitHealthy(ctx)
}

// Logs returns the tail of the server's output, for failure messages.
func (s *MinIOServer) Logs() string { return s.log.String() }

// MinIO starts a MinIO server for t alone and stops it in t.Cleanup, logging
// its output if t failed. Prefer one server per package, from StartMinIO in
// TestMain with RequireMinIO in each test; MinIO suits a test that needs a
// server to itself (to stop it, say).
//
// When the binary is missing, MinIO skips t with a hint to run `make test`,
// or fails it when CI=true.
func MinIO(t testing.TB) *MinIOServer {
	t.Helper()
	s, err := StartMinIO(t.Context())
	s = RequireMinIO(t, s, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("minio output:\n%s", s.Logs())
		}
		if err := s.Stop(); err != nil {
			t.Errorf("stop minio: %v", err)
		}
	})
	return s
}

// RequireMinIO returns s when startErr (StartMinIO's error) is nil. Otherwise
// it ends the test: a missing binary skips it with a hint to run `make test`,
// unless CI=true, where that and every other start error fail it.
func RequireMinIO(t testing.TB, s *MinIOServer, startErr error) *MinIOServer {
	t.Helper()
	switch {
	case startErr == nil:
		return s
	case errors.Is(startErr, ErrMinIONotInstalled) && !minioRequired():
		t.Skipf("skipping: %v; run `make test` to install MinIO %s (or set STRATA_MINIO_BIN)", startErr, MinIOVersion)
	default:
		t.Fatalf("start minio: %v", startErr)
	}
	return nil
}

// minioRequired reports whether a missing MinIO must fail tests: under CI.
func minioRequired() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI")) // unset or junk: not CI
	return ci
}

// NewBucket creates a bucket with a fresh name derived from t's name and
// returns the name. t.Cleanup force-deletes it with its objects, so a server
// shared by a package does not accumulate buckets (unless the server has
// been stopped by then, which removed it anyway).
func (s *MinIOServer) NewBucket(t testing.TB) string {
	t.Helper()
	client, err := s.adminClient()
	if err != nil {
		t.Fatalf("minio client: %v", err)
	}
	name := s.bucketName(t.Name())
	if err := client.MakeBucket(t.Context(), name, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	t.Cleanup(func() {
		if s.stopped.Load() {
			return // the bucket went with the server's data directory
		}
		// t.Context is already done when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), minioStartTimeout)
		defer cancel()
		err := client.RemoveBucketWithOptions(ctx, name, minio.RemoveBucketOptions{ForceDelete: true})
		if err != nil {
			t.Errorf("remove bucket %s: %v", name, err)
		}
	})
	return name
}

func (s *MinIOServer) adminClient() (*minio.Client, error) {
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		return nil, err
	}
	return minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure: false,
		Region: s.Region,
	})
}

// bucketName turns a test name into a valid, unique S3 bucket name: 3-63
// characters of [a-z0-9-], starting and ending with a letter or digit.
func (s *MinIOServer) bucketName(testName string) string {
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
	return fmt.Sprintf("t-%s-%d-%s", stem, s.buckets.Add(1), hex.EncodeToString(salt[:]))
}

// minioLog keeps the last minioLogLimit bytes written to it. os/exec writes
// from its own goroutine, so it is locked.
type minioLog struct {
	mu  sync.Mutex
	buf []byte
}

func (l *minioLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if over := len(l.buf) - minioLogLimit; over > 0 {
		l.buf = append(l.buf[:0], l.buf[over:]...)
	}
	return len(p), nil
}

func (l *minioLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}
