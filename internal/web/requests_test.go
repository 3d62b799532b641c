package web_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drawbridge/drawbridge/internal/store"
	"github.com/google/go-cmp/cmp"

	d "github.com/drawbridge/drawbridge"
)

// requestsEnv is a server with three machines: web1 (22/tcp from 10/8 and
// 2001:db8::/32 for at most 2h, 443/tcp from anywhere, 53/udp), web2 (22/tcp
// from anywhere) and bare (no policy), and a requester token.
func requestsEnv(t *testing.T, opts ...envOption) (e *testEnv, requester string) {
	t.Helper()
	e = newEnv(t, opts...)
	for _, name := range []string{"web1", "web2", "bare"} {
		e.enroll(t, name)
	}
	e.policy(t, "web1",
		d.RuleInput{Port: 22, AllowedSources: []string{"10.0.0.0/8", "2001:db8::/32"}, MaxDuration: "2h"},
		d.RuleInput{Port: 443},
		d.RuleInput{Port: 53, Protocol: d.UDP},
	)
	e.policy(t, "web2", d.RuleInput{Port: 22})
	requester, _ = e.token(t, "alice", d.RoleRequester)
	return e, requester
}

func TestRequestCreateRejects(t *testing.T) {
	t.Parallel()
	e, requester := requestsEnv(t)
	ssh := func(source, duration string) d.RequestInput {
		return d.RequestInput{Targets: ports("web1", 22), Source: source, Duration: duration}
	}
	valid := `{"targets":[{"machine":"web1","ports":[{"port":22}]}],"source":"10.1.2.3"}`

	tests := []struct {
		name   string
		query  string
		body   any
		status int
		code   d.Kind
		field  string
		msg    string // a part of the message, if it matters
	}{
		// Policy checks.
		{name: "port not in policy", body: d.RequestInput{Targets: ports("web1", 8080), Source: "10.1.2.3"}, status: 400, code: d.Invalid, field: "targets[0].ports[0].port", msg: "8080"},
		{name: "protocol not in policy", body: d.RequestInput{Targets: []d.MachineTargets{{Machine: "web1", Ports: []d.PortTarget{{Port: 22, Protocol: d.UDP}}}}, Source: "10.1.2.3"}, status: 400, code: d.Invalid, field: "targets[0].ports[0].port"},
		{name: "unknown protocol", body: d.RequestInput{Targets: []d.MachineTargets{{Machine: "web1", Ports: []d.PortTarget{{Port: 22, Protocol: "icmp"}}}}, Source: "10.1.2.3"}, status: 400, code: d.Invalid, field: "targets[0].ports[0].protocol"},
		{name: "port zero", body: d.RequestInput{Targets: ports("web1", 0), Source: "10.1.2.3"}, status: 400, code: d.Invalid, field: "targets[0].ports[0].port"},
		{name: "source outside allowed prefixes", body: ssh("192.0.2.1", ""), status: 400, code: d.Invalid, field: "targets[0].ports[0].source", msg: "192.0.2.1"},
		{name: "default source outside allowed prefixes", body: ssh("", ""), status: 400, code: d.Invalid, field: "targets[0].ports[0].source", msg: "127.0.0.1"},
		{name: "CIDR wider than allowed", body: ssh("10.0.0.0/7", ""), status: 400, code: d.Invalid, field: "targets[0].ports[0].source"},
		{name: "per-port source outside allowed", body: d.RequestInput{Targets: []d.MachineTargets{{Machine: "web1", Ports: []d.PortTarget{{Port: 22, Source: "192.0.2.0/24"}}}}, Source: "10.1.2.3"}, status: 400, code: d.Invalid, field: "targets[0].ports[0].source"},
		{name: "IPv6 source outside allowed", body: ssh("2001:db9::1", ""), status: 400, code: d.Invalid, field: "targets[0].ports[0].source"},
		{name: "source with host bits", body: ssh("10.0.0.1/8", ""), status: 400, code: d.Invalid, field: "source", msg: "10.0.0.0/8"},
		{name: "malformed source", body: ssh("banana", ""), status: 400, code: d.Invalid, field: "source"},
		{name: "source with zone", body: ssh("fe80::1%eth0", ""), status: 400, code: d.Invalid, field: "source"},
		{name: "malformed per-port source", body: d.RequestInput{Targets: []d.MachineTargets{{Machine: "web1", Ports: []d.PortTarget{{Port: 22, Source: "10.0.0.300"}}}}}, status: 400, code: d.Invalid, field: "targets[0].ports[0].source"},

		// Durations.
		{name: "duration over the rule's max", body: ssh("10.1.2.3", "3h"), status: 400, code: d.Invalid, field: "duration", msg: "2h"},
		{name: "ISO duration over the rule's max", body: ssh("10.1.2.3", "PT2H1M"), status: 400, code: d.Invalid, field: "duration"},
		{name: "duration over the server cap", body: d.RequestInput{Targets: ports("web1", 443), Duration: "25h"}, status: 400, code: d.Invalid, field: "duration"},
		{name: "zero duration", body: ssh("10.1.2.3", "0s"), status: 400, code: d.Invalid, field: "duration"},
		{name: "ISO zero duration", body: ssh("10.1.2.3", "PT0S"), status: 400, code: d.Invalid, field: "duration"},
		{name: "sub-second duration", body: ssh("10.1.2.3", "500ms"), status: 400, code: d.Invalid, field: "duration"},
		{name: "negative duration", body: ssh("10.1.2.3", "-1h"), status: 400, code: d.Invalid, field: "duration"},
		{name: "malformed duration", body: ssh("10.1.2.3", "soon"), status: 400, code: d.Invalid, field: "duration"},
		{name: "ISO duration in years", body: ssh("10.1.2.3", "P1Y"), status: 400, code: d.Invalid, field: "duration"},
		{name: "duration as a number", body: `{"targets":[{"machine":"web1","ports":[{"port":22}]}],"source":"10.1.2.3","duration":3600}`, status: 400, code: d.Invalid, field: "duration"},

		// Machines.
		{name: "unknown machine", body: d.RequestInput{Targets: ports("nope", 22)}, status: 404, code: d.NotFound, field: "targets[0].machine"},
		{name: "unknown machine ID", body: d.RequestInput{Targets: ports("mch_aaaaaaaaaaaaaaaaaaaa", 22)}, status: 404, code: d.NotFound, field: "targets[0].machine"},
		{name: "empty machine", body: d.RequestInput{Targets: ports("", 22)}, status: 400, code: d.Invalid, field: "targets[0].machine"},
		{name: "machine name too long", body: d.RequestInput{Targets: ports(strings.Repeat("a", 64), 22)}, status: 400, code: d.Invalid, field: "targets[0].machine"},
		{name: "machine without policy", body: d.RequestInput{Targets: ports("bare", 22)}, status: 409, code: d.Conflict, field: "targets[0].machine"},
		{name: "no targets", body: d.RequestInput{}, status: 400, code: d.Invalid, field: "targets"},
		{name: "no ports", body: d.RequestInput{Targets: []d.MachineTargets{{Machine: "web1"}}}, status: 400, code: d.Invalid, field: "targets[0].ports"},
		{name: "machine listed twice", body: d.RequestInput{Targets: append(ports("web2", 22), ports("web2", 22)...)}, status: 400, code: d.Invalid, field: "targets[1].machine"},
		{name: "duplicate port", body: d.RequestInput{Targets: ports("web1", 443, 443)}, status: 400, code: d.Invalid, field: "targets[0].ports[1].port"},
		{name: "second machine fails", body: d.RequestInput{Targets: append(ports("web2", 22), ports("web1", 8080)...)}, status: 400, code: d.Invalid, field: "targets[1].ports[0].port"},
		{name: "second machine unknown", body: d.RequestInput{Targets: append(ports("web2", 22), ports("nope", 22)...)}, status: 404, code: d.NotFound, field: "targets[1].machine"},
		{name: "justification too long", body: d.RequestInput{Targets: ports("web2", 22), Justification: strings.Repeat("x", d.MaxJustification+1)}, status: 400, code: d.Invalid, field: "justification"},
		{name: "justification with control characters", body: d.RequestInput{Targets: ports("web2", 22), Justification: "fix\x1b[2J"}, status: 400, code: d.Invalid, field: "justification"},

		// Decoding.
		{name: "malformed JSON", body: `{"targets":[`, status: 400, code: d.Invalid},
		{name: "not JSON", body: `targets=web1`, status: 400, code: d.Invalid},
		{name: "unknown field", body: `{"targets":[{"machine":"web1","ports":[{"port":22}]}],"sauce":"10.1.2.3"}`, status: 400, code: d.Invalid, field: "sauce", msg: "sauce"},
		{name: "unknown nested field", body: `{"targets":[{"machine":"web1","ports":[{"port":22,"proto":"tcp"}]}]}`, status: 400, code: d.Invalid, field: "targets[0].ports[0].proto", msg: "proto"},
		{name: "port as a string", body: `{"targets":[{"machine":"web1","ports":[{"port":"22"}]}]}`, status: 400, code: d.Invalid, field: "targets[0].ports[0].port"},
		{name: "port out of range", body: `{"targets":[{"machine":"web1","ports":[{"port":70000}]}]}`, status: 400, code: d.Invalid, field: "targets[0].ports[0].port"},
		{name: "targets as a string", body: `{"targets":"web1"}`, status: 400, code: d.Invalid, field: "targets"},
		{name: "body is an array", body: `[]`, status: 400, code: d.Invalid},
		{name: "trailing object", body: valid + `{}`, status: 400, code: d.Invalid, msg: "trailing"},
		{name: "trailing garbage", body: valid + ` x`, status: 400, code: d.Invalid, msg: "trailing"},
		{name: "empty body", body: ``, status: 400, code: d.Invalid, msg: "empty"},
		{name: "null body", body: `null`, status: 400, code: d.Invalid, field: "", msg: "not null"},
		{name: "oversized body", body: `{"justification":"` + strings.Repeat("x", 1<<20) + `"}`, status: 413, code: d.TooLarge},

		// Query.
		{name: "malformed wait", query: "?wait=forever", body: ssh("10.1.2.3", ""), status: 400, code: d.Invalid, field: "wait"},
		{name: "wait too long", query: "?wait=2m", body: ssh("10.1.2.3", ""), status: 400, code: d.Invalid, field: "wait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot(t)
			r := e.call(t, "POST", "/api/v1/requests"+tt.query, requester, tt.body)
			got := wantError(t, r, tt.status, tt.code, tt.field)
			if !strings.Contains(got.Message, tt.msg) {
				t.Errorf("message %q does not mention %q", got.Message, tt.msg)
			}
			e.wantUnchanged(t, before)
		})
	}

	t.Run("wrong content type", func(t *testing.T) {
		before := e.snapshot(t)
		req := e.newRequest(t, "POST", "/api/v1/requests", requester, valid)
		req.Header.Set("Content-Type", "text/plain")
		wantError(t, send(t, e.hc, req), http.StatusBadRequest, d.Invalid, "")
		e.wantUnchanged(t, before)
	})
}

