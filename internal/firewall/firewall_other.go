//go:build !linux

package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
)

// errNotLinux is what every entry point returns off Linux: the package
// (and so the agent) needs nftables. It wraps errors.ErrUnsupported so
// callers can tell it from a failure on Linux.
var errNotLinux = fmt.Errorf("the agent runs only on Linux (this is %s): %w", runtime.GOOS, errors.ErrUnsupported)

// Firewall is a stub off Linux, so the CLI builds for macOS and Windows;
// Open never returns one.
type Firewall struct{}

// Open fails off Linux: there is no nftables to manage.
func Open(Options) (*Firewall, error) { return nil, errNotLinux }

// Close does nothing off Linux.
func (f *Firewall) Close() error { return nil }

// Apply fails off Linux.
func (f *Firewall) Apply(State) (Stats, error) { return Stats{}, errNotLinux }

// Remove fails off Linux.
func (f *Firewall) Remove() error { return errNotLinux }

// Installed fails off Linux.
func (f *Firewall) Installed() (bool, error) { return false, errNotLinux }

// Terminate fails off Linux.
func (f *Firewall) Terminate(netip.Prefix, Protocol, uint16) (int, error) { return 0, errNotLinux }

// Counters fails off Linux.
func (f *Firewall) Counters() ([]Counter, error) { return nil, errNotLinux }

// Supported reports that nftables is not available off Linux.
func Supported(int) error { return errNotLinux }
