package io.github.stratalog.interop.streams;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

/**
 * A Kafka Streams application run in a child JVM by {@link ExactlyOnceTest}:
 * a running count of records per key, from the input topic to the output
 * topic, with {@code processing.guarantee=exactly_once_v2}. Its
 * {@link #topology} also runs in the test JVM ({@link StateRestoreTest},
 * {@link StreamsGatewayKillTest}).
 *
 * <p>Arguments: bootstrap servers, application id, input topic, output
 * topic, state directory. It prints {@code state <STATE>} on each state
 * change, closes the application on SIGTERM, and exits 1 if a stream thread
 * dies.
 */
public final class CountingApp {
    private CountingApp() {}

    public static void main(String[] args) throws InterruptedException {
        if (args.length != 5) {
            System.err.println("usage: CountingApp BOOTSTRAP APPLICATION_ID INPUT OUTPUT STATE_DIR");
            System.exit(2);
        }
        Properties config = StreamsConfigs.base(args[0], args[1], Path.of(args[4]));
        config.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        // Send output as soon as it is produced (Streams' default linger is
        // 100 ms, as long as a transaction here): an open transaction then
        // has records in the log, which a crash leaves for the next
        // instance to abort.
        config.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 0);
        KafkaStreams streams = new KafkaStreams(topology(args[2], args[3]), config);

        CountDownLatch stopped = new CountDownLatch(1);
        streams.setStateListener((newState, oldState) -> {
            System.out.println("state " + newState);
            if (newState == KafkaStreams.State.NOT_RUNNING || newState == KafkaStreams.State.ERROR) {
                stopped.countDown();
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            e.printStackTrace();
            System.out.println("failed " + e);
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> streams.close(Duration.ofSeconds(20)), "close-streams"));
        streams.start();
        stopped.await();
        System.exit(streams.state() == KafkaStreams.State.ERROR ? 1 : 0);
    }

    /**
     * Counts records per key in a persistent store named "counts" (whose
     * changelog is APPLICATION_ID-counts-changelog) and writes each new
     * count, as a decimal string, to {@code output}.
     */
    static Topology topology(String input, String output) {
        StreamsBuilder b = new StreamsBuilder();
        b.<String, String>stream(input)
                .groupByKey()
                .count(Materialized.as("counts"))
                .toStream()
                .mapValues(v -> Long.toString(v))
                .to(output, Produced.with(Serdes.String(), Serdes.String()));
        return b.build();
    }
}
