package devices

import "net/netip"

// Options configures a Store.
type Options struct {
	// Path of the database file, e.g. <data dir>/sipedge.db.
	Path string
}

// Store is the persistent directory of accounts, devices and tokens, with
// in-memory indexes rebuilt from disk at Open. Every write is durable (fsync'd)
// before the method returns. Safe for concurrent use.
type Store struct{}

// Open opens (creating if needed) the store and rebuilds the indexes.
func Open(opts Options) (*Store, error) { panic("todo") }

// Close closes the database.
func (s *Store) Close() error { panic("todo") }

// CreateAccount validates doc ({"name","realm",...}), fills defaults, assigns an id.
func (s *Store) CreateAccount(doc map[string]any) (*Account, error) { panic("todo") }

// Account returns the account or ErrNotFound.
func (s *Store) Account(id string) (*Account, error) { panic("todo") }

// Accounts lists every account, ordered by name then id.
func (s *Store) Accounts() []*Account { panic("todo") }

// AccountByRealm finds an account by realm, case-insensitively; nil if none.
func (s *Store) AccountByRealm(realm string) *Account { panic("todo") }

// ReplaceAccount is POST semantics; ifMatch ("" = unconditional) is compared with Rev.
func (s *Store) ReplaceAccount(id string, doc map[string]any, ifMatch string) (*Account, error) {
	panic("todo")
}

// PatchAccount deep-merges patch (null deletes a key) then validates as ReplaceAccount.
func (s *Store) PatchAccount(id string, patch map[string]any, ifMatch string) (*Account, error) {
	panic("todo")
}

// DeleteAccount removes the account, its devices and its tokens; returns the deleted account.
func (s *Store) DeleteAccount(id string) (*Account, error) { panic("todo") }

// CreateDevice validates doc against the Kazoo device schema, fills defaults, assigns an id.
func (s *Store) CreateDevice(accountID string, doc map[string]any) (*Device, error) {
	panic("todo")
}

// Device returns one device of the account or ErrNotFound.
func (s *Store) Device(accountID, id string) (*Device, error) { panic("todo") }

// Devices lists the account's devices ordered by name then id.
func (s *Store) Devices(accountID string) []*Device { panic("todo") }

// ReplaceDevice is POST semantics (full replacement of the public part).
func (s *Store) ReplaceDevice(accountID, id string, doc map[string]any, ifMatch string) (*Device, error) {
	panic("todo")
}

// PatchDevice deep-merges patch into the stored document, then validates as ReplaceDevice.
func (s *Store) PatchDevice(accountID, id string, patch map[string]any, ifMatch string) (*Device, error) {
	panic("todo")
}

// DeleteDevice removes the device and returns it.
func (s *Store) DeleteDevice(accountID, id string) (*Device, error) { panic("todo") }

// ByUser finds a device by realm and SIP username, both case-insensitive.
// Nil if none. Does not allocate.
func (s *Store) ByUser(realm, username string) *Device { panic("todo") }

// ByIP finds the IP-auth device (sip.method "ip") whose sip.ip is addr. Nil if none. Does not allocate.
func (s *Store) ByIP(addr netip.Addr) *Device { panic("todo") }

// Subscribe registers fn to be called, synchronously and after the write is
// durable, for every device created, replaced or deleted.
func (s *Store) Subscribe(fn func(Change)) { panic("todo") }

// CreateToken makes a new account-scoped API token and returns its secret (shown once).
func (s *Store) CreateToken(accountID string) (secret string, t Token, err error) { panic("todo") }

// Tokens lists the account's tokens (never their secrets).
func (s *Store) Tokens(accountID string) []Token { panic("todo") }

// DeleteToken revokes a token; ErrNotFound if the account has no such token.
func (s *Store) DeleteToken(accountID, id string) error { panic("todo") }

// TokenAccount returns the account a token secret is scoped to.
func (s *Store) TokenAccount(secret string) (accountID string, ok bool) { panic("todo") }
