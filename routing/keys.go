package routing

import (
	"strings"

	"github.com/sipedge/sipedge/devices"
)

// Keys are what a Directory finds a device by. KeysOf computes them from
// the Device alone, as Compile computes the same Profile fields from the
// document: an index over a million devices then needs neither a document
// read nor a compile, and compiles only the devices a call touches.
type Keys struct {
	Realm      string // lower-cased; "" when not a valid host
	Username   string // sip.username; "" when unset or not a valid user part
	NumberE164 string // sip.number normalised; "" when unset or invalid
	PresenceID string // the calculated presence id, as Profile.PresenceID
	// PresenceSet: the document sets presence_id. Otherwise the presence
	// id is the username's, which a username lookup finds first.
	PresenceSet bool
}

// KeysOf computes the keys of d; the zero Keys for nil.
func KeysOf(d *devices.Device) Keys {
	if d == nil {
		return Keys{}
	}
	var w warnings // Compile reports them; here they are not wanted
	k := Keys{Realm: strings.ToLower(d.Realm)}
	if !hostSafe(k.Realm) {
		k.Realm = ""
	}
	if userSafe(d.Username) {
		k.Username = d.Username
	}
	if userSafe(d.Number) {
		k.NumberE164 = ToE164(d.Number)
	}
	k.PresenceID = presenceID(d.PresenceID, k.Username, k.Realm, &w)
	k.PresenceSet = d.PresenceID != ""
	return k
}
