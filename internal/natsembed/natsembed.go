package natsembed

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// DefaultReadyTimeout is how long Start waits for the server to accept
// connections when Config.ReadyTimeout is zero. Recovering a large JetStream
// store at start can take a while, so it is generous.
const DefaultReadyTimeout = 30 * time.Second

// MaxPayload is the embedded server's max_payload: the largest message, so
// the largest batch the WAL takes. 8 MiB is the most NATS recommends.
const MaxPayload = 8 << 20

// ErrNotReady is returned by Start when the server did not become ready to
// accept connections, or started without JetStream, within the timeout.
var ErrNotReady = errors.New("natsembed: server not ready")

// Config configures an embedded server. The zero value of each field means the
// documented default; StoreDir is required.
type Config struct {
	// StoreDir is the directory JetStream keeps its file store under.
	// Required. Reusing the directory of an earlier server recovers its
	// streams and KV buckets.
	StoreDir string
	// Host is the address client (and, by default, cluster) listeners bind.
	// Default: 127.0.0.1.
	Host string
	// Port selects the client listener: 0 opens none at all, so clients can
	// only connect in-process through Server.Connect; -1 picks a random free
	// port; a positive value is that port.
	Port int
	// ServerName names the server in logs and in the JetStream cluster.
	// Default: the server's generated id. Required when ClusterName is set.
	ServerName string
	// ClusterName turns on clustering (routes between servers, JetStream
	// RAFT groups) under this cluster name. Default: no clustering.
	ClusterName string
	// ClusterHost is the address the cluster listener binds. Default: Host.
	ClusterHost string
	// ClusterPort is the cluster listener's port; 0 or -1 pick a random free
	// port. Ignored without ClusterName.
	ClusterPort int
	// Routes are the cluster URLs ("nats://host:port") of the other servers
	// of the cluster. Requires ClusterName.
	Routes []string
	// MonitorPort selects the HTTP monitoring listener (/varz, /jsz, ...),
	// bound on Host: 0 opens none (the default), -1 picks a random free
	// port, a positive value is that port. Strata's own durability check
	// (internal/natscheck) reads /varz through it, so a server other Strata
	// processes use as an external NATS should have it on.
	MonitorPort int
	// ReadyTimeout bounds how long Start waits for the server to be ready.
	// Default: DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Logger receives the server's log lines: notices at Info, warnings at
	// Warn, errors and fatal errors at Error, debug at Debug and protocol
	// traces at LevelTrace. Debug and trace lines are produced only when the
	// logger is enabled for them. Default: nil, which discards everything.
	Logger *slog.Logger
}

// Server is a running embedded nats-server.
type Server struct {
	ns         *server.Server
	listening  bool
	clustered  bool
	monitorURL string // "" without a monitoring listener
}

// Start starts a nats-server with JetStream and waits until it accepts
// connections. It returns ErrNotReady (wrapped) if the server is not ready, or
// started without JetStream, within Config.ReadyTimeout; the server is shut
// down before Start returns an error.
func Start(cfg Config) (*Server, error) {
	opts, err := serverOptions(cfg)
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsembed: new server: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	adapter := slogAdapter{log: log.With("server", ns.Name())}
	ns.SetLoggerV2(adapter, adapter.enabled(slog.LevelDebug), adapter.enabled(LevelTrace), false)

	timeout := cfg.ReadyTimeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	ns.Start()
	if !ns.ReadyForConnections(timeout) {
		shutdown(ns)
		return nil, fmt.Errorf("start nats server with store %s: not ready after %s: %w", cfg.StoreDir, timeout, ErrNotReady)
	}
	// Start logs and carries on without JetStream when it cannot open the
	// store (bad directory, permissions); Strata cannot work without it.
	if !ns.JetStreamEnabled() {
		shutdown(ns)
		return nil, fmt.Errorf("start nats server with store %s: jetstream did not start (see server log): %w", cfg.StoreDir, ErrNotReady)
	}
	s := &Server{ns: ns, listening: !opts.DontListen, clustered: cfg.ClusterName != ""}
	if opts.HTTPPort != 0 {
		// A monitoring port that cannot be bound stops the server's start
		// (logged as fatal) before it opens the client listener, so
		// ReadyForConnections has failed already; this guards against a
		// server version that carries on without it.
		addr := ns.MonitorAddr()
		if addr == nil {
			shutdown(ns)
			return nil, fmt.Errorf("start nats server with store %s: monitoring listener on %s did not start (see server log): %w",
				cfg.StoreDir, net.JoinHostPort(opts.HTTPHost, strconv.Itoa(opts.HTTPPort)), ErrNotReady)
		}
		s.monitorURL = "http://" + net.JoinHostPort(opts.HTTPHost, strconv.Itoa(addr.Port))
	}
	return s, nil
}

