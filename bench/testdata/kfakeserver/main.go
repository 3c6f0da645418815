// Command kfakeserver runs franz-go's kfake, the in-memory fake Kafka cluster,
// as a process of its own, so that BenchmarkThroughput can read its CPU time
// and memory from /proc apart from the clients'. It lives under testdata so
// that it is built only when the benchmark builds it.
//
// It runs one broker on 127.0.0.1, prints "listening <addr>" on stdout once
// it accepts connections, and runs until SIGINT or SIGTERM or until its
// stdin is closed, which is how the benchmark stops it (and how it stops if
// the benchmark dies).
//
//	kfakeserver -port 0 -topics bench:6,wide:10000
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 0, "loopback port to listen on; 0 picks a free one")
	topics := flag.String("topics", "", "topics to create at start, as name:partitions[,name:partitions...]")
	flag.Parse()
	if err := run(*port, *topics); err != nil {
		fmt.Fprintln(os.Stderr, "kfakeserver:", err)
		os.Exit(1)
	}
}

func run(port int, topics string) error {
	opts := []kfake.Opt{kfake.Ports(port)}
	for spec := range strings.SplitSeq(topics, ",") {
		if spec == "" {
			continue
		}
		name, n, ok := strings.Cut(spec, ":")
		parts, err := strconv.Atoi(n)
		if !ok || err != nil || parts <= 0 {
			return fmt.Errorf("topic %q: want name:partitions", spec)
		}
		opts = append(opts, kfake.SeedTopics(int32(parts), name))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("listening %s\n", c.ListenAddrs()[0])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { // ends with the process
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	<-ctx.Done()
	return nil
}
