package routing

import (
	"unsafe"
)

// Directory finds the device a dialled user reaches. realm is the realm the
// call is for, lower-cased; implementations must not allocate per lookup if
// Decide is to stay allocation-free.
type Directory interface {
	// ByUsername: sip.username, case-insensitive.
	ByUsername(realm, username string) *Profile
	// ByNumber: sip.number, both sides normalised with ToE164. With realm
	// "", a DID ("+…") of any realm.
	ByNumber(realm, e164 string) *Profile
	// ByPresenceID: the user part of the calculated presence id.
	ByPresenceID(realm, user string) *Profile
}

// Match tells how Resolve found a device.
type Match uint8

// Ways a dialled user matches a device, in the order Resolve tries them.
const (
	MatchNone Match = iota
	MatchUsername
	MatchNumber
	MatchPresenceID
)

func (m Match) String() string {
	switch m {
	case MatchUsername:
		return "username"
	case MatchNumber:
		return "number"
	case MatchPresenceID:
		return "presence_id"
	}
	return "none"
}

// Resolve finds the device a dialled user reaches in realm: a device whose
// sip.username is the dialled user, else whose normalised sip.number equals
// the normalised dialled number, else whose presence id user part is the
// dialled user, else (any realm, realm may be "") a device whose sip.number
// is the same e164 number ("+…", a DID: numbers are global, so a gateway's
// call to a DID, whatever host it names, finds its device). Nil and
// MatchNone when there is none: from a device the call then goes to the
// gateways, from a gateway it is a 404.
func Resolve(realm, dialed string, dir Directory) (*Profile, Match) {
	if dir == nil || dialed == "" {
		return nil, MatchNone
	}
	if x, ok := dir.(*NumberIndex); ok {
		return x.resolve(realm, dialed) // allocation-free
	}
	realm = lowerInto(nil, realm)
	if p := dir.ByUsername(realm, dialed); p != nil {
		return p, MatchUsername
	}
	if p := dir.ByNumber(realm, ToE164(dialed)); p != nil {
		return p, MatchNumber
	}
	if p := dir.ByPresenceID(realm, dialed); p != nil {
		return p, MatchPresenceID
	}
	if e := ToE164(dialed); len(e) > 1 && e[0] == '+' {
		if p := dir.ByNumber("", e); p != nil {
			return p, MatchNumber
		}
	}
	return nil, MatchNone
}

func (x *NumberIndex) resolve(realm, dialed string) (*Profile, Match) {
	var buf [320]byte
	b := appendLower(buf[:0], realm)
	b = append(b, 0)
	n := len(b)
	if p := x.users[string(appendLower(b, dialed))]; p != nil {
		return p, MatchUsername
	}
	if p := x.numbers[string(AppendE164(b[:n], dialed))]; p != nil {
		return p, MatchNumber
	}
	b = appendLower(buf[:0], dialed)
	b = append(b, '@')
	b = appendLower(b, realm)
	if p := x.presence[string(b)]; p != nil {
		return p, MatchPresenceID
	}
	b = append(buf[:0], 0)
	if b = AppendE164(b, dialed); len(b) > 2 && b[1] == '+' {
		if p := x.numbers[string(b)]; p != nil {
			return p, MatchNumber
		}
	}
	return nil, MatchNone
}

// NumberIndex is a Directory over compiled profiles: by realm and username,
// by realm and normalised sip.number, by presence id. It is immutable; the
// proxy builds a new one when a device or account changes.
type NumberIndex struct {
	users     map[string]*Profile // realm \x00 lower(username)
	numbers   map[string]*Profile // realm \x00 e164; and "" \x00 e164 for "+" numbers
	presence  map[string]*Profile // lower(presence user) @ realm
	byID      map[string]*Profile // device id
	conflicts []Warning
}

var _ Directory = (*NumberIndex)(nil)

// NewNumberIndex indexes profiles (nil entries are skipped). When two
// devices claim the same key the first one keeps it and the clash is
// reported by Conflicts.
func NewNumberIndex(profiles ...*Profile) *NumberIndex {
	x := &NumberIndex{
		users:    make(map[string]*Profile, len(profiles)),
		numbers:  map[string]*Profile{},
		presence: make(map[string]*Profile, len(profiles)),
		byID:     make(map[string]*Profile, len(profiles)),
	}
	put := func(m map[string]*Profile, key, what string, p *Profile) bool {
		if old, ok := m[key]; ok && old != p {
			x.conflicts = append(x.conflicts, Warning{
				Field:   what,
				Message: "device " + p.DeviceID + " has the same value as device " + old.DeviceID + "; ignored",
			})
			return false
		}
		m[key] = p
		return true
	}
	for _, p := range profiles {
		if p == nil {
			continue
		}
		put(x.byID, p.DeviceID, "id", p)
		if p.Username != "" {
			put(x.users, key2(p.Realm, lower(p.Username)), "sip.username", p)
		}
		if p.NumberE164 != "" {
			ok := put(x.numbers, key2(p.Realm, p.NumberE164), "sip.number", p)
			if ok && p.NumberE164[0] == '+' && p.Realm != "" {
				put(x.numbers, key2("", p.NumberE164), "sip.number", p)
			}
		}
		if p.PresenceID != "" {
			put(x.presence, lower(p.PresenceID), "presence_id", p)
		}
	}
	return x
}

// Conflicts lists the keys two devices claimed.
func (x *NumberIndex) Conflicts() []Warning { return x.conflicts }

// Len is the number of devices indexed.
func (x *NumberIndex) Len() int { return len(x.byID) }

// ByID returns the profile of a device by its id: the caller's profile for
// a call from a device the proxy already identified. Nil if none.
func (x *NumberIndex) ByID(deviceID string) *Profile { return x.byID[deviceID] }

// ByUsername implements Directory.
func (x *NumberIndex) ByUsername(realm, username string) *Profile {
	var buf [320]byte
	b := append(buf[:0], realm...)
	b = append(b, 0)
	b = appendLower(b, username)
	return x.users[string(b)]
}

// ByNumber implements Directory.
func (x *NumberIndex) ByNumber(realm, e164 string) *Profile {
	var buf [320]byte
	b := append(buf[:0], realm...)
	b = append(b, 0)
	b = append(b, e164...)
	return x.numbers[string(b)]
}

// ByPresenceID implements Directory.
func (x *NumberIndex) ByPresenceID(realm, user string) *Profile {
	var buf [320]byte
	b := appendLower(buf[:0], user)
	b = append(b, '@')
	b = append(b, realm...)
	return x.presence[string(b)]
}

func key2(a, b string) string { return a + "\x00" + b }

func lower(s string) string { return string(appendLower(nil, s)) }

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// lowerInto returns s lower-cased, in buf when it has to change and fits.
func lowerInto(buf []byte, s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			if len(s) > cap(buf) {
				return lower(s)
			}
			return bstr(appendLower(buf, s))
		}
	}
	return s
}

// bstr views b as a string without copying. Only for values that do not
// outlive b and while b is not written.
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
