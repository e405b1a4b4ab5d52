package adminapi

import (
	"errors"

	"github.com/sipedge/sipedge/registrar"
)

// Registrations answers are plain arrays without paging keys, as Crossbar's
// registrations module (not a view) returns them.
func (s *Server) listRegistrations(r *request) (*reply, error) {
	if s.reg == nil {
		return nil, errNotImplemented()
	}
	recs := s.reg.Registrations(r.param("ACCOUNT_ID"))
	if recs == nil {
		recs = []registrar.Record{}
	}
	return &reply{data: recs, list: true}, nil
}

func (s *Server) countRegistrations(r *request) (*reply, error) {
	if s.reg == nil {
		return nil, errNotImplemented()
	}
	return &reply{data: map[string]int{"count": s.reg.Count(r.param("ACCOUNT_ID"))}}, nil
}

func (s *Server) flushAccount(r *request) (*reply, error) {
	if s.reg == nil {
		return nil, errNotImplemented()
	}
	n := s.reg.FlushAccount(r.param("ACCOUNT_ID"))
	s.log.Info("registrations flushed", "request_id", r.reqID, "account_id", r.param("ACCOUNT_ID"), "bindings", n)
	return &reply{data: "ok"}, nil
}

func (s *Server) flushUser(r *request) (*reply, error) {
	if s.reg == nil {
		return nil, errNotImplemented()
	}
	user := r.param("USERNAME")
	if s.notifier != nil {
		return s.flushUserWithSync(r, user) // sync.go
	}
	n, err := s.reg.FlushUser(r.param("ACCOUNT_ID"), user)
	if errors.Is(err, registrar.ErrUnknownUser) {
		return nil, errBadIdentifierList(user)
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("registrations flushed", "request_id", r.reqID, "account_id", r.param("ACCOUNT_ID"), "aor_user", user, "bindings", n)
	return &reply{data: "ok"}, nil
}

func (s *Server) listBans(*request) (*reply, error) {
	if s.reg == nil {
		return nil, errNotImplemented()
	}
	bans := s.reg.Bans()
	if bans == nil {
		bans = []registrar.Ban{}
	}
	return &reply{data: bans, list: true}, nil
}

func (s *Server) deleteBan(r *request) (*reply, error) {
	if s.reg == nil {
		return nil, errNotImplemented()
	}
	id := r.param("BAN_ID")
	if !s.reg.Unban(id) {
		return nil, errBadIdentifier(id)
	}
	return &reply{data: map[string]any{"id": id}}, nil
}
