# The Strata container image: one static binary on an empty base, run as a
# non-root user. Build it with `make image` (docker build -t strata .).
#
# Every `strata serve` flag is also the environment variable STRATA_<FLAG>
# (e.g. STRATA_S3_BUCKET, STRATA_NATS_URL, STRATA_NODE_ID, STRATA_RACK,
# STRATA_ADVERTISED_LISTENERS); the defaults below listen on all interfaces,
# as a container must. With none set it runs everything embedded, its data
# under the /var/lib/strata volume. A PLAINTEXT listener on all interfaces
# lets anyone in, so strata refuses to start with it unless
# STRATA_ALLOW_UNAUTHENTICATED_LISTENERS=true: set that for a trusted network,
# or give STRATA_LISTENERS a SASL or mutual-TLS listener (see the README). The image has no shell: the health check is
# `strata healthcheck`, which asks the admin endpoint's /healthz.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/strata ./cmd/strata && \
	mkdir -p /out/data

FROM scratch
# Root certificates for S3 over HTTPS; nothing else from the build stage.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/strata /usr/local/bin/strata
COPY --from=build --chown=65532:65532 /out/data /var/lib/strata
ENV STRATA_LISTENERS=PLAINTEXT://0.0.0.0:9092 \
	STRATA_HTTP_LISTEN=0.0.0.0:9644 \
	STRATA_SCHEMA_REGISTRY_LISTEN=0.0.0.0:8081 \
	STRATA_DATA_DIR=/var/lib/strata
# Kafka, the schema registry, and the admin endpoint (/healthz, /metrics).
EXPOSE 9092 8081 9644
VOLUME /var/lib/strata
USER 65532:65532
# SIGTERM drains: queued batches reach object storage, the lease is handed
# back, and strata exits 0. Give it the time (docker stop -t, ECS stopTimeout).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
	CMD ["/usr/local/bin/strata", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/strata"]
CMD ["serve"]
