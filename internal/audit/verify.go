package audit

import (
	"bytes"
	"encoding/hex"
	"fmt"

	d "github.com/drawbridge/drawbridge"
)

// Verifier walks a chain one event at a time, in ID order, in constant
// memory, and stops at the first problem. It is not safe for concurrent use.
//
//	v := audit.NewVerifier(anchor)
//	for each event e in ID order { if !v.Add(e) { break } }
//	report := v.Finish(head)
type Verifier struct {
	anchor    *d.AuditAnchor
	startID   d.EventID
	start     []byte // expected PrevHash of the first event
	lastID    d.EventID
	lastHash  []byte
	first     d.EventID
	checked   int64
	problem   *d.AuditProblem
	suspect   *d.Event // an event that failed both checks; the next one may explain it
	checkID   d.EventID
	checkHash string
	checkSeen bool
	firstPrev string
}

// NewVerifier starts a walk at anchor (nil: at the genesis).
func NewVerifier(anchor *d.AuditAnchor) *Verifier {
	v := &Verifier{anchor: anchor, start: Genesis}
	if anchor != nil {
		v.startID = anchor.ID
		if h, err := DecodeHash(anchor.Hash); err == nil {
			v.start = h
		} else {
			v.problem = &d.AuditProblem{ID: anchor.ID, Kind: d.AuditAltered, Message: "the prune anchor's hash is malformed"}
		}
	}
	v.lastID, v.lastHash = v.startID, v.start
	return v
}

// Unanchored makes the walk accept whatever PrevHash the first event names
// (for an exported file, which may start anywhere); the report says so.
func (v *Verifier) Unanchored() { v.start = nil }

// Expect makes the walk also check that event id has hash (from an exported,
// signed head): a chain rewritten after the export fails this check.
func (v *Verifier) Expect(id d.EventID, hash string) { v.checkID, v.checkHash = id, hash }

// Add checks e and reports whether to go on.
func (v *Verifier) Add(e *d.Event) bool {
	if v.problem != nil && v.suspect == nil {
		return false
	}
	if v.suspect != nil {
		// Rows swapped in place: the suspect carries the next event's hash
		// chain position, and this row the suspect's.
		s := v.suspect
		v.suspect = nil
		if e.Hash == s.PrevHash && e.PrevHash == hex.EncodeToString(v.lastHash) {
			v.problem = &d.AuditProblem{ID: s.ID, Kind: d.AuditReordered, Message: fmt.Sprintf("events %d and %d are out of order: each holds the other's place in the chain", s.ID, e.ID)}
		}
		return false
	}
	if v.first == 0 {
		v.first, v.firstPrev = e.ID, e.PrevHash
	}
	sum := Sum(hashOrZero(e.PrevHash), e)
	contentOK := hex.EncodeToString(sum) == e.Hash
	linkOK := v.start == nil && v.checked == 0 || e.PrevHash == hex.EncodeToString(v.lastHash)
	switch {
	case e.ID <= v.lastID && (v.checked > 0 || v.anchor != nil):
		v.problem = &d.AuditProblem{ID: e.ID, Kind: d.AuditReordered, Message: fmt.Sprintf("event %d comes after event %d", e.ID, v.lastID)}
		return false
	case !contentOK && linkOK:
		v.problem = &d.AuditProblem{ID: e.ID, Kind: d.AuditAltered, Message: fmt.Sprintf("event %d was changed after it was written: its fields do not match its hash", e.ID)}
		return false
	case !contentOK:
		v.problem = &d.AuditProblem{ID: e.ID, Kind: d.AuditAltered, Message: fmt.Sprintf("event %d was altered or moved: neither its fields nor its link to event %d match", e.ID, v.lastID)}
		v.suspect = e
		return true // one more row tells a swap from an edit
	case !linkOK && e.ID > v.lastID+1:
		v.problem = &d.AuditProblem{ID: e.ID, Kind: d.AuditDeleted, Message: fmt.Sprintf("events are missing between %d and %d: event %d does not name %d's hash as its predecessor", v.lastID, e.ID, e.ID, v.lastID)}
		return false
	case !linkOK:
		v.problem = &d.AuditProblem{ID: e.ID, Kind: d.AuditBroken, Message: fmt.Sprintf("event %d does not follow event %d: its prev_hash does not match (an event was deleted, inserted or replaced)", e.ID, v.lastID)}
		return false
	}
	if v.checkID != 0 && e.ID == v.checkID {
		v.checkSeen = true
		if e.Hash != v.checkHash {
			v.problem = &d.AuditProblem{ID: e.ID, Kind: d.AuditMismatch, Message: fmt.Sprintf("event %d has hash %s, but the exported head says %s: the chain was rewritten after the head was exported", e.ID, short(e.Hash), short(v.checkHash))}
			return false
		}
	}
	v.checked++
	v.lastID, v.lastHash = e.ID, sum
	return true
}

// Finish ends the walk and returns the report. headID and headHash are the
// store's record of the newest event (0 and "" when there is none, as for a
// file): events missing at the end are caught against it.
func (v *Verifier) Finish(headID d.EventID, headHash string) d.AuditReport {
	v.suspect = nil
	r := d.AuditReport{Checked: v.checked, First: v.first, Anchor: v.anchor}
	if v.checked > 0 {
		r.Last, r.Hash = v.lastID, hex.EncodeToString(v.lastHash)
	}
	if v.start == nil && v.checked > 0 && v.firstPrev != hex.EncodeToString(Genesis) {
		r.Notes = append(r.Notes, fmt.Sprintf("unanchored: the file starts at event %d, whose predecessor is not in it; compare the last hash with a head exported elsewhere", v.first))
	}
	if v.problem == nil && headID != 0 {
		switch {
		case headID > v.lastID:
			v.problem = &d.AuditProblem{ID: headID, Kind: d.AuditTruncated, Message: fmt.Sprintf("events after %d up to %d are missing: the head says %d was written", v.lastID, headID, headID)}
		case headID == v.lastID && headHash != hex.EncodeToString(v.lastHash):
			v.problem = &d.AuditProblem{ID: headID, Kind: d.AuditAltered, Message: fmt.Sprintf("event %d does not have the hash the head recorded", headID)}
		}
	}
	if v.problem == nil && v.checkID != 0 && !v.checkSeen {
		switch {
		case v.anchor != nil && v.checkID == v.anchor.ID:
			if v.anchor.Hash != v.checkHash {
				v.problem = &d.AuditProblem{ID: v.checkID, Kind: d.AuditMismatch, Message: "the prune anchor does not match the exported head"}
			}
		case v.anchor != nil && v.checkID < v.anchor.ID:
			r.Notes = append(r.Notes, fmt.Sprintf("event %d of the exported head was pruned; check it against the archive", v.checkID))
		default:
			v.problem = &d.AuditProblem{ID: v.checkID, Kind: d.AuditMismatch, Message: fmt.Sprintf("event %d of the exported head is not in the chain", v.checkID)}
		}
	}
	r.Problem = v.problem
	r.OK = v.problem == nil
	return r
}

func hashOrZero(s string) []byte {
	b, err := DecodeHash(s)
	if err != nil {
		return bytes.Repeat([]byte{0xff}, HashSize) // never a real predecessor: the content check fails
	}
	return b
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}
