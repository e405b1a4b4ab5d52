// Package location owns the in-memory location table of sipedge: address of
// record → bindings (contact, flow, expiry), sharded, with expiry that never
// scans the whole table, allocation-free lookups, and snapshot/restore to the
// data directory so registrations survive restarts.
//
// RFC 3261 §10.3 rules (Call-ID/CSeq ordering, min/max Expires, wildcard) are
// the registrar's; this package only stores what it is told.
// It imports nothing else of sipedge, nor any SIP or HTTP stack.
//
// Layout: 256 shards picked by hash/maphash of the AOR, each with one
// RWMutex, a map AOR → bindings, a min-heap of (expiry, AOR) for Expire, an
// index of connection flows → AORs for RemoveFlow, a refcounted intern map
// for strings many bindings repeat (realm, account id, user agent), and
// atomic counters that Stats and the metrics read without locking.
//
// The table copies what it stores: strings handed to Update are cloned
// (or shared with an equal string it already holds), so callers may parse
// in place and reuse their buffers.
//
// Every binding that leaves the table either goes through Update, Remove or
// RemoveFlow while live, or is reported exactly once to Options.OnExpire.
package location
