# callvault in a container: a static binary on distroless, run as non-root.
#   docker build -t callvault .
#   docker run -p 127.0.0.1:8080:8080 -v callvault-data:/data callvault
# scripts/check-packaging.sh builds the binary with this file's build line
# (the RUN line with "go build"), so that CI checks it without a container
# runtime: keep that line one line.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/callvault ./cmd/callvault
RUN /out/callvault version && mkdir -p /out/data

# distroless/static: CA roots (for --issuer entra/oidc, webhooks, mirror),
# tzdata and /etc/passwd with the nonroot user (65532), no shell.
FROM gcr.io/distroless/static-debian12:nonroot AS run
COPY --from=build /out/callvault /usr/local/bin/callvault
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# The data directory: SQLite database and keys, or with CALLVAULT_DB only
# the cursor key's fallback.
ENV CALLVAULT_DATA=/data
VOLUME /data
# 8080: the API; 9090: --metrics-addr, when set (CALLVAULT_METRICS_ADDR=0.0.0.0:9090).
EXPOSE 8080 9090
# serve drains requests in flight on SIGTERM for --shutdown-timeout (30s):
# give docker stop a longer --time (docker-compose.yml: stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/callvault"]
CMD ["serve", "--addr", "0.0.0.0:8080"]
