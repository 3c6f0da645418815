package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
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
)

// ErrMinIONotInstalled is returned by StartMinIO when the MinIO binary is not
// where MinIOBinary says. Outside CI, tests skip on it.
var ErrMinIONotInstalled = errors.New("testenv: minio binary not installed")

// MinIOServer is a MinIO process serving plain HTTP on 127.0.0.1 with a
// throw-away data directory. Its exported fields (the root credentials) are
// what an S3 client needs.
type MinIOServer struct {
	S3Endpoint

	dir     string   // temp dir with data and certs; removed by Stop
	proc    *process // the running (or, after Kill, exited) process
	log     *tailLog
	buckets *testBuckets
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
	return installedBinary("STRATA_MINIO_BIN", ErrMinIONotInstalled, "minio", MinIOVersion, "minio")
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
	return retryStart(func() (*MinIOServer, error) { return startMinIOOnce(ctx, bin) })
}

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
	ep := S3Endpoint{Endpoint: "http://" + addr, AccessKey: MinIOAccessKey, SecretKey: MinIOSecretKey, Region: MinIORegion}
	s := &MinIOServer{S3Endpoint: ep, dir: dir, log: &tailLog{}, buckets: &testBuckets{ep: ep, forceDelete: true}}
	cmd := exec.Command(bin, "server",
		"--address", addr,
		"--console-address", "127.0.0.1:"+strconv.Itoa(ports[1]),
		"--certs-dir", filepath.Join(dir, "certs"), // keep MinIO out of $HOME
		filepath.Join(dir, "data"))
	cmd.Env = minioEnv()
	if s.proc, err = startProcess(cmd, s.log); err != nil {
		_ = os.RemoveAll(dir) // best effort; the start error is the one to report
		return nil, err
	}
	if err := s.waitHealthy(ctx); err != nil {
		_ = s.Stop() // the health error is the one to report
		return nil, fmt.Errorf("%w\nminio output:\n%s", err, s.Logs())
	}
	return s, nil
}

// minioEnv is the environment without inherited MINIO_ settings, plus ours.
func minioEnv() []string {
	return envWithout([]string{"MINIO_"},
		"MINIO_ROOT_USER="+MinIOAccessKey,
		"MINIO_ROOT_PASSWORD="+MinIOSecretKey,
		"MINIO_SITE_REGION="+MinIORegion,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=on", // allow a data dir on the root disk, as in CI containers
	)
}

// waitHealthy polls the liveness and readiness endpoints until both answer
// 200, the process exits, ctx is done, or minioStartTimeout passes.
func (s *MinIOServer) waitHealthy(ctx context.Context) error {
	return s.proc.waitHealthy(ctx, "minio", s.Endpoint, minioStartTimeout, minioPollInterval, s.health)
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
		s.buckets.stopped.Store(true)
		select {
		case <-s.proc.exited:
			if s.down {
				break // Kill stopped it
			}
			s.stopErr = fmt.Errorf("testenv: minio exited unexpectedly: %v\nminio output:\n%s", s.proc.waitErr, s.Logs())
		default:
			// Kill, not a graceful signal: the data is thrown away, and
			// MinIO's graceful shutdown waits for idle connections.
			if err := s.proc.kill(); err != nil {
				s.stopErr = err
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
	if err := s.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("testenv: pause minio: %w", err)
	}
	return nil
}

// Resume thaws a server frozen by Pause (SIGCONT).
func (s *MinIOServer) Resume() error {
	if err := s.proc.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return fmt.Errorf("testenv: resume minio: %w", err)
	}
	return nil
}

// Kill stops the server at once (SIGKILL) and waits for it to exit, keeping
// its address and data directory for Restart: clients meanwhile have their
// connections reset and new ones refused.
func (s *MinIOServer) Kill() error {
	s.down = true
	return s.proc.kill()
}

// Restart starts a server stopped by Kill again, with the same command line
// (address, data directory, credentials), and returns once it is healthy.
// Its buckets and objects are those it had when killed.
func (s *MinIOServer) Restart(ctx context.Context) error {
	if !s.down {
		return errors.New("testenv: restart minio: not killed")
	}
	<-s.proc.exited // Kill waited for it
	old := s.proc.cmd
	cmd := exec.Command(old.Path, old.Args[1:]...)
	cmd.Env = old.Env
	proc, err := startProcess(cmd, s.log)
	if err != nil {
		return fmt.Errorf("testenv: restart minio: %w", err)
	}
	s.proc, s.down = proc, false
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
	requireStarted(t, "minio", startErr, ErrMinIONotInstalled,
		fmt.Sprintf("run `make test` to install MinIO %s (or set STRATA_MINIO_BIN)", MinIOVersion))
	return s
}

// NewBucket creates a bucket with a fresh name derived from t's name and
// returns the name. t.Cleanup force-deletes it with its objects, so a server
// shared by a package does not accumulate buckets (unless the server has
// been stopped by then, which removed it anyway).
func (s *MinIOServer) NewBucket(t testing.TB) string {
	t.Helper()
	return s.buckets.newBucket(t)
}
