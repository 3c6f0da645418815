package natscheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrUnsafe is wrapped by the error Verify returns when the servers do not
// keep the durability contract, or when it cannot tell that they do. It is
// not worth retrying: the servers' configuration has to change.
var ErrUnsafe = errors.New("natscheck: nats servers do not keep the durability contract")

const (
	// defaultHTTPTimeout bounds each /varz request when Config.HTTPClient is
	// nil: a monitoring endpoint answers in milliseconds, and a start-up
	// check must not hang on a black-holed address.
	defaultHTTPTimeout = 5 * time.Second
	// maxVarzBytes caps how much of a /varz answer is read. A real one is a
	// few kilobytes; a URL that points at something else must not make the
	// check read without bound.
	maxVarzBytes = 4 << 20
)

// Config says what to check.
type Config struct {
	// MonitorURLs are the servers' HTTP monitoring endpoints
	// ("http://host:port", nats-server's http_port), one per server.
	// Without any, Verify cannot see the sync setting and fails.
	MonitorURLs []string
	// Streams are the JetStream streams whose replicas, storage and
	// placement to check. A KV bucket is the stream "KV_<bucket>". They
	// must exist: a missing one is reported as a problem.
	Streams []string
	// Replicas is the replica count every stream must have. Required, at
	// least 1.
	Replicas int
	// HTTPClient fetches /varz. Default: a client with a 5s timeout.
	HTTPClient *http.Client
}

// Verify checks the durability contract (see the package doc). It returns
// nil when:
//   - every server at cfg.MonitorURLs answers /varz with jetstream
//     sync_always on;
//   - every stream in cfg.Streams exists with cfg.Replicas replicas and file
//     storage;
//   - every server hosting one of those streams (its leader, replicas and,
//     during a move, desired replicas, by server name) answered at one of
//     cfg.MonitorURLs.
//
// Otherwise it returns an error wrapping ErrUnsafe that lists every problem
// found. An unreachable monitoring URL or unreadable stream is a problem, not
// a reason to give up early. Verify returns an error not wrapping ErrUnsafe
// only for an invalid cfg or when ctx ends.
func Verify(ctx context.Context, js jetstream.JetStream, cfg Config) error {
	if cfg.Replicas < 1 {
		return fmt.Errorf("natscheck: Config.Replicas is %d, want at least 1", cfg.Replicas)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: defaultHTTPTimeout}
	}
	checked, problems := checkServers(ctx, client, cfg.MonitorURLs)
	hosted := make(map[string][]string) // server name -> streams it hosts
	for _, name := range cfg.Streams {
		hosts, p := checkStream(ctx, js, name, cfg.Replicas)
		problems = append(problems, p...)
		for _, h := range hosts {
			hosted[h] = append(hosted[h], name)
		}
	}
	// Without monitoring URLs no server was checked, and saying so once is
	// clearer than naming every server that hosts a stream.
	if len(cfg.MonitorURLs) > 0 {
		problems = append(problems, uncheckedHosts(hosted, checked)...)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("natscheck: verify nats durability: %w", err)
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrUnsafe, strings.Join(problems, "; "))
}

// checkServers reads /varz at each URL. It returns the names of the servers
// that answered (whatever their setting) and the problems found.
func checkServers(ctx context.Context, client *http.Client, urls []string) (checked map[string]bool, problems []string) {
	checked = make(map[string]bool)
	if len(urls) == 0 {
		return checked, []string{"jetstream sync_always cannot be verified without the servers' HTTP monitoring URLs: " +
			"pass them with --nats-monitor-url, or start with --allow-unsafe-nats to accept possible loss of acknowledged writes"}
	}
	for _, u := range urls {
		v, err := fetchVarz(ctx, client, u)
		if err != nil {
			problems = append(problems, fmt.Sprintf("server at %s: %v", u, err))
			continue
		}
		checked[v.ServerName] = true
		switch {
		case v.JetStream.Config == nil:
			problems = append(problems, fmt.Sprintf("server %q at %s: jetstream is not enabled", v.ServerName, u))
		case !v.JetStream.Config.SyncAlways:
			problems = append(problems, fmt.Sprintf("server %q at %s: jetstream sync_always is off (set jetstream sync_interval: always)", v.ServerName, u))
		}
	}
	return checked, problems
}

