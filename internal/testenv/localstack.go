package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// LocalStackVersion is the pinned localstack-core version, LocalStack's S3
// service run on the host without Docker: the second S3 implementation the
// object store tests run against, besides MinIO. `make test` installs it with
// scripts/install-localstack.sh (which pins the same version) into the cache
// directory where LocalStackBinary looks for it.
const LocalStackVersion = "2026.3.0"

// Credentials and region of every test LocalStack server. LocalStack accepts
// any credentials; these are its documented defaults.
const (
	LocalStackAccessKey = "test"
	LocalStackSecretKey = "test"
	LocalStackRegion    = "us-east-1"
)

const (
	// localStackStartTimeout bounds one start attempt, from exec to S3
	// running: a few seconds of Python imports, more on a loaded CI machine.
	localStackStartTimeout = 60 * time.Second
	// localStackPollInterval is how often the health endpoint is polled.
	localStackPollInterval = 100 * time.Millisecond
)

// ErrLocalStackNotInstalled is returned by StartLocalStack when the launcher
// is not where LocalStackBinary says. Outside CI, tests skip on it.
var ErrLocalStackNotInstalled = errors.New("testenv: localstack not installed")

// LocalStackServer is a LocalStack process serving only S3, on plain HTTP
// on 127.0.0.1, keeping everything in memory and in a throw-away directory.
// Its exported fields are what an S3 client needs.
type LocalStackServer struct {
	S3Endpoint

	dir     string // FILESYSTEM_ROOT and HOME of the process; removed by Stop
	proc    *process
	log     *tailLog
	buckets *testBuckets
	stop    sync.Once
	stopErr error // set inside stop
}

// LocalStackBinary returns the path of the LocalStack launcher tests run:
// $STRATA_LOCALSTACK_BIN if set, else
// <cache>/localstack/<LocalStackVersion>/localstack, where <cache> is
// $STRATA_CACHE_DIR, else $XDG_CACHE_HOME/strata, else $HOME/.cache/strata
// (the same rule as scripts/install-localstack.sh). The error wraps
// ErrLocalStackNotInstalled when no executable file is there.
func LocalStackBinary() (string, error) {
	return installedBinary("STRATA_LOCALSTACK_BIN", ErrLocalStackNotInstalled,
		"localstack", LocalStackVersion, "localstack")
}

// StartLocalStack starts LocalStack's S3 service on a random free loopback
// port with a fresh temp directory and returns once S3 is running. The
// caller must call Stop. It is meant for TestMain, to share one server per
// package; tests use RequireLocalStack. The error wraps
// ErrLocalStackNotInstalled when the launcher is missing.
func StartLocalStack(ctx context.Context) (*LocalStackServer, error) {
	bin, err := LocalStackBinary()
	if err != nil {
		return nil, err
	}
	return retryStart(func() (*LocalStackServer, error) { return startLocalStackOnce(ctx, bin) })
}

// startLocalStackOnce starts one process in a new temp dir, which Stop (also
// on failure here) removes.
func startLocalStackOnce(ctx context.Context, bin string) (*LocalStackServer, error) {
	ports, err := freeLoopbackPorts(1)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "strata-localstack-")
	if err != nil {
		return nil, fmt.Errorf("testenv: localstack temp dir: %w", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	ep := S3Endpoint{Endpoint: "http://" + addr, AccessKey: LocalStackAccessKey, SecretKey: LocalStackSecretKey, Region: LocalStackRegion}
	s := &LocalStackServer{S3Endpoint: ep, dir: dir, log: &tailLog{}, buckets: &testBuckets{ep: ep}}
	cmd := exec.Command(bin)
	cmd.Env = localStackEnv(addr, dir)
	// Its own process group, so that Stop also kills any helper process
	// the Python runtime started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if s.proc, err = startProcess(cmd, s.log); err != nil {
		_ = os.RemoveAll(dir) // best effort; the start error is the one to report
		return nil, err
	}
	err = s.proc.waitHealthy(ctx, "localstack", s.Endpoint, localStackStartTimeout, localStackPollInterval, s.health)
	if err != nil {
		_ = s.Stop() // the health error is the one to report
		return nil, fmt.Errorf("%w\nlocalstack output:\n%s", err, s.Logs())
	}
	return s, nil
}

