package control

import (
	"fmt"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// authorize is d.Authorize: act on machine m, which the caller named ref.
func (s *Service) authorize(a d.Actor, act d.Action, m *d.Machine, ref string) error {
	return d.Authorize(a, act, m, ref)
}

// machineFor loads the machine ref names (see machineRef) and authorizes
// act on it.
func (s *Service) machineFor(tx *store.Tx, a d.Actor, act d.Action, ref string) (*d.Machine, error) {
	m, err := machineRef(tx, ref)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(a, act, m, ref); err != nil {
		return nil, err
	}
	return m, nil
}

// canSee reports whether a may read request r: its own, or requests/read
// on a machine it touches.
func canSee(tx *store.Tx, a d.Actor, r *d.Request) (bool, error) {
	if r.Requester == a.Subject() || a.Can(d.ActRequestsRead) {
		return true, nil
	}
	if !a.AllowedSomewhere(d.ActRequestsRead) {
		return false, nil
	}
	return onMachines(tx, r, func(m *d.Machine) bool { return a.Allowed(d.ActRequestsRead, m) }, false)
}

// visible returns NotFound unless a may see r (no existence oracle).
func visible(tx *store.Tx, a d.Actor, r *d.Request) error {
	ok, err := canSee(tx, a, r)
	if err == nil && !ok {
		err = &d.Error{Kind: d.NotFound, Message: fmt.Sprintf("request %s not found", r.ID)}
	}
	return err
}

// machinesWhere returns the IDs of the machines on which a may act, or nil
// when a may act everywhere (no restriction to push into a query).
func machinesWhere(tx *store.Tx, a d.Actor, act d.Action) ([]d.MachineID, error) {
	if a.Can(act) {
		return nil, nil
	}
	ids := []d.MachineID{}
	if !a.AllowedSomewhere(act) {
		return ids, nil
	}
	ms, err := tx.Machines()
	if err != nil {
		return nil, err
	}
	for i := range ms {
		if a.Allowed(act, &ms[i]) {
			ids = append(ids, ms[i].ID)
		}
	}
	return ids, nil
}

func forbidden(a d.Actor, act d.Action) error {
	return &d.Error{Kind: d.Forbidden, Message: fmt.Sprintf("%s (role %s) may not %s", a.Name, a.Role, act)}
}

func (s *Service) require(a d.Actor, act d.Action) error {
	if !a.Can(act) {
		return forbidden(a, act)
	}
	return nil
}
