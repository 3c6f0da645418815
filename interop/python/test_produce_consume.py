"""An idempotent producer and a consumer group, through librdkafka.

The producer (acks=all, enable.idempotence) writes keyed records to a
6-partition topic; a group consumer reads them back under both group
protocols, the classic one (JoinGroup/SyncGroup) and KIP-848's (group.protocol
=consumer, ConsumerGroupHeartbeat). Checked: every record arrives once with
its value, each key's records in the order they were produced, offsets are
dense from 0 in each partition, and the group's committed offsets end up equal
to the partitions' end offsets.
"""

from collections import defaultdict

import pytest
from confluent_kafka import TopicPartition

import clients

PARTITIONS = 6
KEYS = 40
PER_KEY = 75  # 3,000 records


@pytest.mark.parametrize("group_protocol", ["classic", "consumer"])
def test_idempotent_producer_and_group_consumer(strata, group_protocol):
    topic = clients.unique("py-keyed")
    group = clients.unique("py-keyed-group")
    adm = clients.admin(strata)
    clients.create_topic(adm, topic, PARTITIONS)

    # Produce: record i of key k has value "k/i"; keys interleave.
    deliveries = clients.Deliveries()
    p = clients.producer(strata, **{"acks": "all", "enable.idempotence": True, "linger.ms": 5})
    sent = []
    for i in range(PER_KEY):
        for k in range(KEYS):
            key, value = f"key-{k}".encode(), f"key-{k}/{i}".encode()
            p.produce(topic, key=key, value=value, on_delivery=deliveries)
            sent.append((key, value))
        p.poll(0)
    clients.flush(p)

    assert len(deliveries.reports) == len(sent)
    assert deliveries.errors() == []
    by_partition = defaultdict(list)
    for d in deliveries.reports:
        by_partition[d.partition].append(d.offset)
    for partition, offsets in by_partition.items():
        assert sorted(offsets) == list(range(len(offsets))), f"partition {partition}: offsets not dense from 0"
    # Each key lands on one partition, at rising offsets in produce order.
    key_offsets = defaultdict(list)
    for d in deliveries.reports:
        key_offsets[d.key].append((d.partition, d.offset, d.value))
    for key, placed in key_offsets.items():
        assert len({part for part, _, _ in placed}) == 1, f"{key!r} spread over partitions"
        assert [v for _, _, v in sorted(placed)] == [f"{key.decode()}/{i}".encode() for i in range(PER_KEY)]

    # Consume through a group.
    c = clients.consumer(strata, group, **{"group.protocol": group_protocol})
    try:
        c.subscribe([topic])
        records = clients.consume_n(c, len(sent))
        c.commit(asynchronous=False)
        committed = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)],
                                timeout=clients.REQUEST_TIMEOUT_S)
        ends = clients.end_offsets(c, topic, PARTITIONS)
    finally:
        c.close()

    assert sorted((m.key(), m.value()) for m in records) == sorted(sent)
    assert len({(m.partition(), m.offset()) for m in records}) == len(sent), "a record was delivered twice"
    per_key = defaultdict(list)
    for m in records:
        per_key[m.key()].append(m.value())
    for key, values in per_key.items():
        assert values == [f"{key.decode()}/{i}".encode() for i in range(PER_KEY)], f"{key!r} out of order"
    # What the producer was told matches what the consumer read.
    assert sorted((m.partition(), m.offset(), m.value()) for m in records) == \
        sorted((d.partition, d.offset, d.value) for d in deliveries.reports)

    assert ends == [len(by_partition.get(p, [])) for p in range(PARTITIONS)]
    assert sum(ends) == len(sent)
    assert [tp.error for tp in committed] == [None] * PARTITIONS
    assert [tp.offset for tp in committed] == ends
