package devices

import (
	"encoding/json"
	"maps"
	"strings"
)

// hotFields are the parts of a device document that the store decodes
// into a Device. At load they come from a typed decode of the stored
// record, several times faster than decoding the whole document into
// maps, which a million devices made the bulk of a restart. Scalars are
// kept as any so that both ways of filling them (typed decode, or the
// generic document) go through the same conversions.
type hotFields struct {
	Name                            any `json:"name"`
	PresenceID                      any `json:"presence_id"`
	OwnerID                         any `json:"owner_id"`
	MACAddress                      any `json:"mac_address"`
	Enabled                         any `json:"enabled"`
	RegisterOverwriteNotify         any `json:"register_overwrite_notify"`
	SuppressUnregisterNotifications any `json:"suppress_unregister_notifications"`
	Media                           struct {
		ProgressTimeout any `json:"progress_timeout"`
	} `json:"media"`
	Hotdesk struct {
		Users map[string]struct{} `json:"users"`
	} `json:"hotdesk"`
	SIP struct {
		Username               any `json:"username"`
		Password               any `json:"password"`
		Method                 any `json:"method"`
		IP                     any `json:"ip"`
		Realm                  any `json:"realm"`
		ExpireSeconds          any `json:"expire_seconds"`
		RegistrationExpiration any `json:"registration_expiration"`
	} `json:"sip"`
}

// hotRecord is a stored device record as the typed decode sees it.
type hotRecord struct {
	hotFields
	ID        any `json:"_id"`
	Rev       any `json:"_rev"`
	Type      any `json:"pvt_type"`
	AccountID any `json:"pvt_account_id"`
	Created   any `json:"pvt_created"`
	Modified  any `json:"pvt_modified"`
	// Generic marks a record whose document has a key that differs from
	// one of the fields above only in case: encoding/json matches struct
	// fields case-insensitively, the document's maps do not.
	Generic any `json:"pvt_generic"`
}

const genericKey = "pvt_generic"

// The keys the typed decode reads, by object.
var (
	hotTopKeys = []string{"name", "presence_id", "owner_id", "mac_address", "enabled",
		"register_overwrite_notify", "suppress_unregister_notifications", "media", "hotdesk", "sip",
		"_id", "_rev", "pvt_type", "pvt_account_id", "pvt_created", "pvt_modified", genericKey}
	hotMediaKeys   = []string{"progress_timeout"}
	hotHotdeskKeys = []string{"users"}
	hotSIPKeys     = []string{"username", "password", "method", "ip", "realm", "expire_seconds", "registration_expiration"}
)

// decodeHot is the fast path of load: ok is false when the record must be
// decoded as a whole document instead (a type the struct cannot hold, or a
// record marked generic).
func decodeHot(raw []byte) (hotFields, recordMeta, bool) {
	var r hotRecord
	if err := json.Unmarshal(raw, &r); err != nil || r.Generic != nil {
		return hotFields{}, recordMeta{}, false
	}
	m := recordMeta{ID: asString(r.ID), Rev: asString(r.Rev), Type: asString(r.Type), AccountID: asString(r.AccountID)}
	if f, ok := r.Created.(float64); ok {
		m.Created = int64(f)
	}
	if f, ok := r.Modified.(float64); ok {
		m.Modified = int64(f)
	}
	if m.ID == "" {
		return hotFields{}, recordMeta{}, false
	}
	return r.hotFields, m, true
}

// hotFromDoc takes the hot fields from a public document.
func hotFromDoc(pub map[string]any) hotFields {
	var h hotFields
	h.Name = pub["name"]
	h.PresenceID = pub["presence_id"]
	h.OwnerID = pub["owner_id"]
	h.MACAddress = pub["mac_address"]
	h.Enabled = pub["enabled"]
	h.RegisterOverwriteNotify = pub["register_overwrite_notify"]
	h.SuppressUnregisterNotifications = pub["suppress_unregister_notifications"]
	h.Media.ProgressTimeout = member(pub, "media")["progress_timeout"]
	if users := member(member(pub, "hotdesk"), "users"); len(users) > 0 {
		h.Hotdesk.Users = make(map[string]struct{}, len(users))
		for k := range maps.Keys(users) {
			h.Hotdesk.Users[k] = struct{}{}
		}
	}
	sip := member(pub, "sip")
	h.SIP.Username = sip["username"]
	h.SIP.Password = sip["password"]
	h.SIP.Method = sip["method"]
	h.SIP.IP = sip["ip"]
	h.SIP.Realm = sip["realm"]
	h.SIP.ExpireSeconds = sip["expire_seconds"]
	h.SIP.RegistrationExpiration = sip["registration_expiration"]
	return h
}

// foldConflict reports whether the typed decode of pub's record could
// differ from its document: a key equal to a hot key under case folding
// but not exactly.
func foldConflict(pub map[string]any) bool {
	return foldsOnto(pub, hotTopKeys) ||
		foldsOnto(member(pub, "media"), hotMediaKeys) ||
		foldsOnto(member(pub, "hotdesk"), hotHotdeskKeys) ||
		foldsOnto(member(pub, "sip"), hotSIPKeys)
}

func foldsOnto(m map[string]any, hot []string) bool {
	for k := range m {
		for _, h := range hot {
			if k != h && strings.EqualFold(k, h) {
				return true
			}
		}
	}
	return false
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}
