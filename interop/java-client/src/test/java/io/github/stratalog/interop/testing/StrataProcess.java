package io.github.stratalog.interop.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * One {@code strata serve} process, the binary named by the system property
 * {@code strata.bin}.
 *
 * <p>{@link #start(String...)} runs a single gateway with embedded NATS and
 * the file object store in a fresh temporary data directory, on loopback
 * ports the kernel picks (Kafka, admin HTTP and schema registry all on port
 * 0). The Kafka address is read from the {@code msg="serving kafka"} line of
 * its log. Its output goes to {@code target/strata-logs/} of the module
 * running the tests.
 *
 * <pre>{@code
 * try (StrataProcess strata = StrataProcess.start("--num-partitions", "3")) {
 *     props.put("bootstrap.servers", strata.bootstrapServers());
 * }
 * }</pre>
 *
 * <p>{@link #close()} stops it with SIGTERM and fails if it does not exit 0
 * (README: it flushes what is queued and exits 0), then deletes the data
 * directory it created.
 *
 * <p>A test class that needs one strata for all its tests registers a
 * {@link StrataExtension} instead of starting and closing one itself.
 */
public final class StrataProcess implements AutoCloseable {
    /** The line strata logs once its Kafka listener accepts connections. */
    private static final Pattern SERVING_KAFKA = Pattern.compile(
            "msg=\"serving kafka\" listen=(\\S+) advertise=(\\S+) cluster=(\\S+) node=(-?\\d+)");
    /** Long enough for a gateway waiting for a JetStream cluster that is still forming. */
    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);
    private static final Duration STOP_GRACE = Duration.ofSeconds(30);
    private static final AtomicInteger SEQUENCE = new AtomicInteger();

    private final ChildProcess process;
    private final Path ownedDataDir;
    private final String listen;
    private final String advertise;
    private final String clusterId;
    private final int nodeId;

    private StrataProcess(ChildProcess process, Path ownedDataDir, Matcher serving) {
        this.process = process;
        this.ownedDataDir = ownedDataDir;
        this.listen = serving.group(1);
        this.advertise = serving.group(2);
        this.clusterId = serving.group(3);
        this.nodeId = Integer.parseInt(serving.group(4));
    }

    /**
     * The strata binary from the system property {@code strata.bin}; fails
     * with how to set it when it is unset or not executable.
     */
    public static Path binary() {
        String bin = System.getProperty("strata.bin", "").trim();
        if (bin.isEmpty()) {
            throw new IllegalStateException("system property strata.bin is not set: build strata (go build -o bin/strata ./cmd/strata) "
                    + "and run mvn -f interop/pom.xml verify -Dstrata.bin=$PWD/bin/strata, or run make interop");
        }
        Path p = Path.of(bin).toAbsolutePath();
        if (!Files.isExecutable(p)) {
            throw new IllegalStateException("strata.bin=" + bin + " is not an executable file");
        }
        return p;
    }

    /**
     * Starts a single gateway (embedded NATS, file object store) in a new
     * temporary data directory, with {@code extraArgs} appended to {@code strata serve}.
     */
    public static StrataProcess start(String... extraArgs) throws IOException, InterruptedException {
        Path bin = binary();
        Path dataDir = Files.createTempDirectory("strata-interop-");
        List<String> args = new ArrayList<>(List.of("--listeners", "PLAINTEXT://127.0.0.1:0"));
        args.addAll(Arrays.asList(extraArgs));
        try {
            return start(bin, "strata", dataDir, args, true);
        } catch (RuntimeException | IOException | InterruptedException e) {
            deleteTree(dataDir);
            throw e;
        }
    }

    /**
     * Starts {@code strata serve --data-dir dataDir} with {@code args} (which
     * must include {@code --listeners}); the admin HTTP listener and the schema
     * registry go on port 0 unless {@code args} set them. The data directory
     * is deleted at close only if {@code ownsDataDir}.
     */
    static StrataProcess start(Path bin, String name, Path dataDir, List<String> args, boolean ownsDataDir)
            throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(bin.toString(), "serve", "--data-dir", dataDir.toString()));
        if (!args.contains("--http-listen")) {
            command.addAll(List.of("--http-listen", "127.0.0.1:0"));
        }
        if (!args.contains("--schema-registry-listen")) {
            command.addAll(List.of("--schema-registry-listen", "127.0.0.1:0"));
        }
        command.addAll(args);
        // The embedded NATS server opens no client listener: its default,
        // 127.0.0.1:4222, would let only one of the suites' strata processes
        // start at a time. Set in the environment, which strata reads as
        // --embedded-nats-listen, so an args override still wins.
        ChildProcess p = ChildProcess.start(name, command, Map.of("STRATA_EMBEDDED_NATS_LISTEN", ""),
                logFile(name), SERVING_KAFKA);
        try {
            return new StrataProcess(p, ownsDataDir ? dataDir : null, p.awaitReady(START_TIMEOUT));
        } catch (RuntimeException | InterruptedException e) {
            p.kill();
            throw e;
        }
    }

    /** A new log file under target/strata-logs of the module whose tests run. */
    static Path logFile(String name) {
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("HHmmss"));
        Path dir = Path.of(System.getProperty("basedir", "."), "target", "strata-logs");
        return dir.resolve(stamp + "-" + SEQUENCE.incrementAndGet() + "-" + name + ".log");
    }

    /** host:port of the Kafka listener, for bootstrap.servers. */
    public String bootstrapServers() {
        return advertise;
    }

    /** The address the listener is bound to. */
    public String listenAddress() {
        return listen;
    }

    /** The cluster id strata logged at start (what DescribeCluster answers). */
    public String clusterId() {
        return clusterId;
    }

    /** The node id (broker id) of this gateway. */
    public int nodeId() {
        return nodeId;
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** The last lines of strata's log. */
    public String logTail() {
        return process.tail();
    }

    public Path logFile() {
        return process.logFile();
    }

    /** Kills the process at once (SIGKILL), as a crash would. */
    public void kill() throws InterruptedException {
        process.kill();
    }

    /** Stops with SIGTERM (SIGKILL after 30 s) and returns the exit code. */
    public int stop() throws InterruptedException {
        return process.stop(STOP_GRACE);
    }

    /**
     * Stops the process unless it is already gone, deletes an owned data
     * directory, and fails if a graceful stop did not exit 0.
     */
    @Override
    public void close() {
        int code = 0;
        try {
            if (process.isAlive()) {
                code = stop();
            }
        } catch (InterruptedException e) {
            // Interrupted while waiting for the exit: kill, and let the
            // caller see the interrupt.
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        } finally {
            if (ownedDataDir != null) {
                deleteTree(ownedDataDir);
            }
        }
        if (code != 0) {
            throw new IllegalStateException(process.name() + " exited " + code + " on SIGTERM; last lines of "
                    + process.logFile() + ":\n" + process.tail());
        }
    }

    static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException("delete " + dir, e);
        }
    }
}
