package io.github.stratalog.interop.testing;

import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One {@link StrataProcess} (embedded NATS, file object store) for a test
 * class, and an Admin client on it for the tests that want one.
 *
 * <pre>{@code
 * @RegisterExtension
 * static final StrataExtension strata = new StrataExtension("--num-partitions", "3");
 * }</pre>
 *
 * <p>It must be a static field: strata starts before the class's first test
 * and stops after its last, as {@code @BeforeAll} and {@code @AfterAll}
 * methods would do it. An extension rather than such methods so that the
 * classes share one copy of the start and stop code, and so that it can be
 * ordered around other resources with {@code @Order}: registered before the
 * Flink MiniCluster, for one, it starts before the cluster and stops after
 * it, so that no Kafka client a job left behind is still talking to a
 * stopped strata while the cluster shuts down.
 *
 * <p>The Admin client is created on the first call of {@link #admin()}, so
 * a class that never asks for one does not run one, and closed before strata
 * stops.
 */
public final class StrataExtension implements BeforeAllCallback, AfterAllCallback {
    private final String[] serveArgs;
    private volatile StrataProcess process;
    private Admin admin;

    /** {@code serveArgs} are appended to {@code strata serve}, as {@link StrataProcess#start(String...)} does. */
    public StrataExtension(String... serveArgs) {
        this.serveArgs = serveArgs.clone();
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        process = StrataProcess.start(serveArgs);
    }

    @Override
    public void afterAll(ExtensionContext context) {
        try {
            synchronized (this) {
                if (admin != null) {
                    admin.close();
                    admin = null;
                }
            }
        } finally {
            if (process != null) {
                process.close();
                process = null;
            }
        }
    }

    /** The running strata; fails outside the test class's lifetime. */
    public StrataProcess process() {
        StrataProcess p = process;
        if (p == null) {
            throw new IllegalStateException("strata is not running: a StrataExtension starts it before a class's tests "
                    + "and stops it after them, and only from a static field");
        }
        return p;
    }

    /** host:port of strata's Kafka listener, for bootstrap.servers. */
    public String bootstrapServers() {
        return process().bootstrapServers();
    }

    /**
     * An Admin client on strata, the same one for every test of the class;
     * tests must not close it.
     */
    public synchronized Admin admin() {
        if (admin == null) {
            admin = KafkaClients.admin(bootstrapServers());
        }
        return admin;
    }
}
