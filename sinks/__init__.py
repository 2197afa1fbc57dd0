"""Writers to ClickHouse and Kafka, and the read side the API uses."""
