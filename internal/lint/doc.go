// Package lint holds tests that keep the repository's architecture true: imports
// only go down the package table of the style guide, and no package outside the
// gateway speaks the Kafka protocol. It has no code of its own.
package lint
