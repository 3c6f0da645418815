package io.github.stratalog.interop.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.StrataExtension;
import io.github.stratalog.interop.testing.TopicReader;
import io.github.stratalog.interop.testing.Wait;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.AlterConfigsOptions;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TopicListing;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicCollection;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.apache.kafka.common.errors.GroupSubscribedToTopicException;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.OffsetOutOfRangeException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownMemberIdException;
import org.apache.kafka.common.errors.UnknownTopicIdException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The Admin client: topics, topic and broker configs, partitions, consumer
 * groups and their offsets, DeleteRecords and DescribeCluster, each checked
 * by its effect, and the errors Kafka gives for what it refuses.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class AdminClientTest {
    private static final long TIMEOUT_S = 30;
    /** strata's --num-partitions, checked through the broker's configs. */
    private static final int NUM_PARTITIONS = 2;

    @RegisterExtension
    static final StrataExtension strata = new StrataExtension("--num-partitions", Integer.toString(NUM_PARTITIONS));

    private Admin admin;

    @BeforeEach
    void openAdmin() {
        admin = KafkaClients.admin(strata.bootstrapServers());
    }

    @AfterEach
    void closeAdmin() {
        admin.close();
    }

    @Test
    void createDescribeGrowAndDeleteTopic() throws Exception {
        String t = "admin-topic";
        CreateTopicsResult created = admin.createTopics(List.of(new NewTopic(t, Optional.of(3), Optional.empty())
                .configs(Map.of("retention.ms", "3600000", "cleanup.policy", "delete"))));
        created.all().get(TIMEOUT_S, TimeUnit.SECONDS);
        Uuid id = created.topicId(t).get();
        assertNotEquals(Uuid.ZERO_UUID, id, "topic id");
        assertEquals(3, created.numPartitions(t).get(), "partitions in the CreateTopics response");
        assertEquals("3600000", created.config(t).get().get("retention.ms").value(), "retention.ms in the CreateTopics response");

        ExecutionException dup = assertThrows(ExecutionException.class, () -> admin
                .createTopics(List.of(new NewTopic(t, Optional.of(3), Optional.empty()))).all().get(TIMEOUT_S, TimeUnit.SECONDS));
        assertInstanceOf(TopicExistsException.class, dup.getCause(), "creating an existing topic");

        TopicDescription d = describeTopic(t);
        assertEquals(id, d.topicId(), "topic id described");
        assertFalse(d.isInternal());
        assertEquals(List.of(0, 1, 2), d.partitions().stream().map(TopicPartitionInfo::partition).collect(Collectors.toList()));
        for (TopicPartitionInfo p : d.partitions()) {
            assertEquals(strata.process().nodeId(), p.leader().id(), "leader of partition " + p.partition());
        }
        Set<String> names = admin.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS);
        assertTrue(names.contains(t), "listTopics: " + names);
        Map<String, TopicListing> internal = admin.listTopics(new ListTopicsOptions().listInternal(true)).namesToListings()
                .get(TIMEOUT_S, TimeUnit.SECONDS);
        assertTrue(internal.containsKey("__consumer_offsets") && internal.get("__consumer_offsets").isInternal(),
                "__consumer_offsets listed as internal: " + internal.keySet());

        admin.createPartitions(Map.of(t, NewPartitions.increaseTo(5))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        Wait.until(Duration.ofSeconds(10), t + " described with 5 partitions", () -> describeTopic(t).partitions().size() == 5);
        ExecutionException shrink = assertThrows(ExecutionException.class,
                () -> admin.createPartitions(Map.of(t, NewPartitions.increaseTo(4))).all().get(TIMEOUT_S, TimeUnit.SECONDS));
        assertInstanceOf(InvalidPartitionsException.class, shrink.getCause(), "shrinking a topic");
        try (KafkaProducer<String, String> p = KafkaClients.producer(strata.bootstrapServers(), Map.of())) {
            RecordMetadata md = p.send(new ProducerRecord<>(t, 4, "k", "v")).get(TIMEOUT_S, TimeUnit.SECONDS);
            assertEquals(0, md.offset(), "first offset of a new partition");
        }

        admin.deleteTopics(List.of(t)).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        Wait.until(Duration.ofSeconds(10), t + " gone from listTopics",
                () -> !admin.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS).contains(t));
        ExecutionException gone = assertThrows(ExecutionException.class, () -> describeTopic(t));
        assertInstanceOf(UnknownTopicOrPartitionException.class, gone.getCause(), "describing a deleted topic");
    }

    /**
     * describeTopics by id: the Admin client sends Metadata v12 naming the
     * topic by id with an empty (not null) name, as Kafka's generated
     * MetadataRequestTopic defaults it; Kafka brokers look up any non-zero id.
     */
    @Test
    void describeTopicById() throws Exception {
        String t = "admin-describe-by-id";
        CreateTopicsResult created = admin.createTopics(List.of(new NewTopic(t, Optional.of(2), Optional.empty())));
        created.all().get(TIMEOUT_S, TimeUnit.SECONDS);
        Uuid id = created.topicId(t).get();
        TopicDescription d = admin.describeTopics(TopicCollection.ofTopicIds(List.of(id))).allTopicIds()
                .get(TIMEOUT_S, TimeUnit.SECONDS).get(id);
        assertEquals(t, d.name(), "topic described by id");
        assertEquals(id, d.topicId());
        assertEquals(2, d.partitions().size(), "partitions");

        Uuid unknown = Uuid.randomUuid();
        ExecutionException e = assertThrows(ExecutionException.class, () -> admin
                .describeTopics(TopicCollection.ofTopicIds(List.of(unknown))).allTopicIds().get(TIMEOUT_S, TimeUnit.SECONDS));
        assertInstanceOf(UnknownTopicIdException.class, e.getCause(), "describing an unknown topic id");
    }

    @Test
    void deleteTopicById() throws Exception {
        String t = "admin-delete-by-id";
        CreateTopicsResult created = admin.createTopics(List.of(new NewTopic(t, Optional.of(1), Optional.empty())));
        created.all().get(TIMEOUT_S, TimeUnit.SECONDS);
        Uuid id = created.topicId(t).get();

        admin.deleteTopics(TopicCollection.ofTopicIds(List.of(id))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        Wait.until(Duration.ofSeconds(10), t + " gone from listTopics",
                () -> !admin.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS).contains(t));
        ExecutionException again = assertThrows(ExecutionException.class, () -> admin
                .deleteTopics(TopicCollection.ofTopicIds(List.of(id))).all().get(TIMEOUT_S, TimeUnit.SECONDS));
        assertInstanceOf(UnknownTopicIdException.class, again.getCause(), "deleting a deleted topic id");
    }

    @Test
    void describeAndIncrementallyAlterTopicConfigs() throws Exception {
        String t = "admin-configs";
        admin.createTopics(List.of(new NewTopic(t, Optional.of(1), Optional.empty())
                .configs(Map.of("retention.ms", "3600000", "max.message.bytes", "2000000"))))
                .all().get(TIMEOUT_S, TimeUnit.SECONDS);
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, t);

        Config c = describeConfigs(r);
        assertConfig(c, "retention.ms", "3600000", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
        assertConfig(c, "max.message.bytes", "2000000", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
        assertConfig(c, "cleanup.policy", "delete", ConfigEntry.ConfigSource.DEFAULT_CONFIG);
        assertConfig(c, "segment.bytes", "1073741824", ConfigEntry.ConfigSource.DEFAULT_CONFIG);

        alter(r, new AlterConfigsOptions(),
                new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("max.message.bytes", ""), AlterConfigOp.OpType.DELETE),
                new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.APPEND));
        c = describeConfigs(r);
        assertConfig(c, "retention.ms", "7200000", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
        assertConfig(c, "max.message.bytes", "1048588", ConfigEntry.ConfigSource.DEFAULT_CONFIG);
        assertConfig(c, "cleanup.policy", "delete,compact", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);

        alter(r, new AlterConfigsOptions(),
                new AlterConfigOp(new ConfigEntry("cleanup.policy", "delete"), AlterConfigOp.OpType.SUBTRACT));
        assertConfig(describeConfigs(r), "cleanup.policy", "compact", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);

        // Validate-only changes nothing; bad values and unknown names are INVALID_CONFIG.
        alter(r, new AlterConfigsOptions().validateOnly(true),
                new AlterConfigOp(new ConfigEntry("retention.ms", "1000"), AlterConfigOp.OpType.SET));
        ExecutionException bad = assertThrows(ExecutionException.class, () -> alter(r, new AlterConfigsOptions(),
                new AlterConfigOp(new ConfigEntry("retention.ms", "soon"), AlterConfigOp.OpType.SET)));
        assertInstanceOf(InvalidConfigurationException.class, bad.getCause(), "retention.ms=soon");
        ExecutionException unknown = assertThrows(ExecutionException.class, () -> alter(r, new AlterConfigsOptions(),
                new AlterConfigOp(new ConfigEntry("no.such.config", "1"), AlterConfigOp.OpType.SET)));
        assertInstanceOf(InvalidConfigurationException.class, unknown.getCause(), "an unknown topic config");
        assertConfig(describeConfigs(r), "retention.ms", "7200000", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);

        ConfigResource broker = new ConfigResource(ConfigResource.Type.BROKER, Integer.toString(strata.process().nodeId()));
        Config b = describeConfigs(broker);
        assertEquals(Integer.toString(strata.process().nodeId()), b.get("broker.id").value(), "broker.id");
        assertEquals(Integer.toString(NUM_PARTITIONS), b.get("num.partitions").value(), "num.partitions");
        assertEquals("true", b.get("auto.create.topics.enable").value(), "auto.create.topics.enable");
        assertTrue(b.get("num.partitions").isReadOnly(), "broker configs are read-only");

        // An auto-created topic gets num.partitions.
        try (KafkaProducer<String, String> p = KafkaClients.producer(strata.bootstrapServers(), Map.of())) {
            p.send(new ProducerRecord<>("admin-auto-created", "k", "v")).get(TIMEOUT_S, TimeUnit.SECONDS);
        }
        assertEquals(NUM_PARTITIONS, describeTopic("admin-auto-created").partitions().size(), "partitions of an auto-created topic");
    }

    @Test
    // listConsumerGroups is deprecated for listGroups (KIP-1043); both are checked.
    @SuppressWarnings({"deprecation", "removal"})
    void consumerGroupsAndTheirOffsets() throws Exception {
        String t = "admin-groups";
        String group = "admin-group";
        admin.createTopics(List.of(new NewTopic(t, Optional.of(3), Optional.empty()))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        List<TopicPartition> tps = IntStream.range(0, 3).mapToObj(i -> new TopicPartition(t, i)).collect(Collectors.toList());
        try (KafkaProducer<String, String> p = KafkaClients.producer(strata.bootstrapServers(), Map.of())) {
            for (int i = 0; i < 30; i++) {
                p.send(new ProducerRecord<>(t, i % 3, "k", "v" + i));
            }
            p.flush();
        }

        Map<String, Object> cfg = Map.of(ConsumerConfig.CLIENT_ID_CONFIG, "admin-member");
        try (KafkaConsumer<String, String> c = KafkaClients.consumer(strata.bootstrapServers(), group, cfg)) {
            c.subscribe(List.of(t));
            List<ConsumerRecord<String, String>> read = new ArrayList<>();
            Wait.until(Duration.ofSeconds(60), "30 records read by the group", () -> {
                c.poll(Duration.ofMillis(200)).forEach(read::add);
                return read.size() >= 30;
            });
            assertEquals(30, read.size());
            c.commitSync(Duration.ofSeconds(TIMEOUT_S));

            var listed = admin.listConsumerGroups().all().get(TIMEOUT_S, TimeUnit.SECONDS);
            var listing = listed.stream().filter(l -> l.groupId().equals(group)).findFirst()
                    .orElseThrow(() -> new AssertionError("listConsumerGroups lacks " + group + ": " + listed));
            assertEquals(Optional.of(GroupType.CLASSIC), listing.type(), "listed group type");
            assertEquals(Optional.of(GroupState.STABLE), listing.groupState(), "listed group state");
            Collection<GroupListing> groups = admin.listGroups(ListGroupsOptions.forConsumerGroups()).all()
                    .get(TIMEOUT_S, TimeUnit.SECONDS);
            assertTrue(groups.stream().anyMatch(g -> g.groupId().equals(group)), "listGroups(consumer groups): " + groups);

            ConsumerGroupDescription d = describeGroup(group);
            assertEquals(GroupType.CLASSIC, d.type());
            assertEquals(GroupState.STABLE, d.groupState());
            assertEquals(strata.process().nodeId(), d.coordinator().id(), "coordinator");
            assertEquals(1, d.members().size(), "members: " + d.members());
            MemberDescription m = d.members().iterator().next();
            assertEquals("admin-member", m.clientId());
            assertEquals(Set.copyOf(tps), m.assignment().topicPartitions(), "member's assignment");

            // What Kafka refuses while the group has a member subscribed to the topic.
            ExecutionException alterActive = assertThrows(ExecutionException.class, () -> admin.alterConsumerGroupOffsets(
                    group, Map.of(tps.get(0), new OffsetAndMetadata(1))).all().get(TIMEOUT_S, TimeUnit.SECONDS));
            assertInstanceOf(UnknownMemberIdException.class, alterActive.getCause(), "altering the offsets of a group with members");
            ExecutionException deleteSubscribed = assertThrows(ExecutionException.class, () -> admin.deleteConsumerGroupOffsets(
                    group, Set.of(tps.get(0))).all().get(TIMEOUT_S, TimeUnit.SECONDS));
            assertInstanceOf(GroupSubscribedToTopicException.class, deleteSubscribed.getCause(),
                    "deleting offsets of a topic the group subscribes to");
            ExecutionException deleteActive = assertThrows(ExecutionException.class,
                    () -> admin.deleteConsumerGroups(List.of(group)).all().get(TIMEOUT_S, TimeUnit.SECONDS));
            assertInstanceOf(GroupNotEmptyException.class, deleteActive.getCause(), "deleting a group with members");
            assertEquals(Map.of(tps.get(0), 10L, tps.get(1), 10L, tps.get(2), 10L), committed(group), "committed offsets");
        }

        Wait.until(Duration.ofSeconds(10), group + " empty after its member left",
                () -> describeGroup(group).groupState() == GroupState.EMPTY);
        assertEquals(List.of(), new ArrayList<>(describeGroup(group).members()), "members of the empty group");
        assertEquals(Map.of(tps.get(0), 10L, tps.get(1), 10L, tps.get(2), 10L), committed(group), "committed offsets");

        admin.alterConsumerGroupOffsets(group, Map.of(tps.get(0), new OffsetAndMetadata(3, "rewound")))
                .all().get(TIMEOUT_S, TimeUnit.SECONDS);
        Map<TopicPartition, OffsetAndMetadata> offsets = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                .get(TIMEOUT_S, TimeUnit.SECONDS);
        assertEquals(3, offsets.get(tps.get(0)).offset(), "altered offset");
        assertEquals("rewound", offsets.get(tps.get(0)).metadata(), "altered offset's metadata");

        admin.deleteConsumerGroupOffsets(group, Set.of(tps.get(1))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        assertEquals(Map.of(tps.get(0), 3L, tps.get(2), 10L), committed(group), "offsets after deleting partition 1's");

        // The group resumes from what is committed now: 3 on partition 0,
        // the earliest (auto.offset.reset) on 1, and 10 on 2.
        try (KafkaConsumer<String, String> c = KafkaClients.consumer(strata.bootstrapServers(), group, cfg)) {
            c.subscribe(List.of(t));
            List<String> read = new ArrayList<>();
            Wait.until(Duration.ofSeconds(60), "the group to reach the end of " + t, () -> {
                c.poll(Duration.ofMillis(200)).forEach(r -> read.add(r.partition() + "@" + r.offset()));
                if (c.assignment().size() != 3) {
                    return false;
                }
                for (TopicPartition tp : tps) {
                    if (c.position(tp) < 10) {
                        return false;
                    }
                }
                return true;
            });
            List<String> want = new ArrayList<>();
            IntStream.range(3, 10).forEach(o -> want.add("0@" + o));
            IntStream.range(0, 10).forEach(o -> want.add("1@" + o));
            assertEquals(want.stream().sorted().collect(Collectors.toList()), read.stream().sorted().collect(Collectors.toList()),
                    "records read after the offsets were altered");
        }

        Wait.until(Duration.ofSeconds(10), group + " empty again", () -> describeGroup(group).groupState() == GroupState.EMPTY);
        admin.deleteConsumerGroups(List.of(group)).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        assertFalse(admin.listConsumerGroups().all().get(TIMEOUT_S, TimeUnit.SECONDS).stream()
                .anyMatch(l -> l.groupId().equals(group)), "deleted group still listed");
        ExecutionException gone = assertThrows(ExecutionException.class, () -> describeGroup(group));
        assertInstanceOf(GroupIdNotFoundException.class, gone.getCause(), "describing a deleted group");
        assertEquals(Map.of(), committed(group), "offsets of a deleted group");
    }

    @Test
    void deleteRecordsMovesTheLowWatermark() throws Exception {
        String t = "admin-delete-records";
        TopicPartition tp = new TopicPartition(t, 0);
        admin.createTopics(List.of(new NewTopic(t, Optional.of(1), Optional.empty()))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        try (KafkaProducer<String, String> p = KafkaClients.producer(strata.bootstrapServers(), Map.of())) {
            for (int i = 0; i < 10; i++) {
                p.send(new ProducerRecord<>(t, 0, "k", "v" + i));
            }
            p.flush();
        }

        long low = admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(4))).lowWatermarks().get(tp)
                .get(TIMEOUT_S, TimeUnit.SECONDS).lowWatermark();
        assertEquals(4, low, "low watermark returned");
        assertEquals(4, listOffset(tp, OffsetSpec.earliest()), "earliest offset");
        assertEquals(10, listOffset(tp, OffsetSpec.latest()), "latest offset");
        List<String> read = TopicReader.readAll(strata.bootstrapServers(), t, IsolationLevel.READ_UNCOMMITTED, Duration.ofSeconds(30))
                .stream().map(r -> r.offset() + "=" + r.value()).collect(Collectors.toList());
        assertEquals(IntStream.range(4, 10).mapToObj(i -> i + "=v" + i).collect(Collectors.toList()), read, "records left");

        ExecutionException beyond = assertThrows(ExecutionException.class, () -> admin
                .deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(11))).all().get(TIMEOUT_S, TimeUnit.SECONDS));
        assertInstanceOf(OffsetOutOfRangeException.class, beyond.getCause(), "deleting past the high watermark");

        // -1 means up to the high watermark.
        low = admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(-1))).lowWatermarks().get(tp)
                .get(TIMEOUT_S, TimeUnit.SECONDS).lowWatermark();
        assertEquals(10, low, "low watermark after deleting up to the high watermark");
        assertEquals(10, listOffset(tp, OffsetSpec.earliest()), "earliest offset");
    }

    @Test
    void describeClusterListsTheGateway() throws Exception {
        DescribeClusterResult r = admin.describeCluster();
        assertEquals(strata.process().clusterId(), r.clusterId().get(TIMEOUT_S, TimeUnit.SECONDS), "cluster id");
        List<Node> nodes = new ArrayList<>(r.nodes().get(TIMEOUT_S, TimeUnit.SECONDS));
        assertEquals(1, nodes.size(), "nodes: " + nodes);
        Node n = nodes.get(0);
        assertEquals(strata.process().nodeId(), n.id());
        assertEquals(strata.bootstrapServers(), n.host() + ":" + n.port(), "advertised address");
        assertEquals(strata.process().nodeId(), r.controller().get(TIMEOUT_S, TimeUnit.SECONDS).id(), "controller");
    }

    private TopicDescription describeTopic(String t) throws Exception {
        return admin.describeTopics(List.of(t)).allTopicNames().get(TIMEOUT_S, TimeUnit.SECONDS).get(t);
    }

    private ConsumerGroupDescription describeGroup(String group) throws Exception {
        return admin.describeConsumerGroups(List.of(group)).describedGroups().get(group).get(TIMEOUT_S, TimeUnit.SECONDS);
    }

    private Config describeConfigs(ConfigResource r) throws Exception {
        return admin.describeConfigs(List.of(r)).all().get(TIMEOUT_S, TimeUnit.SECONDS).get(r);
    }

    private void alter(ConfigResource r, AlterConfigsOptions options, AlterConfigOp... ops) throws Exception {
        admin.incrementalAlterConfigs(Map.of(r, List.of(ops)), options).all().get(TIMEOUT_S, TimeUnit.SECONDS);
    }

    private static void assertConfig(Config c, String name, String value, ConfigEntry.ConfigSource source) {
        ConfigEntry e = c.get(name);
        assertTrue(e != null, name + " not described");
        assertEquals(value, e.value(), name);
        assertEquals(source, e.source(), "source of " + name);
        assertEquals(source == ConfigEntry.ConfigSource.DEFAULT_CONFIG, e.isDefault(), "isDefault of " + name);
    }

    private Map<TopicPartition, Long> committed(String group) throws Exception {
        Map<TopicPartition, Long> out = new HashMap<>();
        admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(TIMEOUT_S, TimeUnit.SECONDS)
                .forEach((tp, om) -> {
                    if (om != null) {
                        out.put(tp, om.offset());
                    }
                });
        return out;
    }

    private long listOffset(TopicPartition tp, OffsetSpec spec) throws Exception {
        return admin.listOffsets(Map.of(tp, spec)).partitionResult(tp).get(TIMEOUT_S, TimeUnit.SECONDS).offset();
    }
}
