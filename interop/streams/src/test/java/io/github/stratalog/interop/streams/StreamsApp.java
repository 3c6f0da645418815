package io.github.stratalog.interop.streams;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

import io.github.stratalog.interop.testing.Wait;

/**
 * A Kafka Streams application running in the test JVM, in a state directory
 * of its own that {@link #close()} deletes.
 *
 * <p>Any exception that kills a stream thread shuts the client down and is
 * kept, so that {@link #assertHealthy()} (and every wait) reports the cause
 * rather than a timeout.
 */
final class StreamsApp implements AutoCloseable {
    private static final Duration START_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);

    private final KafkaStreams streams;
    private final Path stateDir;
    private final AtomicReference<Throwable> failure = new AtomicReference<>();

    private StreamsApp(KafkaStreams streams, Path stateDir) {
        this.streams = streams;
        this.stateDir = stateDir;
    }

    /**
     * A new, empty state directory for one application instance, under the
     * module's target/ (Streams warns about OS temporary directories, which
     * may be cleaned under a running application).
     */
    static Path newStateDir() throws IOException {
        Path parent = Files.createDirectories(Path.of(System.getProperty("basedir", "."), "target", "streams-state"));
        return Files.createTempDirectory(parent, "app-").toAbsolutePath();
    }

    /**
     * Starts {@code topology} with {@link StreamsConfigs#base} for
     * {@code applicationId} in a new empty state directory, and returns once
     * it is RUNNING.
     */
    static StreamsApp start(String bootstrap, String applicationId, Topology topology) throws IOException, InterruptedException {
        return start(topology, StreamsConfigs.base(bootstrap, applicationId, newStateDir()), null);
    }

    /**
     * Starts {@code topology} with {@code config} (whose state.dir this app
     * then owns) and {@code restoreListener} (may be null), and returns once
     * it is RUNNING.
     */
    static StreamsApp start(Topology topology, Properties config, StateRestoreListener restoreListener)
            throws InterruptedException {
        Path stateDir = Path.of(config.getProperty(StreamsConfig.STATE_DIR_CONFIG));
        StreamsApp app = new StreamsApp(new KafkaStreams(topology, config), stateDir);
        app.streams.setUncaughtExceptionHandler(e -> {
            app.failure.compareAndSet(null, e);
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        if (restoreListener != null) {
            app.streams.setGlobalStateRestoreListener(restoreListener);
        }
        try {
            app.streams.start();
            app.awaitState(KafkaStreams.State.RUNNING, START_TIMEOUT);
            return app;
        } catch (RuntimeException | InterruptedException | Error e) {
            try {
                app.close();
            } catch (RuntimeException | Error closing) {
                e.addSuppressed(closing);
            }
            throw e;
        }
    }

    /** Waits until the client is in {@code state}; fails at once if a stream thread died. */
    private void awaitState(KafkaStreams.State state, Duration timeout) throws InterruptedException {
        Wait.until(timeout, "streams state " + state, () -> {
            assertHealthy();
            return streams.state() == state;
        });
    }

    /** Fails if a stream thread died or the client is shutting down or in error. */
    void assertHealthy() {
        Throwable t = failure.get();
        if (t != null) {
            throw new AssertionError("a stream thread died", t);
        }
        KafkaStreams.State s = streams.state();
        if (s != KafkaStreams.State.RUNNING && s != KafkaStreams.State.REBALANCING) {
            throw new AssertionError("streams is " + s + ", not RUNNING or REBALANCING");
        }
    }

    /** How many active tasks this instance's stream threads run now. */
    int activeTasks() {
        return streams.metadataForLocalThreads().stream().mapToInt(t -> t.activeTasks().size()).sum();
    }

    /** The key-value store {@code name}, for interactive queries. */
    ReadOnlyKeyValueStore<String, String> keyValueStore(String name) {
        return streams.store(StoreQueryParameters.fromNameAndType(name, QueryableStoreTypes.<String, String>keyValueStore()));
    }

    /**
     * Closes the client, leaving the group (so that the next instance of
     * the same application is not held up waiting for this member's
     * session to expire), and deletes the state directory.
     */
    @Override
    public void close() {
        try {
            boolean closed = streams.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
                    .withTimeout(CLOSE_TIMEOUT));
            if (!closed) {
                throw new AssertionError("streams did not close within " + CLOSE_TIMEOUT);
            }
        } finally {
            deleteTree(stateDir);
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