func TestRequestCreateAccepts(t *testing.T) {
	t.Parallel()
	e, requester := requestsEnv(t)
	web1 := e.machine(t, "web1")

	tests := []struct {
		name     string
		in       d.RequestInput
		source   string // of every target
		proto    d.Protocol
		duration d.Duration
	}{
		{"single IP inside allowed CIDR", d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.3"}, "10.1.2.3/32", d.TCP, d.Duration(time.Hour)},
		{"CIDR inside allowed CIDR", d.RequestInput{Targets: ports("web1", 22), Source: "10.1.0.0/16"}, "10.1.0.0/16", d.TCP, d.Duration(time.Hour)},
		{"the allowed CIDR itself", d.RequestInput{Targets: ports("web1", 22), Source: "10.0.0.0/8", Duration: "2h"}, "10.0.0.0/8", d.TCP, d.Duration(2 * time.Hour)},
		{"IPv6 source", d.RequestInput{Targets: ports("web1", 22), Source: "2001:db8::1", Duration: "PT90M"}, "2001:db8::1/128", d.TCP, d.Duration(90 * time.Minute)},
		{"IPv6 CIDR", d.RequestInput{Targets: ports("web1", 22), Source: "2001:db8:1::/48"}, "2001:db8:1::/48", d.TCP, d.Duration(time.Hour)},
		{"IPv4-mapped IPv6 source", d.RequestInput{Targets: ports("web1", 22), Source: "::ffff:10.9.8.7"}, "10.9.8.7/32", d.TCP, d.Duration(time.Hour)},
		{"per-port source overrides", d.RequestInput{Targets: []d.MachineTargets{{Machine: "web1", Ports: []d.PortTarget{{Port: 22, Source: "10.2.2.2"}}}}, Source: "192.0.2.1"}, "10.2.2.2/32", d.TCP, d.Duration(time.Hour)},
		{"protocol from the rule", d.RequestInput{Targets: ports("web1", 53), Duration: "1m"}, "127.0.0.1/32", d.UDP, d.Duration(time.Minute)},
		{"default source is the caller", d.RequestInput{Targets: ports("web1", 443), Duration: "3h"}, "127.0.0.1/32", d.TCP, d.Duration(3 * time.Hour)},
		{"machine by ID", d.RequestInput{Targets: ports(string(web1.ID), 443), Duration: "3h"}, "127.0.0.1/32", d.TCP, d.Duration(3 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.request(t, requester, tt.in)
			if r.Status != d.StatusApplying || r.Duration != tt.duration || !r.End.Equal(r.Start.Add(tt.duration.Std())) {
				t.Errorf("request = %s for %s until %s, want applying for %s", r.Status, r.Duration, r.End, tt.duration)
			}
			for _, tg := range r.Targets {
				if tg.Source.String() != tt.source || tg.Protocol != tt.proto || tg.Status != d.StatusApplying {
					t.Errorf("target = %s %s %s, want %s %s applying", tg.Source, tg.Protocol, tg.Status, tt.source, tt.proto)
				}
			}
			if got := e.getRequest(t, requester, r.ID); got.ID != r.ID || len(got.Targets) != len(r.Targets) {
				t.Errorf("GET returned %+v, want the created request", got)
			}
		})
	}

	t.Run("several machines at once", func(t *testing.T) {
		before := e.snapshot(t)
		r := e.request(t, requester, d.RequestInput{Targets: append(ports("web1", 443, 53), ports("web2", 22)...), Justification: "deploy"})
		if len(r.Targets) != 3 {
			t.Fatalf("targets = %d, want 3", len(r.Targets))
		}
		after := e.snapshot(t)
		if len(after.Requests) != len(before.Requests)+1 {
			t.Errorf("requests = %d, want one more than %d", len(after.Requests), len(before.Requests))
		}
		for i, m := range after.Machines {
			want := before.Machines[i].StateVersion
			if m.Name != "bare" {
				want++
			}
			if m.StateVersion != want {
				t.Errorf("%s state version = %d, want %d", m.Name, m.StateVersion, want)
			}
		}
	})
}

// TestRequestSource checks whose address a request defaults to, and that
// X-Forwarded-For counts only when the peer is a trusted proxy.
func TestRequestSource(t *testing.T) {
	t.Parallel()
	direct, requester := requestsEnv(t)
	proxied, proxiedRequester := requestsEnv(t, withTrustedProxies("127.0.0.1/32", "198.51.100.0/24"))

	tests := []struct {
		name  string
		env   *testEnv
		token string
		xff   []string // X-Forwarded-For header lines
		want  string
	}{
		{"no proxy: caller's address", direct, requester, nil, "127.0.0.1"},
		{"no proxy: X-Forwarded-For ignored", direct, requester, []string{"203.0.113.7"}, "127.0.0.1"},
		{"trusted proxy without X-Forwarded-For", proxied, proxiedRequester, nil, "127.0.0.1"},
		{"trusted proxy: client from X-Forwarded-For", proxied, proxiedRequester, []string{"203.0.113.7"}, "203.0.113.7"},
		{"trusted proxy: rightmost untrusted", proxied, proxiedRequester, []string{"192.0.2.1, 203.0.113.7, 198.51.100.9"}, "203.0.113.7"},
		{"trusted proxy: several header lines", proxied, proxiedRequester, []string{"192.0.2.1", "203.0.113.7"}, "203.0.113.7"},
		{"trusted proxy: malformed entry stops the walk", proxied, proxiedRequester, []string{"203.0.113.7, garbage"}, "127.0.0.1"},
		{"trusted proxy: IPv6 client", proxied, proxiedRequester, []string{"2001:db8::7"}, "2001:db8::7"},
		{"trusted proxy: only proxies", proxied, proxiedRequester, []string{"198.51.100.1"}, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.env
			req := e.newRequest(t, "POST", "/api/v1/requests", tt.token, d.RequestInput{Targets: ports("web1", 443)})
			for _, v := range tt.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			var r d.Request
			decode(t, send(t, e.hc, req), http.StatusCreated, &r)
			want := netip.MustParseAddr(tt.want)
			if got := r.Targets[0].Source; got != netip.PrefixFrom(want, want.BitLen()) {
				t.Errorf("source = %s, want %s", got, tt.want)
			}
			es := e.events(t, 0)
			if last := es[len(es)-1]; last.Action != d.EvRequestCreated || last.ActorSource != tt.want {
				t.Errorf("last event %s from %q, want request.created from %s", last.Action, last.ActorSource, tt.want)
			}
		})
	}
}

