package drawbridge

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Outbound notifications: admin-managed webhooks that receive a signed
// JSON body (or a Slack-compatible message) when a request changes state.
// internal/notify delivers them; README "Notifications" documents the wire
// format for receivers.

// Typed identifiers of webhooks and their deliveries.
type (
	WebhookID  string // "whk_…"
	DeliveryID string // "dlv_…": one notification to one webhook; the same across retries
)

// Webhook ID prefixes.
const (
	WebhookPrefix  = "whk_"
	DeliveryPrefix = "dlv_"
)

// NewWebhookID returns a fresh random WebhookID.
func NewWebhookID() WebhookID { return WebhookID(WebhookPrefix + RandomString(16)) }

// NewDeliveryID returns a fresh random DeliveryID.
func NewDeliveryID() DeliveryID { return DeliveryID(DeliveryPrefix + RandomString(20)) }

// NotificationKind is what a notification is about. Webhooks subscribe to
// kinds. The list only grows.
type NotificationKind string

// Notification kinds.
const (
	NotifyCreated        NotificationKind = "request.created"         // any new request
	NotifyApprovalNeeded NotificationKind = "request.approval_needed" // a new request that waits for approval
	NotifyApproved       NotificationKind = "request.approved"        // one approval (details.level; the request's status says whether it was final)
	NotifyDenied         NotificationKind = "request.denied"          // an approver said no
	NotifyActive         NotificationKind = "request.active"          // confirmed in the kernel (per target, coalesced per request)
	NotifyExpiring       NotificationKind = "request.expiring"        // a granted request ends within the server's lead time (once per end time)
	NotifyExpired        NotificationKind = "request.expired"         // reached its end, or was not approved in time
	NotifyRevoked        NotificationKind = "request.revoked"         // ended early: revoked, or done by the requester
	NotifyFailed         NotificationKind = "request.failed"          // the agent could not apply it
	NotifyTest           NotificationKind = "webhook.test"            // sent by "drawbridge webhook test"; always delivered
)

// NotificationKinds lists the kinds a webhook may subscribe to.
func NotificationKinds() []NotificationKind {
	return []NotificationKind{NotifyCreated, NotifyApprovalNeeded, NotifyApproved, NotifyDenied, NotifyActive,
		NotifyExpiring, NotifyExpired, NotifyRevoked, NotifyFailed}
}

// WebhookFormat is the body a webhook receives.
type WebhookFormat string

// Webhook formats.
const (
	FormatJSON  WebhookFormat = "json"  // a Notification
	FormatSlack WebhookFormat = "slack" // {"text", "blocks"} for Slack (and Mattermost, Rocket.Chat) incoming webhooks
)

