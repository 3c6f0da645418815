package io.github.stratalog.interop.streams;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.github.stratalog.interop.streams.Topics.Event;
import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.StrataExtension;
import io.github.stratalog.interop.testing.TopicReader;
import io.github.stratalog.interop.testing.Wait;

/**
 * {@code processing.guarantee=exactly_once_v2} on Strata across a crash: a
 * running count per key ({@link CountingApp}, in a child JVM) is killed
 * with SIGKILL while it is working through its input, and started again on
 * the same state directory (so with the same transactional ids, which fence
 * the dead instance's producer) while more input arrives.
 *
 * <p>With caching off, each input record produces one output record, the
 * key's new count. A read_committed consumer of the output must see, for
 * every key, exactly 1, 2, …, n for the key's n input records: a count
 * missing means an input's effect was lost, a count repeated means an
 * input was counted twice or a transaction's output was exposed twice
 * (the output of the transaction the kill interrupted must be aborted, and
 * its input processed again from the last committed offsets and state).
 */
class ExactlyOnceTest {
    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);
    private static final Duration RESULT_TIMEOUT = Duration.ofSeconds(120);
    private static final int PARTITIONS = 3;
    private static final int KEYS = 20;
    private static final int RECORDS = 3000;
    /** Committed output records (so input records counted) seen before the kill. */
    private static final int KILL_AFTER = 500;
    private static final String APP = "eos-counts";

    @RegisterExtension
    static final StrataExtension strata = new StrataExtension();

    @Test
    void countsEveryInputOnceAcrossAKill() throws Exception {
        String bootstrap = strata.bootstrapServers();
        Topics.create(bootstrap, "eos-in", PARTITIONS, Map.of());
        Topics.create(bootstrap, "eos-out", PARTITIONS, Map.of());
        Map<String, Integer> expected = new TreeMap<>();
        List<Event> events = events(expected);
        Path stateDir = StreamsApp.newStateDir();
        String[] args = {bootstrap, APP, "eos-in", "eos-out", stateDir.toString()};
        long killedRecords;
        try (TopicTail committed = new TopicTail(bootstrap, "eos-out", IsolationLevel.READ_COMMITTED);
                InputFeeder feeder = new InputFeeder(bootstrap, "eos-in", events);
                Admin admin = KafkaClients.admin(bootstrap)) {
            int producedAtKill;
            try (ChildJvm first = ChildJvm.start(CountingApp.class, args)) {
                first.awaitLine("state RUNNING", START_TIMEOUT);
                // The input flows while the application runs, so that it is
                // in the middle of a transaction when killed.
                feeder.start();
                committed.awaitRecords(RESULT_TIMEOUT, KILL_AFTER + " committed counts", first::assertRunning,
                        r -> r.size() >= KILL_AFTER);
                killedRecords = killInsideOpenTransaction(first, admin);
                producedAtKill = feeder.produced();
            }
            int beforeKill = committed.records().size();
            // The rest of the input arrives while the application is down.
            feeder.awaitDone(RESULT_TIMEOUT);

            try (ChildJvm second = ChildJvm.start(CountingApp.class, args)) {
                second.awaitLine("state RUNNING", START_TIMEOUT);
                Map<String, String> finalCounts = expected.entrySet().stream()
                        .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().toString()));
                try {
                    committed.awaitRecords(RESULT_TIMEOUT, "the final counts " + finalCounts, second::assertRunning,
                            r -> TopicTail.lastValues(r).equals(finalCounts));
                } catch (AssertionError e) {
                    throw new AssertionError(second.describe("did not reach the final counts: " + TopicTail.lastValues(committed.records())), e);
                }
                assertEquals(143, second.stop(Duration.ofSeconds(60)), "exit code on SIGTERM");
            }
            System.out.printf("exactly once: killed with %d of %d input records produced and %d committed counts seen%n",
                    producedAtKill, RECORDS, beforeKill);
        } finally {
            StreamsApp.deleteTree(stateDir);
        }

        List<ConsumerRecord<String, String>> out = TopicReader.readAll(bootstrap, "eos-out", IsolationLevel.READ_COMMITTED,
                RESULT_TIMEOUT);
        Map<String, List<String>> expectedSequences = new TreeMap<>();
        expected.forEach((key, n) -> expectedSequences.put(key,
                IntStream.rangeClosed(1, n).mapToObj(Integer::toString).toList()));
        assertEquals(expectedSequences, new TreeMap<>(TopicTail.valuesByKey(out)));

        // The killed transaction's records are in the log, aborted (the
        // next instance's InitProducerId, with the same transactional id,
        // aborts it): read_uncommitted shows them, read_committed did not.
        int uncommitted = TopicReader.readAll(bootstrap, "eos-out", IsolationLevel.READ_UNCOMMITTED, RESULT_TIMEOUT).size();
        System.out.printf("exactly once: %d committed output records, %d read_uncommitted%n", out.size(), uncommitted);
        assertTrue(uncommitted - out.size() >= killedRecords, "aborted output records in the log: " + (uncommitted - out.size())
                + ", in the transaction killed: " + killedRecords);
    }

    /**
     * Freezes the application until it is inside a transaction with records
     * in the log, then kills it there, and returns how many records that
     * transaction has in the output; a freeze that finds none thaws it and
     * tries again.
     *
     * <p>Inside means the coordinator has the transaction ONGOING (no
     * EndTxn yet: a transaction already committing would complete without
     * the application) and an output partition's last stable offset is
     * below its high watermark. Both are read until two reads agree, so
     * that a request the application sent just before the freeze has
     * landed.
     */
    private static long killInsideOpenTransaction(ChildJvm app, Admin admin) throws InterruptedException {
        long[] killedRecords = {0};
        Wait.until(RESULT_TIMEOUT, "an open transaction to kill the application in", () -> {
            app.assertRunning();
            app.signal("STOP");
            TxnSnapshot[] last = {null};
            Wait.until(Duration.ofSeconds(10), "the frozen application's transaction to settle", () -> {
                TxnSnapshot now = TxnSnapshot.read(admin);
                boolean settled = now.equals(last[0]);
                last[0] = now;
                return settled;
            });
            TxnSnapshot settled = last[0];
            if (settled.states().equals(List.of(TransactionState.ONGOING)) && !settled.stable().equals(settled.high())) {
                app.kill();
                System.out.printf("exactly once: killed inside an ongoing transaction, last stable offsets %s, high watermarks %s%n",
                        settled.stable(), settled.high());
                settled.high().forEach((tp, high) -> killedRecords[0] += high - settled.stable().get(tp));
                return true;
            }
            app.signal("CONT");
            return false;
        });
        return killedRecords[0];
    }

    /** The application's transactions' states and the output's last stable offsets and high watermarks. */
    private record TxnSnapshot(List<TransactionState> states, Map<TopicPartition, Long> stable, Map<TopicPartition, Long> high) {
        static TxnSnapshot read(Admin admin) throws Exception {
            List<TransactionState> states = admin.listTransactions().all().get(30, TimeUnit.SECONDS).stream()
                    .filter(t -> t.transactionalId().startsWith(APP + "-"))
                    .map(TransactionListing::state)
                    .toList();
            return new TxnSnapshot(states, endOffsets(admin, IsolationLevel.READ_COMMITTED),
                    endOffsets(admin, IsolationLevel.READ_UNCOMMITTED));
        }
    }

    private static Map<TopicPartition, Long> endOffsets(Admin admin, IsolationLevel isolation) throws Exception {
        Map<TopicPartition, OffsetSpec> request = new HashMap<>();
        for (int p = 0; p < PARTITIONS; p++) {
            request.put(new TopicPartition("eos-out", p), OffsetSpec.latest());
        }
        return admin.listOffsets(request, new ListOffsetsOptions(isolation)).all().get(30, TimeUnit.SECONDS).entrySet().stream()
                .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().offset()));
    }

    /** {@link #RECORDS} records over {@link #KEYS} keys; counts them into {@code expected}. */
    private static List<Event> events(Map<String, Integer> expected) {
        long time = System.currentTimeMillis();
        List<Event> events = new ArrayList<>();
        for (int i = 0; i < RECORDS; i++) {
            String key = "k" + i % KEYS;
            events.add(new Event(key, "v" + i, time + i));
            expected.merge(key, 1, Integer::sum);
        }
        return events;
    }
}
