"""The domain core: records, identity, time, events and leads. Plain Python, no Kafka."""
