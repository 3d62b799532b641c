package audit_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/audit"
)

// memSource serves events from a slice that the test can grow.
type memSource struct {
	mu sync.Mutex
	es []d.Event
}

func (m *memSource) add(es ...d.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.es = append(m.es, es...)
}

func (m *memSource) read(ctx context.Context, after d.EventID, limit int) ([]d.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []d.Event
	for _, e := range m.es {
		if e.ID > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func sampleEvents() []d.Event {
	es := chain(3)
	es[1].Result, es[1].Reason, es[1].ActorName = d.ResultFailure, `bad "token"] \ here`, "Zoë"
	es[2].Action = d.EvRequestCreated
	return es
}

// rfc5424 matches the header and structured data of a message.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) \[(\S+)((?: [a-z_]+="(?:[^"\\\]]|\\.)*")*)\] \x{FEFF}(\{.*\})$`)
var sdParam = regexp.MustCompile(`([a-z_]+)="((?:[^"\\\]]|\\.)*)"`)

type parsed struct {
	pri                                int
	ts, host, app, procID, msgID, sdID string
	params                             map[string]string
	msg                                string
}

func parse(t *testing.T, m string) parsed {
	t.Helper()
	g := rfc5424.FindStringSubmatch(m)
	if g == nil {
		t.Fatalf("not an RFC 5424 message: %q", m)
	}
	pri, _ := strconv.Atoi(g[1])
	p := parsed{pri: pri, ts: g[2], host: g[3], app: g[4], procID: g[5], msgID: g[6], sdID: g[7], params: map[string]string{}, msg: g[9]}
	unesc := strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\]`, `]`)
	for _, kv := range sdParam.FindAllStringSubmatch(g[8], -1) {
		p.params[kv[1]] = unesc.Replace(kv[2])
	}
	return p
}

func checkMessages(t *testing.T, msgs []string, es []d.Event) {
	t.Helper()
	if len(msgs) != len(es) {
		t.Fatalf("%d messages, want %d", len(msgs), len(es))
	}
	for i, m := range msgs {
		p := parse(t, m)
		e := es[i]
		wantPri := 13*8 + 5
		if e.Result == d.ResultFailure {
			wantPri = 13*8 + 4
		}
		if p.pri != wantPri || p.app != "drawbridge" || p.host != "test-host" || p.msgID != e.Action || p.sdID != audit.SDID {
			t.Errorf("message %d header: %+v", i, p)
		}
		if ts, err := time.Parse(time.RFC3339Nano, p.ts); err != nil || !ts.Equal(e.Time) {
			t.Errorf("message %d timestamp %q, want %v", i, p.ts, e.Time)
		}
		if p.params["id"] != strconv.FormatInt(int64(e.ID), 10) || p.params["hash"] != e.Hash || p.params["actor_name"] != e.ActorName {
			t.Errorf("message %d params: %v", i, p.params)
		}
		var got []d.Event
		if err := audit.ReadJSONL(strings.NewReader(p.msg), func(x *d.Event) error { got = append(got, *x); return nil }); err != nil || len(got) != 1 || got[0].Reason != e.Reason || got[0].Hash != e.Hash {
			t.Errorf("message %d body %q: %v", i, p.msg, err)
		}
	}
}

func runTailer(t *testing.T, sink audit.Sink, src *memSource) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	tl := &audit.Tailer{Name: "test", Source: src.read, Sink: sink, Poll: 5 * time.Millisecond, Batch: 2}
	wg.Go(func() { tl.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	sink, err := audit.NewSyslogSink("udp://"+pc.LocalAddr().String(), "test-host")
	if err != nil {
		t.Fatal(err)
	}
	src := &memSource{}
	es := sampleEvents()
	src.add(es...)
	runTailer(t, sink, src)
	var msgs []string
	buf := make([]byte, 65536)
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(msgs) < len(es) {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, string(buf[:n]))
	}
	checkMessages(t, msgs, es)
}

func TestSyslogTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sink, err := audit.NewSyslogSink("tcp://"+ln.Addr().String(), "test-host")
	if err != nil {
		t.Fatal(err)
	}
	src := &memSource{}
	es := sampleEvents()
	src.add(es[:1]...)
	runTailer(t, sink, src)
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	// Octet counting: "LEN SP MSG", LEN in bytes.
	readFrame := func() string {
		n, err := r.ReadString(' ')
		if err != nil {
			t.Fatal(err)
		}
		size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
		if err != nil {
			t.Fatalf("bad frame length %q", n)
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	msgs := []string{readFrame()}
	src.add(es[1:]...) // later events arrive on the same connection
	msgs = append(msgs, readFrame(), readFrame())
	checkMessages(t, msgs, es)
}

func TestSyslogTarget(t *testing.T) {
	for _, bad := range []string{"127.0.0.1:514", "http://x:1", "udp://x", "tcp://:514/x"} {
		if _, err := audit.NewSyslogSink(bad, ""); err == nil {
			t.Errorf("NewSyslogSink(%q) accepted", bad)
		}
	}
}

// flakySink fails its first n sends, like a collector that is down.
type flakySink struct {
	mu    sync.Mutex
	fails int
	tries int
	got   []d.EventID
}

func (f *flakySink) Send(ctx context.Context, es []d.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries++
	if f.fails > 0 {
		f.fails--
		return errors.New("collector down")
	}
	for _, e := range es {
		f.got = append(f.got, e.ID)
	}
	return nil
}

func (f *flakySink) Close() error { return nil }

// TestTailerOutage: a sink that is down delays delivery but loses nothing,
// and the cursor file makes a restart resume after the last delivered event.
func TestTailerOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cursor := filepath.Join(t.TempDir(), "sink.cursor")
		src := &memSource{}
		src.add(chain(5)...)
		sink := &flakySink{fails: 4}
		ctx, cancel := context.WithCancel(t.Context())
		tl := &audit.Tailer{Name: "t", Source: src.read, Sink: sink, CursorFile: cursor, Poll: time.Second, MaxBackoff: 10 * time.Second, Batch: 2}
		done := make(chan error)
		go func() { done <- tl.Run(ctx) }()
		time.Sleep(time.Minute) // fake time: backoff runs its course
		synctest.Wait()
		cancel()
		<-done
		if want := []d.EventID{1, 2, 3, 4, 5}; !equalIDs(sink.got, want) {
			t.Fatalf("delivered %v, want %v", sink.got, want)
		}
		if sink.tries < 7 {
			t.Errorf("%d tries, want the 4 failures retried", sink.tries)
		}
		b, _ := os.ReadFile(cursor)
		if strings.TrimSpace(string(b)) != "5" {
			t.Errorf("cursor %q, want 5", b)
		}
		// Restart: only new events are sent.
		src.add(d.Event{ID: 6})
		sink2 := &flakySink{}
		ctx, cancel = context.WithCancel(t.Context())
		tl.Sink = sink2
		go func() { done <- tl.Run(ctx) }()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		cancel()
		<-done
		if !equalIDs(sink2.got, []d.EventID{6}) {
			t.Errorf("after restart delivered %v, want [6]", sink2.got)
		}
	})
}

func equalIDs(a, b []d.EventID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFileSink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	s := audit.NewFileSink(path)
	es := chain(4)
	if err := s.Send(t.Context(), es[:2]); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), es[2:]); err != nil {
		t.Fatal(err)
	}
	s.Close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	v := audit.NewVerifier(nil)
	n := 0
	if err := audit.ReadJSONL(f, func(e *d.Event) error { n++; v.Add(e); return nil }); err != nil {
		t.Fatal(err)
	}
	if r := v.Finish(0, ""); n != 4 || !r.OK {
		t.Errorf("%d events, %+v", n, r)
	}
}
