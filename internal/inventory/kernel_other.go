//go:build !linux

package inventory

import "errors"

// kernelRelease is only implemented on Linux; Collect does not get here
// elsewhere.
func kernelRelease() (string, error) { return "", errors.ErrUnsupported }
