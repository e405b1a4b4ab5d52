package devices

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Tokens are account-scoped API credentials. The secret (32 random bytes,
// base64url) is returned once by CreateToken; only its SHA-256 is kept, on
// disk and in memory, and a lookup hashes the presented secret and finds
// the hash in a map, so its cost does not depend on how much of a guess
// matches a real secret.

// CreateToken makes a new account-scoped API token and returns its secret (shown once).
func (s *Store) CreateToken(accountID string) (secret string, t Token, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", Token{}, ErrClosed
	}
	if s.accts.Load().byID[accountID] == nil {
		return "", Token{}, ErrNotFound
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret = base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(secret))
	t = Token{ID: newID(), AccountID: accountID, Created: Gregorian(time.Now())}
	raw, err := json.Marshal(t)
	if err != nil {
		return "", Token{}, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTokens).Put(h[:], raw)
	})
	if err != nil {
		return "", Token{}, fmt.Errorf("devices: write token: %w", err)
	}
	s.rw.Lock()
	s.tokens[h] = t
	s.rw.Unlock()
	return secret, t, nil
}

// Tokens lists the account's tokens (never their secrets), oldest first;
// nil for an unknown account.
func (s *Store) Tokens(accountID string) []Token {
	if s.accts.Load().byID[accountID] == nil {
		return nil
	}
	out := []Token{}
	s.rw.RLock()
	for _, t := range s.tokens {
		if t.AccountID == accountID {
			out = append(out, t)
		}
	}
	s.rw.RUnlock()
	slices.SortFunc(out, func(a, b Token) int {
		return cmp.Or(cmp.Compare(a.Created, b.Created), strings.Compare(a.ID, b.ID))
	})
	return out
}

// DeleteToken revokes a token; ErrNotFound if the account has no such token.
func (s *Store) DeleteToken(accountID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	var h [32]byte
	found := false
	for k, t := range s.tokens {
		if t.AccountID == accountID && t.ID == id {
			h, found = k, true
			break
		}
	}
	if !found {
		return ErrNotFound
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTokens).Delete(h[:])
	})
	if err != nil {
		return fmt.Errorf("devices: delete token: %w", err)
	}
	s.rw.Lock()
	delete(s.tokens, h)
	s.rw.Unlock()
	return nil
}

// TokenAccount returns the account a token secret is scoped to.
func (s *Store) TokenAccount(secret string) (accountID string, ok bool) {
	if secret == "" {
		return "", false
	}
	h := sha256.Sum256([]byte(secret))
	s.rw.RLock()
	t, ok := s.tokens[h]
	s.rw.RUnlock()
	if !ok || s.accts.Load().byID[t.AccountID] == nil {
		return "", false
	}
	return t.AccountID, true
}
