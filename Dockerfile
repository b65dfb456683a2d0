# Hive: multi-stage build. cargo-chef caches the dependency layer, so a source change rebuilds
# only Hive itself; the runtime image holds the binary and nothing else it does not need.

FROM rust:1.95-slim-bookworm AS chef
RUN cargo install cargo-chef --locked --version ^0.1
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin hive

FROM debian:bookworm-slim AS runtime
RUN useradd --system --uid 10001 --home-dir /var/lib/hive --create-home hive
COPY --from=builder /app/target/release/hive /usr/local/bin/hive
USER hive
WORKDIR /var/lib/hive
ENV HIVE_DATA_DIR=/var/lib/hive \
    HIVE_ADDR=0.0.0.0:8080
VOLUME ["/var/lib/hive"]
EXPOSE 8080
# Hive drains on SIGTERM: stops accepting, lets running tasks finish or re-queues them, commits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["hive"]
CMD ["serve"]
