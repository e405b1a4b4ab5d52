package devices

import (
	"errors"
	"net/netip"
	"time"
)

// Sentinel errors. The admin API maps them to Kazoo's error envelopes.
var (
	ErrNotFound      = errors.New("devices: not found")      // 404 bad_identifier
	ErrStaleRevision = errors.New("devices: stale revision") // 412 (If-Match did not match)
	ErrConflict      = errors.New("devices: conflict")       // 409 datastore_conflict
)

// ValidationError is a failed schema or uniqueness check. Fields is keyed by
// the field path joined with "." (literal dots escaped as %2E), then by the
// failed rule ("required", "minLength", "maxLength", "enum", "type", "unique",
// ...), then the rule's details ("message", "value", "target", "cause"), which
// is exactly the "data" of Kazoo's 400 "validation error" envelope.
type ValidationError struct {
	Fields map[string]map[string]map[string]any
}

func (e *ValidationError) Error() string { return "devices: validation error" }

// Account is a tenant: one SIP realm and the devices in it.
type Account struct {
	ID       string
	Name     string
	Realm    string // lower-cased, unique
	Enabled  bool
	Rev      string // "N-<hex>", also the ETag
	Created  int64  // Gregorian seconds
	Modified int64  // Gregorian seconds
	// Doc is the public document as the API shows it (with "id"). Read-only.
	Doc map[string]any
}

// Device is an immutable snapshot of a device document plus the fields the
// SIP hot path reads, decoded once when the document is written. Never
// mutate a *Device obtained from the store; writes replace the snapshot.
type Device struct {
	ID        string
	AccountID string
	// Realm is sip.realm when set, else the account realm; lower-cased.
	Realm    string
	Username string     // sip.username ("" when unset)
	Password string     // sip.password
	Method   string     // sip.method: "password" or "ip"
	IP       netip.Addr // sip.ip, zero when unset or not an address
	// The flags side by side (the unexported ones too): a million devices
	// are held, and padding after each was 16 bytes of each of them.

	// Enabled is the device's "enabled" AND its account's.
	Enabled                         bool
	RegisterOverwriteNotify         bool
	SuppressUnregisterNotifications bool
	// What deriveFromAccount needs again when the account changes, with
	// sipRealm below.
	enabled, enabledIsSet bool

	ExpireSeconds int // sip.expire_seconds, else sip.registration_expiration, else 0 (non-positive counts as unset)
	OwnerID       string
	MACAddress    string

	Name            string        // "name"
	PresenceID      string        // "presence_id"
	Number          string        // sip.number
	ProgressTimeout time.Duration // media.progress_timeout, 0 when unset or not a number of seconds
	HotdeskUsers    []string      // the keys of hotdesk.users

	Rev      string
	Created  int64
	Modified int64

	sipRealm string
	// A device of a store keeps no document: Doc reads it from src when
	// asked for, so a restart reads only the hot records and the heap
	// holds no documents (a million decoded ones were 7 KB of pointers
	// each, marked on every garbage collection). rec is the record of a
	// Device built outside any store (FromDocument); a string, 8 bytes
	// under a slice, for the same reason as the flags.
	rec string
	src *Store
}

// Doc decodes the public document as the API shows it (with "id"). The map
// is the caller's own: each call decodes a fresh one. For a device of a
// store it is the document as stored now (a newer revision when the device
// was replaced since this snapshot, nil once deleted or once the store is
// closed); nil for a Device built outside a store without one.
func (d *Device) Doc() map[string]any {
	if d == nil {
		return nil
	}
	if d.rec == "" {
		return d.src.storedDoc(d.AccountID, d.ID)
	}
	pub, _, err := decodeRecord([]byte(d.rec))
	if err != nil {
		// rec was encoded by this package.
		return nil
	}
	return pub
}

// Change tells subscribers that a device was created, replaced or deleted.
// Old is nil on create, New is nil on delete.
type Change struct {
	Old, New *Device
}

// Token is an account-scoped API token. Only a hash of the secret is kept.
type Token struct {
	ID        string `json:"id"`
	AccountID string `json:"account_id"`
	Created   int64  `json:"created"` // Gregorian seconds
}
