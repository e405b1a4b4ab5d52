package proxy

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"

	"github.com/emiago/sipgo/sip"
)

// Route tokens. In-dialog requests are not challenged: whoever brings our
// Route back is let through to the next hop. Without a check that makes
// us an open relay: anyone could send an "in-dialog" INVITE with a To tag,
// our Route and a premium number at a gateway as its Request-URI. So our
// Record-Route carries ;st=<HMAC of the Call-ID>, and an in-dialog request
// passes only when one of the Routes it brings back to us carries the
// token for its own Call-ID. A party to a real call can still send within
// that call, which is what the call allows anyway.

const routeTokenParam = "st"

// routeTokenLen is 12 hex digits: 48 bits against guessing.
const routeTokenLen = 12

func newRouteKey(secret []byte) ([]byte, error) {
	if len(secret) > 0 {
		// Separate this use from any other use of the same secret.
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("sipedge route token"))
		return m.Sum(nil), nil
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("proxy: route key: %w", err)
	}
	return k, nil
}

func (f *forwarder) routeToken(callID string) string {
	m := f.mac()
	defer f.macs.Put(m)
	m.Write([]byte(callID))
	return macToken(m)
}

// mac is an HMAC-SHA256 under the route key, from f.macs: every forwarded
// request makes or checks a token, and a new HMAC each time was a fair
// part of what forwarding allocated. Put it back when done.
func (f *forwarder) mac() hash.Hash {
	if m, ok := f.macs.Get().(hash.Hash); ok {
		m.Reset()
		return m
	}
	return hmac.New(sha256.New, f.routeKey)
}

// macToken is the first routeTokenLen hex digits of m's sum.
func macToken(m hash.Hash) string {
	var sum [sha256.Size]byte
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], m.Sum(sum[:0]))
	return string(out[:routeTokenLen])
}

// routedByUs reports whether one of the popped Routes carries the token of
// req's Call-ID.
func (f *forwarder) routedByUs(req *sip.Request, popped []sip.Uri) bool {
	want := f.routeToken(callID(req))
	for _, u := range popped {
		if got, ok := u.UriParams.Get(routeTokenParam); ok && hmac.Equal([]byte(got), []byte(want)) {
			return true
		}
	}
	return false
}
