"""librdkafka's AdminClient against strata, one topic's life from creation to
deletion: CreateTopics with configs, Metadata and DescribeTopics,
DescribeConfigs and IncrementalAlterConfigs, CreatePartitions, ListGroups,
DescribeGroups, OffsetFetch (list_consumer_group_offsets),
AlterConsumerGroupOffsets, ListOffsets, DeleteRecords, DeleteGroups and
DeleteTopics. Each step asserts what the broker then reports."""

from confluent_kafka import (
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

import clients

RECORDS_PER_PARTITION = 10


def describe_topic(adm, topic):
    futures = adm.describe_topics(TopicCollection([topic]), request_timeout=clients.REQUEST_TIMEOUT_S)
    return clients.result(futures[topic])


def topic_configs(adm, topic):
    resource = ConfigResource(ResourceType.TOPIC, topic)
    return clients.result(adm.describe_configs([resource], request_timeout=clients.REQUEST_TIMEOUT_S)[resource])


def group_offsets(adm, group):
    futures = adm.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                              request_timeout=clients.REQUEST_TIMEOUT_S)
    listed = clients.result(futures[group])
    return {(tp.topic, tp.partition): tp.offset for tp in listed.topic_partitions}


def test_admin_client_topic_lifecycle(strata):
    topic = clients.unique("py-admin")
    group = clients.unique("py-admin-group")
    adm = clients.admin(strata)

    # CreateTopics with configs, then Metadata and DescribeTopics.
    clients.create_topic(adm, topic, 3, {"retention.ms": "3600000", "max.message.bytes": "2097152"})
    meta = adm.list_topics(timeout=clients.REQUEST_TIMEOUT_S)
    assert topic in meta.topics
    assert meta.topics[topic].error is None
    assert sorted(meta.topics[topic].partitions) == [0, 1, 2]
    broker_ids = set(meta.brokers)
    assert broker_ids, "metadata lists no broker"
    for pm in meta.topics[topic].partitions.values():
        assert pm.leader in broker_ids

    described = describe_topic(adm, topic)
    assert described.name == topic
    assert not described.is_internal
    assert [p.id for p in described.partitions] == [0, 1, 2]
    for p in described.partitions:
        assert p.leader is not None and p.leader.id in broker_ids
        assert p.leader.id in [r.id for r in p.replicas]

    # Creating it again is TOPIC_ALREADY_EXISTS.
    again = adm.create_topics([NewTopic(topic, num_partitions=3)], request_timeout=clients.REQUEST_TIMEOUT_S)
    try:
        clients.result(again[topic])
        raise AssertionError("second create_topics of the same name succeeded")
    except KafkaException as e:
        assert e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    # DescribeConfigs: the configs given at creation are dynamic topic
    # configs; others are defaults.
    configs = topic_configs(adm, topic)
    assert configs["retention.ms"].value == "3600000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["max.message.bytes"].value == "2097152"
    assert configs["cleanup.policy"].value == "delete"
    assert configs["cleanup.policy"].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value

    # IncrementalAlterConfigs: set one, delete (revert) another.
    resource = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("max.message.bytes", None, incremental_operation=AlterConfigOpType.DELETE),
        ],
    )
    clients.result(adm.incremental_alter_configs([resource], request_timeout=clients.REQUEST_TIMEOUT_S)[resource])
    configs = topic_configs(adm, topic)
    assert configs["retention.ms"].value == "7200000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["max.message.bytes"].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["max.message.bytes"].value != "2097152"

    # CreatePartitions: 3 -> 5.
    clients.result(adm.create_partitions([NewPartitions(topic, 5)], request_timeout=clients.REQUEST_TIMEOUT_S)[topic])
    assert [p.id for p in describe_topic(adm, topic).partitions] == [0, 1, 2, 3, 4]

    # Records in every partition, including the new ones.
    deliveries = clients.Deliveries()
    p = clients.producer(strata, acks="all")
    for part in range(5):
        for i in range(RECORDS_PER_PARTITION):
            p.produce(topic, value=f"{part}/{i}".encode(), partition=part, on_delivery=deliveries)
    clients.flush(p)
    assert deliveries.errors() == []
    assert sorted((d.partition, d.offset) for d in deliveries.reports) == \
        [(part, off) for part in range(5) for off in range(RECORDS_PER_PARTITION)]

    # A group reads everything and commits; while it is a member, the group
    # is listed and described as stable with the member holding all five
    # partitions.
    c = clients.consumer(strata, group, **{"client.id": "py-admin-consumer"})
    try:
        c.subscribe([topic])
        records = clients.consume_n(c, 5 * RECORDS_PER_PARTITION)
        assert sorted(m.value() for m in records) == \
            sorted(f"{part}/{i}".encode() for part in range(5) for i in range(RECORDS_PER_PARTITION))
        c.commit(asynchronous=False)

        listed = clients.result(adm.list_consumer_groups(request_timeout=clients.REQUEST_TIMEOUT_S))
        assert listed.errors == []
        mine = [g for g in listed.valid if g.group_id == group]
        assert len(mine) == 1
        assert mine[0].state == ConsumerGroupState.STABLE
        assert not mine[0].is_simple_consumer_group

        desc = clients.result(adm.describe_consumer_groups([group], request_timeout=clients.REQUEST_TIMEOUT_S)[group])
        assert desc.group_id == group
        assert desc.state == ConsumerGroupState.STABLE
        assert len(desc.members) == 1
        member = desc.members[0]
        assert member.client_id == "py-admin-consumer"
        assert sorted((tp.topic, tp.partition) for tp in member.assignment.topic_partitions) == \
            [(topic, part) for part in range(5)]
        assert desc.coordinator is not None and desc.coordinator.id in broker_ids
    finally:
        c.close()

    # OffsetFetch: the committed offsets are the end offsets.
    assert group_offsets(adm, group) == {(topic, part): RECORDS_PER_PARTITION for part in range(5)}

    # With no member left the group is empty; its offsets can be altered.
    clients.wait_for(
        lambda: clients.result(adm.describe_consumer_groups([group])[group]).state == ConsumerGroupState.EMPTY,
        timeout=30, what="group empty after its consumer closed")
    altered = clients.result(adm.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 3)])],
        request_timeout=clients.REQUEST_TIMEOUT_S)[group])
    assert [(tp.partition, tp.offset, tp.error) for tp in altered.topic_partitions] == [(0, 3, None)]
    offsets = group_offsets(adm, group)
    assert offsets[(topic, 0)] == 3
    assert offsets[(topic, 1)] == RECORDS_PER_PARTITION

    # ListOffsets: earliest and latest.
    def list_offsets(spec):
        req = {TopicPartition(topic, part): spec for part in range(5)}
        res = clients.results(adm.list_offsets(req, request_timeout=clients.REQUEST_TIMEOUT_S))
        return {tp.partition: info.offset for tp, info in res.items()}

    assert list_offsets(OffsetSpec.earliest()) == {part: 0 for part in range(5)}
    assert list_offsets(OffsetSpec.latest()) == {part: RECORDS_PER_PARTITION for part in range(5)}

    # DeleteRecords moves partition 0's low watermark to 4 and 1's to its end.
    deleted = clients.results(adm.delete_records(
        [TopicPartition(topic, 0, 4), TopicPartition(topic, 1, RECORDS_PER_PARTITION)],
        request_timeout=clients.REQUEST_TIMEOUT_S))
    assert {tp.partition: res.low_watermark for tp, res in deleted.items()} == {0: 4, 1: RECORDS_PER_PARTITION}
    assert list_offsets(OffsetSpec.earliest()) == {0: 4, 1: RECORDS_PER_PARTITION, 2: 0, 3: 0, 4: 0}

    reader = clients.consumer(strata, clients.unique("py-admin-reader"), **{"enable.partition.eof": True})
    try:
        assert reader.get_watermark_offsets(TopicPartition(topic, 0), timeout=clients.REQUEST_TIMEOUT_S) == \
            (4, RECORDS_PER_PARTITION)
        parts = [TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)]
        reader.assign(parts)  # offset 0 is below the low watermark: reset to earliest
        records = clients.consume_to_end(reader, parts)
    finally:
        reader.close()
    assert sorted((m.partition(), m.offset()) for m in records) == [(0, off) for off in range(4, 10)]
    assert [m.value() for m in records] == [f"0/{i}".encode() for i in range(4, 10)]

    # DeleteGroups, then DeleteTopics.
    clients.result(adm.delete_consumer_groups([group], request_timeout=clients.REQUEST_TIMEOUT_S)[group])
    listed = clients.result(adm.list_consumer_groups(request_timeout=clients.REQUEST_TIMEOUT_S))
    assert group not in [g.group_id for g in listed.valid]

    clients.result(adm.delete_topics([topic], request_timeout=clients.REQUEST_TIMEOUT_S)[topic])
    clients.wait_for(lambda: topic not in adm.list_topics(timeout=clients.REQUEST_TIMEOUT_S).topics,
                     timeout=30, what="topic gone from metadata")
    try:
        describe_topic(adm, topic)
        raise AssertionError("describe_topics found the deleted topic")
    except KafkaException as e:
        assert e.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
