// Package notify delivers Drawbridge's outbound webhooks.
//
// A Dispatcher, owned by the server, follows the audit events table by ID
// cursor after commit (the cursor lives in the database, in the same
// transaction as the deliveries it produces, so every event is turned into
// deliveries exactly once), maps events to notification kinds (Notes),
// announces granted requests that end within a lead time (once per request
// and end time), and sends each pending delivery to its webhook from its own
// goroutines: a slow or broken receiver never blocks a request, and one
// receiver never holds up another beyond the sender's timeout.
//
// # Delivery
//
// At least once. A delivery that fails (a transport error or a non-2xx
// answer) is retried with capped exponential backoff and jitter (Backoff);
// after Config.MaxAttempts failures it becomes dead, the dead-letter record,
// until an admin retries it. A delivery claimed by a server that stops
// mid-send is retried once its lease ends. Receivers deduplicate on the
// delivery ID (the body's "id", the Drawbridge-Delivery header).
//
// In order per request: a request's deliveries to one webhook go one at a
// time in the order of its events (store.DeliveriesDue holds back a delivery
// while an earlier one of the same request is pending), and each body holds
// the request as its event left it (AsOf replays the request's events), not
// as it is when the dispatcher gets to it.
//
// # Wire format
//
// POST with Content-Type application/json and the headers
//
//	Drawbridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>
//	Drawbridge-Delivery:  dlv_…  (the same on every retry)
//	Drawbridge-Event:     request.approved
//	User-Agent:           Drawbridge-Webhook/1
//
// The body is a drawbridge.Notification (format json) or a Slack message
// (format slack, see Render). Verify checks a signature as a receiver
// should: the HMAC in constant time, and the timestamp within a tolerance
// so a captured delivery cannot be replayed later.
//
// The sender follows no redirect to another scheme or host, bounds every
// attempt with a timeout, never logs a secret, and keeps webhook URLs (which
// for Slack are themselves credentials) out of logs and error records.
package notify
