package drawbridge

import (
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"
)

// Machine is a host known to the server, registered by its agent.
type Machine struct {
	ID             MachineID         `json:"id"`
	Name           string            `json:"name"`
	Labels         map[string]string `json:"labels,omitempty"`
	Inventory      Inventory         `json:"inventory"`
	EnrolledAt     time.Time         `json:"enrolled_at"`
	LastSeen       time.Time         `json:"last_seen,omitzero"`
	StoppedAt      time.Time         `json:"stopped_at,omitzero"` // its agent said it stopped (clean shutdown)
	StateVersion   int64             `json:"state_version"`       // bumped on every change of its desired state
	AppliedVersion int64             `json:"applied_version"`     // last version its agent confirmed
	ApplyError     string            `json:"apply_error,omitempty"`
}

// Inventory is what an agent reports about its host.
type Inventory struct {
	Hostname      string     `json:"hostname"`
	OS            string     `json:"os"`
	Distribution  string     `json:"distribution,omitempty"`
	Kernel        string     `json:"kernel,omitempty"`
	Addresses     []string   `json:"addresses,omitempty"`
	Listening     []Listener `json:"listening,omitempty"`
	AgentVersion  string     `json:"agent_version"`
	Firewall      string     `json:"firewall"`                 // "nftables" when supported
	FirewallError string     `json:"firewall_error,omitempty"` // why not, when not
	Clock         *Clock     `json:"clock,omitempty"`          // the agent's clock against the server's, once measured
}

// Listener is a listening socket on a machine.
type Listener struct {
	Protocol Protocol `json:"protocol"`
	Address  string   `json:"address"`
	Port     uint16   `json:"port"`
}

// MachineStatus is Azure's classification of a machine for JIT.
type MachineStatus string

// Machine statuses.
const (
	Configured    MachineStatus = "configured"     // JIT policy enabled
	NotConfigured MachineStatus = "not_configured" // can support JIT, no policy
	Unsupported   MachineStatus = "unsupported"    // cannot: see the reason
)

// MachineStatuses lists every machine status, in the order people read them.
var MachineStatuses = []MachineStatus{Configured, NotConfigured, Unsupported}

// Valid reports whether s is a known machine status.
func (s MachineStatus) Valid() bool { return slices.Contains(MachineStatuses, s) }

// Status classifies m given its policy (nil for none) at now. An agent not
// seen for longer than offlineAfter is Unsupported with that reason.
func (m *Machine) Status(p *Policy, now time.Time, offlineAfter time.Duration) (MachineStatus, string) {
	if why := m.UnsupportedReason(); why != "" {
		return Unsupported, why
	}
	switch {
	case m.LastSeen.IsZero():
		return Unsupported, "agent never connected"
	case now.Sub(m.LastSeen) > offlineAfter:
		return Unsupported, fmt.Sprintf("agent offline since %s", m.LastSeen.UTC().Format(time.RFC3339))
	case p != nil && p.Enabled:
		return Configured, ""
	}
	return NotConfigured, ""
}

// UnsupportedReason says why m's host cannot enforce JIT at all, as its
// agent last reported: no usable nftables, or not Linux (which needs a
// gateway). It is "" when the host can. An agent that is merely offline is
// not unsupported in this sense: its grants apply when it returns.
func (m *Machine) UnsupportedReason() string {
	switch {
	case m.Inventory.FirewallError != "":
		return "no usable nftables: " + m.Inventory.FirewallError
	case m.Inventory.OS != "" && m.Inventory.OS != "linux":
		return "agent runs only on Linux; use a gateway for " + m.Inventory.OS
	}
	return ""
}

// CheckSupported returns a Conflict naming the reason when m's host cannot
// enforce JIT (see UnsupportedReason), so that nothing is granted or enabled
// there that could never open. doing names the refused action ("request
// access").
func (m *Machine) CheckSupported(doing string) error {
	if why := m.UnsupportedReason(); why != "" {
		return &Error{Kind: Conflict, Message: fmt.Sprintf("cannot %s: machine %s is unsupported (%s)", doing, m.Name, why)}
	}
	return nil
}

// Online reports whether the agent was seen within window and has not said
// it stopped since.
func (m *Machine) Online(now time.Time, window time.Duration) bool {
	return !m.LastSeen.IsZero() && now.Sub(m.LastSeen) <= window && m.StoppedAt.Before(m.LastSeen)
}

// The patterns of the vocabulary compile on first use, not at package init:
// every binary that links this package, the CLI included, would pay for them
// at start.
var (
	nameRE       = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$`) })
	labelKeyRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._/-]{0,62}$`) })
	labelValueRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9._-]{0,63}$`) })
)

// ValidateMachineName checks a machine name: 1–63 characters of letters,
// digits, '.', '_' and '-', starting with a letter or digit, not an ID.
func ValidateMachineName(s string) error {
	if !nameRE().MatchString(s) {
		return FieldErrorf("name", "machine name %s must be 1–63 letters, digits, '.', '_' or '-'", Excerpt(s))
	}
	if ValidID(s, MachinePrefix) {
		return FieldErrorf("name", "machine name %q looks like a machine ID", s)
	}
	return nil
}

// ValidateLabels checks label keys and values (Kubernetes-like syntax).
func ValidateLabels(l map[string]string) error {
	if len(l) > 64 {
		return FieldErrorf("labels", "at most 64 labels")
	}
	for k, v := range l {
		if !labelKeyRE().MatchString(k) {
			return FieldErrorf("labels", "invalid label key %s", Excerpt(k))
		}
		if !labelValueRE().MatchString(v) {
			return FieldErrorf("labels", "invalid value %s for label %s", Excerpt(v), Excerpt(k))
		}
	}
	return nil
}

// MachineView is a machine as people see it: its record, its JIT status
// (Configured / Not configured / Unsupported with the reason), its policy,
// and how many grants are open on it.
type MachineView struct {
	Machine
	Status       MachineStatus `json:"status"`
	StatusReason string        `json:"status_reason,omitempty"`
	Online       bool          `json:"online"`
	Policy       *Policy       `json:"policy,omitempty"`
	ActiveGrants int           `json:"active_grants"`
	ClockWarning string        `json:"clock_warning,omitempty"` // its agent's clock is off (see Clock.Skewed)
	// As Azure's Configured tab: approved requests created in the last 7
	// days, the latest grant confirmed in the kernel, and who asked for it.
	ApprovedLast7d int       `json:"approved_requests_7d"`
	LastAccess     time.Time `json:"last_access,omitzero"`
	LastUser       string    `json:"last_user,omitempty"`
}

// LabelsInput changes a machine's labels: Set adds or replaces, Remove deletes.
type LabelsInput struct {
	Set    map[string]string `json:"set,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}
