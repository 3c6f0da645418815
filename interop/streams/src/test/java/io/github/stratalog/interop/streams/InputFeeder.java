package io.github.stratalog.interop.streams;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.producer.KafkaProducer;

import io.github.stratalog.interop.streams.Topics.Event;
import io.github.stratalog.interop.testing.KafkaClients;

/**
 * Produces a list of events on its own thread, in rounds of {@link #ROUND}
 * (each acknowledged before the next is sent), as an upstream application
 * would: input that keeps flowing while a test kills things. Closing it
 * stops it.
 */
final class InputFeeder implements AutoCloseable {
    private static final int ROUND = 20;

    private final String bootstrap;
    private final String topic;
    private final List<Event> events;
    private final AtomicInteger produced = new AtomicInteger();
    private final ExecutorService executor = Executors.newSingleThreadExecutor();
    private volatile boolean stopped;
    private Future<?> done;

    InputFeeder(String bootstrap, String topic, List<Event> events) {
        this.bootstrap = bootstrap;
        this.topic = topic;
        this.events = events;
    }

    void start() {
        done = executor.submit(() -> {
            try (KafkaProducer<String, String> producer = KafkaClients.producer(bootstrap, Map.of())) {
                for (int i = 0; i < events.size() && !stopped; i += ROUND) {
                    Topics.send(producer, topic, events.subList(i, Math.min(i + ROUND, events.size())));
                    produced.set(Math.min(i + ROUND, events.size()));
                }
            }
            return null;
        });
    }

    /** How many events have been acknowledged. */
    int produced() {
        return produced.get();
    }

    /** Waits until every event is acknowledged; fails with the producer's error if a send failed. */
    void awaitDone(Duration timeout) throws Exception {
        done.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() {
        stopped = true;
        executor.shutdownNow();
        try {
            if (!executor.awaitTermination(30, TimeUnit.SECONDS)) {
                throw new AssertionError("the input feeder did not stop");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
