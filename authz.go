package drawbridge

import (
	"fmt"
	"slices"
	"strings"
)

// Scope says where a role applies: everywhere ("*"), one machine
// ("machine:mch_…"), or every machine whose labels match a selector
// ("selector:env=prod,team=db").
type Scope string

// ScopeAll is the scope that covers everything.
const ScopeAll Scope = "*"

// ParseScope reads "*", "machine:<machine ID>" or "selector:<selector>" (a
// bare selector "env=prod" is accepted too) and returns its canonical form.
// Machine names are resolved to IDs by the caller before this.
func ParseScope(s string) (Scope, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" || s == "*":
		return ScopeAll, nil
	case strings.HasPrefix(s, "machine:"):
		id := strings.TrimPrefix(s, "machine:")
		if !ValidID(id, MachinePrefix) {
			return "", FieldErrorf("scope", "scope %s: want machine:<machine ID>", Excerpt(s))
		}
		return Scope(s), nil
	}
	sel, err := ParseSelector(strings.TrimPrefix(s, "selector:"))
	if err != nil {
		return "", FieldErrorf("scope", "scope %s: want *, machine:<ID> or a label selector such as env=prod: %v", Excerpt(s), err)
	}
	return Scope("selector:" + sel.String()), nil
}

// Matches reports whether the scope covers machine m. A nil machine (an
// action not about any machine) is covered only by "*".
func (sc Scope) Matches(m *Machine) bool {
	if sc == ScopeAll {
		return true
	}
	if m == nil {
		return false
	}
	if id, ok := strings.CutPrefix(string(sc), "machine:"); ok {
		return MachineID(id) == m.ID
	}
	if s, ok := strings.CutPrefix(string(sc), "selector:"); ok {
		sel, err := ParseSelector(s)
		return err == nil && sel.Matches(m.Labels)
	}
	return false
}

// LabelTerm is one key=value requirement of a selector.
type LabelTerm struct{ Key, Value string }

// Selector is a set of label requirements, all of which must hold.
// Canonical form: terms sorted by key, "k=v,k2=v2".
type Selector []LabelTerm

// ParseSelector reads "env=prod,team=db". Keys may appear once; at least one
// term is required.
func ParseSelector(s string) (Selector, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty selector")
	}
	parts := strings.Split(s, ",")
	if len(parts) > 16 {
		return nil, fmt.Errorf("at most 16 terms in a selector")
	}
	var sel Selector
	for _, part := range parts {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || !labelKeyRE().MatchString(k) || !labelValueRE().MatchString(v) {
			return nil, fmt.Errorf("invalid selector term %s: want key=value", Excerpt(part))
		}
		if slices.ContainsFunc(sel, func(t LabelTerm) bool { return t.Key == k }) {
			return nil, fmt.Errorf("label %s appears twice in the selector", Excerpt(k))
		}
		sel = append(sel, LabelTerm{k, v})
	}
	slices.SortFunc(sel, func(a, b LabelTerm) int { return strings.Compare(a.Key, b.Key) })
	return sel, nil
}

// String returns the canonical form.
func (sel Selector) String() string {
	parts := make([]string, len(sel))
	for i, t := range sel {
		parts[i] = t.Key + "=" + t.Value
	}
	return strings.Join(parts, ",")
}

// Matches reports whether labels satisfy every term.
func (sel Selector) Matches(labels map[string]string) bool {
	for _, t := range sel {
		if v, ok := labels[t.Key]; !ok || v != t.Value {
			return false
		}
	}
	return len(sel) > 0
}

// Overlaps reports whether some set of labels could match both selectors:
// true unless they require different values for the same key.
func (sel Selector) Overlaps(o Selector) bool {
	for _, t := range sel {
		for _, u := range o {
			if t.Key == u.Key && t.Value != u.Value {
				return false
			}
		}
	}
	return true
}

// RoleGrant is a set of actions at a scope: one role binding, resolved.
type RoleGrant struct {
	Role    Role     `json:"role"`
	Actions []Action `json:"actions"`
	Scope   Scope    `json:"scope"`
}

// Allowed reports whether the actor may perform act on machine m (nil for
// actions that concern no machine, which need a grant at scope "*").
func (a Actor) Allowed(act Action, m *Machine) bool {
	if a.Kind == ActorSystem {
		return true
	}
	for _, g := range a.RoleGrants {
		if slices.Contains(g.Actions, act) && g.Scope.Matches(m) {
			return true
		}
	}
	return false
}

// AllowedSomewhere reports whether the actor has act at any scope; lists use
// it, then filter each item with Allowed.
func (a Actor) AllowedSomewhere(act Action) bool {
	if a.Kind == ActorSystem {
		return true
	}
	for _, g := range a.RoleGrants {
		if slices.Contains(g.Actions, act) {
			return true
		}
	}
	return false
}

// Authorize decides whether a may act on machine m, which the caller named
// ref. A caller that may not even read the machine gets exactly the
// NotFound an unknown machine gets (same message, same field: no existence
// oracle, and no name revealed for an ID); one that may read it but not act
// gets Forbidden.
func Authorize(a Actor, act Action, m *Machine, ref string) error {
	if a.Allowed(act, m) {
		return nil
	}
	if !a.Allowed(ActMachinesRead, m) && !a.Allowed(ActPoliciesRead, m) && !a.Allowed(ActRequestsInitiate, m) {
		return unknownMachine(ref)
	}
	return &Error{Kind: Forbidden, Message: fmt.Sprintf("%s may not %s on machine %s", a.Name, act, m.Name)}
}

// mayNot is the Forbidden error for an actor that may not act anywhere.
func mayNot(a Actor, act Action) error {
	return &Error{Kind: Forbidden, Message: fmt.Sprintf("%s (role %s) may not %s", a.Name, a.Role, act)}
}

// unknownMachine is the NotFound error for a machine reference that names
// nothing, worded as the store words it.
func unknownMachine(ref string) error {
	if ValidID(ref, MachinePrefix) {
		return Errorf(NotFound, "machine %s not found", ref)
	}
	return Errorf(NotFound, "machine %s not found", Excerpt(ref))
}
