package main

// The HTTP endpoints: the admin endpoint (/healthz, /metrics, and
// /debug/pprof where it is safe) and the schema registry. With --http-tls
// both serve HTTPS with the Kafka listeners' certificate; with --http-auth
// basic both ask for a login of the SASL users (/healthz stays open, for
// load balancers).

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stratalog/strata/gateway"
	"github.com/stratalog/strata/internal/tlsfiles"
	"github.com/stratalog/strata/security/httpauth"
)

// The --http-auth values.
const (
	httpAuthNone  = "none"
	httpAuthBasic = "basic"
)

// httpFront is what stands in front of both HTTP endpoints.
type httpFront struct {
	tls  *tls.Config                     // nil: plain HTTP
	wrap func(http.Handler) http.Handler // authentication; identity without
	auth string                          // --http-auth
}

// listen opens an HTTP endpoint's listener, behind TLS if configured.
func (f httpFront) listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if f.tls != nil {
		ln = tls.NewListener(ln, f.tls)
	}
	return ln, nil
}

// adminHandler serves /healthz (200 only while the Kafka listener serves),
// /metrics, and /debug/pprof when withPprof: profiles show what the process
// does and can take seconds of CPU, so they are served only to loopback
// clients or behind a login.
func adminHandler(reg *prometheus.Registry, ready *atomic.Bool, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// isHealthz lets load balancers' health checks through without a login.
func isHealthz(r *http.Request) bool { return r.URL.Path == "/healthz" }

// serveHTTP serves h on ln until ctx ends.
func serveHTTP(ctx context.Context, name string, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	// WriteTimeout stays unset: a CPU profile or a trace streams for as
	// long as asked (seconds=30).
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	defer stop()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// newHTTPFront sets up TLS and authentication for the HTTP endpoints; users
// are creds', and secret keys made-up credentials (httpauth.Config.Secret).
func newHTTPFront(cfg serveConfig, creds gateway.Credentials, secret string, logger *slog.Logger) (httpFront, error) {
	f := httpFront{wrap: func(h http.Handler) http.Handler { return h }, auth: cfg.HTTPAuth}
	if cfg.HTTPAuth == httpAuthBasic {
		a, err := httpauth.New(httpauth.Config{Credentials: gateway.SASLCredentials(creds), Secret: []byte(secret),
			Open: isHealthz, Logger: logger.With("part", "httpauth")})
		if err != nil {
			return f, err
		}
		f.wrap = a.Wrap
	}
	if cfg.HTTPTLS {
		// Server TLS only: HTTP clients log in with basic auth, not
		// certificates.
		files := cfg.SSL
		files.ClientCAFile, files.ClientAuth = "", tlsfiles.ClientAuthNone
		c, err := tlsfiles.Config(files, logger.With("part", "http-tls"))
		if err != nil {
			return f, fmt.Errorf("--http-tls: %w", err)
		}
		f.tls = c
	}
	return f, nil
}

// pprofAllowed reports whether /debug/pprof may be served on the admin
// listener at addr: on loopback, or behind a login.
func (f httpFront) pprofAllowed(addr string) bool {
	return f.auth == httpAuthBasic || isLoopback(addr)
}

// isLoopback reports whether a listen address binds loopback only.
func isLoopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
