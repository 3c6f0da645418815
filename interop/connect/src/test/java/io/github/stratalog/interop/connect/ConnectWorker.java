package io.github.stratalog.interop.connect;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import io.github.stratalog.interop.testing.Wait;

/**
 * A Kafka Connect distributed worker: {@code ConnectDistributed} (what
 * {@code bin/connect-distributed.sh} starts) in its own JVM with the test
 * classpath, so that it can be killed with SIGKILL as a crash would, and
 * restarted with the same configuration.
 *
 * <p>Its properties file and its output (INFO level) go to
 * {@code target/connect-logs/} of the module. The REST listener is on a free
 * loopback port; {@link #start} returns once {@code GET /health} (KIP-1017)
 * answers 200: the worker has read its three topics and joined its group.
 *
 * <pre>{@code
 * Map<String, String> config = ConnectWorker.config(strata.bootstrapServers(), "cluster-a");
 * try (ConnectWorker worker = ConnectWorker.start("worker", config)) {
 *     worker.rest().putConnector("source", connectorConfig);
 * }
 * }</pre>
 */
final class ConnectWorker implements AutoCloseable {
    /** A worker on a loaded 2-core machine: JVM start, group join, reading three topics. */
    private static final Duration START_TIMEOUT = Duration.ofSeconds(120);
    private static final Duration STOP_GRACE = Duration.ofSeconds(30);
    private static final AtomicInteger SEQUENCE = new AtomicInteger();
    private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();

    static {
        // A test JVM that exits (a surefire timeout, say) takes its workers with it.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(Process::destroyForcibly), "kill-connect-workers"));
    }

    private final String name;
    private final Process process;
    private final Path log;
    private final ConnectRest rest;

    private ConnectWorker(String name, Process process, Path log, ConnectRest rest) {
        this.name = name;
        this.process = process;
        this.log = log;
        this.rest = rest;
    }

    /**
     * The settings every worker here shares: String converters, the three
     * internal topics named after {@code groupId} (with the default
     * replication factor, 3, which strata accepts: object storage is its
     * replication), and short intervals so that offsets are committed, dead
     * workers noticed and their tasks reassigned within seconds instead of a
     * minute.
     */
    static Map<String, String> config(String bootstrap, String groupId) {
        Map<String, String> c = new LinkedHashMap<>();
        c.put("bootstrap.servers", bootstrap);
        c.put("group.id", groupId);
        c.put("config.storage.topic", groupId + "-configs");
        c.put("offset.storage.topic", groupId + "-offsets");
        c.put("status.storage.topic", groupId + "-status");
        // Fewer partitions than the defaults (25 and 5): less to read at start.
        c.put("offset.storage.partitions", "3");
        c.put("status.storage.partitions", "2");
        c.put("key.converter", "org.apache.kafka.connect.storage.StringConverter");
        c.put("value.converter", "org.apache.kafka.connect.storage.StringConverter");
        c.put("offset.flush.interval.ms", "500");
        c.put("offset.flush.timeout.ms", "5000");
        // A killed worker's tasks go to the survivors after 1 s, not 5 min.
        c.put("scheduled.rebalance.max.delay.ms", "1000");
        // The minimum strata (like Kafka) accepts; a killed worker leaves the group after it.
        c.put("session.timeout.ms", "6000");
        c.put("heartbeat.interval.ms", "1000");
        c.put("rebalance.timeout.ms", "20000");
        c.put("task.shutdown.graceful.timeout.ms", "5000");
        c.put("rest.advertised.host.name", "127.0.0.1");
        // Every plugin on the classpath (connect-file's FileStream
        // connectors, Debezium's) comes with a ServiceLoader manifest in its
        // jar (the worker says so otherwise); no class scan at start.
        c.put("plugin.discovery", "service_load");
        return c;
    }

