package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/sipedge/sipedge/registrar"
)

// Notifier is what the API uses of the registrar's notifier
// (*registrar.Notifier); nil in Deps answers 501 on the sync and notify
// routes and keeps DELETE …/registrations/{USERNAME} a plain flush.
type Notifier interface {
	PrepareSync(accountID, deviceID string, reboot *bool) (*registrar.Batch, error)
	PrepareNotify(accountID, deviceID, event, contentType, body string) (*registrar.Batch, error)
	SyncAccountBackground(accountID string, reboot bool) (contacts int, err error)
	FlushUserWithSync(ctx context.Context, accountID, username string) error
	Config() registrar.NotifyConfig
}

var _ Notifier = (*registrar.Notifier)(nil)

// syncSent is Kazoo's answer to a sync request.
const syncSent = "sync request sent"

// syncDevice is POST …/devices/{DEVICE_ID}/sync[?reboot=true|false][&detail=true|false].
func (s *Server) syncDevice(r *request) (*reply, error) {
	if s.notifier == nil {
		return nil, errNotImplemented()
	}
	reboot, err := boolQuery(r, "reboot")
	if err != nil {
		return nil, err
	}
	b, perr := s.notifier.PrepareSync(r.param("ACCOUNT_ID"), r.param("DEVICE_ID"), reboot)
	return s.sendBatch(r, b, perr, syncSent)
}

// notifyDevice is PUT …/devices/{DEVICE_ID}/notify. Kazoo's documents and
// its code disagree on the nesting, so both are taken:
//
//	{"action":"notify","data":{"event":"…"}}
//	{"data":{"action":"notify","data":{"event":"…"}}}
//
// with optional content_type and body next to event, or Kazoo's
// "body":{"content_type":…,"data":…}.
func (s *Server) notifyDevice(r *request) (*reply, error) {
	if s.notifier == nil {
		return nil, errNotImplemented()
	}
	n, ae := decodeNotify(r)
	if ae != nil {
		return nil, ae
	}
	b, err := s.notifier.PrepareNotify(r.param("ACCOUNT_ID"), r.param("DEVICE_ID"), n.event, n.contentType, n.body)
	return s.sendBatch(r, b, err, "NOTIFY sent")
}

// syncAccount is POST /v2/accounts/{ACCOUNT_ID}/devices/sync (ours): every
// registered contact of the account, paced at notify.bulk_rate in the
// background; the answer says how many contacts are queued.
func (s *Server) syncAccount(r *request) (*reply, error) {
	if s.notifier == nil {
		return nil, errNotImplemented()
	}
	reboot, err := boolQuery(r, "reboot")
	if err != nil {
		return nil, err
	}
	acct := r.param("ACCOUNT_ID")
	if _, err := s.dir.Account(acct); err != nil {
		return nil, storeErr(err, acct)
	}
	n, err := s.notifier.SyncAccountBackground(acct, reboot != nil && *reboot)
	switch {
	case errors.Is(err, registrar.ErrBulkRunning):
		return nil, &apiError{code: fasthttp.StatusConflict, message: "sync_running",
			data: map[string]any{"cause": acct, "message": "a sync of this account is already running"}}
	case err != nil:
		return nil, err
	}
	rate := s.notifier.Config().BulkRate
	s.log.Info("bulk sync queued", "request_id", r.reqID, "account_id", acct, "contacts", n, "rate", rate)
	return &reply{status: fasthttp.StatusAccepted, data: map[string]any{
		"message": syncSent, "contacts": n, "rate_per_second": rate}}, nil
}

// sendBatch answers a prepared device NOTIFY: Kazoo's form sends in the
// background and answers at once; the detail form waits for the
// per-contact outcomes.
func (s *Server) sendBatch(r *request, b *registrar.Batch, err error, kazooData string) (*reply, error) {
	cfg := s.notifier.Config()
	detail, qerr := boolQuery(r, "detail")
	if qerr != nil {
		return nil, qerr
	}
	wantDetail := cfg.Detail
	if detail != nil {
		wantDetail = *detail
	}
	id := r.param("DEVICE_ID")
	switch {
	case errors.Is(err, registrar.ErrUnknownDevice):
		return nil, errBadIdentifier(id)
	case errors.Is(err, registrar.ErrBadValue):
		return nil, errValidation(map[string]any{"event": map[string]any{"invalid": map[string]any{
			"message": "must not contain CR, LF or NUL"}}})
	case errors.Is(err, registrar.ErrNotRegistered):
		if cfg.Unregistered404 {
			return nil, &apiError{code: fasthttp.StatusNotFound, message: "not_registered",
				data: map[string]any{"cause": id, "message": "device has no registration"}}
		}
		if wantDetail {
			return &reply{status: fasthttp.StatusAccepted, data: []registrar.Outcome{}}, nil
		}
		// Kazoo drops the NOTIFY silently when nothing is registered.
		return &reply{status: fasthttp.StatusAccepted, data: kazooData}, nil
	case err != nil:
		return nil, err
	}
	if !wantDetail {
		b.SendBackground()
		return &reply{status: fasthttp.StatusAccepted, data: kazooData}, nil
	}
	return &reply{status: fasthttp.StatusAccepted, data: b.Send(r.ctx)}, nil
}

