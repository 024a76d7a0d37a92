# apigw-guard operator image: `docker build -t apigw-guard .`
# Build stage: dependencies first (cached while only src/ changes), then the release binary.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
# The placeholder build left fresher timestamps on the stubs; make cargo rebuild the crate.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked

# Final stage: the binary, glibc and CA certificates only; no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/apigw-guard /usr/local/bin/apigw-guard
USER 65532:65532
EXPOSE 8080
# `docker run IMAGE` runs the operator (`apigw-guard run`); the Deployment passes `run` and its
# flags as args, so the entrypoint stays the bare binary.
ENTRYPOINT ["/usr/local/bin/apigw-guard"]
CMD ["run"]
