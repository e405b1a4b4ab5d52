package adminapi

import (
	"github.com/sipedge/sipedge/devices"
	"github.com/valyala/fasthttp"
	"slices"
)

// deviceSummary is a row of GET …/devices, Crossbar's crossbar_listing view.
func deviceSummary(d *devices.Device) map[string]any {
	doc := d.Doc()
	m := map[string]any{
		"id":          d.ID,
		"name":        doc["name"],
		"mac_address": stringOr(doc["mac_address"], ""),
		"enabled":     boolOr(doc["enabled"], true),
		"device_type": stringOr(doc["device_type"], "sip_device"),
		"flags":       orEmptyList(doc["flags"]),
	}
	if d.Username != "" {
		m["username"] = d.Username
	}
	if d.OwnerID != "" {
		m["owner_id"] = d.OwnerID
	}
	return m
}

func stringOr(v any, def string) any {
	if s, ok := v.(string); ok {
		return s
	}
	return def
}

func boolOr(v any, def bool) bool {
	if b, ok := v.(bool); ok {
		return b
	}
	return def
}

func orEmptyList(v any) any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{}
}

func (s *Server) listDevices(r *request) (*reply, error) {
	devs := s.dir.Devices(r.param("ACCOUNT_ID"))
	rows := make([]row, 0, len(devs))
	for _, d := range devs {
		rows = append(rows, row{name: d.Name, id: d.ID, created: d.Created, modified: d.Modified, dev: d})
	}
	data, pg := parseListQuery(r.ctx, s.cfg.PageSize).apply(rows)
	return &reply{data: data, list: true, page: pg}, nil
}

func (s *Server) createDevice(r *request) (*reply, error) {
	syncFlag(r.doc) // a new device has no registration to sync yet
	d, err := s.dir.CreateDevice(r.param("ACCOUNT_ID"), r.doc)
	if err != nil {
		return nil, storeErr(err, "")
	}
	return &reply{status: fasthttp.StatusCreated, data: d.Doc(), rev: d.Rev}, nil
}

func (s *Server) getDevice(r *request) (*reply, error) {
	id := r.param("DEVICE_ID")
	d, err := s.dir.Device(r.param("ACCOUNT_ID"), id)
	if err != nil {
		return nil, storeErr(err, id)
	}
	return &reply{data: d.Doc(), rev: d.Rev}, nil
}

func (s *Server) replaceDevice(r *request) (*reply, error) {
	id := r.param("DEVICE_ID")
	sync := s.prepareWriteSync(r, syncFlag(r.doc))
	d, err := s.dir.ReplaceDevice(r.param("ACCOUNT_ID"), id, r.doc, r.ifMatch)
	if err != nil {
		return nil, storeErr(err, id)
	}
	sync()
	return &reply{data: d.Doc(), rev: d.Rev}, nil
}

func (s *Server) patchDevice(r *request) (*reply, error) {
	id := r.param("DEVICE_ID")
	sync := s.prepareWriteSync(r, syncFlag(r.doc))
	d, err := s.dir.PatchDevice(r.param("ACCOUNT_ID"), id, r.doc, r.ifMatch)
	if err != nil {
		return nil, storeErr(err, id)
	}
	sync()
	return &reply{data: d.Doc(), rev: d.Rev}, nil
}

func (s *Server) deleteDevice(r *request) (*reply, error) {
	id := r.param("DEVICE_ID")
	d, err := s.dir.DeleteDevice(r.param("ACCOUNT_ID"), id)
	if err != nil {
		return nil, storeErr(err, id)
	}
	return &reply{data: d.Doc(), rev: d.Rev}, nil
}

// userDevices lists the devices a user owns (hotdesked false) and those
// the user is hot-desked into (hotdesked true), as Crossbar's users API.
func (s *Server) userDevices(r *request) (*reply, error) {
	user := r.param("USER_ID")
	devs := s.dir.Devices(r.param("ACCOUNT_ID"))
	out := make([]any, 0)
	for _, d := range devs {
		hot := false
		switch {
		case d.OwnerID == user:
		case hotdeskedInto(d, user):
			hot = true
		default:
			continue
		}
		// Crossbar's by-owner rows carry no flags; keep the seed's shape.
		m := deviceSummary(d)
		delete(m, "flags")
		m["hotdesked"] = hot
		out = append(out, m)
	}
	return &reply{data: out, list: true}, nil
}

func hotdeskedInto(d *devices.Device, user string) bool {
	return slices.Contains(d.HotdeskUsers, user)
}

// deviceStatus lists the account's devices with a live binding.
func (s *Server) deviceStatus(r *request) (*reply, error) {
	if s.reg == nil {
		return nil, errNotImplemented()
	}
	ids := s.reg.RegisteredDevices(r.param("ACCOUNT_ID"))
	out := make([]any, 0, len(ids))
	for _, id := range ids {
		out = append(out, map[string]any{"device_id": id, "registered": true})
	}
	return &reply{data: out, list: true}, nil
}
