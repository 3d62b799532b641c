package drawbridge_test

import (
	"testing"

	d "github.com/drawbridge/drawbridge"
)

func TestParseProtocol(t *testing.T) {
	tests := []struct {
		in      string
		want    d.Protocol
		wantErr bool
	}{
		{"tcp", d.TCP, false},
		{"TCP", d.TCP, false},
		{" udp ", d.UDP, false},
		{"any", d.Any, false},
		{"ANY", d.Any, false},
		{"*", d.Any, false},
		{"", "", true},
		{"icmp", "", true},
		{"tcp/udp", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := d.ParseProtocol(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseProtocol(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestProtocol(t *testing.T) {
	tests := []struct {
		name     string
		p, q     d.Protocol
		covers   bool
		validP   bool
		expanded int
	}{
		{"tcp covers tcp", d.TCP, d.TCP, true, true, 1},
		{"tcp does not cover udp", d.TCP, d.UDP, false, true, 1},
		{"tcp does not cover any", d.TCP, d.Any, false, true, 1},
		{"any covers tcp", d.Any, d.TCP, true, true, 2},
		{"any covers udp", d.Any, d.UDP, true, true, 2},
		{"udp covers udp", d.UDP, d.UDP, true, true, 1},
		{"unknown is not valid", "sctp", "sctp", true, false, 1},
		{"empty is not valid", "", d.TCP, false, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Covers(tt.q); got != tt.covers {
				t.Errorf("%q.Covers(%q) = %v, want %v", tt.p, tt.q, got, tt.covers)
			}
			if got := tt.p.Valid(); got != tt.validP {
				t.Errorf("%q.Valid() = %v, want %v", tt.p, got, tt.validP)
			}
			if got := len(tt.p.Expand()); got != tt.expanded {
				t.Errorf("len(%q.Expand()) = %d, want %d", tt.p, got, tt.expanded)
			}
		})
	}
}

func TestParsePortSpec(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		def       d.Protocol
		wantPort  uint16
		wantProto d.Protocol
		wantErr   bool
	}{
		{"bare port takes the default", "22", d.TCP, 22, d.TCP, false},
		{"bare port with any default", "22", d.Any, 22, d.Any, false},
		{"tcp", "22/tcp", d.UDP, 22, d.TCP, false},
		{"udp", "53/udp", d.TCP, 53, d.UDP, false},
		{"any", "5000/any", d.TCP, 5000, d.Any, false},
		{"star", "5000/*", d.TCP, 5000, d.Any, false},
		{"upper case", "443/TCP", d.UDP, 443, d.TCP, false},
		{"lowest port", "1", d.TCP, 1, d.TCP, false},
		{"highest port", "65535/udp", d.TCP, 65535, d.UDP, false},
		{"port zero", "0", d.TCP, 0, "", true},
		{"port too large", "65536", d.TCP, 0, "", true},
		{"negative port", "-22", d.TCP, 0, "", true},
		{"empty", "", d.TCP, 0, "", true},
		{"name not number", "ssh", d.TCP, 0, "", true},
		{"range", "22-23", d.TCP, 0, "", true},
		{"unknown protocol", "22/icmp", d.TCP, 0, "", true},
		{"empty protocol", "22/", d.TCP, 0, "", true},
		{"two protocols", "22/tcp/udp", d.TCP, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port, proto, err := d.ParsePortSpec(tt.in, tt.def)
			if (err != nil) != tt.wantErr || port != tt.wantPort || proto != tt.wantProto {
				t.Errorf("ParsePortSpec(%q, %q) = %d, %q, %v; want %d, %q, error %v",
					tt.in, tt.def, port, proto, err, tt.wantPort, tt.wantProto, tt.wantErr)
			}
		})
	}
}

func TestPortProtoString(t *testing.T) {
	if got := (d.PortProto{Port: 22, Protocol: d.TCP}).String(); got != "22/tcp" {
		t.Errorf("String() = %q, want %q", got, "22/tcp")
	}
}
