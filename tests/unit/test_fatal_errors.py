"""Fatal client errors reported through librdkafka's error callback end a run clearly."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from canary.errors import EXIT_SERVICE, ServiceUnavailable
from canary.kafka.consumer import FatalErrors, ProtocolUnsupported


def test_nothing_recorded_passes() -> None:
    errors = FatalErrors()
    errors(KafkaError(KafkaError._TRANSPORT, "broker down", fatal=False))
    errors.check("127.0.0.1:9092")
    assert errors.first is None


def test_a_fenced_member_becomes_a_service_error_naming_the_address() -> None:
    errors = FatalErrors()
    errors(KafkaError(KafkaError.FENCED_INSTANCE_ID, "instance id still in use", fatal=True))
    with pytest.raises(ServiceUnavailable) as raised:
        errors.check("127.0.0.1:9092")
    assert not isinstance(raised.value, ProtocolUnsupported)
    assert raised.value.exit_code == EXIT_SERVICE
    assert "127.0.0.1:9092" in str(raised.value)
    assert "instance id still in use" in str(raised.value)


def test_the_first_fatal_error_is_the_one_reported() -> None:
    errors = FatalErrors()
    errors(KafkaError(KafkaError.UNSUPPORTED_VERSION, "no ConsumerGroupHeartbeat", fatal=True))
    errors(KafkaError(KafkaError.FENCED_INSTANCE_ID, "later", fatal=True))
    with pytest.raises(ProtocolUnsupported, match="ConsumerGroupHeartbeat"):
        errors.check("b:9092")
