"""Local infrastructure started by the project itself: a KRaft Kafka broker and an embedded PostgreSQL.

Nothing here is used in production deployments; there, `KAFKA_BOOTSTRAP` and `DATABASE_URL`-style settings
point at real clusters (or `compose.yaml` starts them on a Docker host).
"""
