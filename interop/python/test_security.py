"""librdkafka against a secured strata (conftest.py's secured_strata): SASL_SSL
with SCRAM-SHA-512 checked against the CA (ssl.ca.location), and mutual TLS
with a client certificate and key (ssl.certificate.location,
ssl.key.location), the principal being the certificate's CN.

The super user creates alice with the AdminClient (KIP-554,
alter_user_scram_credentials) and grants her the topics and groups starting
with py-sec- (prefixed ACLs, create_acls). alice then produces with an
idempotent producer and consumes in a group over either listener; she is
refused a topic she was not granted; bob's certificate, granted nothing, is
refused too; and a wrong password fails with an authentication error.
"""

import time

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

import clients

USER = "alice"
PASSWORD = "alice-secret"
PREFIX = "py-sec-"
RECORDS = 100


def admin(secured):
    return clients.admin(secured, **secured.admin_login())


@pytest.fixture(scope="module")
def alice(secured_strata):
    """alice with a SCRAM-SHA-512 credential and prefixed ACLs on py-sec-
    topics (read, write) and groups (read), each checked as described."""
    adm = admin(secured_strata)
    upsert = UserScramCredentialUpsertion(USER, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), PASSWORD.encode())
    clients.results(adm.alter_user_scram_credentials([upsert], request_timeout=clients.REQUEST_TIMEOUT_S))
    described = clients.result(adm.describe_user_scram_credentials([USER], request_timeout=clients.REQUEST_TIMEOUT_S)[USER])
    assert [(i.mechanism, i.iterations) for i in described.scram_credential_infos] == [(ScramMechanism.SCRAM_SHA_512, 8192)]

    acls = [
        AclBinding(ResourceType.TOPIC, PREFIX, ResourcePatternType.PREFIXED, f"User:{USER}", "*", op, AclPermissionType.ALLOW)
        for op in (AclOperation.READ, AclOperation.WRITE)
    ] + [AclBinding(ResourceType.GROUP, PREFIX, ResourcePatternType.PREFIXED, f"User:{USER}", "*", AclOperation.READ,
                    AclPermissionType.ALLOW)]
    clients.results(adm.create_acls(acls, request_timeout=clients.REQUEST_TIMEOUT_S))
    mine = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{USER}", None, AclOperation.ANY,
                            AclPermissionType.ANY)
    assert set(clients.result(adm.describe_acls(mine, request_timeout=clients.REQUEST_TIMEOUT_S))) == set(acls)
    return USER


def login(secured, how):
    return secured.scram(USER, PASSWORD) if how == "sasl_ssl" else secured.mtls(USER)


@pytest.mark.parametrize("how", ["sasl_ssl", "mtls"])
def test_produce_and_consume(secured_strata, alice, how):
    topic = clients.unique(PREFIX + how)
    group = clients.unique(PREFIX + how + "-group")
    clients.create_topic(admin(secured_strata), topic, 2)
    conf = login(secured_strata, how)

    deliveries = clients.Deliveries()
    p = clients.producer(secured_strata, **conf, **{"acks": "all", "enable.idempotence": True})
    sent = [f"{how}-{i}".encode() for i in range(RECORDS)]
    for v in sent:
        p.produce(topic, key=v, value=v, on_delivery=deliveries)
    clients.flush(p)
    assert deliveries.errors() == []
    assert len(deliveries.reports) == RECORDS

    c = clients.consumer(secured_strata, group, **conf)
    try:
        c.subscribe([topic])
        records = clients.consume_n(c, RECORDS)
        assert sorted(r.value() for r in records) == sorted(sent)
        c.commit(asynchronous=False)
        committed = c.committed([r for r in c.assignment()], timeout=clients.REQUEST_TIMEOUT_S)
        assert sum(tp.offset for tp in committed) == RECORDS
    finally:
        c.close()


@pytest.mark.parametrize("who", ["alice over SASL_SSL", "bob's certificate"])
def test_topic_without_acl_is_refused(secured_strata, alice, who):
    topic = clients.unique("py-secret")
    clients.create_topic(admin(secured_strata), topic, 1)
    conf = secured_strata.scram(USER, PASSWORD) if who.startswith("alice") else secured_strata.mtls("bob")
    deliveries = clients.Deliveries()
    p = clients.producer(secured_strata, **conf, **{"message.timeout.ms": 10000})
    p.produce(topic, value=b"no", on_delivery=deliveries)
    clients.flush(p)
    assert [d.error.code() for d in deliveries.reports] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]


def test_wrong_password_fails_authentication(secured_strata, alice):
    errors = []
    conf = secured_strata.scram(USER, "wrong-secret")
    p = clients.producer(secured_strata, **conf, **{"error_cb": errors.append})
    deadline = time.monotonic() + 30
    while not any(e.code() == KafkaError._AUTHENTICATION for e in errors):
        assert time.monotonic() < deadline, f"no authentication error in 30s, only {errors}"
        p.poll(0.2)
    err = next(e for e in errors if e.code() == KafkaError._AUTHENTICATION)
    assert "SASL authentication error" in err.str(), err.str()
