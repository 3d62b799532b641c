package netlab

import (
	"testing"

	"github.com/drawbridge/drawbridge/internal/testtier"
)

// Require skips the test (or fails it, when DRAWBRIDGE_TEST_REQUIRE lists
// the tier) unless the prerequisites of a privileged test tier are present;
// see package testtier for the tiers. Extra commands the test runs (for
// example "nft", "conntrack") can be listed in tools; they are looked up in
// PATH. The message names what is missing.
func Require(t testing.TB, tier testtier.Tier, tools ...string) {
	t.Helper()
	testtier.Require(t, tier, testtier.Tools(tools...))
}
