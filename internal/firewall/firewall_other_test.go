//go:build !linux

package firewall

import (
	"errors"
	"strings"
	"testing"
)

// TestOpenOffLinux: off Linux, Open and Supported fail with a message that
// says why, and the error is errors.ErrUnsupported.
func TestOpenOffLinux(t *testing.T) {
	_, err := Open(Options{})
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "only on Linux") {
		t.Errorf("Open: got %v, want an ErrUnsupported that says the agent runs only on Linux", err)
	}
	if err := Supported(0); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Supported: got %v, want errors.ErrUnsupported", err)
	}
}
