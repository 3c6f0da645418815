"""Confluent's Python serializers against strata's schema registry, on topics
with broker-side schema validation (confluent.value.schema.validation=true).

For each of Avro, JSON Schema and Protobuf, and for two subject name
strategies (TopicNameStrategy and TopicRecordNameStrategy, the topic's
confluent.value.subject.name.strategy matching the serializer's), the
serializer registers its schema through the registry's REST API, the broker
accepts the records it writes, and the deserializer reads them back after
fetching the writer's schema by id. Records that are not in the wire format
(in the key or the value), carry an unknown id, or an id registered under
another subject are refused with INVALID_RECORD, and nothing of them reaches
the log.

Protobuf needs a message class. There is no protoc here and none is needed:
the class is built from a FileDescriptorProto at run time (descriptor_pool +
message_factory), and the serializer registers that file descriptor, as it
does a protoc-generated one's: serialized and base64-encoded, a form
Confluent's registry takes beside .proto text (strata's registry refused it
until this suite found that).
"""

import struct

import pytest
from confluent_kafka import KafkaError, TopicPartition
from confluent_kafka.schema_registry import (
    Schema,
    SchemaRegistryClient,
    topic_record_subject_name_strategy,
    topic_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

import clients

RECORD_NAME = "strata.interop.Order"

AVRO_SCHEMA = """
{
  "type": "record",
  "name": "Order",
  "namespace": "strata.interop",
  "fields": [
    {"name": "id", "type": "string"},
    {"name": "qty", "type": "long"},
    {"name": "note", "type": ["null", "string"], "default": null}
  ]
}
"""

JSON_SCHEMA = """
{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "strata.interop.Order",
  "type": "object",
  "properties": {
    "id": {"type": "string"},
    "qty": {"type": "integer"},
    "note": {"type": ["null", "string"]}
  },
  "required": ["id", "qty"],
  "additionalProperties": false
}
"""


def protobuf_order_class():
    """strata.interop.Order as a Protobuf message class, from its descriptor:
    message Order { string id = 1; int64 qty = 2; optional string note = 3; },
    preceded by another message so that the serializer writes a non-trivial
    message index path ([1])."""
    field = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(
        name="strata/interop/order.proto", package="strata.interop", syntax="proto3")
    other = fdp.message_type.add(name="Placeholder")
    other.field.add(name="unused", number=1, type=field.TYPE_BOOL, label=field.LABEL_OPTIONAL)
    order = fdp.message_type.add(name="Order")
    order.field.add(name="id", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    order.field.add(name="qty", number=2, type=field.TYPE_INT64, label=field.LABEL_OPTIONAL)
    # proto3 `optional`: a synthetic oneof holds the field.
    order.oneof_decl.add(name="_note")
    order.field.add(name="note", number=3, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL,
                    oneof_index=0, proto3_optional=True)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(RECORD_NAME))


Order = protobuf_order_class()

ORDERS = [{"id": f"order-{i}", "qty": i * 7, "note": None if i % 3 else f"note {i}"} for i in range(30)]


class Format:
    """How one schema format's serializer and deserializer are made, and how
    the test's orders go in and come out of them."""

    def __init__(self, schema_type, serializer, deserializer, encode, decode):
        self.schema_type = schema_type
        self.serializer = serializer
        self.deserializer = deserializer
        self.encode = encode
        self.decode = decode


def _strip_none(d):
    return {k: v for k, v in d.items() if v is not None}


FORMATS = {
    "avro": Format(
        "AVRO",
        lambda sr, conf: AvroSerializer(sr, AVRO_SCHEMA, conf=conf),
        lambda sr: AvroDeserializer(sr),
        lambda order: order,
        lambda value: value,
    ),
    "json": Format(
        "JSON",
        lambda sr, conf: JSONSerializer(JSON_SCHEMA, sr, conf=conf),
        lambda sr: JSONDeserializer(None, schema_registry_client=sr),
        lambda order: order,
        lambda value: {"note": None, **value},
    ),
    "protobuf": Format(
        "PROTOBUF",
        lambda sr, conf: ProtobufSerializer(Order, sr, conf=conf),
        lambda sr: ProtobufDeserializer(Order, schema_registry_client=sr),
        lambda order: Order(**_strip_none(order)),
        lambda msg: {"id": msg.id, "qty": msg.qty, "note": msg.note if msg.HasField("note") else None},
    ),
}

STRATEGIES = {
    "topic": ("io.confluent.kafka.serializers.subject.TopicNameStrategy", topic_subject_name_strategy,
              lambda topic: f"{topic}-value"),
    "topic-record": ("io.confluent.kafka.serializers.subject.TopicRecordNameStrategy",
                     topic_record_subject_name_strategy, lambda topic: f"{topic}-{RECORD_NAME}"),
}


@pytest.fixture
def registry(strata):
    return SchemaRegistryClient({"url": strata.registry_url})


def validated_topic(strata, prefix, partitions=1, **extra):
    topic = clients.unique(prefix)
    config = {"confluent.value.schema.validation": "true", **extra}
    clients.create_topic(clients.admin(strata), topic, partitions, config)
    return topic


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("fmt", [
    "avro",
    "json",
    "protobuf",
])
def test_serializers_round_trip_through_validated_topic(strata, registry, fmt, strategy):
    form = FORMATS[fmt]
    strategy_class, strategy_func, subject_of = STRATEGIES[strategy]
    topic = validated_topic(strata, f"py-sr-{fmt}", partitions=2,
                            **{"confluent.value.subject.name.strategy": strategy_class})
    subject = subject_of(topic)
    serialize = form.serializer(registry, {"subject.name.strategy": strategy_func})

    deliveries = clients.Deliveries()
    p = clients.producer(strata, **{"acks": "all", "enable.idempotence": True})
    ctx = SerializationContext(topic, MessageField.VALUE)
    for order in ORDERS:
        p.produce(topic, key=order["id"].encode(), value=serialize(form.encode(order), ctx), on_delivery=deliveries)
    clients.flush(p)
    assert deliveries.errors() == []
    assert len(deliveries.reports) == len(ORDERS)

    # The serializer registered one version under the strategy's subject.
    assert subject in registry.get_subjects()
    assert registry.get_versions(subject) == [1]
    latest = registry.get_latest_version(subject)
    assert latest.schema.schema_type == form.schema_type
    schema_id = latest.schema_id

    c = clients.consumer(strata, clients.unique("py-sr-group"))
    try:
        c.subscribe([topic])
        records = clients.consume_n(c, len(ORDERS))
    finally:
        c.close()

    deserialize = form.deserializer(registry)
    got = {}
    for m in records:
        magic, wire_id = struct.unpack(">bI", m.value()[:5])
        assert (magic, wire_id) == (0, schema_id)
        got[m.key().decode()] = form.decode(deserialize(m.value(), ctx))
    assert got == {o["id"]: o for o in ORDERS}


def test_records_without_a_registered_schema_are_refused(strata, registry):
    topic = validated_topic(strata, "py-sr-refuse", **{"confluent.key.schema.validation": "true"})
    ctx_value = SerializationContext(topic, MessageField.VALUE)
    ctx_key = SerializationContext(topic, MessageField.KEY)
    serialize_value = AvroSerializer(registry, AVRO_SCHEMA)
    serialize_key = AvroSerializer(registry, '"string"')
    good_key = serialize_key("k", ctx_key)
    good_value = serialize_value(ORDERS[0], ctx_value)
    value_id = registry.get_latest_version(f"{topic}-value").schema_id

    # An id that is registered, but under another subject.
    elsewhere = registry.register_schema(clients.unique("py-sr-elsewhere") + "-value",
                                         Schema(JSON_SCHEMA, schema_type="JSON"))
    assert elsewhere != value_id

    refused = {
        "value not in the wire format": (good_key, b"plain text, no schema id"),
        "value with an unknown schema id": (good_key, b"\x00" + struct.pack(">I", 2**31 - 1) + good_value[5:]),
        "value with another subject's id": (good_key, b"\x00" + struct.pack(">I", elsewhere) + good_value[5:]),
        "value with magic byte 1": (good_key, b"\x01" + good_value[1:]),
        "no value": (good_key, None),
        "key not in the wire format": (b"k", good_value),
    }
    # Without idempotence: a refused batch must not leave the producer with
    # a sequence gap to recover from. One flush per record, so that each
    # record is a batch of its own and only its own fate is reported.
    p = clients.producer(strata, **{"acks": "all", "enable.idempotence": False, "linger.ms": 0})
    outcomes = {}
    for case, (key, value) in refused.items():
        deliveries = clients.Deliveries()
        p.produce(topic, key=key, value=value, on_delivery=deliveries)
        clients.flush(p)
        assert len(deliveries.reports) == 1
        err = deliveries.reports[0].error
        outcomes[case] = err.code() if err is not None else None
    assert outcomes == {case: KafkaError.INVALID_RECORD for case in refused}

    # A record in the wire format with the subject's ids goes in, at offset 0:
    # nothing of the refused records was appended.
    deliveries = clients.Deliveries()
    p.produce(topic, key=good_key, value=good_value, on_delivery=deliveries)
    clients.flush(p)
    assert [(d.error, d.partition, d.offset) for d in deliveries.reports] == [(None, 0, 0)]

    reader = clients.consumer(strata, clients.unique("py-sr-refuse-reader"), **{"enable.partition.eof": True})
    try:
        assert reader.get_watermark_offsets(TopicPartition(topic, 0), timeout=clients.REQUEST_TIMEOUT_S) == (0, 1)
        parts = [TopicPartition(topic, 0, 0)]
        reader.assign(parts)
        records = clients.consume_to_end(reader, parts)
    finally:
        reader.close()
    assert [(m.key(), m.value()) for m in records] == [(good_key, good_value)]
    assert AvroDeserializer(registry)(records[0].value(), ctx_value) == ORDERS[0]
