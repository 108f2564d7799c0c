# Build stage: compile the release binary.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY benches ./benches
# `/docs` serves its renderer from the binary.
COPY assets ./assets
# `viewmark demo` compiles in its pictures and its stand-in identity provider's keys.
COPY fixtures/images ./fixtures/images
COPY fixtures/demo ./fixtures/demo
RUN cargo build --release --locked --bin viewmark

# Runtime stage: a small Debian with ffmpeg (video media) and curl (health check).
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl ffmpeg \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin viewmark \
    && mkdir -p /data /secrets && chown viewmark:viewmark /data /secrets && chmod 0700 /data /secrets
COPY --from=build /src/target/release/viewmark /usr/local/bin/viewmark
USER viewmark
# The master key lives apart from the data: mount /secrets from another volume (or pass
# VIEWMARK_ENCRYPTION_KEY as a secret), and never back the two up together.
ENV VIEWMARK_DATA_DIR=/data \
    VIEWMARK_SECRETS_DIR=/secrets \
    VIEWMARK_BIND=0.0.0.0:8080 \
    VIEWMARK_LOG__FORMAT=json
VOLUME ["/data", "/secrets"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["viewmark"]
CMD ["serve"]
