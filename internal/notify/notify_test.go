package notify_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/notify"
)

func TestVerify(t *testing.T) {
	secret := "whsec_0123456789abcdef"
	body := []byte(`{"id":"dlv_x","type":"request.created"}`)
	sent := time.Unix(1_700_000_000, 0)
	good := notify.Sign(secret, sent, body)
	tests := []struct {
		name    string
		secret  string
		header  string
		body    []byte
		now     time.Time
		wantErr string // substring; "" means valid
	}{
		{"valid", secret, good, body, sent, ""},
		{"valid within tolerance", secret, good, body, sent.Add(4 * time.Minute), ""},
		{"tampered body", secret, good, []byte(`{"id":"dlv_x","type":"request.denied"}`), sent, "does not match"},
		{"wrong secret", "whsec_somebodyelse0000", good, body, sent, "does not match"},
		{"replayed later", secret, good, body, sent.Add(6 * time.Minute), "outside the tolerance"},
		{"from the future", secret, good, body, sent.Add(-6 * time.Minute), "outside the tolerance"},
		{"timestamp changed", secret, strings.Replace(good, "t=1700000000", "t=1700000001", 1), body, sent, "does not match"},
		{"no header", secret, "", body, sent, "must carry"},
		{"no v1", secret, "t=1700000000", body, sent, "must carry"},
		{"bad timestamp", secret, "t=soon,v1=00", body, sent, "not a number"},
		{"rotated secret: any v1 matches", secret, "t=1700000000,v1=deadbeef," + strings.Split(good, ",")[1], body, sent, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := notify.Verify(tt.secret, tt.header, tt.body, tt.now, 0)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify: %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Verify: %v, want an error containing %q", err, tt.wantErr)
			}
			if d.ErrorKind(err) != d.Unauthenticated {
				t.Errorf("kind = %s, want unauthenticated", d.ErrorKind(err))
			}
		})
	}
}

