package org.apache.kafka.common.utils;

/**
 * Kafka 4.3's {@code org.apache.kafka.common.utils.Sanitizer}, which Kafka
 * 4.4 moved to {@code org.apache.kafka.common.utils.internals.Sanitizer}.
 *
 * <p>Why it is here: Debezium 3.6.1 (the newest release that resolves here)
 * is built against Kafka 4.3 and calls this class for its JMX metric names
 * ({@code io.debezium.metrics.Metrics}, {@code io.debezium.pipeline.JmxUtils});
 * in a Kafka 4.4 worker its task fails at start with
 * {@code NoClassDefFoundError: org/apache/kafka/common/utils/Sanitizer}.
 * {@code jdeps --missing-deps} over the Debezium jars against this test
 * classpath finds no other missing Kafka class. This class only restores the
 * old name by delegation; it has nothing to do with strata. Delete it once
 * Debezium is built against Kafka 4.4.
 */
public final class Sanitizer {
    private Sanitizer() {}

    public static String sanitize(String name) {
        return org.apache.kafka.common.utils.internals.Sanitizer.sanitize(name);
    }

    public static String desanitize(String name) {
        return org.apache.kafka.common.utils.internals.Sanitizer.desanitize(name);
    }

    public static String jmxSanitize(String name) {
        return org.apache.kafka.common.utils.internals.Sanitizer.jmxSanitize(name);
    }
}
