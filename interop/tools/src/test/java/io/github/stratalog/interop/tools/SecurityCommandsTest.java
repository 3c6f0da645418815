package io.github.stratalog.interop.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.SecuredStrata;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * kafka-acls.sh (AclCommand) and kafka-configs.sh (ConfigCommand) on a
 * secured strata ({@link SecuredStrata}), run as README's "Security" section
 * runs them: against the SASL_SSL listener with {@code --command-config}
 * naming a properties file that logs in as the super user with
 * SCRAM-SHA-512 over TLS. Each change is checked in the tool's output, with
 * the Admin client, and by what it lets a client do.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class SecurityCommandsTest {
    private static final Duration RUN = Duration.ofSeconds(60);
    private static final long TIMEOUT_S = 30;

    @RegisterExtension
    static final SecuredStrata strata = new SecuredStrata();

    /** KIP-554 through kafka-configs: SCRAM credentials added, described, used to log in, and deleted. */
    @Test
    void scramUsers() throws Exception {
        KafkaTool.Run added = configs("--alter", "--entity-type", "users", "--entity-name", "carol", "--add-config",
                "SCRAM-SHA-512=[iterations=8192,password=carol-secret],SCRAM-SHA-256=[password=carol-secret]").assertSuccess();
        assertEquals(List.of("Completed updating config for user carol."), added.lines(), added.describe("--add-config"));
        assertLines(List.of("SCRAM credential configs for user-principal 'carol' are SCRAM-SHA-256=iterations=4096, SCRAM-SHA-512=iterations=8192"),
                configs("--describe", "--entity-type", "users", "--entity-name", "carol"));

        // carol logs in with the password given to the tool (she may do
        // nothing else: no ACL names her, so she sees no topic).
        try (Admin carol = Admin.create(strata.scram("carol", "carol-secret"))) {
            assertEquals(Set.of(), carol.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS), "the topics carol lists");
        }

        configs("--alter", "--entity-type", "users", "--entity-name", "carol", "--delete-config", "SCRAM-SHA-256").assertSuccess();
        // Every user (the other tests of the class may have added more).
        KafkaTool.Run all = configs("--describe", "--entity-type", "users").assertSuccess();
        for (String line : List.of("SCRAM credential configs for user-principal 'admin' are SCRAM-SHA-512=iterations=4096",
                "SCRAM credential configs for user-principal 'carol' are SCRAM-SHA-512=iterations=8192")) {
            assertTrue(all.lines().contains(line), all.describe("a line " + line));
        }
    }

    /** Client quotas through kafka-configs: a user's producer_byte_rate set, described and deleted. */
    @Test
    void userQuotas() throws Exception {
        KafkaTool.Run added = configs("--entity-type", "users", "--entity-name", "alice", "--alter",
                "--add-config", "producer_byte_rate=1048576").assertSuccess();
        assertEquals(List.of("Completed updating config for user alice."), added.lines(), added.describe("--add-config"));
        assertLines(List.of("Quota configs for user-principal 'alice' are producer_byte_rate=1048576.0"),
                configs("--entity-type", "users", "--entity-name", "alice", "--describe"));
        ClientQuotaEntity alice = new ClientQuotaEntity(Map.of(ClientQuotaEntity.USER, "alice"));
        assertEquals(Map.of(alice, Map.of("producer_byte_rate", 1048576.0)), quotasOf("alice"), "described by the Admin client");

        configs("--entity-type", "users", "--entity-name", "alice", "--alter", "--delete-config", "producer_byte_rate").assertSuccess();
        assertLines(List.of(), configs("--entity-type", "users", "--entity-name", "alice", "--describe"));
        assertEquals(Map.of(), quotasOf("alice"), "described by the Admin client after --delete-config");
    }

    /**
     * kafka-acls: a literal topic ACL and a prefixed group ACL added,
     * listed, and used by a client; then one removed, which the client
     * feels at its next request.
     */
    @Test
    void acls() throws Exception {
        String topic = "tools-orders";
        Admin admin = strata.admin();
        admin.createTopics(List.of(new NewTopic(topic, Optional.of(1), Optional.empty()))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion("dave",
                new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), "dave-secret"))).all().get(TIMEOUT_S, TimeUnit.SECONDS);

        String topicPattern = "ResourcePattern(resourceType=TOPIC, name=" + topic + ", patternType=LITERAL)";
        String groupPattern = "ResourcePattern(resourceType=GROUP, name=tools-, patternType=PREFIXED)";
        String read = "(principal=User:dave, host=*, operation=READ, permissionType=ALLOW)";
        String write = "(principal=User:dave, host=*, operation=WRITE, permissionType=ALLOW)";
        assertEquals(Map.of(topicPattern, Set.of(read, write)), aclSections("Adding ACLs for resource",
                acls("--add", "--allow-principal", "User:dave", "--operation", "Read", "--operation", "Write", "--topic", topic)));
        assertEquals(Map.of(groupPattern, Set.of(read)), aclSections("Adding ACLs for resource",
                acls("--add", "--allow-principal", "User:dave", "--operation", "Read", "--group", "tools-", "--resource-pattern-type", "prefixed")));
        assertEquals(Map.of(topicPattern, Set.of(read, write)), aclSections("Current ACLs for resource", acls("--list", "--topic", topic)));
        assertEquals(Map.of(topicPattern, Set.of(read, write), groupPattern, Set.of(read)),
                aclSections("Current ACLs for resource", acls("--list")));
        assertEquals(Set.of(dave(ResourceType.TOPIC, topic, PatternType.LITERAL, AclOperation.READ),
                dave(ResourceType.TOPIC, topic, PatternType.LITERAL, AclOperation.WRITE),
                dave(ResourceType.GROUP, "tools-", PatternType.PREFIXED, AclOperation.READ)),
                Set.copyOf(admin.describeAcls(AclBindingFilter.ANY).values().get(TIMEOUT_S, TimeUnit.SECONDS)), "described by the Admin client");

        // What the ACLs let dave do: write the topic, and read it in a tools- group.
        Map<String, Object> login = new HashMap<>(strata.scram("dave", "dave-secret"));
        login.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 15_000);
        login.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30_000);
        login.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
        try (KafkaProducer<String, String> p = KafkaClients.producer(strata.saslSsl(), login)) {
            p.send(new ProducerRecord<>(topic, "k", "by dave")).get(TIMEOUT_S, TimeUnit.SECONDS);
            try (KafkaConsumer<String, String> c = KafkaClients.consumer(strata.saslSsl(), "tools-dave", strata.scram("dave", "dave-secret"))) {
                c.subscribe(List.of(topic));
                List<String> values = new ArrayList<>();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
                while (values.isEmpty() && System.nanoTime() < deadline) {
                    for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                        values.add(r.value());
                    }
                }
                assertEquals(List.of("by dave"), values, "what dave reads in group tools-dave");
            }

            KafkaTool.Run removed = acls("--remove", "--force", "--allow-principal", "User:dave", "--operation", "Write", "--topic", topic);
            assertEquals(List.of(), removed.lines(), removed.describe("--remove prints nothing"));
            assertEquals(Map.of(topicPattern, Set.of(read)), aclSections("Current ACLs for resource", acls("--list", "--topic", topic)));
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> p.send(new ProducerRecord<>(topic, "k", "after --remove")).get(TIMEOUT_S, TimeUnit.SECONDS));
            assertInstanceOf(TopicAuthorizationException.class, e.getCause(), "dave writing after his WRITE ACL was removed");
        }
    }

    private static AclBinding dave(ResourceType type, String name, PatternType pattern, AclOperation op) {
        return new AclBinding(new ResourcePattern(type, name, pattern), new AccessControlEntry("User:dave", "*", op, AclPermissionType.ALLOW));
    }

    private static Map<ClientQuotaEntity, Map<String, Double>> quotasOf(String user) throws Exception {
        return strata.admin().describeClientQuotas(ClientQuotaFilter.containsOnly(List.of(
                ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, user)))).entities().get(TIMEOUT_S, TimeUnit.SECONDS);
    }

    private static KafkaTool.Run configs(String... args) throws Exception {
        return KafkaTool.CONFIGS.run(RUN, withLogin(args));
    }

    private static KafkaTool.Run acls(String... args) throws Exception {
        return KafkaTool.ACLS.run(RUN, withLogin(args)).assertSuccess();
    }

    /** {@code args} after --bootstrap-server (SASL_SSL) and --command-config (the super user's properties file). */
    private static String[] withLogin(String... args) throws Exception {
        Path props = strata.certs().resolve("admin.properties");
        SecuredStrata.writeProperties(props, strata.scram(SecuredStrata.ADMIN, SecuredStrata.ADMIN_PASSWORD));
        List<String> a = new ArrayList<>(List.of("--bootstrap-server", strata.saslSsl(), "--command-config", props.toString()));
        a.addAll(List.of(args));
        return a.toArray(String[]::new);
    }

    private static void assertLines(List<String> want, KafkaTool.Run r) {
        r.assertSuccess();
        assertEquals(want, r.lines(), r.describe("output"));
    }

    /**
     * kafka-acls's sections, pattern to entries: a line "{@code header}
     * `ResourcePattern(...)`:" followed by one tab-indented line per entry.
     * The entries' order within a section is the order of a set, so it is
     * not compared.
     */
    private static Map<String, Set<String>> aclSections(String header, KafkaTool.Run r) {
        Map<String, Set<String>> sections = new LinkedHashMap<>();
        Set<String> current = null;
        for (String line : r.lines()) {
            if (line.startsWith(header + " `")) {
                int end = line.lastIndexOf('`');
                current = new LinkedHashSet<>();
                sections.put(line.substring(header.length() + 2, end), current);
            } else if (current != null && (line.startsWith("\t") || line.startsWith(" \t"))) {
                current.add(line.strip());
            } else {
                throw new AssertionError(r.describe("unexpected line: " + line));
            }
        }
        assertTrue(!sections.isEmpty(), r.describe("no ACL section"));
        return sections.entrySet().stream().collect(Collectors.toMap(Map.Entry::getKey, e -> Set.copyOf(e.getValue())));
    }
}
