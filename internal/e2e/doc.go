// Package e2e holds Drawbridge's end-to-end tests: the real binary (server,
// agent, CLI) in network namespaces on the real kernel, checked with real
// TCP connects. It has no non-test code.
package e2e
