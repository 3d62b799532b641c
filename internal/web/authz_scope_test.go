package web_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// listRequests lists requests through the API as token, with query.
func (e *testEnv) listRequests(t *testing.T, token, query string) []d.Request {
	t.Helper()
	var out struct {
		Requests []d.Request `json:"requests"`
	}
	decode(t, e.call(t, "GET", "/api/v1/requests"+query, token, nil), http.StatusOK, &out)
	return out.Requests
}

// storeRequests writes n requests by requester on machine m straight into
// the store, created a second apart from created on, each with one target
// of status s (pending ones under a manual approval rule): the bulk a test
// of list limits needs, without n API calls.
func (e *testEnv) storeRequests(t *testing.T, n int, requester string, m d.Machine, s d.Status, created time.Time) []d.RequestID {
	t.Helper()
	var ids []d.RequestID
	err := e.db.Tx(t.Context(), func(tx *store.Tx) error {
		for i := range n {
			at := created.Add(time.Duration(i) * time.Second)
			r := &d.Request{
				ID: d.NewRequestID(), Requester: requester, RequesterName: "someone", Duration: d.Duration(time.Hour),
				CreatedAt: at, Status: s, Approval: d.ApprovalRule{Mode: d.ApprovalAuto},
				Targets: []d.Target{{ID: d.NewTargetID(), MachineID: m.ID, MachineName: m.Name, Port: 22, Protocol: d.TCP,
					Source: netip.MustParsePrefix("10.1.2.3/32"), Status: s}},
			}
			if s == d.StatusPending {
				r.Approval = d.ApprovalRule{Mode: d.ApprovalManual, Levels: []d.ApprovalLevel{{Quorum: 1}}, PendingTTL: d.Duration(time.Hour)}
				r.PendingUntil = e.clock.Now().Add(time.Hour)
			} else {
				r.Start, r.End = at, at.Add(time.Hour)
				r.Targets[0].End = r.End
			}
			if err := tx.RequestCreate(r); err != nil {
				return err
			}
			ids = append(ids, r.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestScopedReaderRedaction: a reader scoped to one machine who sees a
// request through it learns nothing of the request's other machines (issue
// 7, item 6), in the request, the list and the list by machine.
func TestScopedReaderRedaction(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enrollLabelled(t, "devbox", map[string]string{"env": "dev"})
	e.enrollLabelled(t, "secretbox", map[string]string{"env": "prod"})
	e.policy(t, "devbox", d.RuleInput{Port: 22})
	e.policy(t, "secretbox", d.RuleInput{Port: 22}, d.RuleInput{Port: 5432})
	alice, _ := e.token(t, "alice", d.RoleRequester)
	dana, _ := e.scopedToken(t, "dana", d.RoleReader, "env=dev")
	secret := e.machine(t, "secretbox")

	both := e.request(t, alice, d.RequestInput{Source: "10.1.2.3", Targets: []d.MachineTargets{
		{Machine: "devbox", Ports: []d.PortTarget{{Port: 22}}},
		{Machine: "secretbox", Ports: []d.PortTarget{{Port: 22}, {Port: 5432}}},
	}})
	onlySecret := e.request(t, alice, d.RequestInput{Source: "10.1.2.3", Targets: ports("secretbox", 22)})

	leaks := func(body []byte) bool {
		return strings.Contains(string(body), "secretbox") || strings.Contains(string(body), string(secret.ID)) || strings.Contains(string(body), "5432")
	}
	wantRedacted := func(t *testing.T, what string, r d.Request) {
		t.Helper()
		if len(r.Targets) != 1 || r.Targets[0].MachineName != "devbox" || r.HiddenTargets != 2 {
			t.Errorf("%s: targets %v, hidden %d; want devbox only and 2 hidden", what, r.Targets, r.HiddenTargets)
		}
	}

	t.Run("get", func(t *testing.T) {
		resp := e.call(t, "GET", "/api/v1/requests/"+string(both.ID), dana, nil)
		if leaks(resp.body) {
			t.Errorf("the scoped reader's view names the out-of-scope machine: %s", resp.body)
		}
		var r d.Request
		decode(t, resp, http.StatusOK, &r)
		wantRedacted(t, "get", r)
		wantError(t, e.call(t, "GET", "/api/v1/requests/"+string(onlySecret.ID), dana, nil), http.StatusNotFound, d.NotFound, "")
	})
	t.Run("list", func(t *testing.T) {
		resp := e.call(t, "GET", "/api/v1/requests", dana, nil)
		if leaks(resp.body) {
			t.Errorf("the scoped reader's list names the out-of-scope machine: %s", resp.body)
		}
		rs := e.listRequests(t, dana, "")
		if len(rs) != 1 || rs[0].ID != both.ID {
			t.Fatalf("dana lists %v, want only %s", requestIDs(rs), both.ID)
		}
		wantRedacted(t, "list", rs[0])
	})
	t.Run("list by an out-of-scope machine reads as an unknown one", func(t *testing.T) {
		for _, q := range []string{"?machine=secretbox", "?machine=" + string(secret.ID), "?machine=nosuchbox"} {
			resp := e.call(t, "GET", "/api/v1/requests"+q, dana, nil)
			if got := e.listRequests(t, dana, q); len(got) != 0 || leaks(resp.body) {
				t.Errorf("%s: dana gets %s, want an empty list", q, resp.body)
			}
		}
	})
	t.Run("the requester and a global reader see everything", func(t *testing.T) {
		reader, _ := e.token(t, "rita", d.RoleReader)
		for name, tok := range map[string]string{"requester": alice, "global reader": reader} {
			r := e.getRequest(t, tok, both.ID)
			if len(r.Targets) != 3 || r.HiddenTargets != 0 {
				t.Errorf("%s: %d targets, %d hidden; want all 3", name, len(r.Targets), r.HiddenTargets)
			}
		}
	})
}

// TestScopedListLimit: the limit counts the requests a scoped reader may
// see, however many newer ones are out of scope (issue 7, item 7: a reader
// with ?limit=5 got 0 of 258).
func TestScopedListLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enrollLabelled(t, "devbox", map[string]string{"env": "dev"})
	e.enrollLabelled(t, "prodbox", map[string]string{"env": "prod"})
	dana, _ := e.scopedToken(t, "dana", d.RoleReader, "env=dev")
	now := e.clock.Now()
	dev := e.storeRequests(t, 8, "token:tok_alice00000", e.machine(t, "devbox"), d.StatusActive, now.Add(-2*time.Hour))
	e.storeRequests(t, 250, "token:tok_alice00000", e.machine(t, "prodbox"), d.StatusActive, now.Add(-time.Hour))

	got := requestIDs(e.listRequests(t, dana, "?limit=5"))
	want := []d.RequestID{dev[7], dev[6], dev[5], dev[4], dev[3]} // newest first
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dana's ?limit=5 (-want +got):\n%s", diff)
	}
	if got := e.listRequests(t, dana, "?open=true&limit=100"); len(got) != 8 {
		t.Errorf("dana's open requests: %d, want the 8 on devbox", len(got))
	}
}

// TestApprovalsQueueScope: the approvals queue offers an approver the
// requests in their scope however many newer ones wait elsewhere (issue 7,
// item 7: it filtered the newest 1000 after the query).
func TestApprovalsQueueScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enrollLabelled(t, "devbox", map[string]string{"env": "dev"})
	e.enrollLabelled(t, "prodbox", map[string]string{"env": "prod"})
	pia, _ := e.scopedToken(t, "pia", d.RoleApprover, "env=dev")
	now := e.clock.Now()
	dev := e.storeRequests(t, 2, "token:tok_alice00000", e.machine(t, "devbox"), d.StatusPending, now.Add(-2*time.Hour))
	e.storeRequests(t, store.MaxLimit+5, "token:tok_alice00000", e.machine(t, "prodbox"), d.StatusPending, now.Add(-time.Hour))

	if diff := cmp.Diff(sortedIDs(dev...), e.approvalIDs(t, pia)); diff != "" {
		t.Errorf("pia's approvals (-want +got):\n%s", diff)
	}
	// Pending requests past their approval deadline are not offered.
	e.clock.Advance(2 * time.Hour)
	if got := e.approvalIDs(t, pia); len(got) != 0 {
		t.Errorf("approvals past the deadline: %v, want none", got)
	}
}
