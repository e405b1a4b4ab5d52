// Package registrar owns REGISTER handling (RFC 3261 §10.3): digest (MD5 and
// SHA-256, RFC 8760) and IP authentication, stateless nonces, failed-auth bans,
// the binding rules that write to the location table, the registration records
// the admin API shows (Kazoo's fields), and flushes.
//
// Decisions worth knowing:
//   - Third-party registration (From user/host ≠ To user/host) is refused
//     with 403, as Kamailio's default configuration does.
//   - An IP-auth source may register only its own device's AOR; any other
//     To user is challenged like everyone else.
//   - A REGISTER whose Call-ID matches a binding with a higher CSeq fails
//     with 500 (RFC 3261 §10.3 step 7); an equal CSeq is a retransmission
//     and is answered 200 with the bindings, unchanged.
//   - Unknown realms, unknown users and disabled devices get the same 401 as
//     a known user with a wrong password, after the same hashing work.
//
// It may import devices and location; never the HTTP stack.
package registrar