// TestUnsupportedMachineRefuses checks that a machine whose agent cannot
// enforce JIT (no usable nftables, not Linux) gets no request and no enabled
// policy, with a 409 that names the reason, while an offline machine still
// takes requests (they apply when its agent returns).
func TestUnsupportedMachineRefuses(t *testing.T) {
	t.Parallel()
	e, requester := requestsEnv(t)
	broken := e.enroll(t, "broken")
	e.policy(t, "broken", d.RuleInput{Port: 22})
	win := e.enroll(t, "win")
	for _, r := range []struct {
		a   *agent
		inv d.Inventory
	}{
		{broken, d.Inventory{Hostname: "broken", OS: "linux", AgentVersion: "test", FirewallError: "kernel lacks nf_tables"}},
		{win, d.Inventory{Hostname: "win", OS: "windows", AgentVersion: "test"}},
	} {
		if err := r.a.c.ReportInventory(t.Context(), r.a.id, r.inv); err != nil {
			t.Fatal(err)
		}
	}

	before := e.snapshot(t)
	in := d.RequestInput{Targets: append(ports("web2", 22), ports("broken", 22)...), Source: "10.1.2.3"}
	got := wantError(t, e.call(t, "POST", "/api/v1/requests", requester, in), http.StatusConflict, d.Conflict, "targets[1].machine")
	if !strings.Contains(got.Message, "no usable nftables: kernel lacks nf_tables") {
		t.Errorf("message %q does not name the reason", got.Message)
	}
	wantError(t, e.call(t, "POST", "/api/v1/requests?dry_run=true", requester, in), http.StatusConflict, d.Conflict, "targets[1].machine")
	got = wantError(t, e.call(t, "POST", "/api/v1/machines/win/policy/enable", e.admin, nil), http.StatusConflict, d.Conflict, "")
	if !strings.Contains(got.Message, "use a gateway for windows") {
		t.Errorf("message %q does not name the reason", got.Message)
	}
	got = wantError(t, e.call(t, "PUT", "/api/v1/machines/win/policy", e.admin, d.PolicyInput{Rules: []d.RuleInput{{Port: 3389}}}), http.StatusConflict, d.Conflict, "")
	e.wantUnchanged(t, before)

	// A disabled policy may still be written, and disabling always works.
	off := false
	if _, err := e.adminC.PolicySet(t.Context(), "win", d.PolicyInput{Rules: []d.RuleInput{{Port: 3389}}, Enabled: &off}); err != nil {
		t.Errorf("writing a disabled policy on an unsupported machine: %v", err)
	}
	wantError(t, e.call(t, "POST", "/api/v1/machines/win/policy/enable", e.admin, nil), http.StatusConflict, d.Conflict, "")
	decode(t, e.call(t, "POST", "/api/v1/machines/broken/policy/disable", e.admin, nil), http.StatusOK, nil)

	// A request that was pending when its machine became unsupported is
	// not approved into a grant that could never open.
	late := e.enroll(t, "late")
	manual := &d.ApprovalInput{Mode: d.ApprovalManual, Levels: []d.ApprovalLevel{{Quorum: 1}}}
	if _, err := e.adminC.PolicySet(t.Context(), "late", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}, Approval: manual}); err != nil {
		t.Fatal(err)
	}
	pending := e.request(t, requester, d.RequestInput{Targets: ports("late", 22), Source: "10.1.2.3"})
	if err := late.c.ReportInventory(t.Context(), late.id, d.Inventory{Hostname: "late", OS: "linux", AgentVersion: "test", FirewallError: "nft: permission denied"}); err != nil {
		t.Fatal(err)
	}
	before = e.snapshot(t)
	got = wantError(t, e.call(t, "POST", "/api/v1/requests/"+string(pending.ID)+"/approve", e.admin, d.DecisionInput{Reason: "ok"}), http.StatusConflict, d.Conflict, "")
	if !strings.Contains(got.Message, "cannot approve: machine late is unsupported (no usable nftables: nft: permission denied)") {
		t.Errorf("message %q", got.Message)
	}
	e.wantUnchanged(t, before)

	// Offline (never polled, here) is not unsupported: accepted as before.
	e.enroll(t, "away")
	e.policy(t, "away", d.RuleInput{Port: 22})
	if r := e.request(t, requester, d.RequestInput{Targets: ports("away", 22), Source: "10.1.2.3"}); r.Status != d.StatusApplying {
		t.Errorf("request on an offline machine is %s, want applying", r.Status)
	}
}

