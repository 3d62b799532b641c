package store

import (
	"encoding/json"
	"fmt"
	"time"

	d "github.com/drawbridge/drawbridge"
)

const machineCols = `id, name, labels, inventory, enrolled_at, last_seen_at, state_version, applied_version, apply_error, stopped_at`

func scanMachine(s scanner) (d.Machine, error) {
	var m d.Machine
	var labels, inv string
	var enrolled, seen, stopped int64
	if err := s.Scan(&m.ID, &m.Name, &labels, &inv, &enrolled, &seen, &m.StateVersion, &m.AppliedVersion, &m.ApplyError, &stopped); err != nil {
		return m, err
	}
	var err error
	if m.Labels, err = parseLabels(labels); err != nil {
		return m, err
	}
	if err := json.Unmarshal([]byte(inv), &m.Inventory); err != nil {
		return m, fmt.Errorf("inventory: %w", err)
	}
	m.EnrolledAt, m.LastSeen, m.StoppedAt = fromMicros(enrolled), fromMicros(seen), fromMicros(stopped)
	return m, nil
}

// MachineCreate stores a new machine with all its fields. It returns
// Conflict if a machine with the same ID or name exists.
func (tx *Tx) MachineCreate(m *d.Machine) error {
	labels, err := labelsJSON(m.Labels)
	if err != nil {
		return fmt.Errorf("store: create machine: %w", err)
	}
	inv, err := toJSON(m.Inventory)
	if err != nil {
		return fmt.Errorf("store: create machine: %w", err)
	}
	_, err = tx.exec(`INSERT INTO machines (`+machineCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(m.ID), m.Name, labels, inv, micros(m.EnrolledAt), micros(m.LastSeen), m.StateVersion, m.AppliedVersion, m.ApplyError, micros(m.StoppedAt))
	return classify("create machine", err, fmt.Sprintf("a machine named %q (or with ID %s) already exists", m.Name, m.ID))
}

// Machine returns the machine with the given ID, or NotFound.
func (tx *Tx) Machine(id d.MachineID) (*d.Machine, error) {
	m, err := scanMachine(tx.queryRow(`SELECT `+machineCols+` FROM machines WHERE id = ?`, string(id)))
	if err != nil {
		return nil, rowErr("machine", err, notFound("machine %s not found", id))
	}
	return &m, nil
}

// MachineByName returns the machine with the given name, or NotFound.
func (tx *Tx) MachineByName(name string) (*d.Machine, error) {
	m, err := scanMachine(tx.queryRow(`SELECT `+machineCols+` FROM machines WHERE name = ?`, name))
	if err != nil {
		return nil, rowErr("machine by name", err, notFound("machine %q not found", name))
	}
	return &m, nil
}

// Machines returns all machines sorted by name.
func (tx *Tx) Machines() ([]d.Machine, error) {
	rows, err := tx.query(`SELECT ` + machineCols + ` FROM machines ORDER BY name`)
	return collect("machines", rows, err, scanMachine)
}

// MachineUpdate saves a machine's name, labels, inventory, last seen time,
// apply error and applied version. The ID, enrollment time and state version
// never change through it (see MachineBumpVersion). It returns NotFound if
// there is no such machine and Conflict if the new name is taken.
func (tx *Tx) MachineUpdate(m *d.Machine) error {
	labels, err := labelsJSON(m.Labels)
	if err != nil {
		return fmt.Errorf("store: update machine: %w", err)
	}
	inv, err := toJSON(m.Inventory)
	if err != nil {
		return fmt.Errorf("store: update machine: %w", err)
	}
	res, err := tx.exec(`UPDATE machines SET name = ?, labels = ?, inventory = ?, last_seen_at = ?, apply_error = ?, applied_version = ? WHERE id = ?`,
		m.Name, labels, inv, micros(m.LastSeen), m.ApplyError, m.AppliedVersion, string(m.ID))
	if err != nil {
		return classify("update machine", err, fmt.Sprintf("a machine named %q already exists", m.Name))
	}
	return affected("update machine", res, notFound("machine %s not found", m.ID))
}

// MachineTouch records that the machine's agent was seen at seen. It returns
// NotFound if there is no such machine.
func (tx *Tx) MachineTouch(id d.MachineID, seen time.Time) error {
	res, err := tx.exec(`UPDATE machines SET last_seen_at = ? WHERE id = ?`, micros(seen), string(id))
	if err != nil {
		return classify("touch machine", err, "")
	}
	return affected("touch machine", res, notFound("machine %s not found", id))
}

// MachineStopped records that the machine's agent stopped cleanly at at.
// It returns NotFound if there is no such machine.
func (tx *Tx) MachineStopped(id d.MachineID, at time.Time) error {
	res, err := tx.exec(`UPDATE machines SET stopped_at = ? WHERE id = ?`, micros(at), string(id))
	if err != nil {
		return classify("machine stopped", err, "")
	}
	return affected("machine stopped", res, notFound("machine %s not found", id))
}

// MachineBumpVersion increments the machine's state version in one
// statement and returns the new value, so concurrent transactions never
// hand out the same version. It returns NotFound if there is no such machine.
func (tx *Tx) MachineBumpVersion(id d.MachineID) (int64, error) {
	var v int64
	err := tx.queryRow(`UPDATE machines SET state_version = state_version + 1 WHERE id = ? RETURNING state_version`, string(id)).Scan(&v)
	if err != nil {
		return 0, rowErr("bump machine version", err, notFound("machine %s not found", id))
	}
	tx.noteMachine(id)
	return v, nil
}

// MachineSetApplied records what the machine's agent reported after applying
// a state version: the applied version only ever grows (a late report of an
// older version does not lower it), the apply error is replaced ("" when the
// apply succeeded). It returns NotFound if there is no such machine.
func (tx *Tx) MachineSetApplied(id d.MachineID, version int64, applyErr string) error {
	res, err := tx.exec(`UPDATE machines SET applied_version = CASE WHEN applied_version < ? THEN ? ELSE applied_version END, apply_error = ? WHERE id = ?`,
		version, version, applyErr, string(id))
	if err != nil {
		return classify("set machine applied", err, "")
	}
	return affected("set machine applied", res, notFound("machine %s not found", id))
}

// MachineDelete deletes a machine and its policy. Its requests and targets
// stay, for the record. It returns NotFound if there is no such machine.
func (tx *Tx) MachineDelete(id d.MachineID) error {
	res, err := tx.exec(`DELETE FROM machines WHERE id = ?`, string(id))
	if err != nil {
		return classify("delete machine", err, "")
	}
	return affected("delete machine", res, notFound("machine %s not found", id))
}

// MachineStateVersion returns a machine's desired-state version, or NotFound.
func (tx *Tx) MachineStateVersion(id d.MachineID) (int64, error) {
	var v int64
	if err := tx.queryRow(`SELECT state_version FROM machines WHERE id = ?`, string(id)).Scan(&v); err != nil {
		return 0, rowErr("machine state version", err, notFound("machine %s not found", id))
	}
	return v, nil
}
