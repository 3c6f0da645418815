// Command strata is the Strata binary: a Kafka-compatible log service whose data
// lives in object storage.
//
//	strata serve [flags]    run a gateway (with no flags: everything embedded)
//	strata replay [flags]   read a topic straight from object storage
//	strata recover --from-bucket [flags]
//	                        rebuild the coordinator's metadata from object storage
//	strata healthcheck      exit 0 if a gateway's /healthz answers 200
//	strata version          print the version
//
// Every flag can also be set as STRATA_<FLAG> in the environment (e.g.
// --s3-endpoint as STRATA_S3_ENDPOINT); a flag given on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		cfg, err := parseServeFlags(args, os.LookupEnv, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			fmt.Fprintln(stderr, "strata serve:", err)
			return 2
		}
		applyGoMemoryLimit(cfg.memory)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := serve(ctx, cfg, stderr); err != nil {
			fmt.Fprintln(stderr, "strata serve:", err)
			return 1
		}
		return 0
	case "replay":
		cfg, err := parseReplayFlags(args, os.LookupEnv, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			fmt.Fprintln(stderr, "strata replay:", err)
			return 2
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := runReplay(ctx, cfg, stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "strata replay:", err)
			return 1
		}
		return 0
	case "recover":
		cfg, err := parseRecoverFlags(args, os.LookupEnv, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			fmt.Fprintln(stderr, "strata recover:", err)
			return 2
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := runRecover(ctx, cfg, stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "strata recover:", err)
			return 1
		}
		return 0
	case "healthcheck":
		return healthcheck(args, os.LookupEnv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "strata", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: strata serve [flags] | strata replay --topic T [flags] | strata recover --from-bucket [flags] | strata healthcheck [--http ADDR] | strata version\nRun 'strata serve -h' or 'strata replay -h' for the flags.")
		return 0
	default:
		fmt.Fprintf(stderr, "strata: unknown command %q\n", cmd)
		return 2
	}
}
