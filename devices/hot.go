package devices

import (
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"time"
)

// hotValues are what a Device holds of its document and record, converted
// as the store converts them. A restart reads them from the hot records
// (bucketHot), not from the documents: decoding a million JSON documents
// was most of a restart, reading these is a few hundred nanoseconds each.
type hotValues struct {
	ID, Rev, AccountID string
	Created, Modified  int64

	Name, PresenceID, OwnerID, MACAddress string
	Username, Password, Method, IP, Realm string // as the document has them
	Number                                string // sip.number, as the document has it
	Enabled, EnabledIsSet                 bool
	RegisterOverwriteNotify               bool
	SuppressUnregisterNotifications       bool
	ExpireSeconds                         int
	ProgressTimeout                       time.Duration
	HotdeskUsers                          []string // sorted
}

// hotOf converts a public document and its record metadata.
func hotOf(pub map[string]any, m recordMeta) hotValues {
	sip := member(pub, "sip")
	enabled, enabledIsSet := pub["enabled"].(bool)
	h := hotValues{
		ID: m.ID, Rev: m.Rev, AccountID: m.AccountID, Created: m.Created, Modified: m.Modified,

		Name:       asString(pub["name"]),
		PresenceID: asString(pub["presence_id"]),
		OwnerID:    asString(pub["owner_id"]),
		MACAddress: asString(pub["mac_address"]),
		Username:   asString(sip["username"]),
		Password:   asString(sip["password"]),
		Method:     asString(sip["method"]),
		IP:         asString(sip["ip"]),
		Realm:      asString(sip["realm"]),
		Number:     asString(sip["number"]),

		Enabled:                         enabled,
		EnabledIsSet:                    enabledIsSet,
		RegisterOverwriteNotify:         pub["register_overwrite_notify"] == true,
		SuppressUnregisterNotifications: pub["suppress_unregister_notifications"] == true,
		ProgressTimeout:                 seconds(member(pub, "media")["progress_timeout"]),
	}
	h.ExpireSeconds = positiveInt(sip["expire_seconds"])
	if h.ExpireSeconds == 0 {
		h.ExpireSeconds = positiveInt(sip["registration_expiration"])
	}
	if users := member(member(pub, "hotdesk"), "users"); len(users) > 0 {
		h.HotdeskUsers = slices.Sorted(maps.Keys(users))
	}
	return h
}

// The hot record: a version byte, then the fields in hotValues' order,
// strings as uvarint length and bytes, integers as varints, the four
// flags in one byte, the hotdesk users as a count and strings. Version 2
// added Number (store version 3 rewrites older records on open).
const hotVersion = 2

const (
	flagEnabled = 1 << iota
	flagEnabledIsSet
	flagOverwriteNotify
	flagSuppressUnregister
)

func appendHot(b []byte, h *hotValues) []byte {
	b = append(b, hotVersion)
	for _, s := range h.strings() {
		b = binary.AppendUvarint(b, uint64(len(*s)))
		b = append(b, *s...)
	}
	b = binary.AppendVarint(b, h.Created)
	b = binary.AppendVarint(b, h.Modified)
	b = binary.AppendVarint(b, int64(h.ExpireSeconds))
	b = binary.AppendVarint(b, int64(h.ProgressTimeout))
	var flags byte
	for i, f := range []bool{h.Enabled, h.EnabledIsSet, h.RegisterOverwriteNotify, h.SuppressUnregisterNotifications} {
		if f {
			flags |= 1 << i
		}
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(h.HotdeskUsers)))
	for _, u := range h.HotdeskUsers {
		b = binary.AppendUvarint(b, uint64(len(u)))
		b = append(b, u...)
	}
	return b
}

func (h *hotValues) strings() [13]*string {
	return [13]*string{&h.ID, &h.Rev, &h.AccountID, &h.Name, &h.PresenceID, &h.OwnerID, &h.MACAddress,
		&h.Username, &h.Password, &h.Method, &h.IP, &h.Realm, &h.Number}
}

var errHotRecord = errors.New("malformed hot record")

// parseHot reads a hot record. Its strings share one allocation: a
// device's strings live and die together.
func parseHot(raw []byte) (hotValues, error) {
	var h hotValues
	if len(raw) == 0 || raw[0] != hotVersion {
		return h, errHotRecord
	}
	s := string(raw[1:])
	p := hotReader{s: s}
	for _, f := range h.strings() {
		*f = p.str()
	}
	h.Created = p.varint()
	h.Modified = p.varint()
	h.ExpireSeconds = int(p.varint())
	h.ProgressTimeout = time.Duration(p.varint())
	flags := p.byte()
	h.Enabled = flags&flagEnabled != 0
	h.EnabledIsSet = flags&flagEnabledIsSet != 0
	h.RegisterOverwriteNotify = flags&flagOverwriteNotify != 0
	h.SuppressUnregisterNotifications = flags&flagSuppressUnregister != 0
	if n := p.uvarint(); n > 0 {
		if n > uint64(len(p.s)) { // each user takes at least a byte
			return hotValues{}, errHotRecord
		}
		h.HotdeskUsers = make([]string, n)
		for i := range h.HotdeskUsers {
			h.HotdeskUsers[i] = p.str()
		}
	}
	if p.bad || p.s != "" || h.ID == "" {
		return hotValues{}, errHotRecord
	}
	return h, nil
}

// hotReader consumes a hot record; bad is set at the first short read.
type hotReader struct {
	s   string
	bad bool
}

func (p *hotReader) uvarint() uint64 {
	v, n := binary.Uvarint([]byte(p.s[:min(len(p.s), binary.MaxVarintLen64)]))
	if n <= 0 {
		p.bad, p.s = true, ""
		return 0
	}
	p.s = p.s[n:]
	return v
}

func (p *hotReader) varint() int64 {
	u := p.uvarint()
	return int64(u>>1) ^ -int64(u&1) // zig-zag, as binary.AppendVarint
}

func (p *hotReader) str() string {
	n := p.uvarint()
	if n > uint64(len(p.s)) {
		p.bad, p.s = true, ""
		return ""
	}
	v := p.s[:n]
	p.s = p.s[n:]
	return v
}

func (p *hotReader) byte() byte {
	if p.s == "" {
		p.bad = true
		return 0
	}
	b := p.s[0]
	p.s = p.s[1:]
	return b
}

// encodeHot is the hot record of a device document.
func encodeHot(pub map[string]any, m recordMeta) []byte {
	h := hotOf(pub, m)
	return appendHot(nil, &h)
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}
