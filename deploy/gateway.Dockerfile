# syntax=docker/dockerfile:1
# aitext Go gateway: `docker build -f deploy/gateway.Dockerfile .` from the repo root.
FROM golang:1.26-bookworm AS build
WORKDIR /src
# gateway/go.mod replaces the client module with ../clients/go.
COPY clients/go clients/go
COPY gateway/go.mod gateway/go.sum gateway/
RUN cd gateway && go mod download
COPY gateway gateway
RUN cd gateway && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/gateway .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gateway /gateway
USER nonroot
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s CMD ["/gateway", "--probe", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/gateway"]
