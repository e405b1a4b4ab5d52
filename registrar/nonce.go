package registrar

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"math/rand/v2"
	"sync"
)

// Nonces are stateless so a REGISTER storm costs no memory:
// base64url(unix-seconds ‖ salt ‖ HMAC-SHA256(secret, seconds ‖ salt ‖ realm)[:16]).
// Binding the realm stops a nonce minted for one account being replayed
// against another. The 8-byte salt makes every challenge's nonce unique:
// a phone restarts its nonce count at 1 on each challenge, and two
// challenges in the same second must not look like a replay. (A 4-byte
// salt did not suffice: at 36,000 challenges a second, two equal salts in
// one second are expected every few seconds, and the second phone's
// nc=00000001 was refused as a replay.)
const (
	nonceMACLen  = 16
	nonceSaltLen = 8
	nonceHdrLen  = 8 + nonceSaltLen
	nonceRawLen  = nonceHdrLen + nonceMACLen
	nonceLen     = (nonceRawLen*8 + 5) / 6 // base64url without padding: 43
	opaqueLen    = 16                      // base64url of 12 bytes
)

var b64 = base64.RawURLEncoding

// nonceMinter mints and checks nonces and opaques with one secret.
type nonceMinter struct {
	pool sync.Pool // of *macState, to keep the hot path allocation-free
}

// macState is a reusable HMAC with scratch space that lives on the heap
// once, instead of escaping per call through the hash.Hash interface.
type macState struct {
	h   hash.Hash
	in  [1 + nonceHdrLen + 256]byte
	sum [sha256.Size]byte
	raw [nonceRawLen + 2]byte
	src [nonceLen]byte
}

func newNonceMinter(secret []byte) *nonceMinter {
	key := append([]byte(nil), secret...)
	m := &nonceMinter{}
	m.pool.New = func() any { return &macState{h: hmac.New(sha256.New, key)} }
	return m
}

// mac computes HMAC(secret, tag ‖ secs ‖ realm) into st.sum.
func (st *macState) mac(tag byte, secs []byte, realm string) {
	st.h.Reset()
	b := append(st.in[:0], tag)
	b = append(b, secs...)
	if len(b)+len(realm) <= len(st.in) {
		b = append(b, realm...)
		st.h.Write(b)
	} else {
		st.h.Write(b)
		st.h.Write([]byte(realm))
	}
	st.h.Sum(st.sum[:0])
}

// nonce returns a fresh nonce for realm at unix time now.
func (m *nonceMinter) nonce(realm string, now int64) string {
	var b [nonceLen]byte
	return string(m.appendNonce(b[:0], realm, now))
}

// appendNonce is nonce appended to dst: the raw REGISTER path builds its
// challenge without a string per 401.
func (m *nonceMinter) appendNonce(dst []byte, realm string, now int64) []byte {
	st := m.pool.Get().(*macState)
	defer m.pool.Put(st)
	raw := st.raw[:nonceRawLen]
	binary.BigEndian.PutUint64(raw[:8], uint64(now))
	binary.BigEndian.PutUint64(raw[8:nonceHdrLen], rand.Uint64())
	st.mac('n', raw[:nonceHdrLen], realm)
	copy(raw[nonceHdrLen:], st.sum[:nonceMACLen])
	return b64.AppendEncode(dst, raw)
}

// check says whether nonce was minted by us for realm, and when.
func (m *nonceMinter) check(nonce, realm string) (issued int64, ok bool) {
	if len(nonce) != nonceLen {
		return 0, false
	}
	st := m.pool.Get().(*macState)
	defer m.pool.Put(st)
	copy(st.src[:], nonce)
	n, err := b64.Decode(st.raw[:], st.src[:])
	if err != nil || n != nonceRawLen {
		return 0, false
	}
	var hdr [nonceHdrLen]byte
	copy(hdr[:], st.raw[:nonceHdrLen])
	mac := st.raw[nonceHdrLen:nonceRawLen]
	st.mac('n', hdr[:], realm)
	if subtle.ConstantTimeCompare(st.sum[:nonceMACLen], mac) != 1 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(hdr[:8])), true
}

// opaque is a per-realm constant: phones must echo it, and a wrong one
// means the credentials were not answering our challenge.
func (m *nonceMinter) opaque(realm string) string {
	var b [opaqueLen]byte
	return string(m.appendOpaque(b[:0], realm))
}

func (m *nonceMinter) appendOpaque(dst []byte, realm string) []byte {
	st := m.pool.Get().(*macState)
	defer m.pool.Put(st)
	st.mac('o', nil, realm)
	return b64.AppendEncode(dst, st.sum[:12])
}

func (m *nonceMinter) checkOpaque(opaque, realm string) bool {
	if len(opaque) != opaqueLen {
		return false
	}
	st := m.pool.Get().(*macState)
	defer m.pool.Put(st)
	copy(st.src[:], opaque)
	n, err := b64.Decode(st.raw[:], st.src[:opaqueLen])
	if err != nil || n != 12 {
		return false
	}
	var got [12]byte
	copy(got[:], st.raw[:12])
	st.mac('o', nil, realm)
	return subtle.ConstantTimeCompare(st.sum[:12], got[:]) == 1
}
