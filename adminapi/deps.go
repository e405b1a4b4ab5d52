package adminapi

import (
	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/registrar"
)

// Directory is what the API uses of the device directory (*devices.Store).
type Directory interface {
	CreateAccount(doc map[string]any) (*devices.Account, error)
	Account(id string) (*devices.Account, error)
	Accounts() []*devices.Account
	ReplaceAccount(id string, doc map[string]any, ifMatch string) (*devices.Account, error)
	PatchAccount(id string, patch map[string]any, ifMatch string) (*devices.Account, error)
	DeleteAccount(id string) (*devices.Account, error)

	CreateDevice(accountID string, doc map[string]any) (*devices.Device, error)
	Device(accountID, id string) (*devices.Device, error)
	Devices(accountID string) []*devices.Device
	ReplaceDevice(accountID, id string, doc map[string]any, ifMatch string) (*devices.Device, error)
	PatchDevice(accountID, id string, patch map[string]any, ifMatch string) (*devices.Device, error)
	DeleteDevice(accountID, id string) (*devices.Device, error)

	CreateToken(accountID string) (secret string, t devices.Token, err error)
	Tokens(accountID string) []devices.Token
	DeleteToken(accountID, id string) error
	TokenAccount(secret string) (accountID string, ok bool)
}

// Registrar is what the API uses of the registrar (*registrar.Service).
type Registrar interface {
	Registrations(accountID string) []registrar.Record
	Count(accountID string) int
	RegisteredDevices(accountID string) []string
	FlushAccount(accountID string) int
	FlushUser(accountID, username string) (int, error)
	Bans() []registrar.Ban
	Unban(key string) bool
}

var (
	_ Directory = (*devices.Store)(nil)
	_ Registrar = (*registrar.Service)(nil)
)
