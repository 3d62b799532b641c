package web_test

import (
	"net/http"
	"strings"
	"testing"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
)

// TestWebhookAPI covers the webhook routes: admin only, URL validation, the
// secret returned once, test deliveries and the dead-letter listing.
func TestWebhookAPI(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	reader, _ := e.token(t, "reader", d.RoleReader)
	wantError(t, e.call(t, "GET", "/api/v1/webhooks", reader, nil), http.StatusForbidden, d.Forbidden, "")
	wantError(t, e.call(t, "POST", "/api/v1/webhooks", reader, d.WebhookInput{URL: "https://hooks.example.com/x"}), http.StatusForbidden, d.Forbidden, "")

	invalid := []struct {
		name  string
		in    d.WebhookInput
		field string
	}{
		{"plain http", d.WebhookInput{URL: "http://hooks.example.com/x"}, "url"},
		{"http to a remote host even when allowed", d.WebhookInput{URL: "http://hooks.example.com/x", AllowHTTP: true}, "url"},
		{"credentials in the URL", d.WebhookInput{URL: "https://user:pw@hooks.example.com/x"}, "url"},
		{"not a URL", d.WebhookInput{URL: "hooks.example.com"}, "url"},
		{"unknown event", d.WebhookInput{URL: "https://hooks.example.com/x", Events: []d.NotificationKind{"request.exploded"}}, "events[0]"},
		{"unknown format", d.WebhookInput{URL: "https://hooks.example.com/x", Format: "xml"}, "format"},
		{"short secret", d.WebhookInput{URL: "https://hooks.example.com/x", Secret: "short"}, "secret"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, e.call(t, "POST", "/api/v1/webhooks", e.admin, tt.in), http.StatusBadRequest, d.Invalid, tt.field)
		})
	}

	w, err := e.adminC.WebhookCreate(ctx, d.WebhookInput{URL: "http://127.0.0.1:9/hook", AllowHTTP: true, Format: d.FormatSlack})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(w.Secret, "whsec_") || len(w.Kinds) != len(d.NotificationKinds()) {
		t.Errorf("created %+v, want a generated secret and every event", w)
	}
	r := e.call(t, "GET", "/api/v1/webhooks", e.admin, nil)
	if r.status != http.StatusOK || strings.Contains(string(r.body), w.Secret) || strings.Contains(string(r.body), `"secret"`) {
		t.Errorf("list: %d %s; want 200 without the secret", r.status, r.body)
	}

	v, err := e.adminC.WebhookTest(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Kind != d.NotifyTest || v.Status != d.DeliveryPending || v.WebhookID != w.ID {
		t.Errorf("test delivery = %+v", v)
	}
	vs, err := e.adminC.Deliveries(ctx, client.DeliveryFilter{WebhookID: w.ID})
	if err != nil || len(vs) != 1 || vs[0].ID != v.ID {
		t.Errorf("deliveries = %+v, %v; want the test delivery", vs, err)
	}
	dead, err := e.adminC.Deliveries(ctx, client.DeliveryFilter{Status: d.DeliveryDead})
	if err != nil || len(dead) != 0 {
		t.Errorf("dead = %+v, %v; want none", dead, err)
	}
	if _, err := e.adminC.DeliveryRetry(ctx, v.ID); d.ErrorKind(err) != d.Conflict {
		t.Errorf("retry of a pending delivery: %v, want Conflict", err)
	}
	wantError(t, e.call(t, "GET", "/api/v1/webhook-deliveries?status=lost", e.admin, nil), http.StatusBadRequest, d.Invalid, "status")

	if err := e.adminC.WebhookDelete(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.adminC.Delivery(ctx, v.ID); d.ErrorKind(err) != d.NotFound {
		t.Errorf("delivery after its webhook was deleted: %v, want NotFound", err)
	}
	if err := e.adminC.WebhookDelete(ctx, w.ID); d.ErrorKind(err) != d.NotFound {
		t.Errorf("second delete: %v, want NotFound", err)
	}
	evs := e.events(t, 0)
	var actions []string
	for _, ev := range evs {
		if strings.HasPrefix(ev.Action, "webhook.") {
			actions = append(actions, ev.Action)
			if strings.Contains(ev.Details, "/hook") {
				t.Errorf("audit details carry the URL path: %s", ev.Details)
			}
		}
	}
	if got := strings.Join(actions, ","); got != "webhook.created,webhook.tested,webhook.deleted" {
		t.Errorf("audit actions = %s", got)
	}
}
