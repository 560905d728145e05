# liverec in a container, on Debian 12 (bookworm), in two stages: the build stage compiles the
# release binary with Debian's -dev packages; the runtime stage holds the binary and the shared
# libraries it links (the runtime counterparts of those -dev packages, checked by the package
# test against the binary's own dependencies), and runs it as a non-root user.
#
#   docker build -t liverec .
#   docker run -d --name liverec -p 8080:8080 -v liverec-data:/var/lib/liverec \
#     --stop-timeout 300 liverec
#   docker exec liverec cat /var/lib/liverec/admin.key
#
# Options come as LIVEREC_* environment variables (docs/config.md: serve.port is
# LIVEREC_SERVE_PORT; -e LIVEREC_LOG_FORMAT=json for one JSON object per log line) or as
# arguments of `liverec serve` after the image name (--set mf.dim=64).

FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libgtest-dev libgmock-dev libbenchmark-dev \
      libcli11-dev libfmt-dev libsimdjson-dev nlohmann-json3-dev zlib1g-dev libisal-dev \
      libeigen3-dev libssl-dev libsodium-dev libcpp-httplib-dev libhnswlib-dev \
      libhiredis-dev libnats-dev \
      nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The dashboard's bundler (esbuild) as package-lock.json pins it; the build embeds its output.
RUN npm ci --no-audit --no-fund --loglevel=error \
 && cmake --preset release \
 && cmake --build --preset release --target liverec \
 && strip --strip-unneeded build/release/tools/liverec/liverec

FROM debian:bookworm-slim
# The shared libraries of the binary (what `dpkg-shlibdeps` finds for it; libc, libstdc++ and
# libgcc are in the base image) and curl for the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libcpp-httplib0.11 libfmt9 libisal2 libsimdjson14 libsodium23 libssl3 zlib1g curl \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --user-group --uid 10001 --home-dir /var/lib/liverec \
      --shell /usr/sbin/nologin liverec \
 && install -d -o liverec -g liverec -m 0750 /var/lib/liverec
COPY --from=build /src/build/release/tools/liverec/liverec /usr/bin/liverec
COPY packaging/docker/entrypoint.sh /usr/local/bin/liverec-entrypoint
ENV LIVEREC_SERVE_HOST=0.0.0.0 \
    LIVEREC_SERVE_PORT=8080 \
    LIVEREC_SERVE_DATA_DIR=/var/lib/liverec
USER liverec
VOLUME /var/lib/liverec
EXPOSE 8080
# SIGTERM drains the queue and writes a snapshot before exiting; give it time with
# `docker run --stop-timeout 300` (Docker's default is 10 s).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/liverec-entrypoint"]
