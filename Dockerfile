# certfleet in a container: `certfleet all` by default; compose runs the same
# image as `certfleet migrate` first.
# The web console: built once, embedded in the binary.
FROM node:20-bookworm AS console
WORKDIR /console
COPY console/package.json console/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY console/ ./
RUN npm run build

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=console /console/dist/app/ console/dist/app/
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -ldflags "-X main.version=${VERSION}" -o /out/certfleet ./cmd/certfleet \
 && mkdir -p /out/var/lib/certfleet

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/certfleet /usr/local/bin/certfleet
# The key-encryption key file lives here (a volume in docker-compose.yml).
COPY --from=build --chown=65532:65532 /out/var/lib/certfleet /var/lib/certfleet
EXPOSE 8080 8443 8081
ENTRYPOINT ["/usr/local/bin/certfleet"]
CMD ["all"]
