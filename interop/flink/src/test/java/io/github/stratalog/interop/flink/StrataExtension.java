package io.github.stratalog.interop.flink;

import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.StrataProcess;

/**
 * One strata process (embedded NATS, file object store) for a test class,
 * and an Admin client on it. An extension rather than @BeforeAll and
 * @AfterAll methods so that it can be ordered around the Flink
 * MiniCluster: registered first, it starts before the cluster and stops
 * after it, so that no Kafka client a job left behind is still talking to
 * a stopped strata while the cluster shuts down.
 */
final class StrataExtension implements BeforeAllCallback, AfterAllCallback {
    private StrataProcess strata;
    private Admin admin;

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        strata = StrataProcess.start();
        admin = KafkaClients.admin(strata.bootstrapServers());
    }

    @Override
    public void afterAll(ExtensionContext context) {
        try {
            if (admin != null) {
                admin.close();
            }
        } finally {
            if (strata != null) {
                strata.close();
            }
        }
    }

    String bootstrapServers() {
        return strata.bootstrapServers();
    }

    Admin admin() {
        return admin;
    }
}
