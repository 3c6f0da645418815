// Package check checks the container image's Dockerfile and
// localstack/compose.yaml without a Docker engine, with the code Docker
// itself runs: BuildKit's Dockerfile parser and the checks of `docker build
// --check`, and compose-go, the loader of `docker compose` (schema
// validation, interpolation, merge keys, profiles). It asserts what each
// promises: a static binary on an empty base run as a non-root user, and the
// local stack's topology for each profile. A module of its own so that
// Strata does not depend on either.
package check
