// Package location owns the in-memory location table of sipedge: address of
// record → bindings (contact, flow, expiry), sharded, with expiry that never
// scans the whole table, allocation-free lookups, and snapshot/restore to the
// data directory so registrations survive restarts.
//
// RFC 3261 §10.3 rules (Call-ID/CSeq ordering, min/max Expires, wildcard) are
// the registrar's; this package only stores what it is told.
// It imports nothing else of sipedge, nor any SIP or HTTP stack.
package location
