package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// Render returns the body a webhook of format f receives for the stored
// notification body: the body itself for json, a Slack message for slack.
func Render(f d.WebhookFormat, body []byte) ([]byte, error) {
	if f != d.FormatSlack {
		return body, nil
	}
	var n d.Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, fmt.Errorf("notification body: %w", err)
	}
	return json.Marshal(Slack(n))
}

// SlackMessage is the subset of Slack's incoming-webhook payload Drawbridge
// sends: "text" (the notification line, which Mattermost and Rocket.Chat
// also show) and Block Kit "blocks".
type SlackMessage struct {
	Text   string       `json:"text"`
	Blocks []SlackBlock `json:"blocks"`
}

// SlackBlock is a section (Text) or context (Elements) block.
type SlackBlock struct {
	Type     string      `json:"type"`
	Text     *SlackText  `json:"text,omitempty"`
	Elements []SlackText `json:"elements,omitempty"`
}

// SlackText is a mrkdwn text object.
type SlackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Slack renders n as a Slack message: the summary line, the request's
// facts, and a context line with the IDs. Slack is pure.
func Slack(n d.Notification) SlackMessage {
	title := Summary(n)
	var lines []string
	lines = append(lines, "*"+esc(title)+"*")
	if r := n.Request; r != nil {
		for _, t := range r.Targets {
			if len(n.TargetIDs) > 0 && !containsTarget(n.TargetIDs, t.ID) {
				continue
			}
			lines = append(lines, fmt.Sprintf("• %s %s/%d from %s", esc(t.MachineName), t.Protocol, t.Port, t.Source))
		}
		if r.Justification != "" {
			lines = append(lines, "Justification: "+esc(r.Justification))
		}
		if !r.End.IsZero() && n.Kind != d.NotifyExpired && n.Kind != d.NotifyRevoked {
			lines = append(lines, "Until "+r.End.UTC().Format(time.RFC3339))
		} else if r.End.IsZero() && r.Duration > 0 {
			lines = append(lines, "For "+r.Duration.String())
		}
	}
	if n.Reason != "" && (n.Request == nil || n.Reason != n.Request.Justification) {
		lines = append(lines, "Reason: "+esc(n.Reason))
	}
	ctx := []string{string(n.Kind)}
	if n.Request != nil {
		ctx = append(ctx, string(n.Request.ID))
	}
	ctx = append(ctx, string(n.ID))
	return SlackMessage{
		Text: title,
		Blocks: []SlackBlock{
			{Type: "section", Text: &SlackText{Type: "mrkdwn", Text: strings.Join(lines, "\n")}},
			{Type: "context", Elements: []SlackText{{Type: "mrkdwn", Text: strings.Join(ctx, " · ")}}},
		},
	}
}

// Summary is a one-line description of n, for people.
func Summary(n d.Notification) string {
	who, req := n.ActorName, "a request"
	if n.Request != nil {
		req = "the request of " + n.Request.RequesterName
		if n.Kind == d.NotifyCreated || n.Kind == d.NotifyApprovalNeeded {
			who = n.Request.RequesterName
		}
	}
	switch n.Kind {
	case d.NotifyCreated:
		return fmt.Sprintf("%s requested access%s", who, where(n.Request))
	case d.NotifyApprovalNeeded:
		return fmt.Sprintf("%s requested access%s: waiting for approval", who, where(n.Request))
	case d.NotifyApproved:
		return fmt.Sprintf("%s approved %s", who, req)
	case d.NotifyDenied:
		return fmt.Sprintf("%s denied %s", who, req)
	case d.NotifyActive:
		return fmt.Sprintf("Access open: %s%s", req, where(n.Request))
	case d.NotifyExpiring:
		return fmt.Sprintf("Access ending soon (%s): %s%s", n.Reason, req, where(n.Request))
	case d.NotifyExpired:
		return fmt.Sprintf("Access expired: %s%s", req, where(n.Request))
	case d.NotifyRevoked:
		return fmt.Sprintf("Access revoked by %s: %s%s", who, req, where(n.Request))
	case d.NotifyFailed:
		return fmt.Sprintf("Access failed to apply: %s%s", req, where(n.Request))
	case d.NotifyTest:
		return fmt.Sprintf("Drawbridge test notification from %s", who)
	}
	return string(n.Kind)
}

// where names the request's machines: " to web-1, db-1".
func where(r *d.Request) string {
	if r == nil || len(r.Targets) == 0 {
		return ""
	}
	var names []string
	for _, t := range r.Targets {
		if len(names) == 0 || names[len(names)-1] != t.MachineName {
			names = append(names, t.MachineName)
		}
	}
	return " to " + strings.Join(names, ", ")
}

func containsTarget(ids []d.TargetID, id d.TargetID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// esc escapes the three characters Slack's mrkdwn treats as control.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
