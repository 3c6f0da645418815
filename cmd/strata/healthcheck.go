package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheck is `strata healthcheck`: it asks a gateway's admin endpoint for
// /healthz and exits 0 only on 200. Container health checks run it, since the
// image has no shell or HTTP client of its own.
//
// The address defaults to the gateway's own --http-listen (from
// STRATA_HTTP_LISTEN, as `serve` reads it), with an unspecified host
// (0.0.0.0, ::) asked on loopback.
func healthcheck(args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("strata healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := "127.0.0.1:9644"
	if v, ok := lookupEnv(envName("http-listen")); ok && v != "" {
		addr = v
	}
	fs.StringVar(&addr, "http", addr, "the gateway's admin HTTP address (its --http-listen)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	url, err := healthzURL(addr)
	if err != nil {
		fmt.Fprintln(stderr, "strata healthcheck:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintln(stderr, "strata healthcheck:", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "strata healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "strata healthcheck: %s: %s %s\n", url, resp.Status, body)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s\n", url, resp.Status)
	return 0
}

// healthzURL is the /healthz URL of an admin listen address.
func healthzURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("admin address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
