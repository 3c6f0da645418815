package io.github.stratalog.interop.streams;

import java.nio.file.Path;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsConfig;

/**
 * The Streams settings every application of the suite shares, in the test
 * JVM and in {@link CountingApp}'s child JVM alike.
 */
final class StreamsConfigs {
    private StreamsConfigs() {}

    /**
     * A configuration for one application instance: String serdes, one
     * stream thread, the default (classic) group protocol, and short
     * intervals so that the tests see results, purges and failovers within
     * seconds rather than Kafka's defaults of 30 s to 5 min.
     */
    static Properties base(String bootstrap, String applicationId, Path stateDir) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        // No record cache: every update of a table or window reaches the
        // output topic, so the tests can check whole sequences of counts,
        // not only the last one.
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        // Streams purges consumed repartition records (DeleteRecords) at
        // most this often; Kafka's default is 30 s.
        p.put(StreamsConfig.REPARTITION_PURGE_INTERVAL_MS_CONFIG, 100);
        // Strata's group.min.session.timeout.ms is Kafka's, 6 s; a member
        // killed without leaving is gone from the group that much later.
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 6000);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 1500);
        // Also the classic protocol's rebalance timeout: how long a
        // rebalance waits for members to rejoin.
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG), 30000);
        return p;
    }
}
