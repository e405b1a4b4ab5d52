package registrar

import (
	"strings"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
)

// aorsWhere collects the AORs having a binding that matches; Range forbids
// calling back into the table, so removal happens afterwards.
func (s *Service) aorsWhere(match func(*location.Binding) bool) []string {
	var aors []string
	s.loc.Range(func(aor string, b *location.Binding) bool {
		if match(b) && (len(aors) == 0 || aors[len(aors)-1] != aor) {
			aors = append(aors, aor)
		}
		return true
	})
	return aors
}

func (s *Service) removeAORs(aors []string) int {
	n, seen := 0, map[string]bool{}
	for _, aor := range aors {
		if seen[aor] {
			continue
		}
		seen[aor] = true
		n += len(s.loc.Remove(aor))
	}
	return n
}

// FlushAccount removes every binding of the account and returns how many went.
func (s *Service) FlushAccount(accountID string) int {
	n := s.removeAORs(s.aorsWhere(func(b *location.Binding) bool { return b.AccountID == accountID }))
	s.log.Info("registrations flushed", "account_id", accountID, "bindings", n)
	return n
}

// FlushUser removes the bindings of the account's device with that SIP
// username; ErrUnknownUser when the account has no such device.
func (s *Service) FlushUser(accountID, username string) (int, error) {
	known := false
	var aors []string
	if acct, err := s.dir.Account(accountID); err == nil && acct != nil {
		if d := s.dir.ByUser(acct.Realm, username); d != nil && d.AccountID == accountID {
			known = true
			aors = append(aors, aorOf(d))
		}
	}
	// Devices with their own sip.realm live under another realm: find them
	// through their bindings.
	bound := s.aorsWhere(func(b *location.Binding) bool {
		return b.AccountID == accountID && strings.EqualFold(b.Username, username)
	})
	if !known && len(bound) == 0 {
		return 0, ErrUnknownUser
	}
	n := s.removeAORs(append(aors, bound...))
	s.log.Info("registrations flushed", "account_id", accountID, "user", username, "bindings", n)
	return n, nil
}

// DeviceChanged flushes a device's bindings when its username, password,
// enabled flag or realm changed, or it was deleted, so the phone is
// challenged afresh on its next REGISTER. Wire it to devices.Store.Subscribe.
func (s *Service) DeviceChanged(c devices.Change) {
	old, nw := c.Old, c.New
	if old == nil {
		return
	}
	var aors []string
	switch {
	case nw == nil, !strings.EqualFold(old.Username, nw.Username), old.Realm != nw.Realm:
		aors = append(aors, aorOf(old))
		if nw != nil {
			aors = append(aors, aorOf(nw))
		}
	case old.Password != nw.Password, old.Enabled != nw.Enabled, old.Method != nw.Method:
		aors = append(aors, aorOf(old))
	default:
		return
	}
	// Bindings made through IP auth carry the device id, not necessarily its AOR.
	aors = append(aors, s.aorsWhere(func(b *location.Binding) bool {
		return b.DeviceID == old.ID && b.AccountID == old.AccountID
	})...)
	if n := s.removeAORs(aors); n > 0 {
		s.log.Info("registrations flushed", "account_id", old.AccountID, "device_id", old.ID, "bindings", n)
	}
}

func aorOf(d *devices.Device) string {
	return strings.ToLower(d.Username) + "@" + d.Realm
}
