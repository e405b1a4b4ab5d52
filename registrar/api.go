package registrar

import (
	"errors"
	"net/netip"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
)

// ErrUnknownUser is returned by FlushUser when no device of the account has that SIP username.
var ErrUnknownUser = errors.New("registrar: unknown user")

// Directory is what the registrar reads of the device directory (*devices.Store).
type Directory interface {
	ByUser(realm, username string) *devices.Device
	ByIP(addr netip.Addr) *devices.Device
	AccountByRealm(realm string) *devices.Account
	Account(id string) (*devices.Account, error)
}

// Source says where a request came from and which listener received it.
type Source struct {
	Addr      netip.AddrPort // packet source / connection remote address
	Local     netip.AddrPort // advertised address of the receiving listener
	Transport location.Transport
}

// Record is one registration as Kazoo's registrations API shows it.
type Record struct {
	AccountName              string `json:"account_name"`
	AccountRealm             string `json:"account_realm"`
	AuthorizingID            string `json:"authorizing_id"`
	AuthorizingType          string `json:"authorizing_type"`
	CallID                   string `json:"call_id"`
	Contact                  string `json:"contact"`
	ContactIP                string `json:"contact_ip"`
	ContactPort              string `json:"contact_port"`
	EventTimestamp           int64  `json:"event_timestamp"`
	Expires                  int64  `json:"expires"`
	FromHost                 string `json:"from_host"`
	FromUser                 string `json:"from_user"`
	InitialRegistration      int64  `json:"initial_registration"`
	LastRegistration         int64  `json:"last_registration"`
	NetworkIP                string `json:"network_ip"`
	NetworkPort              string `json:"network_port"`
	OriginalContact          string `json:"original_contact"`
	OwnerID                  string `json:"owner_id,omitempty"`
	PresenceID               string `json:"presence_id,omitempty"`
	PreviousContact          string `json:"previous_contact,omitempty"`
	ProxyIP                  string `json:"proxy_ip"`
	ProxyPort                string `json:"proxy_port"`
	ProxyProtocol            string `json:"proxy_protocol"`
	Realm                    string `json:"realm"`
	RegisterOverwriteNotify  bool   `json:"register_overwrite_notify"`
	SourceIP                 string `json:"source_ip"`
	SourcePort               string `json:"source_port"`
	SuppressUnregisterNotify bool   `json:"suppress_unregister_notify"`
	ToHost                   string `json:"to_host"`
	ToUser                   string `json:"to_user"`
	UserAgent                string `json:"user_agent"`
	Username                 string `json:"username"`
}

// Ban is a (user, source IP) pair refused after too many failed authentications.
type Ban struct {
	Key      string `json:"id"` // opaque, for DELETE
	User     string `json:"user"`
	Realm    string `json:"realm"`
	IP       string `json:"ip"`
	Failures int    `json:"failures"`
	Until    int64  `json:"until"` // Unix seconds
}
