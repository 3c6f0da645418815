package io.github.stratalog.interop.testing;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * A three-gateway strata cluster on loopback, the layout of
 * localstack/run.sh (with OBJECT_STORE=file): three nats-server nodes (JetStream, {@code
 * sync_interval: always}, one cluster) and three gateways (node ids 1–3,
 * {@code --nats-replicas 3}) sharing one file object store.
 *
 * <p>It is built here rather than by running localstack/run.sh so that each
 * gateway is a child of the test JVM (killed with {@link Process#destroyForcibly},
 * restarted on the same port) and the ports are random, so that runs never
 * collide. nats-server is the binary named by the system property {@code
 * nats.server}, else the one scripts/install-nats.sh builds (the version
 * go.mod pins) in the repository that holds the working directory or
 * strata.bin.
 *
 * <pre>{@code
 * try (StrataCluster cluster = StrataCluster.start(Duration.ofSeconds(2), 6)) {
 *     props.put("bootstrap.servers", cluster.bootstrapServers());
 *     cluster.kill(2);
 *     cluster.restart(2);
 * }
 * }</pre>
 */
public final class StrataCluster implements AutoCloseable {
    private static final int NODES = 3;
    private static final Duration NATS_HEALTHY_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration NATS_STOP_GRACE = Duration.ofSeconds(15);
    private static final int START_ATTEMPTS = 3;

    private final Path bin;
    private final Path dir;
    private final Ports ports;
    private final Duration lease;
    private final int numPartitions;
    private final List<ChildProcess> nats = new ArrayList<>();
    private final Map<Integer, StrataProcess> gateways = new TreeMap<>();
    private final Map<Integer, Integer> restarts = new TreeMap<>();

    private StrataCluster(Path bin, Path dir, Ports ports, Duration lease, int numPartitions) {
        this.bin = bin;
        this.dir = dir;
        this.ports = ports;
        this.lease = lease;
        this.numPartitions = numPartitions;
    }

    /**
     * Starts the NATS cluster and the three gateways, and returns once every
     * gateway serves Kafka. {@code lease} is {@code --gateway-lease};
     * {@code numPartitions} is {@code --num-partitions}. A start that fails
     * (a port taken meanwhile, say) is retried on other ports, twice.
     */
    public static StrataCluster start(Duration lease, int numPartitions) throws IOException, InterruptedException {
        Path bin = StrataProcess.binary();
        Path natsServer = natsServer(bin);
        RuntimeException last = null;
        for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
            Path dir = Files.createTempDirectory("strata-cluster-");
            StrataCluster c = new StrataCluster(bin, dir, Ports.pick(), lease, numPartitions);
            try {
                c.startNats(natsServer);
                for (int id = 1; id <= NODES; id++) {
                    c.startGateway(id);
                }
                return c;
            } catch (RuntimeException | IOException e) {
                last = new IllegalStateException("attempt " + attempt + ": " + e.getMessage(), e);
                c.closeQuietly();
            }
        }
        throw new IllegalStateException("cluster did not start in " + START_ATTEMPTS + " attempts", last);
    }

    /** All three gateways' Kafka addresses, comma-separated. */
    public String bootstrapServers() {
        return IntStream.rangeClosed(1, NODES).mapToObj(this::address).collect(Collectors.joining(","));
    }

    /** host:port of gateway {@code nodeId} (1–3), whether or not it is running. */
    public String address(int nodeId) {
        return "127.0.0.1:" + ports.kafka(nodeId);
    }

    public Set<Integer> nodeIds() {
        return new HashSet<>(gateways.keySet());
    }

    /** Kills gateway {@code nodeId} at once (SIGKILL), as a crash would. */
    public void kill(int nodeId) throws InterruptedException {
        gateway(nodeId).kill();
    }

    /** Starts gateway {@code nodeId} again, on the same port, once it has died or been killed. */
    public void restart(int nodeId) throws IOException, InterruptedException {
        if (gateway(nodeId).isAlive()) {
            throw new IllegalStateException("gateway " + nodeId + " is still running");
        }
        restarts.merge(nodeId, 1, Integer::sum);
        startGateway(nodeId);
    }

    /** The process of gateway {@code nodeId}, the latest one started. */
    public StrataProcess gateway(int nodeId) {
        StrataProcess g = gateways.get(nodeId);
        if (g == null) {
            throw new IllegalArgumentException("no gateway " + nodeId);
        }
        return g;
    }

    private void startNats(Path natsServer) throws IOException, InterruptedException {
        for (int i = 1; i <= NODES; i++) {
            int self = i;
            String routes = IntStream.rangeClosed(1, NODES).filter(j -> j != self)
                    .mapToObj(j -> "nats-route://127.0.0.1:" + ports.natsRoute(j))
                    .collect(Collectors.joining(", "));
            Path store = Files.createDirectories(dir.resolve("nats-" + i));
            Path conf = dir.resolve("nats-" + i + ".conf");
            // As localstack/run.sh: a WAL message carries whole Kafka
            // batches, and every write is fsynced before it is acknowledged.
            Files.writeString(conf, String.join("\n",
                    "server_name: n" + i,
                    "listen: 127.0.0.1:" + ports.natsClient(i),
                    "http: 127.0.0.1:" + ports.natsMonitor(i),
                    "max_payload: 8MB",
                    "jetstream {",
                    "  store_dir: \"" + store + "\"",
                    "  sync_interval: always",
                    "}",
                    "cluster {",
                    "  name: strata-interop",
                    "  listen: 127.0.0.1:" + ports.natsRoute(i),
                    "  routes: [" + routes + "]",
                    "}",
                    ""), StandardCharsets.UTF_8);
            nats.add(ChildProcess.start("nats-" + i, List.of(natsServer.toString(), "-c", conf.toString()),
                    StrataProcess.logFile("nats-" + i), null));
        }
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
        for (int i = 1; i <= NODES; i++) {
            ChildProcess node = nats.get(i - 1);
            URI health = URI.create("http://127.0.0.1:" + ports.natsMonitor(i) + "/healthz");
            try {
                // healthz answers 200 once JetStream has a meta leader and is current.
                Wait.until(NATS_HEALTHY_TIMEOUT, "nats node " + i + " healthy", () -> {
                    if (!node.isAlive()) {
                        throw new IllegalStateException("nats node exited");
                    }
                    HttpRequest req = HttpRequest.newBuilder(health).timeout(Duration.ofSeconds(2)).build();
                    return http.send(req, HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
                });
            } catch (AssertionError e) {
                throw new IllegalStateException(e.getMessage() + "; last lines of " + node.logFile() + ":\n" + node.tail(), e);
            }
        }
    }

    private void startGateway(int id) throws IOException, InterruptedException {
        String natsUrls = IntStream.rangeClosed(1, NODES)
                .mapToObj(i -> "nats://127.0.0.1:" + ports.natsClient(i)).collect(Collectors.joining(","));
        String monitorUrls = IntStream.rangeClosed(1, NODES)
                .mapToObj(i -> "http://127.0.0.1:" + ports.natsMonitor(i)).collect(Collectors.joining(","));
        List<String> args = List.of(
                "--listeners", "PLAINTEXT://" + address(id),
                "--nats-url", natsUrls,
                "--nats-monitor-url", monitorUrls,
                "--nats-replicas", "3",
                "--node-id", Integer.toString(id),
                "--gateway-lease", lease.toMillis() + "ms",
                "--num-partitions", Integer.toString(numPartitions),
                "--flush-interval", "50ms");
        String name = "gateway-" + id + (restarts.containsKey(id) ? "-restart-" + restarts.get(id) : "");
        gateways.put(id, StrataProcess.start(bin, name, dir.resolve("shared"), args, false));
    }

    /**
     * Stops the gateways (SIGTERM), then the NATS nodes, deletes the
     * cluster's directory, and fails if a gateway did not exit 0.
     */
    @Override
    public void close() {
        List<String> problems = new ArrayList<>();
        for (StrataProcess g : gateways.values()) {
            try {
                g.close();
            } catch (RuntimeException e) {
                problems.add(e.getMessage());
            }
        }
        for (ChildProcess n : nats) {
            try {
                n.stop(NATS_STOP_GRACE);
            } catch (RuntimeException e) {
                problems.add(e.getMessage());
            } catch (InterruptedException e) {
                n.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
        StrataProcess.deleteTree(dir);
        if (!problems.isEmpty()) {
            throw new IllegalStateException("cluster shutdown: " + String.join("\n", problems));
        }
    }

    private void closeQuietly() throws InterruptedException {
        for (StrataProcess g : gateways.values()) {
            g.kill();
        }
        for (ChildProcess n : nats) {
            n.kill();
        }
        StrataProcess.deleteTree(dir);
    }

    /**
     * The nats-server binary: {@code -Dnats.server}, else what
     * scripts/install-nats.sh prints (building it into the cache directory
     * the first time).
     */
    static Path natsServer(Path strataBin) throws IOException, InterruptedException {
        String configured = System.getProperty("nats.server", "").trim();
        if (!configured.isEmpty()) {
            Path p = Path.of(configured);
            if (!Files.isExecutable(p)) {
                throw new IllegalStateException("nats.server=" + configured + " is not an executable file");
            }
            return p;
        }
        Path script = findInstallScript(Path.of(System.getProperty("user.dir")).toAbsolutePath());
        if (script == null) {
            script = findInstallScript(strataBin.getParent());
        }
        if (script == null) {
            throw new IllegalStateException("cannot find scripts/install-nats.sh above the working directory or strata.bin; "
                    + "set -Dnats.server=/path/to/nats-server");
        }
        Path out = Files.createTempFile("install-nats-", ".out");
        try {
            Process p = new ProcessBuilder("bash", script.toString())
                    .directory(script.getParent().getParent().toFile())
                    .redirectOutput(out.toFile())
                    .redirectError(ProcessBuilder.Redirect.INHERIT)
                    .start();
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new IllegalStateException(script + " did not finish in 10 minutes");
            }
            List<String> lines = Files.readAllLines(out);
            if (p.exitValue() != 0 || lines.isEmpty()) {
                throw new IllegalStateException(script + " exited " + p.exitValue() + " without printing a path");
            }
            Path nats = Path.of(lines.get(lines.size() - 1).trim());
            if (!Files.isExecutable(nats)) {
                throw new IllegalStateException(script + " printed " + nats + ", which is not an executable file");
            }
            return nats;
        } finally {
            Files.deleteIfExists(out);
        }
    }

    private static Path findInstallScript(Path from) {
        for (Path d = from; d != null; d = d.getParent()) {
            Path s = d.resolve("scripts").resolve("install-nats.sh");
            if (Files.isRegularFile(s)) {
                return s;
            }
        }
        return null;
    }

    /**
     * The cluster's fixed ports, chosen at random below Linux's ephemeral
     * range (32768 up) so that no outgoing connection holds one when a
     * gateway restarts on its port, and checked free when picked.
     */
    private static final class Ports {
        private static final int LOW = 20000;
        private static final int HIGH = 32000;
        private static final int PER_NODE = 4;
        private final int[] ports;

        private Ports(int[] ports) {
            this.ports = ports;
        }

        static Ports pick() {
            Set<Integer> chosen = new HashSet<>();
            int[] ports = new int[NODES * PER_NODE];
            for (int i = 0; i < ports.length; i++) {
                int p;
                do {
                    p = ThreadLocalRandom.current().nextInt(LOW, HIGH);
                } while (chosen.contains(p) || !free(p));
                chosen.add(p);
                ports[i] = p;
            }
            return new Ports(ports);
        }

        private static boolean free(int port) {
            try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
                return s.getLocalPort() == port;
            } catch (IOException e) {
                return false;
            }
        }

        int kafka(int node) {
            return ports[(node - 1) * PER_NODE];
        }

        int natsClient(int node) {
            return ports[(node - 1) * PER_NODE + 1];
        }

        int natsRoute(int node) {
            return ports[(node - 1) * PER_NODE + 2];
        }

        int natsMonitor(int node) {
            return ports[(node - 1) * PER_NODE + 3];
        }
    }
}
