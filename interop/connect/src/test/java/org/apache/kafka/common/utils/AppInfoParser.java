package org.apache.kafka.common.utils;

/**
 * Kafka 4.3's {@code org.apache.kafka.common.utils.AppInfoParser}, which
 * Kafka 4.4 moved to {@code org.apache.kafka.common.utils.internals.AppInfoParser}.
 *
 * <p>Why it is here: connect-file 4.3.x (the newest connect-file that
 * resolves here; 4.4.0 does not) implements
 * {@code FileStreamSourceConnector.version()} and
 * {@code FileStreamSinkConnector.version()}, and through them the tasks'
 * {@code version()}, as {@code AppInfoParser.getVersion()}. In a Kafka 4.4
 * worker that call fails with
 * {@code NoClassDefFoundError: org/apache/kafka/common/utils/AppInfoParser}:
 * the plugin scan logs it, and every PUT of a FileStream connector's config
 * answers 500. {@code jdeps --missing-deps} over connect-file 4.3.1 against
 * this test classpath finds no other missing class, and {@code getVersion}
 * is the only method it calls. This class only restores the old name by
 * delegation (so the connectors report the worker's Kafka version); it has
 * nothing to do with strata. Delete it once connect-file's version is the
 * worker's (4.4 or later).
 */
public final class AppInfoParser {
    private AppInfoParser() {}

    public static String getVersion() {
        return org.apache.kafka.common.utils.internals.AppInfoParser.getVersion();
    }

    public static String getCommitId() {
        return org.apache.kafka.common.utils.internals.AppInfoParser.getCommitId();
    }
}