// boolQuery reads ?name=true|false; nil when absent.
func boolQuery(r *request, name string) (*bool, error) {
	v := r.ctx.QueryArgs().Peek(name)
	if v == nil {
		return nil, nil
	}
	var b bool
	switch strings.ToLower(string(v)) {
	case "true":
		b = true
	case "false":
	default:
		return nil, errValidation(map[string]any{name: map[string]any{"type": map[string]any{
			"message": "Value did not match type(s): boolean", "target": "boolean"}}})
	}
	return &b, nil
}

// notifyRequest is the decoded notify action.
type notifyRequest struct {
	event, contentType, body string
}

// decodeNotify reads the notify action in either nesting.
func decodeNotify(r *request) (notifyRequest, *apiError) {
	var n notifyRequest
	body := r.ctx.Request.Body()
	if ct := string(r.ctx.Request.Header.ContentType()); !jsonContentType(ct) {
		return n, errUnsupportedMedia(ct)
	}
	var env map[string]any
	if err := json.Unmarshal(body, &env); err != nil || env == nil {
		msg := "All JSON must be valid"
		if err != nil {
			msg = jsonErrMessage(err)
		}
		return n, errValidation(map[string]any{"json": map[string]any{"invalid": map[string]any{
			"message": msg, "target": "body"}}})
	}
	data, _ := env["data"].(map[string]any)
	action, ok := env["action"]
	if !ok && data != nil {
		// Two levels: the action lives inside data, the event one further.
		if a, has := data["action"]; has {
			action = a
			data, _ = data["data"].(map[string]any)
		}
	}
	switch {
	case action == nil:
		return n, errValidation(map[string]any{"action": map[string]any{"required": map[string]any{
			"message": "action required"}}})
	case action != "notify":
		return n, errValidation(map[string]any{"action": map[string]any{"enum": map[string]any{
			"message": "invalid action", "target": []string{"notify"}}}})
	case data == nil:
		return n, errValidation(map[string]any{"data": map[string]any{"required": map[string]any{
			"message": "Field is required but missing"}}})
	}
	if inner, ok := data["data"].(map[string]any); ok && data["event"] == nil {
		data = inner // {"action":"notify","data":{"data":{"event":…}}}, what Kazoo's code reads
	}
	ev, ok := data["event"].(string)
	if !ok || ev == "" {
		return n, errValidation(map[string]any{"event": map[string]any{"required": map[string]any{
			"message": "Field is required but missing"}}})
	}
	n.event = ev
	n.contentType, _ = data["content_type"].(string)
	switch b := data["body"].(type) {
	case string:
		n.body = b
	case map[string]any:
		// Kazoo's devices_notify schema: body.content_type + body.data.
		ct, ok1 := b["content_type"].(string)
		bd, ok2 := b["data"].(string)
		if !ok1 || !ok2 {
			return n, errValidation(map[string]any{"body": map[string]any{"required": map[string]any{
				"message": "body needs content_type and data"}}})
		}
		n.contentType, n.body = ct, bd
	}
	return n, nil
}

// syncFlag reads and removes the "sync" action flag of a device write: it
// asks for a check-sync and is never part of the stored document.
func syncFlag(doc map[string]any) bool {
	v, _ := doc["sync"].(bool)
	delete(doc, "sync")
	return v
}

// prepareWriteSync captures the check-sync a device write asked for before
// the write, so the phones registered with the old credentials (which the
// write may flush) are the ones told, as Kazoo does. It returns what to do
// after a successful write.
func (s *Server) prepareWriteSync(r *request, want bool) func() {
	if !want || s.notifier == nil {
		return func() {}
	}
	acct, id := r.param("ACCOUNT_ID"), r.param("DEVICE_ID")
	b, err := s.notifier.PrepareSync(acct, id, nil)
	if err != nil {
		if !errors.Is(err, registrar.ErrNotRegistered) {
			s.log.Info("sync on write not sent", "request_id", r.reqID, "account_id", acct, "device_id", id, "err", err)
		}
		return func() {}
	}
	return b.SendBackground
}

// flushUserWithSync is DELETE …/registrations/{USERNAME} with a notifier:
// check-sync to the device, then the flush (Kazoo's order).
func (s *Server) flushUserWithSync(r *request, user string) (*reply, error) {
	err := s.notifier.FlushUserWithSync(r.ctx, r.param("ACCOUNT_ID"), user)
	if errors.Is(err, registrar.ErrUnknownUser) {
		return nil, errBadIdentifierList(user)
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("registrations flushed after check-sync", "request_id", r.reqID, "account_id", r.param("ACCOUNT_ID"), "aor_user", user)
	return &reply{data: "ok"}, nil
}
