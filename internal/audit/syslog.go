package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// Syslog message constants (RFC 5424).
const (
	// SyslogFacility is "log audit" (13).
	SyslogFacility = 13
	// SDID names the structured data element. 32473 is the Private
	// Enterprise Number RFC 5612 reserves for documentation and examples;
	// receivers match on the whole SD-ID.
	SDID = "drawbridge@32473"
	// AppName is the APP-NAME field.
	AppName = "drawbridge"
)

// SyslogSink sends each event as one RFC 5424 message to a collector over
// UDP (one datagram per message) or TCP (octet-counting framing, RFC 6587
// §3.4.1: "LEN SP MSG"). The connection is made on the first Send and again
// after any error. It is not safe for concurrent use.
//
// Message layout:
//
//	<PRI>1 TIMESTAMP HOSTNAME drawbridge PROCID MSGID [drawbridge@32473 id=".." actor=".." …] BOM{event JSON}
//
// PRI is facility 13 (log audit) × 8 + severity 5 (notice) for a success or
// 4 (warning) for a failure; TIMESTAMP is the event's time (RFC 3339, UTC,
// microseconds); MSGID is the action; the SD parameters repeat the main
// fields, the hash included; MSG is the event as JSON, UTF-8 with a BOM.
type SyslogSink struct {
	network, addr string
	hostname      string
	procID        string
	timeout       time.Duration
	conn          net.Conn
}

// NewSyslogSink parses target, udp://HOST:PORT or tcp://HOST:PORT.
// hostname is the HOSTNAME field ("" uses os.Hostname).
func NewSyslogSink(target, hostname string) (*SyslogSink, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Host == "" || u.Port() == "" || u.Path != "" {
		return nil, fmt.Errorf("audit syslog %q: want udp://HOST:PORT or tcp://HOST:PORT", target)
	}
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	return &SyslogSink{network: u.Scheme, addr: u.Host, hostname: headerField(hostname, 255), procID: strconv.Itoa(os.Getpid()), timeout: 10 * time.Second}, nil
}

// Send writes one message per event.
func (s *SyslogSink) Send(ctx context.Context, es []d.Event) error {
	if s.conn == nil {
		dl := net.Dialer{Timeout: s.timeout}
		c, err := dl.DialContext(ctx, s.network, s.addr)
		if err != nil {
			return err
		}
		s.conn = c
	}
	var buf []byte
	for i := range es {
		msg := FormatSyslog(&es[i], s.hostname, s.procID)
		if s.network == "tcp" {
			buf = append(buf, strconv.Itoa(len(msg))...)
			buf = append(buf, ' ')
			buf = append(buf, msg...)
			continue
		}
		s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
		if _, err := s.conn.Write(msg); err != nil {
			s.Close()
			return err
		}
	}
	if len(buf) > 0 {
		s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
		if _, err := s.conn.Write(buf); err != nil {
			s.Close()
			return err
		}
	}
	return nil
}

// Close closes the connection.
func (s *SyslogSink) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// FormatSyslog renders e as an RFC 5424 message (without framing).
func FormatSyslog(e *d.Event, hostname, procID string) []byte {
	sev := 5
	if e.Result == d.ResultFailure {
		sev = 4
	}
	ts := "-"
	if !e.Time.IsZero() {
		ts = e.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>1 %s %s %s %s %s [%s", SyslogFacility*8+sev, ts, headerField(hostname, 255), AppName, headerField(procID, 128), headerField(e.Action, 32), SDID)
	for _, p := range [...][2]string{
		{"id", strconv.FormatInt(int64(e.ID), 10)}, {"actor", e.Actor}, {"actor_name", e.ActorName}, {"source", e.ActorSource},
		{"action", e.Action}, {"target", e.Target}, {"result", e.Result}, {"request_id", string(e.RequestID)}, {"hash", e.Hash},
	} {
		if p[1] == "" {
			continue
		}
		b.WriteString(" " + p[0] + `="` + sdEscape(p[1]) + `"`)
	}
	b.WriteString("] \ufeff")
	j, _ := json.Marshal(e) // an Event always marshals
	b.Write(j)
	return []byte(b.String())
}

// headerField makes s a valid RFC 5424 header field: printable US-ASCII
// without spaces, at most max characters, "-" when empty.
func headerField(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		c := s[i]
		if c < 33 || c > 126 {
			c = '_'
		}
		b.WriteByte(c)
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// sdEscape escapes a PARAM-VALUE: '"', '\' and ']' get a backslash.
func sdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(strings.ToValidUTF8(s, "\ufffd"))
}
