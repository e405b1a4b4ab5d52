// Package registrar owns REGISTER handling (RFC 3261 §10.3): digest (MD5 and
// SHA-256, RFC 8760) and IP authentication, stateless nonces, failed-auth bans,
// the binding rules that write to the location table, the registration records
// the admin API shows (Kazoo's fields), and flushes.
//
// It may import devices and location; never the HTTP stack.
package registrar
