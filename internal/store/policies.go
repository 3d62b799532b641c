package store

import (
	"encoding/json"
	"fmt"

	d "github.com/drawbridge/drawbridge"
)

const policyCols = `machine_id, enabled, rules, updated_at, updated_by`

func scanPolicy(s scanner) (d.Policy, error) {
	var p d.Policy
	var rules string
	var updated int64
	if err := s.Scan(&p.MachineID, &p.Enabled, &rules, &updated, &p.UpdatedBy); err != nil {
		return p, err
	}
	if err := json.Unmarshal([]byte(rules), &p.Rules); err != nil {
		return p, fmt.Errorf("rules: %w", err)
	}
	p.UpdatedAt = fromMicros(updated)
	return p, nil
}

// PolicyPut creates or replaces the policy of p.MachineID. It returns
// NotFound if there is no such machine.
func (tx *Tx) PolicyPut(p *d.Policy) error {
	rules, err := toJSON(p.Rules)
	if err != nil {
		return fmt.Errorf("store: put policy: %w", err)
	}
	_, err = tx.exec(`INSERT INTO policies (`+policyCols+`) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (machine_id) DO UPDATE SET enabled = excluded.enabled, rules = excluded.rules,
			updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		string(p.MachineID), p.Enabled, rules, micros(p.UpdatedAt), p.UpdatedBy)
	if isForeignKey(err) {
		return &d.Error{Kind: d.NotFound, Message: fmt.Sprintf("machine %s not found", p.MachineID), Err: err}
	}
	return classify("put policy", err, "")
}

// Policy returns the policy of the machine, or NotFound if it has none.
func (tx *Tx) Policy(id d.MachineID) (*d.Policy, error) {
	p, err := scanPolicy(tx.queryRow(`SELECT `+policyCols+` FROM policies WHERE machine_id = ?`, string(id)))
	if err != nil {
		return nil, rowErr("policy", err, notFound("machine %s has no policy", id))
	}
	return &p, nil
}

// Policies returns all policies, ordered by machine ID.
func (tx *Tx) Policies() ([]d.Policy, error) {
	rows, err := tx.query(`SELECT ` + policyCols + ` FROM policies ORDER BY machine_id`)
	return collect("policies", rows, err, scanPolicy)
}