// grantOf returns the grant carrying target in a desired state.
func grantOf(ds *d.DesiredState, target d.TargetID) (d.GrantState, bool) {
	for _, g := range ds.Grants {
		if slices.Contains(g.Targets, target) {
			return g, true
		}
	}
	return d.GrantState{}, false
}

// TestDone: only the requester ends its request early.
func TestDone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.enroll(t, "web1")
	e.policy(t, "web1", d.RuleInput{Port: 22})
	alice, _ := e.token(t, "alice", d.RoleRequester)
	bob, _ := e.token(t, "bob", d.RoleRequester)
	reader, _ := e.token(t, "rita", d.RoleReader)
	r := e.request(t, alice, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.3"})
	if _, ok := grantOf(a.state(t), r.Targets[0].ID); !ok {
		t.Fatal("no grant before done")
	}

	before := e.snapshot(t)
	path := "/api/v1/requests/" + string(r.ID) + "/done"
	wantError(t, e.call(t, "POST", path, bob, nil), http.StatusNotFound, d.NotFound, "")
	wantError(t, e.call(t, "POST", path, reader, nil), http.StatusForbidden, d.Forbidden, "")
	wantError(t, e.call(t, "POST", path, e.admin, nil), http.StatusForbidden, d.Forbidden, "")
	e.wantUnchanged(t, before)

	last := e.lastEventID(t)
	var got d.Request
	decode(t, e.call(t, "POST", path, alice, nil), http.StatusOK, &got)
	if got.Status != d.StatusRevoked || got.Targets[0].Status != d.StatusRevoked {
		t.Errorf("status = %s (target %s), want revoked", got.Status, got.Targets[0].Status)
	}
	if es := e.events(t, last); len(es) != 1 || es[0].Action != d.EvRequestDone || es[0].Target != string(r.ID) {
		t.Errorf("events = %+v, want one request.done", auditLines(es))
	}
	if len(a.state(t).Grants) != 0 {
		t.Errorf("grant still in the desired state after done")
	}
	wantError(t, e.call(t, "POST", path, alice, nil), http.StatusConflict, d.Conflict, "")
}

