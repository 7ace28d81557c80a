# codex-plus in a container. Build: docker build -t codex-plus .
# Run:   docker run -d -p 127.0.0.1:10000:10000 -v codex-plus:/data codex-plus
# See docs/operations.md.

# --- build -------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src

# Dependencies first, against placeholder sources: this layer stays cached until
# Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

COPY . .
# COPY keeps the context's file times, which can be older than the placeholder build.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && install -D -m 0755 target/release/codex-plus /out/codex-plus

# --- runtime -----------------------------------------------------------------
# No ca-certificates: upstream TLS uses rustls with the bundled webpki roots.
FROM debian:bookworm-slim

RUN groupadd --system --gid 10001 codexplus \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin codexplus \
    && mkdir -p /data \
    && chown 10001:10001 /data

COPY --from=build /out/codex-plus /usr/local/bin/codex-plus

# All interfaces inside the container, so a published port reaches it; publish it on
# the host's loopback only (-p 127.0.0.1:10000:10000).
ENV CODEX_PLUS_LISTEN=0.0.0.0:10000 \
    CODEX_PLUS_HOME=/data
VOLUME /data
EXPOSE 10000
USER 10001:10001
WORKDIR /data

# `status` exits non-zero unless /status answers 2xx.
HEALTHCHECK --interval=30s --timeout=10s --start-period=10s --retries=3 \
    CMD ["codex-plus", "status"]

ENTRYPOINT ["codex-plus"]
CMD ["serve"]
