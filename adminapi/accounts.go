package adminapi

import (
	"github.com/sipedge/sipedge/devices"
	"github.com/valyala/fasthttp"
)

func (s *Server) createAccount(r *request) (*reply, error) {
	a, err := s.dir.CreateAccount(r.doc)
	if err != nil {
		return nil, storeErr(err, "")
	}
	return &reply{status: fasthttp.StatusCreated, data: a.Doc, rev: a.Rev}, nil
}

// listAccounts shows the admin every account and an account token only its
// own, with the usual paging and filters.
func (s *Server) listAccounts(r *request) (*reply, error) {
	var accts []*devices.Account
	if r.who.admin {
		accts = s.dir.Accounts()
	} else if a, err := s.dir.Account(r.who.accountID); err == nil {
		accts = []*devices.Account{a}
	}
	rows := make([]row, 0, len(accts))
	for _, a := range accts {
		rows = append(rows, row{name: a.Name, id: a.ID, doc: a.Doc, created: a.Created, modified: a.Modified, out: a.Doc})
	}
	data, pg := parseListQuery(r.ctx, s.cfg.PageSize).apply(rows)
	return &reply{data: data, list: true, page: pg}, nil
}

func (s *Server) getAccount(r *request) (*reply, error) {
	id := r.param("ACCOUNT_ID")
	a, err := s.dir.Account(id)
	if err != nil {
		return nil, storeErr(err, id)
	}
	return &reply{data: a.Doc, rev: a.Rev}, nil
}

func (s *Server) replaceAccount(r *request) (*reply, error) {
	id := r.param("ACCOUNT_ID")
	a, err := s.dir.ReplaceAccount(id, r.doc, r.ifMatch)
	if err != nil {
		return nil, storeErr(err, id)
	}
	return &reply{data: a.Doc, rev: a.Rev}, nil
}

func (s *Server) patchAccount(r *request) (*reply, error) {
	id := r.param("ACCOUNT_ID")
	a, err := s.dir.PatchAccount(id, r.doc, r.ifMatch)
	if err != nil {
		return nil, storeErr(err, id)
	}
	return &reply{data: a.Doc, rev: a.Rev}, nil
}

func (s *Server) deleteAccount(r *request) (*reply, error) {
	id := r.param("ACCOUNT_ID")
	a, err := s.dir.DeleteAccount(id)
	if err != nil {
		return nil, storeErr(err, id)
	}
	return &reply{data: a.Doc, rev: a.Rev}, nil
}

// tokenCreated is the only answer that carries a token's secret.
type tokenCreated struct {
	ID        string `json:"id"`
	AccountID string `json:"account_id"`
	Token     string `json:"token"`
}

func (s *Server) createToken(r *request) (*reply, error) {
	acct := r.param("ACCOUNT_ID")
	secret, t, err := s.dir.CreateToken(acct)
	if err != nil {
		return nil, storeErr(err, acct)
	}
	return &reply{status: fasthttp.StatusCreated, data: tokenCreated{ID: t.ID, AccountID: t.AccountID, Token: secret}}, nil
}

func (s *Server) listTokens(r *request) (*reply, error) {
	ts := s.dir.Tokens(r.param("ACCOUNT_ID"))
	if ts == nil {
		ts = []devices.Token{}
	}
	return &reply{data: ts, list: true}, nil
}

func (s *Server) deleteToken(r *request) (*reply, error) {
	acct, id := r.param("ACCOUNT_ID"), r.param("TOKEN_ID")
	if err := s.dir.DeleteToken(acct, id); err != nil {
		return nil, storeErr(err, id)
	}
	return &reply{data: map[string]any{"id": id, "account_id": acct}}, nil
}
