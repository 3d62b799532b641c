package store

import (
	"slices"

	d "github.com/drawbridge/drawbridge"
)

// Changes is what a read-write transaction changed that someone may be
// waiting for: the machines whose desired state version it bumped
// (MachineBumpVersion) and the requests whose row, targets or approvals it
// wrote (RequestCreate, RequestUpdate, TargetUpdate, ApprovalAppend). Each
// ID appears once, sorted.
type Changes struct {
	Machines []d.MachineID
	Requests []d.RequestID
}

// Empty reports whether nothing was changed.
func (c Changes) Empty() bool { return len(c.Machines) == 0 && len(c.Requests) == 0 }

// changed is the record a Tx keeps as its methods write. Each attempt of
// DB.Tx runs on a new Tx, so a retried attempt starts from an empty record.
type changed struct {
	machines map[d.MachineID]struct{}
	requests map[d.RequestID]struct{}
}

func (tx *Tx) noteMachine(id d.MachineID) {
	if tx.changed.machines == nil {
		tx.changed.machines = map[d.MachineID]struct{}{}
	}
	tx.changed.machines[id] = struct{}{}
}

func (tx *Tx) noteRequest(id d.RequestID) {
	if id == "" {
		return
	}
	if tx.changed.requests == nil {
		tx.changed.requests = map[d.RequestID]struct{}{}
	}
	tx.changed.requests[id] = struct{}{}
}

// Changed returns what this transaction has changed so far. It says
// nothing about whether the transaction will commit: DB.Tx's caller reads
// it at the end of its function and acts on it only once DB.Tx returned nil.
func (tx *Tx) Changed() Changes {
	var c Changes
	for id := range tx.changed.machines {
		c.Machines = append(c.Machines, id)
	}
	for id := range tx.changed.requests {
		c.Requests = append(c.Requests, id)
	}
	slices.Sort(c.Machines)
	slices.Sort(c.Requests)
	return c
}