// localStackEnv is a minimal environment, so that no inherited LocalStack
// setting (its names are generic: DEBUG, SERVICES, PERSISTENCE) applies,
// plus ours, which keep the process on loopback, inside dir, and off the
// network.
func localStackEnv(addr, dir string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,   // plux caches entry points under $HOME/.cache
		"TMPDIR=" + dir, // LocalStack logs that it is a deprecated setting of its own; harmless
		"LANG=C.UTF-8",
		// Host mode even inside a container (CI's machine is one), which
		// would otherwise write to /var/lib/localstack and /etc/localstack.
		"OVERRIDE_IN_DOCKER=0",
		"FILESYSTEM_ROOT=" + dir,
		"SERVICES=s3",
		"EAGER_SERVICE_LOADING=1", // S3 is loaded before health says running
		"GATEWAY_LISTEN=" + addr,
		"LOCALSTACK_HOST=" + addr,
		"DNS_ADDRESS=0",            // no DNS server on port 53
		"DISABLE_EVENTS=1",         // no analytics
		"SKIP_SSL_CERT_DOWNLOAD=1", // plain HTTP; no certificate from the network
	}
}

// health succeeds once LocalStack reports its S3 service running.
func (s *LocalStackServer) health(ctx context.Context, client *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/_localstack/health", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close() // read to the end below
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /_localstack/health: %s", resp.Status)
	}
	var h struct {
		Services map[string]string `json:"services"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return fmt.Errorf("GET /_localstack/health: %w", err)
	}
	if st := h.Services["s3"]; st != "running" {
		return fmt.Errorf("s3 service %q, want running", st)
	}
	return nil
}

// Stop kills the server, waits for the process to exit and removes its
// directory. It is safe to call more than once and returns the first call's
// result: an error if the process had already died on its own, or if the
// directory could not be removed.
func (s *LocalStackServer) Stop() error {
	s.stop.Do(func() {
		s.buckets.stopped.Store(true)
		select {
		case <-s.proc.exited:
			s.stopErr = fmt.Errorf("testenv: localstack exited unexpectedly: %v\nlocalstack output:\n%s", s.proc.waitErr, s.Logs())
			// Its group may have helpers left.
			_ = syscall.Kill(-s.proc.cmd.Process.Pid, syscall.SIGKILL)
		default:
			// Kill: everything is thrown away, so there is nothing to
			// shut down gracefully.
			if err := s.proc.kill(); err != nil {
				s.stopErr = err
				return
			}
		}
		if err := os.RemoveAll(s.dir); err != nil && s.stopErr == nil {
			s.stopErr = fmt.Errorf("testenv: remove localstack dir: %w", err)
		}
	})
	return s.stopErr
}

// Logs returns the tail of the server's output, for failure messages.
func (s *LocalStackServer) Logs() string { return s.log.String() }

// RequireLocalStack returns s when startErr (StartLocalStack's error) is
// nil. Otherwise it ends the test: a missing installation skips it with a
// hint to run `make test`, unless CI=true, where that and every other start
// error fail it.
func RequireLocalStack(t testing.TB, s *LocalStackServer, startErr error) *LocalStackServer {
	t.Helper()
	requireStarted(t, "localstack", startErr, ErrLocalStackNotInstalled,
		fmt.Sprintf("run `make test` or scripts/install-localstack.sh to install LocalStack %s (or set STRATA_LOCALSTACK_BIN)",
			LocalStackVersion))
	return s
}

// NewBucket creates a bucket with a fresh name derived from t's name and
// returns the name. t.Cleanup deletes its objects and then the bucket.
func (s *LocalStackServer) NewBucket(t testing.TB) string {
	t.Helper()
	return s.buckets.newBucket(t)
}
