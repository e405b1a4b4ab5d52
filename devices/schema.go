package devices

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The schema documents are data: schema/device.json is Kazoo's device schema
// (every row of the seed's tables), schema/account.json a small account
// schema. Both drive validation and the defaults filled on every write.

//go:embed schema/device.json
var deviceSchemaJSON []byte

//go:embed schema/account.json
var accountSchemaJSON []byte

// docSchema is one compiled schema document plus its defaults walker.
type docSchema struct {
	compiled *jsonschema.Schema
	defaults *defNode
}

var (
	deviceSchema  = sync.OnceValue(func() *docSchema { return mustSchema("devices.json", deviceSchemaJSON) })
	accountSchema = sync.OnceValue(func() *docSchema { return mustSchema("accounts.json", accountSchemaJSON) })
)

// mustSchema compiles an embedded schema. A broken embedded document is a
// programming error caught by every test of the package, hence the panic.
func mustSchema(name string, raw []byte) *docSchema {
	s, err := compileSchema(name, raw)
	if err != nil {
		panic(fmt.Sprintf("devices: embedded schema %s: %v", name, err))
	}
	return s
}

func compileSchema(name string, raw []byte) (*docSchema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	url := "https://sipedge.invalid/schemas/" + name
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	compiled, err := c.Compile(url)
	if err != nil {
		return nil, err
	}
	// The defaults walker reads the document with encoding/json so that
	// default values have the same Go types as stored documents (float64).
	var plain map[string]any
	if err := json.Unmarshal(raw, &plain); err != nil {
		return nil, err
	}
	defaults, err := buildDefaults(plain)
	if err != nil {
		return nil, err
	}
	return &docSchema{compiled: compiled, defaults: defaults}, nil
}

// apply fills the schema's defaults into doc (in place) and validates the
// result. doc must already be canonical (see canonical).
func (s *docSchema) apply(doc map[string]any) *ValidationError {
	s.defaults.fill(doc)
	return s.validate(doc)
}

// validate checks doc against the schema; nil when valid.
func (s *docSchema) validate(doc map[string]any) *ValidationError {
	err := s.compiled.Validate(doc)
	if err == nil {
		return nil
	}
	fe := fieldErrors{}
	verr, ok := err.(*jsonschema.ValidationError)
	if !ok {
		fe.add(nil, "type", map[string]any{"message": err.Error()})
		return fe.err()
	}
	fe.collect(verr, doc)
	return fe.err()
}

// ValidateDevice returns doc as it would be stored: private keys ("_*",
// "pvt_*"), "id" and "sync" removed, schema defaults filled. On a schema
// failure it returns a *ValidationError. Uniqueness (SIP credentials, IP,
// MAC address) needs the store and is not checked here. doc is not modified.
func ValidateDevice(doc map[string]any) (map[string]any, error) {
	pub, verr := prepareDoc(doc)
	if verr != nil {
		return nil, verr
	}
	if verr := deviceSchema().apply(pub); verr != nil {
		return nil, verr
	}
	return pub, nil
}

// ValidateAccount is ValidateDevice for account documents. A missing realm is
// not generated here (it depends on the account id); it is simply optional.
func ValidateAccount(doc map[string]any) (map[string]any, error) {
	pub, verr := prepareDoc(doc)
	if verr != nil {
		return nil, verr
	}
	if verr := accountSchema().apply(pub); verr != nil {
		return nil, verr
	}
	return pub, nil
}
