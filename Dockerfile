# flowwatch container image.
#   build stage:   Debian 12 with the -dev packages; a Release build of the
#                  flowwatch binary only (no tests, no benchmarks).
#   runtime stage: Debian 12 slim with only the runtime libraries, the binary,
#                  and the example configuration; runs as uid 10001, writes only
#                  under /var/lib/flowwatch (state.dir: give it a volume), so a
#                  read-only root file system is fine.
#
#   docker build -t flowwatch:0.1.0 --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#   docker run -e EVENTHUB_CONNECTION_STRING=... -v flowwatch-state:/var/lib/flowwatch -p 9464:9464 flowwatch:0.1.0
#
# deploy/test-image.sh builds it with buildah on a locally made Debian base and
# runs the binary from the image's root file system (docs/deploy.md).
ARG BASE=docker.io/library/debian:12-slim

FROM ${BASE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config zlib1g-dev \
      libsimdjson-dev libspdlog-dev libyaml-cpp-dev libcli11-dev librdkafka-dev \
      prometheus-cpp-dev libcpp-httplib-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY lib lib
COPY daemon daemon
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLOWWATCH_TESTS=OFF -DFLOWWATCH_BENCH=OFF \
 && ninja -C /build flowwatch \
 && strip /build/daemon/flowwatch

FROM ${BASE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/flowwatch/flowwatch
# The shared libraries the binary links (ldd), and CA certificates for Event
# Hubs (TLS) and PagerDuty.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates librdkafka1 librdkafka++1 libsimdjson14 libspdlog1.10 libfmt9 libyaml-cpp0.7 \
      libprometheus-cpp-core1.0 libcpp-httplib0.11 libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10001 flowwatch \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/flowwatch --no-create-home \
      --shell /usr/sbin/nologin flowwatch \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/flowwatch
COPY --from=build /build/daemon/flowwatch /usr/local/bin/flowwatch
COPY config/flowwatch.example.yaml /etc/flowwatch/flowwatch.yaml
LABEL org.opencontainers.image.title="flowwatch" \
      org.opencontainers.image.description="Learns normal traffic per VM, protocol, port and direction from Azure flow logs and alerts when it deviates" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
USER 10001:10001
WORKDIR /var/lib/flowwatch
VOLUME ["/var/lib/flowwatch"]
EXPOSE 9464
# The liveness endpoint (the consumer loop turns; a broker outage does not fail
# it). Kubernetes ignores this and uses the probes of deploy/k8s.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/flowwatch", "probe", "http://127.0.0.1:9464/healthz"]
ENTRYPOINT ["/usr/local/bin/flowwatch"]
CMD ["run", "--config", "/etc/flowwatch/flowwatch.yaml"]
