# syntax=docker/dockerfile:1
#
# keystep container image.
#   docker build -t keystep .
#   docker run -p 8080:8080 -v keystep-data:/var/lib/keystep keystep
# The image runs `keystep serve` on 0.0.0.0:8080 with its data in /var/lib/keystep
# (SQLite database, generated master key, mail outbox) unless configured otherwise;
# docs/configuration.md lists every KEYSTEP_* variable.

# --- build -------------------------------------------------------------------
FROM rust:1-bookworm AS build

# libpq for diesel's PostgreSQL backend; SQLite is bundled into the binary.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# The whole workspace: every member (crates/*, tests) must be present, and migrations/ is
# embedded into the binary.
COPY . .

# Cache mounts keep the registry and target/ between builds; the binary is copied out of
# the cache mount so the next stage can take it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p keystep-server \
 && install -m 0755 target/release/keystep /usr/local/bin/keystep

# --- runtime -----------------------------------------------------------------
FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid, so files mounted from the host (e.g. a compose secret) can be made
# readable by it: chown 10001 FILE.
RUN groupadd --system --gid 10001 keystep \
 && useradd --system --uid 10001 --gid keystep --home-dir /var/lib/keystep \
            --shell /usr/sbin/nologin keystep \
 && install -d -o keystep -g keystep -m 0700 /var/lib/keystep

COPY --from=build /usr/local/bin/keystep /usr/local/bin/keystep

ENV KEYSTEP_DATA_DIR=/var/lib/keystep \
    KEYSTEP_LISTEN=0.0.0.0:8080

USER keystep:keystep
WORKDIR /var/lib/keystep
EXPOSE 8080

# keystep stops gracefully on SIGTERM (docker stop), finishing open requests.
ENTRYPOINT ["keystep"]
CMD ["serve"]
