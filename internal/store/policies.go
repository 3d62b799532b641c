package store

import (
	"encoding/json"
	"fmt"

	d "github.com/drawbridge/drawbridge"
)

const policyCols = `machine_id, enabled, rules, settings, updated_at, updated_by`

func scanPolicy(s scanner) (d.Policy, error) {
	var p d.Policy
	var rules, settings string
	var updated int64
	if err := s.Scan(&p.MachineID, &p.Enabled, &rules, &settings, &updated, &p.UpdatedBy); err != nil {
		return p, err
	}
	if err := decodePolicy(&p, rules, settings); err != nil {
		return p, err
	}
	p.UpdatedAt = fromMicros(updated)
	return p, nil
}

func decodePolicy(p *d.Policy, rules, settings string) error {
	if err := json.Unmarshal([]byte(rules), &p.Rules); err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	var st d.Settings
	if err := json.Unmarshal([]byte(settings), &st); err != nil {
		return fmt.Errorf("policy settings: %w", err)
	}
	p.SetSettings(st)
	return nil
}

func encodePolicy(p *d.Policy) (rules, settings string, err error) {
	if rules, err = toJSON(p.Rules); err != nil {
		return "", "", err
	}
	settings, err = toJSON(p.Settings())
	return rules, settings, err
}

// PolicyPut creates or replaces the policy of p.MachineID. It returns
// NotFound if there is no such machine.
func (tx *Tx) PolicyPut(p *d.Policy) error {
	rules, settings, err := encodePolicy(p)
	if err != nil {
		return fmt.Errorf("store: put policy: %w", err)
	}
	_, err = tx.exec(`INSERT INTO policies (`+policyCols+`) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (machine_id) DO UPDATE SET enabled = excluded.enabled, rules = excluded.rules, settings = excluded.settings,
			updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		string(p.MachineID), p.Enabled, rules, settings, micros(p.UpdatedAt), p.UpdatedBy)
	if isForeignKey(err) {
		return notFound("machine %s not found", p.MachineID)
	}
	return classify("put policy", err, "")
}

// Policy returns the policy of a machine, or NotFound.
func (tx *Tx) Policy(id d.MachineID) (*d.Policy, error) {
	p, err := scanPolicy(tx.queryRow(`SELECT `+policyCols+` FROM policies WHERE machine_id = ?`, string(id)))
	if err != nil {
		return nil, rowErr("policy", err, notFound("machine %s has no policy", id))
	}
	return &p, nil
}

// PolicyDelete removes a machine's own policy. NotFound if it has none.
func (tx *Tx) PolicyDelete(id d.MachineID) error {
	res, err := tx.exec(`DELETE FROM policies WHERE machine_id = ?`, string(id))
	if err != nil {
		return classify("delete policy", err, "")
	}
	if n, err := rowsAffected("delete policy", res); err != nil || n > 0 {
		return err
	}
	return notFound("machine %s has no policy of its own", id)
}

// Policies returns every machine's policy, ordered by machine ID.
func (tx *Tx) Policies() ([]d.Policy, error) {
	rows, err := tx.query(`SELECT ` + policyCols + ` FROM policies ORDER BY machine_id`)
	return collect("policies", rows, err, scanPolicy)
}

const selectorPolicyCols = `id, selector, priority, enabled, rules, settings, updated_at, updated_by`

func scanSelectorPolicy(s scanner) (d.Policy, error) {
	var p d.Policy
	var rules, settings string
	var updated int64
	if err := s.Scan(&p.ID, &p.Selector, &p.Priority, &p.Enabled, &rules, &settings, &updated, &p.UpdatedBy); err != nil {
		return p, err
	}
	if err := decodePolicy(&p, rules, settings); err != nil {
		return p, err
	}
	p.UpdatedAt = fromMicros(updated)
	return p, nil
}

// SelectorPolicyPut creates or replaces the selector policy with p.ID.
// Conflict if another policy has the same selector.
func (tx *Tx) SelectorPolicyPut(p *d.Policy) error {
	rules, settings, err := encodePolicy(p)
	if err != nil {
		return fmt.Errorf("store: put selector policy: %w", err)
	}
	_, err = tx.exec(`INSERT INTO selector_policies (`+selectorPolicyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET selector = excluded.selector, priority = excluded.priority, enabled = excluded.enabled,
			rules = excluded.rules, settings = excluded.settings, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		p.ID, p.Selector, p.Priority, p.Enabled, rules, settings, micros(p.UpdatedAt), p.UpdatedBy)
	return classify("put selector policy", err, fmt.Sprintf("a policy for selector %s already exists", p.Selector))
}

// SelectorPolicies returns every selector policy, ordered by selector.
func (tx *Tx) SelectorPolicies() ([]d.Policy, error) {
	rows, err := tx.query(`SELECT ` + selectorPolicyCols + ` FROM selector_policies ORDER BY selector`)
	return collect("selector policies", rows, err, scanSelectorPolicy)
}

// SelectorPolicyDelete removes a selector policy. NotFound if there is none.
func (tx *Tx) SelectorPolicyDelete(id string) error {
	res, err := tx.exec(`DELETE FROM selector_policies WHERE id = ?`, id)
	if err != nil {
		return classify("delete selector policy", err, "")
	}
	if n, err := rowsAffected("delete selector policy", res); err != nil || n > 0 {
		return err
	}
	return notFound("policy %s not found", id)
}
