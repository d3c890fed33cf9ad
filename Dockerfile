# syntax=docker/dockerfile:1
# mosaicfs-server image: `docker compose up --build` builds it from this repository.

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target dir between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p mosaicfs-server \
    && cp target/release/mosaicfs-server /usr/local/bin/mosaicfs-server

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# The state directory is created here, owned by the service user, so a fresh
# named volume mounted on it inherits that ownership.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/mosaicfs-server --shell /usr/sbin/nologin mosaicfs \
    && mkdir -p /var/lib/mosaicfs-server \
    && chown mosaicfs:mosaicfs /var/lib/mosaicfs-server
COPY --from=builder /usr/local/bin/mosaicfs-server /usr/local/bin/mosaicfs-server
USER mosaicfs
WORKDIR /var/lib/mosaicfs-server
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/mosaicfs-server"]