// TestSignFormat pins the header against an independent computation (the
// README's recipe: HMAC-SHA256 over "<t>." + body, lowercase hex).
func TestSignFormat(t *testing.T) {
	got := notify.Sign("secret", time.Unix(1, 0), []byte("{}"))
	// python3 -c 'import hmac,hashlib; print(hmac.new(b"secret", b"1.{}", hashlib.sha256).hexdigest())'
	want := "t=1,v1=1122767b193110cfec322b6f199b599edbf608ed087f2d27afb0b97d99523908"
	if got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestNotes(t *testing.T) {
	ev := func(id d.EventID, action, target, result string, req d.RequestID, details string) d.Event {
		return d.Event{ID: id, Action: action, Target: target, Result: result, RequestID: req, Details: details}
	}
	const r1, r2 = d.RequestID("req_aaaaaaaaaaaaaaaaaaaa"), d.RequestID("req_bbbbbbbbbbbbbbbbbbbb")
	tests := []struct {
		name string
		in   []d.Event
		want []notify.Note
	}{
		{
			name: "auto request",
			in:   []d.Event{ev(1, d.EvRequestCreated, string(r1), d.ResultSuccess, r1, `{"needs_approval":false}`)},
			want: []notify.Note{{Kind: d.NotifyCreated, Event: ev(1, d.EvRequestCreated, string(r1), d.ResultSuccess, r1, `{"needs_approval":false}`)}},
		},
		{
			name: "manual request also needs approval",
			in:   []d.Event{ev(1, d.EvRequestCreated, string(r1), d.ResultSuccess, r1, `{"needs_approval":true}`)},
			want: []notify.Note{
				{Kind: d.NotifyCreated, Event: ev(1, d.EvRequestCreated, string(r1), d.ResultSuccess, r1, `{"needs_approval":true}`)},
				{Kind: d.NotifyApprovalNeeded, Event: ev(1, d.EvRequestCreated, string(r1), d.ResultSuccess, r1, `{"needs_approval":true}`)},
			},
		},
		{
			name: "refusals and other actions notify nothing",
			in: []d.Event{
				ev(1, d.EvRequestCreated, "", d.ResultFailure, "", ""),
				ev(2, d.EvTokenCreated, "tok_aaaaaaaa", d.ResultSuccess, "", ""),
				ev(3, d.EvRequestExtended, string(r1), d.ResultSuccess, r1, ""),
			},
		},
		{
			name: "per-target events coalesce per request and kind",
			in: []d.Event{
				ev(1, d.EvRequestApplied, "tgt_a1111111", d.ResultSuccess, r1, ""),
				ev(2, d.EvRequestApplied, "tgt_b2222222", d.ResultSuccess, r2, ""),
				ev(3, d.EvRequestApplied, "tgt_a3333333", d.ResultSuccess, r1, ""),
				ev(4, d.EvRequestFailed, "tgt_a4444444", d.ResultFailure, r1, ""),
			},
			want: []notify.Note{
				{Kind: d.NotifyActive, Event: ev(1, d.EvRequestApplied, "tgt_a1111111", d.ResultSuccess, r1, ""), TargetIDs: []d.TargetID{"tgt_a1111111", "tgt_a3333333"}},
				{Kind: d.NotifyActive, Event: ev(2, d.EvRequestApplied, "tgt_b2222222", d.ResultSuccess, r2, ""), TargetIDs: []d.TargetID{"tgt_b2222222"}},
				{Kind: d.NotifyFailed, Event: ev(4, d.EvRequestFailed, "tgt_a4444444", d.ResultFailure, r1, ""), TargetIDs: []d.TargetID{"tgt_a4444444"}},
			},
		},
		{
			name: "done is a revocation; decisions and expiry keep their names",
			in: []d.Event{
				ev(1, d.EvRequestApproved, string(r1), d.ResultSuccess, r1, ""),
				ev(2, d.EvRequestDenied, string(r2), d.ResultSuccess, r2, ""),
				ev(3, d.EvRequestDone, string(r1), d.ResultSuccess, r1, ""),
				ev(4, d.EvRequestExpired, string(r2), d.ResultSuccess, r2, ""),
			},
			want: []notify.Note{
				{Kind: d.NotifyApproved, Event: ev(1, d.EvRequestApproved, string(r1), d.ResultSuccess, r1, "")},
				{Kind: d.NotifyDenied, Event: ev(2, d.EvRequestDenied, string(r2), d.ResultSuccess, r2, "")},
				{Kind: d.NotifyRevoked, Event: ev(3, d.EvRequestDone, string(r1), d.ResultSuccess, r1, "")},
				{Kind: d.NotifyExpired, Event: ev(4, d.EvRequestExpired, string(r2), d.ResultSuccess, r2, "")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, notify.Notes(tt.in)); diff != "" {
				t.Errorf("Notes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	base, ceiling := 30*time.Second, time.Hour
	tests := []struct {
		name     string
		attempts int
		r        float64
		want     time.Duration
	}{
		{"first failure, no jitter", 1, 1, 30 * time.Second},
		{"first failure, most jitter", 1, 0, 15 * time.Second},
		{"doubles", 2, 1, time.Minute},
		{"doubles again", 4, 1, 4 * time.Minute},
		{"capped", 9, 1, time.Hour},
		{"no overflow", 200, 1, time.Hour},
		{"zero attempts counts as one", 0, 1, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := notify.Backoff(tt.attempts, base, ceiling, tt.r); got != tt.want {
				t.Errorf("Backoff(%d, r=%v) = %s, want %s", tt.attempts, tt.r, got, tt.want)
			}
		})
	}
}

// TestSlackShape checks the Slack message: a "text" fallback and Block Kit
// section + context blocks, with mrkdwn control characters escaped.
func TestSlackShape(t *testing.T) {
	n := d.Notification{
		ID: "dlv_0123456789abcdefghij", Kind: d.NotifyApprovalNeeded, Actor: "user:alice", ActorName: "alice",
		Request: &d.Request{
			ID: "req_0123456789abcdefghij", RequesterName: "alice", Justification: "INC-42 <db> & co", Duration: d.Duration(time.Hour),
			Targets: []d.Target{{MachineName: "db-1", Port: 5432, Protocol: "tcp", Source: mustPrefix(t, "203.0.113.7/32")}},
		},
	}
	body, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	out, err := notify.Render(d.FormatSlack, body)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"text": "alice requested access to db-1: waiting for approval",
		"blocks": []any{
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": strings.Join([]string{
				"*alice requested access to db-1: waiting for approval*",
				"• db-1 tcp/5432 from 203.0.113.7/32",
				"Justification: INC-42 &lt;db&gt; &amp; co",
				"For 1h",
			}, "\n")}},
			map[string]any{"type": "context", "elements": []any{
				map[string]any{"type": "mrkdwn", "text": "request.approval_needed · req_0123456789abcdefghij · dlv_0123456789abcdefghij"},
			}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("slack message (-want +got):\n%s", diff)
	}

	// The json format is the stored body, unchanged.
	same, err := notify.Render(d.FormatJSON, body)
	if err != nil || string(same) != string(body) {
		t.Errorf("Render(json) = %s, %v; want the body unchanged", same, err)
	}
}

func mustPrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSignatureIsUnixSeconds(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 999, time.UTC)
	h := notify.Sign("k", at, nil)
	if want := "t=" + strconv.FormatInt(at.Unix(), 10) + ",v1="; !strings.HasPrefix(h, want) {
		t.Errorf("Sign = %q, want prefix %q", h, want)
	}
}

// TestAsOf replays an automatically approved request's events: each prefix
// of its history gives the request as it was then.
func TestAsOf(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tg := d.TargetID("tgt_aaaaaaaaaaaaaaaaaaaa")
	final := &d.Request{ID: "req_aaaaaaaaaaaaaaaaaaaa", CreatedAt: t0, Start: t0, End: t0.Add(90 * time.Minute), Duration: d.Duration(time.Hour),
		Approval: d.ApprovalRule{Mode: d.ApprovalAuto}, Status: d.StatusRevoked,
		Targets: []d.Target{{ID: tg, Status: d.StatusRevoked, Reason: "revoked by bob", End: t0.Add(90 * time.Minute), AppliedAt: t0.Add(time.Second),
			Usage: &d.Usage{Packets: 3}}}}
	ev := func(id int, at time.Duration, action, target, reason, details string) d.Event {
		return d.Event{ID: d.EventID(id), Time: t0.Add(at), Action: action, Target: target, Reason: reason, Details: details, Result: d.ResultSuccess, RequestID: final.ID}
	}
	history := []d.Event{
		ev(1, 0, d.EvRequestCreated, string(final.ID), "", `{"needs_approval":false}`),
		ev(2, time.Second, d.EvRequestApplied, string(tg), "", ""),
		{ID: 3, Time: t0.Add(2 * time.Second), Action: d.EvRequestRevoked, Target: string(final.ID), Result: d.ResultFailure, RequestID: final.ID}, // refused: no change
		ev(4, time.Minute, d.EvRequestExtended, string(final.ID), "", fmt.Sprintf(`{"by":"30m","end":%q}`, t0.Add(90*time.Minute).Format(time.RFC3339Nano))),
		ev(5, 2*time.Minute, d.EvRequestRevoked, string(final.ID), "revoked by bob", ""),
	}
	tests := []struct {
		upTo   int
		status d.Status
		end    time.Time
		usage  bool
	}{
		{1, d.StatusApplying, t0.Add(time.Hour), false},
		{2, d.StatusActive, t0.Add(time.Hour), false},
		{3, d.StatusActive, t0.Add(time.Hour), false},
		{4, d.StatusActive, t0.Add(90 * time.Minute), false},
		{5, d.StatusRevoked, t0.Add(90 * time.Minute), true},
	}
	for _, tt := range tests {
		r := notify.AsOf(final, history[:tt.upTo])
		tgt := r.Targets[0]
		if r.Status != tt.status || tgt.Status != tt.status || !r.End.Equal(tt.end) || !tgt.End.Equal(tt.end) || (tgt.Usage != nil) != tt.usage {
			t.Errorf("after event %d: %s/%s until %s/%s, usage %v; want %s until %s, usage %v", tt.upTo, r.Status, tgt.Status, r.End, tgt.End, tgt.Usage, tt.status, tt.end, tt.usage)
		}
	}
	if final.Targets[0].Status != d.StatusRevoked || final.End != t0.Add(90*time.Minute) {
		t.Error("AsOf changed its argument")
	}
}