// Webhook is an outbound notification endpoint.
type Webhook struct {
	ID        WebhookID          `json:"id"`
	URL       string             `json:"url"`
	Kinds     []NotificationKind `json:"events"` // what it receives (webhook.test always)
	Format    WebhookFormat      `json:"format"`
	AllowHTTP bool               `json:"allow_http,omitempty"` // plain http to a loopback address (testing)
	// Secret signs every delivery (HMAC-SHA256). It is stored as is (it is
	// needed to sign) and appears only in the answer to the create call.
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// Wants reports whether the webhook receives kind.
func (w *Webhook) Wants(k NotificationKind) bool {
	return k == NotifyTest || slices.Contains(w.Kinds, k)
}

// WebhookInput creates a webhook.
type WebhookInput struct {
	URL       string             `json:"url"`
	Events    []NotificationKind `json:"events,omitempty"` // default: every kind
	Format    WebhookFormat      `json:"format,omitempty"` // default json
	Secret    string             `json:"secret,omitempty"` // default: generated, returned once
	AllowHTTP bool               `json:"allow_http,omitempty"`
}

// Limits on webhook input.
const (
	MaxWebhookURL    = 2048
	MinWebhookSecret = 16
	MaxWebhookSecret = 256
)

// NewWebhookSecret returns a fresh random signing secret.
func NewWebhookSecret() string { return "whsec_" + RandomString(32) }

// CheckWebhook validates in and returns the webhook it describes (without
// ID, secret or creation fields), with defaults filled. Errors are Invalid
// and name the field.
func CheckWebhook(in WebhookInput) (Webhook, error) {
	w := Webhook{URL: in.URL, Format: in.Format, AllowHTTP: in.AllowHTTP}
	if err := CheckWebhookURL(in.URL, in.AllowHTTP); err != nil {
		return w, err
	}
	switch w.Format {
	case "":
		w.Format = FormatJSON
	case FormatJSON, FormatSlack:
	default:
		return w, FieldErrorf("format", "format must be json or slack")
	}
	if len(in.Events) == 0 {
		w.Kinds = NotificationKinds()
	}
	for i, k := range in.Events {
		if !slices.Contains(NotificationKinds(), k) {
			return w, FieldErrorf(fmt.Sprintf("events[%d]", i), "unknown event %s (want %s)", Excerpt(string(k)), joinKinds(NotificationKinds()))
		}
		if !slices.Contains(w.Kinds, k) {
			w.Kinds = append(w.Kinds, k)
		}
	}
	if in.Secret != "" && (CheckText("secret", in.Secret, MaxWebhookSecret) != nil || len(in.Secret) < MinWebhookSecret || len(in.Secret) > MaxWebhookSecret || strings.TrimSpace(in.Secret) != in.Secret) {
		return w, FieldErrorf("secret", "secret must be %d to %d characters without surrounding spaces", MinWebhookSecret, MaxWebhookSecret)
	}
	return w, nil
}

// CheckWebhookURL validates a webhook URL: absolute https with a host, no
// credentials or fragment; plain http only when allowHTTP is set and the
// host is a loopback address (127.0.0.0/8, ::1, localhost), for testing.
func CheckWebhookURL(raw string, allowHTTP bool) error {
	if raw == "" {
		return FieldErrorf("url", "url is required")
	}
	if err := CheckText("url", raw, MaxWebhookURL); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return FieldErrorf("url", "url must be absolute, such as https://hooks.example.com/drawbridge")
	}
	if u.User != nil {
		return FieldErrorf("url", "url must not carry credentials; receivers authenticate deliveries by their signature")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return FieldErrorf("url", "url must not have a fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowHTTP {
			return FieldErrorf("url", "url must use https (plain http only with allow_http, to a loopback address)")
		}
		if !isLoopback(u.Hostname()) {
			return FieldErrorf("url", "plain http is allowed only to a loopback address (127.0.0.1, ::1, localhost), not %s", u.Hostname())
		}
	default:
		return FieldErrorf("url", "url must use https")
	}
	if _, port, err := net.SplitHostPort(u.Host); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return FieldErrorf("url", "url has an invalid port %s: want a number from 1 to 65535", Excerpt(port))
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func joinKinds(ks []NotificationKind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// DeliveryStatus is the state of one delivery.
type DeliveryStatus string

// Delivery statuses. The list only grows.
const (
	DeliveryPending   DeliveryStatus = "pending"   // waiting for its next attempt
	DeliveryDelivered DeliveryStatus = "delivered" // the receiver answered 2xx
	DeliveryDead      DeliveryStatus = "dead"      // gave up after the maximum attempts: the dead-letter record
)

// Delivery is one notification to one webhook, with its attempts.
type Delivery struct {
	ID          DeliveryID       `json:"id"`
	WebhookID   WebhookID        `json:"webhook_id"`
	Kind        NotificationKind `json:"event"`
	EventID     EventID          `json:"event_id,omitempty"` // the audit event it reports; 0 for expiring and test
	RequestID   RequestID        `json:"request_id,omitempty"`
	Status      DeliveryStatus   `json:"status"`
	Attempts    int              `json:"attempts"`
	LastStatus  int              `json:"last_status,omitempty"` // the receiver's last HTTP status; 0 if none
	LastError   string           `json:"last_error,omitempty"`
	NextAttempt time.Time        `json:"next_attempt,omitzero"` // pending: not before
	CreatedAt   time.Time        `json:"created_at"`
	UpdatedAt   time.Time        `json:"updated_at,omitzero"` // the last attempt
	Body        json.RawMessage  `json:"-"`                   // the Notification, as JSON
}

// Notification is the body a json-format webhook receives. ID is the
// delivery's: it stays the same across retries, so receivers deduplicate on
// it.
type Notification struct {
	ID        DeliveryID       `json:"id"`
	Kind      NotificationKind `json:"type"`
	Time      time.Time        `json:"time"`               // when it happened
	EventID   EventID          `json:"event_id,omitempty"` // the audit event, if any
	Actor     string           `json:"actor,omitempty"`    // who did it: "token:tok_…", "user:…", "system"
	ActorName string           `json:"actor_name,omitempty"`
	Reason    string           `json:"reason,omitempty"`
	TargetIDs []TargetID       `json:"target_ids,omitempty"` // per-target kinds: the targets concerned
	Details   json.RawMessage  `json:"details,omitempty"`    // the audit event's details
	Request   *Request         `json:"request,omitempty"`    // the request as the event left it
}

// Audit actions of webhook administration (see event.go for the others).
const (
	EvWebhookCreated  = "webhook.created"
	EvWebhookDeleted  = "webhook.deleted"
	EvWebhookTested   = "webhook.tested"
	EvDeliveryRetried = "webhook.delivery_retried"
)

// NewDelivery returns a pending delivery of n to webhook hook, due at now,
// with n.ID set to the delivery's ID and n stored as its body.
func NewDelivery(hook WebhookID, n Notification, now time.Time) (*Delivery, error) {
	v := &Delivery{
		ID: NewDeliveryID(), WebhookID: hook, Kind: n.Kind, EventID: n.EventID, Status: DeliveryPending,
		NextAttempt: now, CreatedAt: now,
	}
	if n.Request != nil {
		v.RequestID = n.Request.ID
	}
	n.ID = v.ID
	b, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("notification body: %w", err)
	}
	v.Body = b
	return v, nil
}
