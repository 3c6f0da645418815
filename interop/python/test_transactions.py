"""Transactions through librdkafka (KIP-98, KIP-447).

A transactional producer commits, aborts, then commits again; a
read_committed consumer sees only the committed records, a read_uncommitted
one sees all of them, and each transaction's end takes one offset (its
control record). Then the consume-transform-produce loop: the offsets of a
group go into the transaction with send_offsets_to_transaction, and are
committed with the output records or not at all.
"""

from confluent_kafka import OFFSET_INVALID, TopicPartition

import clients

PER_TXN = 10


def values(prefix, n=PER_TXN):
    return [f"{prefix}-{i}".encode() for i in range(n)]


def read_all(strata, topic, partitions, isolation):
    c = clients.consumer(strata, clients.unique("py-txn-reader"),
                         **{"isolation.level": isolation, "enable.partition.eof": True})
    try:
        parts = [TopicPartition(topic, p, 0) for p in range(partitions)]
        c.assign(parts)
        return clients.consume_to_end(c, parts)
    finally:
        c.close()


def transactional_producer(strata, txn_id):
    p = clients.producer(strata, **{"transactional.id": txn_id, "acks": "all"})
    p.init_transactions(clients.REQUEST_TIMEOUT_S)
    return p


def test_commit_abort_commit(strata):
    topic = clients.unique("py-txn")
    adm = clients.admin(strata)
    clients.create_topic(adm, topic, 1)

    deliveries = clients.Deliveries()
    p = transactional_producer(strata, clients.unique("py-txn-id"))
    for prefix, commit in (("first", True), ("aborted", False), ("second", True)):
        p.begin_transaction()
        for v in values(prefix):
            p.produce(topic, key=b"k", value=v, on_delivery=deliveries)
        if commit:
            p.commit_transaction(clients.REQUEST_TIMEOUT_S)
        else:
            # Flush first, so the aborted records are in the log, not just
            # dropped by the client.
            clients.flush(p)
            p.abort_transaction(clients.REQUEST_TIMEOUT_S)
    clients.flush(p)

    assert deliveries.errors() == []
    # Offsets: 10 records and a commit marker, 10 and an abort marker, 10 and
    # a commit marker.
    assert [d.offset for d in deliveries.reports] == \
        list(range(0, 10)) + list(range(11, 21)) + list(range(22, 32))

    committed = read_all(strata, topic, 1, "read_committed")
    assert [m.value() for m in committed] == values("first") + values("second")
    assert [m.offset() for m in committed] == list(range(0, 10)) + list(range(22, 32))

    uncommitted = read_all(strata, topic, 1, "read_uncommitted")
    assert [m.value() for m in uncommitted] == values("first") + values("aborted") + values("second")

    reader = clients.consumer(strata, clients.unique("py-txn-wm"))
    try:
        assert clients.end_offsets(reader, topic, 1) == [33]
    finally:
        reader.close()


def test_consume_transform_produce(strata):
    source, sink = clients.unique("py-eos-in"), clients.unique("py-eos-out")
    group = clients.unique("py-eos-group")
    adm = clients.admin(strata)
    clients.create_topic(adm, source, 2)
    clients.create_topic(adm, sink, 2)

    p = clients.producer(strata, acks="all")
    inputs = {}
    for part in range(2):
        for i in range(PER_TXN):
            inputs[(part, i)] = f"in-{part}-{i}".encode()
            p.produce(source, value=inputs[(part, i)], partition=part)
    clients.flush(p)

    c = clients.consumer(strata, group, **{"isolation.level": "read_committed"})
    txp = transactional_producer(strata, clients.unique("py-eos-id"))
    try:
        c.subscribe([source])
        records = clients.consume_n(c, len(inputs))
        positions = c.position(c.assignment())
        assert sorted((tp.partition, tp.offset) for tp in positions) == [(0, PER_TXN), (1, PER_TXN)]

        def transform(commit):
            txp.begin_transaction()
            for m in records:
                txp.produce(sink, value=m.value().replace(b"in-", b"out-"), partition=m.partition())
            txp.send_offsets_to_transaction(positions, c.consumer_group_metadata(), clients.REQUEST_TIMEOUT_S)
            if commit:
                txp.commit_transaction(clients.REQUEST_TIMEOUT_S)
            else:
                clients.flush(txp)
                txp.abort_transaction(clients.REQUEST_TIMEOUT_S)

        def committed_offsets():
            got = c.committed([TopicPartition(source, part) for part in range(2)], timeout=clients.REQUEST_TIMEOUT_S)
            return [tp.offset for tp in got]

        # Aborted: neither the output nor the offsets are committed.
        transform(commit=False)
        assert committed_offsets() == [OFFSET_INVALID, OFFSET_INVALID]
        # Committed: both are.
        transform(commit=True)
        assert committed_offsets() == [PER_TXN, PER_TXN]
    finally:
        c.close()
    clients.flush(txp)

    out = read_all(strata, sink, 2, "read_committed")
    assert sorted((m.partition(), m.value()) for m in out) == \
        sorted((part, v.replace(b"in-", b"out-")) for (part, _), v in inputs.items())
    for part in range(2):
        assert [m.value() for m in out if m.partition() == part] == \
            [f"out-{part}-{i}".encode() for i in range(PER_TXN)]
