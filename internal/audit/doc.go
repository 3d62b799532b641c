// Package audit holds the pure parts of Drawbridge's tamper-evident audit
// log: the canonical encoding of an event and the hash chain over it
// (chain.go), the streaming chain verifier (verify.go), the signed head
// (head.go), CSV and JSON Lines export (export.go), and the SIEM sinks that
// tail the log after commit (sink.go, syslog.go).
//
// # The chain (format version 1)
//
// Every event carries PrevHash, the Hash of the event before it, and
//
//	Hash = SHA-256(PrevHash || Canonical(event))
//
// where PrevHash is 32 raw bytes (32 zero bytes, [Genesis], before the
// first event ever written, or the hash of the last pruned event after a
// retention prune) and Canonical is:
//
//	str("drawbridge.event.v1")
//	i64(id) i64(time as unix microseconds UTC; 0 for the zero time)
//	str(actor) str(actor_name) str(actor_source) str(action) str(target)
//	str(result) str(reason) str(request_id) str(details)
//
// with i64 an 8-byte big-endian two's-complement integer and str a 4-byte
// big-endian length followed by the UTF-8 bytes. Every field has a fixed
// position and an explicit length, so no two different events encode alike,
// whatever bytes their fields contain. A new field means a new version tag;
// events already written keep the encoding they were hashed with.
//
// Hashes travel as lowercase hex (64 characters). The golden vectors in
// testdata/vectors.json pin the encoding: any change to it fails the tests.
//
// Nothing in this package touches a database or the network except the
// sinks, which write to the file or address they are given.
package audit
