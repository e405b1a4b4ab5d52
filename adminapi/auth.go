package adminapi

import (
	"crypto/sha256"
	"crypto/subtle"

	"github.com/valyala/fasthttp"
)

// principal is who a request acts as.
type principal struct {
	admin     bool
	accountID string // set for account tokens
}

// tokenOf reads the credential: X-Auth-Token, else the auth_token query
// parameter (Crossbar accepts both).
func tokenOf(ctx *fasthttp.RequestCtx) string {
	if v := ctx.Request.Header.Peek("X-Auth-Token"); len(v) > 0 {
		return string(v)
	}
	return string(ctx.QueryArgs().Peek("auth_token"))
}

// isAdminToken compares digests so neither the content nor the length of
// the admin token leaks through timing.
func (s *Server) isAdminToken(tok string) bool {
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], s.adminSum[:]) == 1
}

// authorize resolves the token and checks it against the route's scope.
// accountID is the {ACCOUNT_ID} of the path, "" when the route has none.
func (s *Server) authorize(tok string, sc scope, accountID string) (principal, *apiError) {
	if sc == scopePublic {
		return principal{}, nil
	}
	if tok == "" {
		return principal{}, errUnauthorized()
	}
	if s.isAdminToken(tok) {
		return principal{admin: true}, nil
	}
	acct, ok := s.dir.TokenAccount(tok)
	if !ok {
		return principal{}, errUnauthorized()
	}
	p := principal{accountID: acct}
	switch sc {
	case scopeAdmin:
		return p, errForbidden()
	case scopeAccount:
		if accountID != acct {
			return p, errForbidden()
		}
	}
	return p, nil
}
