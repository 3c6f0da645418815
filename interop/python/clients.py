"""Helpers the tests share for driving confluent-kafka clients against strata.

Every wait is bounded: futures with a timeout, poll loops with a deadline.
"""

import time
import uuid
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

# Bound on any one admin call or future.
REQUEST_TIMEOUT_S = 30.0


def unique(prefix: str) -> str:
    """A topic, group or transactional id no other test (or run) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def result(future, timeout: float = REQUEST_TIMEOUT_S):
    """The future's result, raising its exception; never waits past timeout."""
    return future.result(timeout=timeout)


def results(futures: Dict, timeout: float = REQUEST_TIMEOUT_S) -> Dict:
    """Each future's result, by the same key."""
    return {key: result(f, timeout) for key, f in futures.items()}


def admin(strata, **conf) -> AdminClient:
    return AdminClient({"bootstrap.servers": strata.bootstrap, **conf})


# The producers producer() made, which close_producers() closes after each
# test (conftest.py): librdkafka keeps a producer's connections, and its
# reconnect attempts, until it is closed, and a failed test's traceback can
# keep one alive past strata's shutdown.
_producers: List[Producer] = []


def producer(strata, **conf) -> Producer:
    # message.timeout.ms bounds how long a flush or close can wait.
    p = Producer({"bootstrap.servers": strata.bootstrap, "message.timeout.ms": 30000, **conf})
    _producers.append(p)
    return p


def close_producers() -> None:
    """Closes every producer producer() made, dropping what is still queued."""
    while _producers:
        p = _producers.pop()
        p.purge()
        p.close()


def consumer(strata, group: str, **conf) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": strata.bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **conf,
        }
    )


def create_topic(adm: AdminClient, name: str, partitions: int, config: Optional[Dict[str, str]] = None) -> None:
    """Creates a topic and returns once the creation is acknowledged."""
    futures = adm.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=-1, config=config or {})],
        operation_timeout=REQUEST_TIMEOUT_S,
        request_timeout=REQUEST_TIMEOUT_S,
    )
    results(futures)


@dataclass
class Delivery:
    """One delivery report: the record as sent and what the broker said."""

    key: Optional[bytes]
    value: Optional[bytes]
    partition: int
    offset: int
    error: Optional[KafkaError]


class Deliveries:
    """Collects the delivery reports of one producer, in the order they come."""

    def __init__(self):
        self.reports: List[Delivery] = []

    def __call__(self, err, msg):
        self.reports.append(Delivery(msg.key(), msg.value(), msg.partition(), msg.offset(), err))

    def errors(self) -> List[Delivery]:
        return [d for d in self.reports if d.error is not None]


def flush(p: Producer, timeout: float = REQUEST_TIMEOUT_S) -> None:
    """Waits for every outstanding delivery report; fails if any is left."""
    left = p.flush(timeout)
    assert left == 0, f"{left} records still undelivered after {timeout:.0f}s"


def poll_until(c: Consumer, done: Callable[[List], bool], timeout: float, records: Optional[List] = None,
               on_eof: Optional[Callable] = None) -> List:
    """Polls c, appending records to `records`, until done(records) or the
    deadline (then fails). Partition EOF events (enable.partition.eof) go to
    on_eof; any other error fails."""
    records = [] if records is None else records
    deadline = time.monotonic() + timeout
    while not done(records):
        left = deadline - time.monotonic()
        assert left > 0, f"gave up after {timeout:.0f}s with {len(records)} records"
        for msg in c.consume(num_messages=500, timeout=min(left, 0.5)):
            err = msg.error()
            if err is None:
                records.append(msg)
            elif err.code() == KafkaError._PARTITION_EOF and on_eof is not None:
                on_eof(msg.topic(), msg.partition(), msg.offset())
            else:
                raise KafkaException(err)
    return records


def consume_n(c: Consumer, n: int, timeout: float = 60.0) -> List:
    """Exactly n records from c (already subscribed or assigned)."""
    records = poll_until(c, lambda rs: len(rs) >= n, timeout)
    assert len(records) == n, f"wanted {n} records, got {len(records)}"
    return records


def consume_to_end(c: Consumer, partitions: List[TopicPartition], timeout: float = 60.0) -> List:
    """Every record of the assigned partitions up to their end (the high
    watermark, or the last stable offset under read_committed). c must have
    enable.partition.eof on; an EOF is counted once per partition."""
    ended = set()
    want = {(tp.topic, tp.partition) for tp in partitions}
    return poll_until(
        c,
        lambda _: ended >= want,
        timeout,
        on_eof=lambda topic, partition, _offset: ended.add((topic, partition)),
    )


def end_offsets(c: Consumer, topic: str, partitions: int) -> List[int]:
    """Each partition's high watermark, asked of the broker."""
    return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=REQUEST_TIMEOUT_S)[1]
            for p in range(partitions)]


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.2, what: str = "condition") -> None:
    """Bounded polling: returns once check() holds, fails after timeout."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} did not hold within {timeout:.0f}s"
        time.sleep(interval)
