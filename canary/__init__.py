"""canary: prove a Kafka consumer migration safe by running both paths and diffing them."""

__version__ = "0.1.0"
