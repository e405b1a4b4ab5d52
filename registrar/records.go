package registrar

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
)

// gregorianOffset turns Unix seconds into Kazoo's Gregorian seconds.
const gregorianOffset = 62167219200

func gregorian(t time.Time) int64 { return t.Unix() + gregorianOffset }

// deviceByID is what *devices.Store offers beyond Directory; records use it
// when present to find the device even if its username changed since.
type deviceByID interface {
	Device(accountID, id string) (*devices.Device, error)
}

// Registrations lists the account's registrations (one Record per binding),
// ordered by username then contact.
func (s *Service) Registrations(accountID string) []Record {
	var bs []location.Binding
	s.loc.Range(func(_ string, b *location.Binding) bool {
		if b.AccountID == accountID {
			bs = append(bs, *b)
		}
		return true
	})
	if len(bs) == 0 {
		return []Record{}
	}
	var acct *devices.Account
	if a, err := s.dir.Account(accountID); err == nil {
		acct = a
	}
	devs := map[string]*devices.Device{}
	out := make([]Record, 0, len(bs))
	for i := range bs {
		b := &bs[i]
		d, seen := devs[b.DeviceID]
		if !seen {
			d = s.device(b)
			devs[b.DeviceID] = d
		}
		out = append(out, s.record(b, acct, d))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Username != out[j].Username {
			return out[i].Username < out[j].Username
		}
		return out[i].Contact < out[j].Contact
	})
	return out
}

func (s *Service) device(b *location.Binding) *devices.Device {
	if byID, ok := s.dir.(deviceByID); ok {
		if d, err := byID.Device(b.AccountID, b.DeviceID); err == nil {
			return d
		}
		return nil
	}
	if d := s.dir.ByUser(b.Realm, b.Username); d != nil && d.ID == b.DeviceID {
		return d
	}
	return nil
}

func (s *Service) record(b *location.Binding, acct *devices.Account, d *devices.Device) Record {
	r := Record{
		AuthorizingID:       b.DeviceID,
		AuthorizingType:     "device",
		CallID:              b.CallID,
		Contact:             b.Contact,
		EventTimestamp:      gregorian(b.Updated),
		Expires:             int64((b.Expires.Sub(b.Updated)+time.Second/2)/time.Second) + int64(s.cfg.ExpiresDeviation),
		FromHost:            b.Realm,
		FromUser:            b.Username,
		ToHost:              b.Realm,
		ToUser:              b.Username,
		Username:            b.Username,
		Realm:               b.Realm,
		InitialRegistration: gregorian(b.Registered),
		LastRegistration:    gregorian(b.Updated),
		NetworkIP:           "undefined",
		NetworkPort:         "undefined",
		OriginalContact:     b.OriginalContact,
		PreviousContact:     b.PreviousContact,
		ProxyProtocol:       transportName(b.Transport),
		UserAgent:           b.UserAgent,
	}
	r.SourceIP, r.SourcePort = splitAddrPort(b.Source)
	r.ProxyIP, r.ProxyPort = splitAddrPort(b.Local)
	var u sip.Uri
	var params sip.HeaderParams
	if _, err := sip.ParseAddressValue(b.OriginalContact, &u, &params); err == nil {
		r.ContactIP = strings.Trim(u.Host, "[]")
		r.ContactPort = strconv.Itoa(contactPort(&u))
	}
	if acct != nil {
		r.AccountName = acct.Name
		r.AccountRealm = acct.Realm
	}
	if d != nil {
		r.OwnerID = d.OwnerID
		r.SuppressUnregisterNotify = d.SuppressUnregisterNotifications
		r.RegisterOverwriteNotify = d.RegisterOverwriteNotify
		presence := b.Username
		if d.PresenceID != "" {
			presence = d.PresenceID
		}
		if !strings.Contains(presence, "@") {
			presence += "@" + b.Realm
		}
		r.PresenceID = presence
	}
	return r
}

func splitAddrPort(ap netip.AddrPort) (ip, port string) {
	if !ap.IsValid() {
		return "", ""
	}
	return ap.Addr().Unmap().String(), strconv.Itoa(int(ap.Port()))
}

// Count counts the account's registered contacts.
func (s *Service) Count(accountID string) int {
	n := 0
	s.loc.Range(func(_ string, b *location.Binding) bool {
		if b.AccountID == accountID {
			n++
		}
		return true
	})
	return n
}

// RegisteredDevices returns the ids of the account's devices with at least
// one live binding, sorted.
func (s *Service) RegisteredDevices(accountID string) []string {
	seen := map[string]bool{}
	s.loc.Range(func(_ string, b *location.Binding) bool {
		if b.AccountID == accountID {
			seen[b.DeviceID] = true
		}
		return true
	})
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
