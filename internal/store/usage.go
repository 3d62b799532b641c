package store

import (
	"math"

	d "github.com/drawbridge/drawbridge"
)

const usageCols = `target_id, packets, bytes, first_used_at, last_used_at, reported_at, epoch, epoch_packets, epoch_bytes`

// usageChunk bounds the IDs in one IN (…) list.
const usageChunk = 500

// TargetUsage returns the recorded usage of the given targets; targets
// without a report are absent from the map.
func (tx *Tx) TargetUsage(ids []d.TargetID) (map[d.TargetID]*d.Usage, error) {
	out := make(map[d.TargetID]*d.Usage, len(ids))
	for start := 0; start < len(ids); start += usageChunk {
		chunk := ids[start:min(start+usageChunk, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = string(id)
		}
		rows, err := tx.query(`SELECT `+usageCols+` FROM target_usage WHERE target_id IN (`+placeholders(len(args))+`)`, args...)
		type row struct {
			id d.TargetID
			u  *d.Usage
		}
		rs, err := collect("target usage", rows, err, func(s scanner) (row, error) {
			var r row
			var u d.Usage
			var packets, bytes, first, last, reported, ep, eb int64
			if err := s.Scan(&r.id, &packets, &bytes, &first, &last, &reported, &u.Epoch, &ep, &eb); err != nil {
				return r, err
			}
			u.Packets, u.Bytes, u.EpochPackets, u.EpochBytes = uint64(packets), uint64(bytes), uint64(ep), uint64(eb)
			u.FirstUsedAt, u.LastUsedAt, u.ReportedAt = fromMicros(first), fromMicros(last), fromMicros(reported)
			r.u = &u
			return r, nil
		})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			out[r.id] = r.u
		}
	}
	return out, nil
}

// AttachUsage sets the Usage of each target that has a report.
func (tx *Tx) AttachUsage(ts []d.Target) error {
	if len(ts) == 0 {
		return nil
	}
	ids := make([]d.TargetID, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	us, err := tx.TargetUsage(ids)
	if err != nil {
		return err
	}
	for i := range ts {
		ts[i].Usage = us[ts[i].ID]
	}
	return nil
}

// TargetUsagePut stores a target's usage, replacing what was there. It
// returns NotFound if the target does not exist.
func (tx *Tx) TargetUsagePut(id d.TargetID, u *d.Usage) error {
	_, err := tx.exec(`INSERT INTO target_usage (`+usageCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (target_id) DO UPDATE SET packets = excluded.packets, bytes = excluded.bytes,
		first_used_at = excluded.first_used_at, last_used_at = excluded.last_used_at, reported_at = excluded.reported_at,
		epoch = excluded.epoch, epoch_packets = excluded.epoch_packets, epoch_bytes = excluded.epoch_bytes`,
		string(id), clampInt64(u.Packets), clampInt64(u.Bytes), micros(u.FirstUsedAt), micros(u.LastUsedAt), micros(u.ReportedAt),
		u.Epoch, clampInt64(u.EpochPackets), clampInt64(u.EpochBytes))
	if err != nil {
		if isForeignKey(err) {
			return notFound("target %s not found", id)
		}
		return classify("put target usage", err, "")
	}
	return nil
}

// TargetMachines returns the machine of each of the given targets that
// exists.
func (tx *Tx) TargetMachines(ids []d.TargetID) (map[d.TargetID]d.MachineID, error) {
	out := make(map[d.TargetID]d.MachineID, len(ids))
	for start := 0; start < len(ids); start += usageChunk {
		chunk := ids[start:min(start+usageChunk, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = string(id)
		}
		rows, err := tx.query(`SELECT id, machine_id FROM targets WHERE id IN (`+placeholders(len(args))+`)`, args...)
		type row struct {
			id d.TargetID
			m  d.MachineID
		}
		rs, err := collect("target machines", rows, err, func(s scanner) (row, error) {
			var r row
			return r, s.Scan(&r.id, &r.m)
		})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			out[r.id] = r.m
		}
	}
	return out, nil
}

// clampInt64 stores a counter in a signed 64-bit column.
func clampInt64(v uint64) int64 {
	return int64(min(v, math.MaxInt64))
}