// TestDryRun: what a request would open, without changing anything.
func TestDryRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enroll(t, "web1")
	e.enroll(t, "db1")
	e.policy(t, "web1", d.RuleInput{Port: 22, MaxDuration: "2h"})
	e.setPolicy(t, "db1", d.PolicyInput{Rules: []d.RuleInput{{Port: 5432}}, Approval: &d.ApprovalInput{Mode: d.ApprovalManual}})
	alice, _ := e.token(t, "alice", d.RoleRequester)
	reader, _ := e.token(t, "rita", d.RoleReader)
	now := e.clock.Now()

	tests := []struct {
		name          string
		in            d.RequestInput
		needsApproval bool
		end           time.Time
		targets       []string // machine port source
	}{
		{"automatic", d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.3", Duration: "90m"}, false, now.Add(90 * time.Minute), []string{"web1 22 10.1.2.3/32"}},
		{"manual", d.RequestInput{Targets: ports("db1", 5432), Source: "10.1.2.0/24"}, true, time.Time{}, []string{"db1 5432 10.1.2.0/24"}},
		{"both", d.RequestInput{Targets: append(ports("web1", 22), ports("db1", 5432)...), Source: "10.1.2.3"}, true, time.Time{}, []string{"web1 22 10.1.2.3/32", "db1 5432 10.1.2.3/32"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot(t)
			var got d.DryRunResult
			decode(t, e.call(t, "POST", "/api/v1/requests?dry_run=true", alice, tt.in), http.StatusOK, &got)
			e.wantUnchanged(t, before)
			var targets []string
			for _, tg := range got.Targets {
				targets = append(targets, fmt.Sprintf("%s %d %s", tg.MachineName, tg.Port, tg.Source))
			}
			if diff := cmp.Diff(tt.targets, targets); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
			if got.NeedsApproval != tt.needsApproval || !got.End.Equal(tt.end) {
				t.Errorf("needs_approval %v, end %v; want %v, %v", got.NeedsApproval, got.End, tt.needsApproval, tt.end)
			}
		})
	}
	t.Run("the same refusals as a real request", func(t *testing.T) {
		before := e.snapshot(t)
		wantError(t, e.call(t, "POST", "/api/v1/requests?dry_run=true", alice, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.3", Duration: "3h"}), http.StatusBadRequest, d.Invalid, "duration")
		wantError(t, e.call(t, "POST", "/api/v1/requests?dry_run=true", alice, d.RequestInput{Targets: ports("web1", 8080), Source: "10.1.2.3"}), http.StatusBadRequest, d.Invalid, "targets[0].ports[0].port")
		wantError(t, e.call(t, "POST", "/api/v1/requests?dry_run=true", reader, d.RequestInput{Targets: ports("web1", 22)}), http.StatusForbidden, d.Forbidden, "")
		wantError(t, e.call(t, "POST", "/api/v1/requests?dry_run=maybe", alice, d.RequestInput{Targets: ports("web1", 22)}), http.StatusBadRequest, d.Invalid, "dry_run")
		e.wantUnchanged(t, before)
	})
}

// TestJustificationRules: required, and required to match a pattern, with
// the hint in the refusal.
func TestJustificationRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enroll(t, "web1")
	e.enroll(t, "db1")
	e.setPolicy(t, "web1", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}, Justification: &d.JustificationRule{Mode: d.JustificationRequired, Hint: "say what you will change"}})
	e.setPolicy(t, "db1", d.PolicyInput{Rules: []d.RuleInput{{Port: 5432}}, Justification: &d.JustificationRule{Mode: d.JustificationPattern, Pattern: "^INC-[0-9]+", Hint: "an incident ticket, INC-1234"}})
	alice, _ := e.token(t, "alice", d.RoleRequester)

	tests := []struct {
		name, machine string
		port          uint16
		justification string
		msg           []string // parts of the message
	}{
		{"required, missing", "web1", 22, "", []string{"required", "say what you will change"}},
		{"required, blank", "web1", 22, "   ", []string{"required"}},
		{"pattern, missing", "db1", 5432, "", []string{"^INC-[0-9]+", "an incident ticket, INC-1234"}},
		{"pattern, no ticket", "db1", 5432, "fixing the disk", []string{"^INC-[0-9]+", "an incident ticket, INC-1234"}},
		{"pattern, ticket not first", "db1", 5432, "see INC-42", []string{"INC-1234"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot(t)
			in := d.RequestInput{Targets: ports(tt.machine, tt.port), Source: "10.1.2.3", Justification: tt.justification}
			msg := wantError(t, e.call(t, "POST", "/api/v1/requests", alice, in), http.StatusBadRequest, d.Invalid, "justification").Message
			for _, part := range tt.msg {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q lacks %q", msg, part)
				}
			}
			e.wantUnchanged(t, before)
		})
	}
	t.Run("accepted", func(t *testing.T) {
		e.request(t, alice, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.3", Justification: "rotate certificates"})
		e.request(t, alice, d.RequestInput{Targets: ports("db1", 5432), Source: "10.1.2.3", Justification: "INC-42 disk full"})
	})
	t.Run("invalid pattern refused at write time", func(t *testing.T) {
		in := d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}, Justification: &d.JustificationRule{Mode: d.JustificationPattern, Pattern: "(["}}
		wantError(t, e.call(t, "PUT", "/api/v1/machines/web1/policy", e.admin, in), http.StatusBadRequest, d.Invalid, "justification.pattern")
	})
}

