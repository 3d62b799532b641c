package firewall

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// Protocol is an IP protocol number. Only TCP and UDP are supported; callers
// expand "any" into both.
type Protocol uint8

// The supported protocols.
const (
	TCP Protocol = 6
	UDP Protocol = 17
)

// String returns "tcp", "udp" or the protocol number.
func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

func (p Protocol) valid() bool { return p == TCP || p == UDP }

// Port is a protected port: new inbound connections to it are dropped unless
// an Allow matches.
type Port struct {
	Protocol Protocol
	Number   uint16
}

// Allow is one grant: new connections from Source to Protocol/Port are
// accepted for Remaining more time. Remaining becomes the kernel element
// timeout (millisecond precision); an Allow with Remaining < 1ms is not
// installed.
type Allow struct {
	Source    netip.Prefix
	Protocol  Protocol
	Port      uint16
	Remaining time.Duration
}

// State is the desired state of the firewall. Allows for ports that are not
// protected are installed but have no effect.
type State struct {
	Protected []Port
	Allows    []Allow
}

// Stats counts what an Apply changed in the kernel. A no-change Apply
// returns the zero Stats.
type Stats struct {
	// Added and Removed count set elements (allow ranges and protected
	// ports) that were added or deleted.
	Added, Removed int
	// Replaced counts allow elements whose timeout was reset (delete + add).
	Replaced int
	// Rebuilt is true when the table was (re)created from scratch, because
	// it was missing or its structure had drifted.
	Rebuilt bool
}

// Changed reports whether the Apply changed anything.
func (s Stats) Changed() bool { return s != Stats{} }

// validate checks the state; its errors name the offending entry.
func (s State) validate() error {
	for i, p := range s.Protected {
		if !p.Protocol.valid() {
			return fmt.Errorf("protected[%d]: unsupported protocol %s", i, p.Protocol)
		}
		if p.Number == 0 {
			return fmt.Errorf("protected[%d]: port 0", i)
		}
	}
	for i, a := range s.Allows {
		if !a.Source.IsValid() {
			return fmt.Errorf("allows[%d]: invalid source prefix", i)
		}
		if !a.Protocol.valid() {
			return fmt.Errorf("allows[%d]: unsupported protocol %s", i, a.Protocol)
		}
		if a.Port == 0 {
			return fmt.Errorf("allows[%d]: port 0", i)
		}
	}
	return nil
}

// Options configures Open.
type Options struct {
	// NetNS is a file descriptor of the network namespace to operate in;
	// 0 means the namespace of the calling process. The caller keeps
	// ownership of the descriptor and must keep it open until Close.
	NetNS int
	// Logger receives debug and drift messages; nil discards them.
	Logger *slog.Logger
}
