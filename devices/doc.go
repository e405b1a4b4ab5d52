// Package devices owns the account and device documents of sipedge: the Kazoo
// device schema (validation with Kazoo-shaped errors, defaults, PATCH merge),
// their persistence in an embedded crash-safe store, account-scoped API tokens,
// and the in-memory indexes the SIP hot path reads (by realm and SIP username,
// by source IP).
//
// It imports nothing else of sipedge.
package devices