// TestLimits: open grants per person, and no wide sources on a guarded policy.
func TestLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enroll(t, "web1")
	e.enroll(t, "prod1")
	e.setPolicy(t, "web1", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}, Limits: &d.Limits{MaxActivePerUser: 1}})
	alice, _ := e.token(t, "alice", d.RoleRequester)
	bob, _ := e.token(t, "bob", d.RoleRequester)

	t.Run("max_active_per_user", func(t *testing.T) {
		first := e.request(t, alice, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.3"})
		before := e.snapshot(t)
		wantError(t, e.call(t, "POST", "/api/v1/requests", alice, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.4"}), http.StatusConflict, d.Conflict, "targets[0].machine")
		e.wantUnchanged(t, before)
		e.request(t, bob, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.5"}) // per person
		decode(t, e.call(t, "POST", "/api/v1/requests/"+string(first.ID)+"/done", alice, nil), http.StatusOK, nil)
		e.request(t, alice, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.4"}) // a slot is free again
	})

	t.Run("deny_any_source refuses * in the policy", func(t *testing.T) {
		before := e.snapshot(t)
		for _, rules := range [][]d.RuleInput{
			{{Port: 22, AllowedSources: []string{"*"}}},
			{{Port: 22}}, // no sources means any
			{{Port: 22, AllowedSources: []string{"10.1.0.0/16"}}, {Port: 443, AllowedSources: []string{"0.0.0.0/0"}}},
		} {
			field := "rules[0].allowed_sources"
			if len(rules) == 2 {
				field = "rules[1].allowed_sources"
			}
			in := d.PolicyInput{Rules: rules, Limits: &d.Limits{DenyAnySource: true}}
			wantError(t, e.call(t, "PUT", "/api/v1/machines/prod1/policy", e.admin, in), http.StatusBadRequest, d.Invalid, field)
		}
		e.wantUnchanged(t, before)
	})

	t.Run("deny_any_source counts addresses over all the policy's sources", func(t *testing.T) {
		before := e.snapshot(t)
		for name, rules := range map[string][]d.RuleInput{
			"two halves of IPv4":   {{Port: 22, AllowedSources: []string{"0.0.0.0/1", "128.0.0.0/1"}}},
			"::/1":                 {{Port: 22, AllowedSources: []string{"::/1"}}},
			"NAT64 of all IPv4":    {{Port: 22, AllowedSources: []string{"64:ff9b::/96"}}},
			"IPv4-compatible":      {{Port: 22, AllowedSources: []string{"::/96"}}},
			"IPv4-mapped":          {{Port: 22, AllowedSources: []string{"::ffff:0:0/96"}}},
			"a /8":                 {{Port: 22, AllowedSources: []string{"10.0.0.0/8"}}},
			"a /16 on each of two": {{Port: 22, AllowedSources: []string{"10.1.0.0/16"}}, {Port: 443, AllowedSources: []string{"10.2.0.0/16"}}},
		} {
			t.Run(name, func(t *testing.T) {
				in := d.PolicyInput{Rules: rules, Limits: &d.Limits{DenyAnySource: true}}
				field := fmt.Sprintf("rules[%d].allowed_sources", len(rules)-1)
				wantError(t, e.call(t, "PUT", "/api/v1/machines/prod1/policy", e.admin, in), http.StatusBadRequest, d.Invalid, field)
			})
		}
		e.wantUnchanged(t, before)
	})

	t.Run("deny_any_source refuses wide request sources", func(t *testing.T) {
		// A policy written before sources were counted may allow a /8;
		// requests under it are still held to a /16 in all.
		m := e.machine(t, "prod1")
		err := e.db.Tx(t.Context(), func(tx *store.Tx) error {
			return tx.PolicyPut(&d.Policy{MachineID: m.ID, Enabled: true, Limits: d.Limits{DenyAnySource: true}, Rules: []d.PortRule{
				{Port: 22, Protocol: d.TCP, AllowedSources: []string{"10.0.0.0/8"}, MaxDuration: d.Duration(time.Hour)},
				{Port: 443, Protocol: d.TCP, AllowedSources: []string{"10.0.0.0/8"}, MaxDuration: d.Duration(time.Hour)},
			}})
		})
		if err != nil {
			t.Fatal(err)
		}
		before := e.snapshot(t)
		wantError(t, e.call(t, "POST", "/api/v1/requests", alice, d.RequestInput{Targets: ports("prod1", 22), Source: "10.0.0.0/8"}), http.StatusBadRequest, d.Invalid, "targets[0].ports[0].source")
		twoSixteens := d.RequestInput{Targets: []d.MachineTargets{{Machine: "prod1", Ports: []d.PortTarget{{Port: 22, Source: "10.1.0.0/16"}, {Port: 443, Source: "10.2.0.0/16"}}}}}
		wantError(t, e.call(t, "POST", "/api/v1/requests", alice, twoSixteens), http.StatusBadRequest, d.Invalid, "targets[0].ports[1].source")
		e.wantUnchanged(t, before)
		e.request(t, alice, d.RequestInput{Targets: ports("prod1", 22), Source: "10.1.0.0/16"})
		e.request(t, bob, d.RequestInput{Targets: ports("prod1", 22), Source: "10.1.2.3"})
	})
}