    /**
     * Starts a worker with {@code config} plus a listener on a free loopback
     * port, and waits until {@code GET /health} says it is healthy.
     */
    static ConnectWorker start(String name, Map<String, String> config) throws IOException, InterruptedException {
        Path dir = Path.of(System.getProperty("basedir", "."), "target", "connect-logs");
        Files.createDirectories(dir);
        String base = String.format("%03d-%s", SEQUENCE.incrementAndGet(), name);
        int port = freePort();
        Properties props = new Properties();
        props.putAll(config);
        props.put("listeners", "http://127.0.0.1:" + port);
        Path propsFile = dir.resolve(base + ".properties");
        try (Writer w = Files.newBufferedWriter(propsFile, StandardCharsets.UTF_8)) {
            props.store(w, "worker " + name);
        }
        Path log = dir.resolve(base + ".log");
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                // kafka-run-class.sh's default heap is 256 MB; Debezium wants a little more.
                "-Xmx512m", "-Djava.awt.headless=true",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
                // Surefire sets java.class.path to the whole test classpath:
                // connect-runtime and the connectors (connect-file, Debezium).
                "-cp", System.getProperty("java.class.path"),
                "org.apache.kafka.connect.cli.ConnectDistributed", propsFile.toString()));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        LIVE.add(p);
        p.onExit().thenRun(() -> LIVE.remove(p));
        ConnectWorker worker = new ConnectWorker(name, p, log, new ConnectRest("http://127.0.0.1:" + port));
        try {
            worker.awaitReady();
        } catch (RuntimeException | Error | InterruptedException e) {
            p.destroyForcibly();
            throw e;
        }
        return worker;
    }

    private void awaitReady() throws InterruptedException {
        Wait.until(START_TIMEOUT, "worker " + name + " to answer 200 to GET /health (log " + log + ")", () -> {
            if (!process.isAlive()) {
                throw new AssertionError("worker " + name + " exited " + process.exitValue() + ":\n" + logTail());
            }
            // 503 while starting (and 404 before the REST resources exist).
            return rest.get("/health").status() == 200;
        });
    }

    /** Binds port 0 on loopback and gives the port back; Jetty binds it again with SO_REUSEADDR. */
    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    ConnectRest rest() {
        return rest;
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** Kills the worker at once (SIGKILL): no offset flush, no leaving the group, open transactions left open. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(STOP_GRACE.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new IllegalStateException("worker " + name + " still running after SIGKILL");
        }
    }

    /** The worker's threads (jstack, from the JDK running the tests), for a worker that hangs. */
    private String threadDump() {
        Path jstack = Path.of(System.getProperty("java.home"), "bin", "jstack");
        try {
            Process p = new ProcessBuilder(jstack.toString(), Long.toString(process.pid())).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor(30, TimeUnit.SECONDS);
            return out;
        } catch (IOException e) {
            return "(no thread dump: " + e + ")";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "(no thread dump: interrupted)";
        }
    }

    /** The last part of the worker's log, for failure messages. */
    String logTail() {
        try {
            String s = Files.readString(log, StandardCharsets.UTF_8);
            return s.length() <= 6000 ? s : "..." + s.substring(s.length() - 6000);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Stops the worker as Ctrl-C would (SIGTERM: tasks stop, offsets are
     * committed), SIGKILL after 30 s, with its threads printed.
     */
    @Override
    public void close() {
        if (!process.isAlive()) {
            return;
        }
        process.destroy();
        try {
            if (!process.waitFor(STOP_GRACE.toMillis(), TimeUnit.MILLISECONDS)) {
                // Seen once in about a dozen runs, after every assertion had
                // passed: the worker's log stops after its last offset
                // commit. What it waits on is not known yet, so the threads
                // go to the test's output; the data the tests check is not
                // affected, so it is reported rather than failed.
                String threads = threadDump();
                process.destroyForcibly();
                System.out.println("WARNING: worker " + name + " did not stop within " + STOP_GRACE
                        + " of SIGTERM; killed it. Its threads then:\n" + threads);
            }
        } catch (InterruptedException e) {
            // Interrupted while waiting: kill, and let the caller see the interrupt.
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
