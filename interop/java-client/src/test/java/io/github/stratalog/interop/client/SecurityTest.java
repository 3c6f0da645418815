package io.github.stratalog.interop.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.SecuredStrata;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.admin.UserScramCredentialsDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.GroupAuthorizationException;
import org.apache.kafka.common.errors.ResourceNotFoundException;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.SslAuthenticationException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Security as a Java client user meets it, on a {@link SecuredStrata}
 * (SASL_SSL, SASL_PLAINTEXT and mutual-TLS listeners, ACLs enforced, one
 * super user): the super user creates a SCRAM user with the Admin client
 * (KIP-554), grants it literal and prefixed ACLs and sets its quotas; that
 * user then produces and consumes in a group over each listener, is refused
 * what it was not granted with the exception Kafka gives, cannot log in with
 * a wrong password, and loses access when its ACLs are deleted.
 *
 * <p>The tests run in order, each on what the ones before set up: the user
 * and ACLs of the first are what the others rely on, and the last deletes
 * ACLs.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SecurityTest {
    private static final long TIMEOUT_S = 30;
    private static final Duration POLL_FOR = Duration.ofSeconds(30);
    private static final String USER = "alice";
    private static final String PASSWORD = "alice-secret";
    private static final String PRINCIPAL = "User:" + USER;
    /** alice's by a literal ACL. */
    private static final String ORDERS = "orders";
    /** alice's by a prefixed ACL on "alice-". */
    private static final String EVENTS = "alice-events";
    /** Nobody's but the super user's. */
    private static final String SECRET = "secret";
    /** alice may use the groups starting with this (a prefixed ACL). */
    private static final String GROUP_PREFIX = "alice-";

    private static final AclBinding ORDERS_READ = allow(ResourceType.TOPIC, ORDERS, PatternType.LITERAL, AclOperation.READ);
    private static final AclBinding ORDERS_WRITE = allow(ResourceType.TOPIC, ORDERS, PatternType.LITERAL, AclOperation.WRITE);
    private static final AclBinding PREFIX_READ = allow(ResourceType.TOPIC, GROUP_PREFIX, PatternType.PREFIXED, AclOperation.READ);
    private static final AclBinding PREFIX_WRITE = allow(ResourceType.TOPIC, GROUP_PREFIX, PatternType.PREFIXED, AclOperation.WRITE);
    private static final AclBinding GROUPS_READ = allow(ResourceType.GROUP, GROUP_PREFIX, PatternType.PREFIXED, AclOperation.READ);
    private static final Set<AclBinding> ACLS = Set.of(ORDERS_READ, ORDERS_WRITE, PREFIX_READ, PREFIX_WRITE, GROUPS_READ);

    /** Client certificates: alice's (granted as User:alice) and bob's (granted nothing). */
    @RegisterExtension
    static final SecuredStrata strata = new SecuredStrata("alice", "bob");

    @Test
    @Order(1)
    void adminCreatesUserAclsAndQuotas() throws Exception {
        Admin admin = strata.admin();
        admin.createTopics(Stream.of(ORDERS, EVENTS, SECRET).map(t -> new NewTopic(t, Optional.of(1), Optional.empty())).toList())
                .all().get(TIMEOUT_S, TimeUnit.SECONDS);

        // KIP-554: a user with credentials for both SCRAM mechanisms.
        admin.alterUserScramCredentials(List.of(
                new UserScramCredentialUpsertion(USER, new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), PASSWORD),
                new UserScramCredentialUpsertion(USER, new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), PASSWORD)))
                .all().get(TIMEOUT_S, TimeUnit.SECONDS);
        UserScramCredentialsDescription alice = admin.describeUserScramCredentials(List.of(USER)).description(USER)
                .get(TIMEOUT_S, TimeUnit.SECONDS);
        assertEquals(Map.of(ScramMechanism.SCRAM_SHA_512, 8192, ScramMechanism.SCRAM_SHA_256, 4096),
                alice.credentialInfos().stream().collect(Collectors.toMap(ScramCredentialInfo::mechanism, ScramCredentialInfo::iterations)),
                "alice's credentials described");
        assertEquals(Set.of(SecuredStrata.ADMIN, USER), Set.copyOf(admin.describeUserScramCredentials().users().get(TIMEOUT_S, TimeUnit.SECONDS)),
                "every user described");
        assertInstanceOf(ResourceNotFoundException.class, failure(() -> admin.describeUserScramCredentials(List.of("nobody"))
                .description("nobody").get(TIMEOUT_S, TimeUnit.SECONDS)), "describing a user that does not exist");

        // ACLs, literal and prefixed.
        admin.createAcls(ACLS).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        assertEquals(ACLS, Set.copyOf(admin.describeAcls(AclBindingFilter.ANY).values().get(TIMEOUT_S, TimeUnit.SECONDS)),
                "every ACL described");
        assertEquals(Set.of(PREFIX_READ, PREFIX_WRITE, GROUPS_READ), describeAcls(admin,
                new ResourcePatternFilter(ResourceType.ANY, null, PatternType.PREFIXED)), "the prefixed ACLs");
        assertEquals(Set.of(PREFIX_READ, PREFIX_WRITE), describeAcls(admin,
                new ResourcePatternFilter(ResourceType.TOPIC, EVENTS, PatternType.MATCH)), "the ACLs that apply to " + EVENTS);

        // Quotas: set two, remove one.
        ClientQuotaEntity entity = new ClientQuotaEntity(Map.of(ClientQuotaEntity.USER, USER));
        alterQuotas(admin, entity, Map.of("producer_byte_rate", 1048576.0, "consumer_byte_rate", 2097152.0));
        assertEquals(Map.of(entity, Map.of("producer_byte_rate", 1048576.0, "consumer_byte_rate", 2097152.0)), quotasOf(admin, USER),
                "alice's quotas");
        Map<String, Double> remove = new HashMap<>();
        remove.put("consumer_byte_rate", null);
        alterQuotas(admin, entity, remove);
        assertEquals(Map.of(entity, Map.of("producer_byte_rate", 1048576.0)), quotasOf(admin, USER), "alice's quotas after a removal");
    }

    /** alice over SASL_SSL with SCRAM-SHA-512, and over SASL_PLAINTEXT with PLAIN (checked against her SCRAM credential). */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"SASL_SSL", "SASL_PLAINTEXT"})
    @Order(2)
    void userProducesAndConsumes(String listener) throws Exception {
        Map<String, Object> login = listener.equals("SASL_SSL") ? strata.scram(USER, PASSWORD) : strata.plain(USER, PASSWORD);
        produceAndConsume(login, listener.toLowerCase());
    }

    @Test
    @Order(3)
    void refusedWhatIsNotGranted() throws Exception {
        Map<String, Object> alice = strata.scram(USER, PASSWORD);
        try (KafkaProducer<String, String> p = producer(alice)) {
            Throwable e = failure(() -> p.send(new ProducerRecord<>(SECRET, "k", "v")).get(TIMEOUT_S, TimeUnit.SECONDS));
            assertInstanceOf(TopicAuthorizationException.class, e, "producing to " + SECRET);
            assertEquals(Set.of(SECRET), ((TopicAuthorizationException) e).unauthorizedTopics());
        }
        try (KafkaConsumer<String, String> c = consumer(alice, GROUP_PREFIX + "secret")) {
            c.subscribe(List.of(SECRET));
            assertInstanceOf(TopicAuthorizationException.class, pollUntilThrown(c), "consuming " + SECRET);
        }
        try (KafkaConsumer<String, String> c = consumer(alice, "orders-readers")) {
            c.subscribe(List.of(ORDERS));
            Throwable e = pollUntilThrown(c);
            assertInstanceOf(GroupAuthorizationException.class, e, "a group without an ACL");
            assertEquals("orders-readers", ((GroupAuthorizationException) e).groupId());
        }
        // Metadata leaves out the topics alice may not describe.
        try (Admin a = admin(alice)) {
            Set<String> topics = a.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS);
            assertEquals(Set.of(ORDERS, EVENTS), topics, "the topics alice lists");
        }
    }

    @Test
    @Order(4)
    void wrongPasswordOrUnknownUserCannotLogIn() throws Exception {
        try (Admin a = admin(strata.scram(USER, "wrong-secret"))) {
            assertInstanceOf(SaslAuthenticationException.class, failure(() -> a.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS)),
                    "SCRAM-SHA-512 with a wrong password");
        }
        try (Admin a = admin(strata.scram("mallory", PASSWORD))) {
            assertInstanceOf(SaslAuthenticationException.class, failure(() -> a.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS)),
                    "SCRAM-SHA-512 as an unknown user");
        }
        try (KafkaConsumer<String, String> c = consumer(strata.plain(USER, "wrong-secret"), GROUP_PREFIX + "wrong")) {
            assertInstanceOf(SaslAuthenticationException.class, failure(() -> c.partitionsFor(ORDERS)), "PLAIN with a wrong password");
        }
        try (KafkaProducer<String, String> p = producer(strata.scram(USER, "wrong-secret"))) {
            assertInstanceOf(SaslAuthenticationException.class,
                    failure(() -> p.send(new ProducerRecord<>(ORDERS, "k", "v")).get(TIMEOUT_S, TimeUnit.SECONDS)),
                    "producing with a wrong password");
        }
    }

    /**
     * The SSL listener with client certificates: alice's certificate (CN=alice)
     * is User:alice, with her ACLs; bob's is User:bob, granted nothing; no
     * certificate fails the handshake.
     */
    @Test
    @Order(5)
    void mutualTls() throws Exception {
        produceAndConsume(strata.mtls("alice"), "mtls");
        try (KafkaProducer<String, String> p = producer(strata.mtls("bob"))) {
            assertInstanceOf(TopicAuthorizationException.class,
                    failure(() -> p.send(new ProducerRecord<>(ORDERS, "k", "v")).get(TIMEOUT_S, TimeUnit.SECONDS)),
                    "bob's certificate producing to " + ORDERS);
        }
        try (Admin a = admin(strata.tlsWithoutCertificate())) {
            assertInstanceOf(SslAuthenticationException.class, failure(() -> a.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS)),
                    "TLS without a client certificate");
        }
    }

    /** Deleting ACLs takes access away at the next request, on connections already open. */
    @Test
    @Order(6)
    void deleteAclsRemovesAccess() throws Exception {
        Admin admin = strata.admin();
        Map<String, Object> alice = strata.scram(USER, PASSWORD);
        try (KafkaProducer<String, String> p = producer(alice)) {
            p.send(new ProducerRecord<>(ORDERS, "k", "before")).get(TIMEOUT_S, TimeUnit.SECONDS);

            Collection<AclBinding> deleted = admin.deleteAcls(List.of(new AclBindingFilter(
                    new ResourcePatternFilter(ResourceType.TOPIC, ORDERS, PatternType.LITERAL),
                    new AccessControlEntryFilter(PRINCIPAL, null, AclOperation.ANY, AclPermissionType.ANY))))
                    .all().get(TIMEOUT_S, TimeUnit.SECONDS);
            assertEquals(Set.of(ORDERS_READ, ORDERS_WRITE), Set.copyOf(deleted), "the ACLs deleted");

            assertInstanceOf(TopicAuthorizationException.class,
                    failure(() -> p.send(new ProducerRecord<>(ORDERS, "k", "after")).get(TIMEOUT_S, TimeUnit.SECONDS)),
                    "producing to " + ORDERS + " after its ACLs were deleted");
            // The prefixed ACL still grants alice-events.
            p.send(new ProducerRecord<>(EVENTS, "k", "after")).get(TIMEOUT_S, TimeUnit.SECONDS);
        }

        Collection<AclBinding> deleted = admin.deleteAcls(List.of(new AclBindingFilter(
                new ResourcePatternFilter(ResourceType.GROUP, GROUP_PREFIX, PatternType.PREFIXED), AccessControlEntryFilter.ANY)))
                .all().get(TIMEOUT_S, TimeUnit.SECONDS);
        assertEquals(Set.of(GROUPS_READ), Set.copyOf(deleted), "the group ACL deleted");
        try (KafkaConsumer<String, String> c = consumer(alice, GROUP_PREFIX + "after")) {
            c.subscribe(List.of(EVENTS));
            assertInstanceOf(GroupAuthorizationException.class, pollUntilThrown(c), "a group after its ACL was deleted");
        }
        assertEquals(Set.of(PREFIX_READ, PREFIX_WRITE), Set.copyOf(admin.describeAcls(AclBindingFilter.ANY).values()
                .get(TIMEOUT_S, TimeUnit.SECONDS)), "the ACLs left");
    }

    /**
     * Produces 50 records to orders with an idempotent producer (acks=all)
     * and one to alice-events, each checked acknowledged, then reads orders
     * in group alice-{@code tag} until they have all arrived, commits, and
     * checks the committed offset is the end of the partition.
     */
    private static void produceAndConsume(Map<String, Object> login, String tag) throws Exception {
        List<String> values = IntStream.range(0, 50).mapToObj(i -> tag + "-" + i).toList();
        try (KafkaProducer<String, String> p = producer(login)) {
            List<Future<RecordMetadata>> sent = new ArrayList<>();
            for (String v : values) {
                sent.add(p.send(new ProducerRecord<>(ORDERS, tag, v)));
            }
            long last = -1;
            for (Future<RecordMetadata> f : sent) {
                long offset = f.get(TIMEOUT_S, TimeUnit.SECONDS).offset();
                assertTrue(offset > last, tag + ": offsets rise in send order");
                last = offset;
            }
            p.send(new ProducerRecord<>(EVENTS, tag, tag)).get(TIMEOUT_S, TimeUnit.SECONDS);
        }

        String group = GROUP_PREFIX + tag;
        TopicPartition tp = new TopicPartition(ORDERS, 0);
        try (KafkaConsumer<String, String> c = consumer(login, group)) {
            c.subscribe(List.of(ORDERS));
            Set<String> seen = new HashSet<>();
            long deadline = System.nanoTime() + POLL_FOR.toNanos();
            while (!seen.containsAll(values)) {
                assertTrue(System.nanoTime() < deadline, tag + ": read " + seen.size() + " records in " + POLL_FOR + ", not yet all 50 sent");
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                    seen.add(r.value());
                }
            }
            c.commitSync(Duration.ofSeconds(TIMEOUT_S));
        }
        Admin admin = strata.admin();
        OffsetAndMetadata committed = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                .get(TIMEOUT_S, TimeUnit.SECONDS).get(tp);
        long end = admin.listOffsets(Map.of(tp, OffsetSpec.latest())).all().get(TIMEOUT_S, TimeUnit.SECONDS).get(tp).offset();
        assertEquals(end, committed == null ? -1 : committed.offset(), tag + ": " + group + "'s committed offset");
    }

    private static KafkaProducer<String, String> producer(Map<String, Object> login) {
        Map<String, Object> c = new HashMap<>(login);
        c.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 15_000);
        c.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
        c.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30_000);
        return KafkaClients.producer((String) login.get(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG), c);
    }

    private static KafkaConsumer<String, String> consumer(Map<String, Object> login, String group) {
        Map<String, Object> c = new HashMap<>(login);
        c.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 15_000);
        c.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
        return KafkaClients.consumer((String) login.get(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG), group, c);
    }

    private static Admin admin(Map<String, Object> login) {
        Map<String, Object> c = new HashMap<>(login);
        c.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 15_000);
        c.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
        return Admin.create(c);
    }

    private static AclBinding allow(ResourceType type, String name, PatternType pattern, AclOperation op) {
        return new AclBinding(new ResourcePattern(type, name, pattern), new AccessControlEntry(PRINCIPAL, "*", op, AclPermissionType.ALLOW));
    }

    private static Set<AclBinding> describeAcls(Admin admin, ResourcePatternFilter filter) throws Exception {
        return Set.copyOf(admin.describeAcls(new AclBindingFilter(filter, AccessControlEntryFilter.ANY)).values()
                .get(TIMEOUT_S, TimeUnit.SECONDS));
    }

    private static void alterQuotas(Admin admin, ClientQuotaEntity entity, Map<String, Double> quotas) throws Exception {
        List<ClientQuotaAlteration.Op> ops = quotas.entrySet().stream()
                .map(e -> new ClientQuotaAlteration.Op(e.getKey(), e.getValue())).toList();
        admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity, ops))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
    }

    private static Map<ClientQuotaEntity, Map<String, Double>> quotasOf(Admin admin, String user) throws Exception {
        return admin.describeClientQuotas(ClientQuotaFilter.containsOnly(List.of(ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, user))))
                .entities().get(TIMEOUT_S, TimeUnit.SECONDS);
    }

    /** Polls until poll throws, and returns what it threw; fails if it has not within POLL_FOR. */
    private static Throwable pollUntilThrown(KafkaConsumer<String, String> c) {
        long deadline = System.nanoTime() + POLL_FOR.toNanos();
        while (System.nanoTime() < deadline) {
            try {
                c.poll(Duration.ofMillis(500));
            } catch (KafkaException e) {
                return e;
            }
        }
        throw new AssertionError("poll threw nothing in " + POLL_FOR);
    }

    /**
     * What {@code call} throws, unwrapped from the ExecutionException of a
     * future and any plain KafkaException around it.
     */
    private static Throwable failure(Executable call) {
        Throwable t = assertThrows(Throwable.class, call);
        while ((t instanceof ExecutionException || t.getClass() == KafkaException.class) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }
}
