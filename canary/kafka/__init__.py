"""Kafka adapters: the only place that imports confluent_kafka."""