// serverOptions validates cfg and turns it into nats-server options.
func serverOptions(cfg Config) (*server.Options, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("natsembed: Config.StoreDir is required")
	}
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
		Host:       host,
		// The host process owns signals; an embedded server must not
		// react to SIGTERM or SIGHUP on its own.
		NoSigs:    true,
		JetStream: true,
		StoreDir:  cfg.StoreDir,
		// Durability contract (Jepsen's analysis of NATS 2.12.1): with the
		// default sync interval JetStream acknowledges writes that are only
		// in the OS page cache, and a power loss on enough nodes loses them.
		// Strata acknowledges produce requests and commits metadata on
		// JetStream's word, so every write is fsynced before it is
		// acknowledged ("sync_interval: always"). There is no option to
		// turn this off.
		SyncAlways: true,
		// A WAL message carries whole Kafka batches, and Kafka's default
		// max.message.bytes is just over NATS's default 1 MiB payload.
		MaxPayload: MaxPayload,
	}
	switch {
	case cfg.Port == 0:
		opts.DontListen = true
	case cfg.Port < 0:
		opts.Port = server.RANDOM_PORT
	default:
		opts.Port = cfg.Port
	}
	switch {
	case cfg.MonitorPort < 0:
		opts.HTTPHost, opts.HTTPPort = host, server.RANDOM_PORT
	case cfg.MonitorPort > 0:
		opts.HTTPHost, opts.HTTPPort = host, cfg.MonitorPort
	}
	if cfg.ClusterName == "" {
		if len(cfg.Routes) > 0 {
			return nil, errors.New("natsembed: Config.Routes requires Config.ClusterName")
		}
		return opts, nil
	}
	if cfg.ServerName == "" {
		return nil, errors.New("natsembed: Config.ServerName is required with Config.ClusterName")
	}
	clusterHost := cfg.ClusterHost
	if clusterHost == "" {
		clusterHost = host
	}
	clusterPort := cfg.ClusterPort
	if clusterPort <= 0 {
		clusterPort = server.RANDOM_PORT
	}
	opts.Cluster = server.ClusterOpts{Name: cfg.ClusterName, Host: clusterHost, Port: clusterPort}
	if len(cfg.Routes) > 0 {
		opts.Routes = server.RoutesFromStr(strings.Join(cfg.Routes, ","))
		if len(opts.Routes) != len(cfg.Routes) {
			return nil, fmt.Errorf("natsembed: invalid route in %q", cfg.Routes)
		}
	}
	return opts, nil
}

// ClientURL returns the URL clients connect to, or "" when the server does not
// listen for clients (Config.Port 0).
func (s *Server) ClientURL() string {
	if !s.listening {
		return ""
	}
	return s.ns.ClientURL()
}

// MonitorURL returns the base URL of the HTTP monitoring endpoints
// ("http://host:port", with the port actually bound), or "" when
// Config.MonitorPort was 0.
func (s *Server) MonitorURL() string {
	return s.monitorURL
}

// ClusterURL returns the URL other servers route to, or "" without
// clustering.
func (s *Server) ClusterURL() string {
	if !s.clustered {
		return ""
	}
	addr := s.ns.ClusterAddr()
	if addr == nil {
		return ""
	}
	return "nats://" + addr.String()
}

// Connect opens a client connection to the server: in-process when the server
// does not listen, otherwise to ClientURL. opts are passed to nats.Connect.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	url := s.ClientURL()
	if !s.listening {
		url = ""
		opts = append(opts, nats.InProcessServer(s.ns))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats server %s: %w", s.ns.Name(), err)
	}
	return nc, nil
}

// Shutdown stops the server and returns once it has stopped, after which its
// store directory may be used by another server. It is safe to call more than
// once.
func (s *Server) Shutdown() {
	shutdown(s.ns)
}

func shutdown(ns *server.Server) {
	ns.Shutdown()
	ns.WaitForShutdown()
}