// varz is the part of nats-server's /varz (server.Varz) the check reads.
type varz struct {
	ServerName string `json:"server_name"`
	JetStream  struct {
		// Config is absent when JetStream is not enabled.
		Config *struct {
			SyncAlways bool `json:"sync_always"`
		} `json:"config"`
	} `json:"jetstream"`
}

// fetchVarz gets and decodes base's /varz.
func fetchVarz(ctx context.Context, client *http.Client, base string) (varz, error) {
	var v varz
	u, err := url.JoinPath(base, "varz")
	if err != nil {
		return v, fmt.Errorf("parse monitoring url: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return v, fmt.Errorf("get %s: %w", u, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return v, err // a *url.Error, which names the method and URL already
	}
	// Closing a response body that was only read reports nothing about the
	// data, so its error is of no use.
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("get %s: status %s", u, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxVarzBytes)).Decode(&v); err != nil {
		return v, fmt.Errorf("decode %s: %w", u, err)
	}
	if v.ServerName == "" {
		return v, fmt.Errorf("%s has no server_name: not a nats-server monitoring endpoint", u)
	}
	return v, nil
}

// checkStream reads a stream's info. It returns the names of the servers
// hosting it and the problems found.
func checkStream(ctx context.Context, js jetstream.JetStream, name string, replicas int) (hosts, problems []string) {
	info, err := streamInfo(ctx, js, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, []string{fmt.Sprintf("stream %q does not exist", name)}
	}
	if err != nil {
		return nil, []string{fmt.Sprintf("stream %q: %v", name, err)}
	}
	if got := info.Config.Replicas; got != replicas {
		problems = append(problems, fmt.Sprintf("stream %q has %d replicas, want %d", name, got, replicas))
	}
	if info.Config.Storage != jetstream.FileStorage {
		problems = append(problems, fmt.Sprintf("stream %q uses %s storage, want file", name, strings.ToLower(info.Config.Storage.String())))
	}
	hosts = streamHosts(info.Cluster)
	if len(hosts) == 0 {
		problems = append(problems, fmt.Sprintf("stream %q reports no leader or replicas, so the servers holding it cannot be checked", name))
	}
	return hosts, problems
}

func streamInfo(ctx context.Context, js jetstream.JetStream, name string) (*jetstream.StreamInfo, error) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	// Stream's cached info may already be out of date; placement moves.
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read info: %w", err)
	}
	return info, nil
}

// streamHosts returns the names of the servers that hold a copy of the
// stream, or are about to. A single non-clustered server reports itself as
// leader and no replicas; a leaderless clustered stream lists every peer as
// a replica.
func streamHosts(c *jetstream.ClusterInfo) []string {
	if c == nil {
		return nil
	}
	var hosts []string
	add := func(name string) {
		if name != "" && !slices.Contains(hosts, name) {
			hosts = append(hosts, name)
		}
	}
	add(c.Leader)
	for _, r := range c.Replicas {
		if r != nil {
			add(r.Name)
		}
	}
	// Peers a move or scale-up is bringing in will hold the data too.
	if c.Desired != nil {
		for _, r := range c.Desired.Replicas {
			if r != nil {
				add(r.Name)
			}
		}
	}
	return hosts
}

// uncheckedHosts names, in a stable order, each server that hosts a stream
// but did not answer at any monitoring URL.
func uncheckedHosts(hosted map[string][]string, checked map[string]bool) []string {
	var problems []string
	for _, server := range slices.Sorted(maps.Keys(hosted)) {
		if checked[server] {
			continue
		}
		problems = append(problems, fmt.Sprintf("server %q hosts streams %q but did not answer at any monitoring URL", server, hosted[server]))
	}
	return problems
}
