package drawbridge

import (
	"fmt"
	"strconv"
	"strings"
)

// Protocol is a transport protocol a port rule covers.
type Protocol string

// Protocols. Any means both TCP and UDP.
const (
	TCP Protocol = "tcp"
	UDP Protocol = "udp"
	Any Protocol = "any"
)

// ParseProtocol reads "tcp", "udp", "any" or "*" (case-insensitive).
func ParseProtocol(s string) (Protocol, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "tcp":
		return TCP, nil
	case "udp":
		return UDP, nil
	case "any", "*":
		return Any, nil
	}
	return "", fmt.Errorf("unknown protocol %s: want tcp, udp or any", Excerpt(s))
}

// Valid reports whether p is one of the defined protocols.
func (p Protocol) Valid() bool { return p == TCP || p == UDP || p == Any }

// Covers reports whether a rule with protocol p covers protocol q.
func (p Protocol) Covers(q Protocol) bool { return p == Any || p == q }

// Expand returns the concrete protocols p stands for.
func (p Protocol) Expand() []Protocol {
	if p == Any {
		return []Protocol{TCP, UDP}
	}
	return []Protocol{p}
}

// ParsePort reads a port number 1–65535.
func ParsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid port %s: want a number from 1 to 65535", Excerpt(s))
	}
	return uint16(n), nil
}

// ParsePortSpec reads "22", "22/tcp", "53/udp" or "5000/any". A missing
// protocol defaults to def.
func ParsePortSpec(s string, def Protocol) (uint16, Protocol, error) {
	num, proto, found := strings.Cut(s, "/")
	port, err := ParsePort(num)
	if err != nil {
		return 0, "", err
	}
	if !found {
		return port, def, nil
	}
	p, err := ParseProtocol(proto)
	if err != nil {
		return 0, "", err
	}
	return port, p, nil
}
