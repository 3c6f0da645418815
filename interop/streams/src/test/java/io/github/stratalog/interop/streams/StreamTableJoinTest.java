package io.github.stratalog.interop.streams;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.github.stratalog.interop.streams.Topics.Event;
import io.github.stratalog.interop.testing.StrataExtension;
import io.github.stratalog.interop.testing.Wait;

/**
 * A stream-table join on Strata: orders (a stream) left-joined with
 * customers (a KTable read from a compacted topic), both keyed by customer
 * id on three partitions.
 *
 * <p>The test produces the table, checks through an interactive query that
 * the application's table holds it, then produces orders; then it updates
 * some customers and deletes one (a tombstone), waits for the table to show
 * that, and produces more orders. Each order must be joined with the version
 * of its customer current when it was produced (none for an unknown or
 * deleted customer), and each customer's joined orders must come out in the
 * order produced.
 */
class StreamTableJoinTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(90);
    private static final int PARTITIONS = 3;
    private static final int CUSTOMERS = 10;
    private static final int ORDERS_PER_ROUND = 60;

    @RegisterExtension
    static final StrataExtension strata = new StrataExtension();

    @Test
    void ordersJoinTheCustomerVersionCurrentWhenTheyArrive() throws Exception {
        String bootstrap = strata.bootstrapServers();
        Topics.create(bootstrap, "customers", PARTITIONS, Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT));
        Topics.create(bootstrap, "orders", PARTITIONS, Map.of());
        Topics.create(bootstrap, "enriched-orders", PARTITIONS, Map.of());

        StreamsBuilder b = new StreamsBuilder();
        KTable<String, String> customers = b.table("customers",
                Materialized.<String, String, KeyValueStore<Bytes, byte[]>>as("customers-store")
                        .withKeySerde(Serdes.String()).withValueSerde(Serdes.String()));
        b.<String, String>stream("orders")
                .leftJoin(customers, (order, customer) -> order + "|" + (customer == null ? "-" : customer))
                .to("enriched-orders", Produced.with(Serdes.String(), Serdes.String()));

        long time = (System.currentTimeMillis() - Duration.ofMinutes(10).toMillis());
        Map<String, String> table = new HashMap<>();
        Map<String, List<String>> expected = new LinkedHashMap<>();
        int orderNo = 0;
        try (StreamsApp app = StreamsApp.start(bootstrap, "stream-table-join", b.build());
                TopicTail tail = new TopicTail(bootstrap, "enriched-orders", IsolationLevel.READ_UNCOMMITTED)) {
            List<Event> v1 = new ArrayList<>();
            for (int c = 0; c < CUSTOMERS; c++) {
                v1.add(new Event("c" + c, "name" + c + "-v1", time++));
            }
            updateTable(app, bootstrap, table, v1);
            orderNo = order(bootstrap, table, expected, orderNo, time);
            time += ORDERS_PER_ROUND;
            // Every order of the first round joined before the table changes.
            int firstRound = orderNo;
            tail.awaitRecords(TIMEOUT, firstRound + " joined orders", app::assertHealthy, r -> r.size() >= firstRound);

            // Half of the customers change, one is deleted.
            List<Event> v2 = new ArrayList<>();
            for (int c = 0; c < CUSTOMERS / 2; c++) {
                v2.add(new Event("c" + c, "name" + c + "-v2", time++));
            }
            v2.add(new Event("c" + (CUSTOMERS - 1), null, time++));
            updateTable(app, bootstrap, table, v2);
            orderNo = order(bootstrap, table, expected, orderNo, time);

            int total = orderNo;
            List<ConsumerRecord<String, String>> out;
            try {
                out = tail.awaitRecords(TIMEOUT, total + " joined orders", app::assertHealthy, r -> r.size() >= total);
            } catch (AssertionError e) {
                assertEquals(expected, TopicTail.valuesByKey(tail.records()), e.getMessage());
                throw e;
            }
            assertEquals(expected, TopicTail.valuesByKey(out));
            assertEquals(total, out.size());
        }
    }

    /**
     * Produces {@code updates} to the customers topic, applies them to
     * {@code table}, and waits until the application's table store (an
     * interactive query) equals it.
     */
    private static void updateTable(StreamsApp app, String bootstrap, Map<String, String> table, List<Event> updates)
            throws Exception {
        Topics.produce(bootstrap, "customers", updates);
        updates.forEach(e -> {
            if (e.value() == null) {
                table.remove(e.key());
            } else {
                table.put(e.key(), e.value());
            }
        });
        Wait.until(TIMEOUT, "the application's customers table to be " + table, () -> {
            app.assertHealthy();
            ReadOnlyKeyValueStore<String, String> store = app.keyValueStore("customers-store");
            for (int c = 0; c < CUSTOMERS; c++) {
                if (!Objects.equals(table.get("c" + c), store.get("c" + c))) {
                    return false;
                }
            }
            return true;
        });
    }

    /**
     * Produces a round of orders over the customers and one unknown
     * customer, and adds what each must join to {@code expected}; returns
     * the next order number.
     */
    private static int order(String bootstrap, Map<String, String> table, Map<String, List<String>> expected, int orderNo,
            long time) throws Exception {
        List<Event> orders = new ArrayList<>();
        for (int i = 0; i < ORDERS_PER_ROUND; i++, orderNo++) {
            String customer = "c" + (orderNo % (CUSTOMERS + 1));
            String order = "order" + orderNo;
            orders.add(new Event(customer, order, time + i));
            expected.computeIfAbsent(customer, k -> new ArrayList<>()).add(order + "|" + table.getOrDefault(customer, "-"));
        }
        Topics.produce(bootstrap, "orders", orders);
        return orderNo;
    }
}
