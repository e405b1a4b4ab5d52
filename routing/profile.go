package routing

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/sipedge/sipedge/devices"
)

// InviteFormat is sip.invite_format: how the Request-URI and To of an INVITE
// to the device are built.
type InviteFormat uint8

// Invite formats. The zero value is contact, what a missing
// sip.invite_format means (DESIGN.md).
const (
	FormatContact   InviteFormat = iota // the registered Contact URI
	FormatUsername                      // sip:<static_invite|username>@realm
	FormatNPAN                          // sip:<NPA-NXX-XXXX>@realm
	Format1NPAN                         // sip:1<NPA-NXX-XXXX>@realm
	FormatE164                          // sip:+<e164>@realm
	FormatStripPlus                     // sip:<e164 without +>@realm
	FormatRoute                         // sip.route verbatim
)

var formatNames = [...]string{"contact", "username", "npan", "1npan", "e164", "strip_plus", "route"}

func (f InviteFormat) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "contact"
}

// ParseInviteFormat parses a sip.invite_format value.
func ParseInviteFormat(s string) (InviteFormat, bool) {
	i := slices.Index(formatNames[:], s)
	if i < 0 {
		return FormatContact, false
	}
	return InviteFormat(i), true
}

// isNumberFormat: the formats that convert sip.number or the dialled number.
func (f InviteFormat) isNumberFormat() bool {
	return f == FormatNPAN || f == Format1NPAN || f == FormatE164 || f == FormatStripPlus
}

// CallerID is one caller_id entry (internal, external or emergency).
type CallerID struct {
	Name, Number string
}

// Asserted is caller_id.asserted, the P-Asserted-Identity toward gateways.
type Asserted struct {
	Name, Number, Realm string
}

// CallerIDs is a device's or account's caller_id object.
type CallerIDs struct {
	Internal, External, Emergency CallerID
	Asserted                      Asserted
}

// CallForward is the call_forward object, with Kazoo's code defaults for
// missing keys (all false), not the schema's.
type CallForward struct {
	Enabled          bool
	Number           string // wire-checked; "" disables forwarding
	Substitute       bool   // forward leg only (true) or ring device and forward together
	Failover         bool   // forward only when the device has no binding
	DirectCallsOnly  bool   // forward only calls placed to this device directly
	KeepCallerID     bool   // forward leg keeps the caller's ID (else the device's external)
	RequireKeypress  bool   // passed on as X-Sipedge-Require-Keypress
	IgnoreEarlyMedia bool   // passed on as X-Sipedge-Ignore-Early-Media
}

// Privacy is caller_id_options.outbound_privacy, applied on gateway legs.
type Privacy uint8

// Outbound privacy levels.
const (
	PrivacyNone   Privacy = iota
	PrivacyName           // hide the name
	PrivacyNumber         // hide the number
	PrivacyFull           // hide both
)

// Action is a call_restriction action for one class.
type Action uint8

// Restriction actions. Inherit is the zero value: "no opinion".
const (
	ActionInherit Action = iota
	ActionDeny
	ActionAllow
)

// Restrictions maps each Class to its action.
type Restrictions [numClasses]Action

// Of returns the action for class c.
func (r *Restrictions) Of(c Class) Action {
	if c < numClasses {
		return r[c]
	}
	return ActionInherit
}

func (r *Restrictions) any() bool {
	for _, a := range r {
		if a == ActionDeny {
			return true
		}
	}
	return false
}

// Profile is a device document compiled for routing. It is immutable: the
// proxy compiles a new one when the document changes and swaps it in. Never
// mutate a Profile or the slices it holds.
type Profile struct {
	DeviceID  string
	AccountID string
	Realm     string // sip.realm, else the account realm; lower-cased
	Username  string // sip.username
	Enabled   bool   // the device's and its account's "enabled"

	InviteFormat InviteFormat
	StaticInvite string         // sip.static_invite
	Number       string         // sip.number
	NumberE164   string         // sip.number normalised, the key the NumberIndex uses
	Route        string         // sip.route, the Request-URI of the route format
	Proxy        string         // sip.proxy: where route and sip.ip legs are sent instead, when set
	IP           netip.AddrPort // sip.ip (port 5060): the device is dialled here, no registration needed
	PresenceID   string         // presence_id, else sip.username; always user@realm

	CallForward CallForward
	DND         bool // do_not_disturb.enabled

	// HeadersIn go on INVITEs to this device, HeadersOut on INVITEs this
	// device's calls make to the far end (flat keys in both).
	HeadersIn, HeadersOut []Header

	RingtoneInternal string // Alert-Info when an on-net caller calls this device
	RingtoneExternal string // Alert-Info when an off-net caller does

	CallerID        CallerIDs
	OutboundPrivacy Privacy
	Restrictions    Restrictions
	DialPlan        *DialPlan
	Formatters      *Formatters

	ProgressTimeout time.Duration // media.progress_timeout; 0 when unset
	Codecs          []string      // media.audio.codecs, in preference order

	// Warnings lists the parts of the document left out because they were
	// malformed or could not go on the wire.
	Warnings []Warning

	// pre-built per-call values
	inviteUser   string // static_invite|username
	numberUser   string // sip.number converted for InviteFormat
	routeTo      Party  // To of the route format
	presenceUser string // user part of PresenceID
	ipHost       string // IP as a URI host
	usernameURI  string // sip:<inviteUser>@<Realm>
	numberURI    string // sip:<numberUser>@<Realm>
	paiValue     string // P-Asserted-Identity from caller_id.asserted, realm defaulted to Realm
	paiEmergency string // the same for emergency calls, "" when not both name and number are asserted
}

// AccountProfile is an account document compiled for routing: the account
// level call_restriction, dial_plan, caller_id and do_not_disturb.
type AccountProfile struct {
	AccountID    string
	Realm        string
	Restrictions Restrictions
	DialPlan     *DialPlan
	CallerID     CallerIDs
	DND          bool
	Warnings     []Warning
}

// ErrNoDocument is returned by Compile and CompileAccount for a nil input.
var ErrNoDocument = errors.New("routing: no document")

// Compile compiles a device document. It fails only without a document:
// a malformed or unsafe part is left out and reported in Profile.Warnings,
// so a device the directory accepted is always routable.
func Compile(d *devices.Device) (*Profile, error) {
	if d == nil {
		return nil, fmt.Errorf("routing: compile device: %w", ErrNoDocument)
	}
	var w warnings
	doc := d.Doc()
	sip := obj(doc, "sip")
	p := &Profile{
		DeviceID:  d.ID,
		AccountID: d.AccountID,
		Realm:     strings.ToLower(d.Realm),
		Enabled:   d.Enabled,
	}
	if !hostSafe(p.Realm) {
		if p.Realm != "" {
			w.add("sip.realm", "not a valid host; calls to this device use no realm")
		}
		p.Realm = ""
	}
	p.Username = userField(sip, "sip.username", &w)
	if s := str(sip, "invite_format"); s != "" {
		f, ok := ParseInviteFormat(s)
		if !ok {
			w.add("sip.invite_format", "unknown format "+fmt.Sprintf("%q", s)+"; using contact")
		}
		p.InviteFormat = f
	}
	p.StaticInvite = userField(sip, "sip.static_invite", &w)
	p.Number = userField(sip, "sip.number", &w)
	if p.Number != "" {
		p.NumberE164 = ToE164(p.Number)
	}
	p.Route = uriField(sip, "route", &w)
	p.Proxy = uriField(sip, "proxy", &w)
	if d.IP.IsValid() {
		p.IP = netip.AddrPortFrom(d.IP, 5060)
		p.ipHost = d.IP.String()
		if d.IP.Is6() {
			p.ipHost = "[" + p.ipHost + "]"
		}
	}
	p.PresenceID = presenceID(str(doc, "presence_id"), p.Username, p.Realm, &w)

	p.CallForward = compileCallForward(obj(doc, "call_forward"), &w)
	p.DND = boolean(obj(doc, "do_not_disturb"), "enabled")
	p.HeadersIn, p.HeadersOut = customHeaders(sip["custom_sip_headers"], &w)
	rt := obj(doc, "ringtones")
	p.RingtoneInternal = wireField(rt, "ringtones.internal", "internal", &w)
	p.RingtoneExternal = wireField(rt, "ringtones.external", "external", &w)
	p.CallerID = compileCallerIDs(obj(doc, "caller_id"), &w)
	switch v := str(obj(doc, "caller_id_options"), "outbound_privacy"); v {
	case "", "none":
	case "name":
		p.OutboundPrivacy = PrivacyName
	case "number":
		p.OutboundPrivacy = PrivacyNumber
	case "full":
		p.OutboundPrivacy = PrivacyFull
	default:
		w.add("caller_id_options.outbound_privacy", fmt.Sprintf("unknown value %q; ignored", v))
	}
	p.Restrictions = compileRestrictions("call_restriction", doc["call_restriction"], &w)
	p.DialPlan = compileDialPlan("dial_plan", doc["dial_plan"], &w)
	p.Formatters = compileFormatters(doc["formatters"], &w)
	media := obj(doc, "media")
	if f, ok := media["progress_timeout"].(float64); ok && f > 0 && f < 86400 {
		p.ProgressTimeout = time.Duration(f * float64(time.Second))
	}
	if cs, ok := obj(media, "audio")["codecs"].([]any); ok {
		for i, c := range cs {
			s, _ := c.(string)
			if s == "" || !validHeaderName(s) {
				w.add(fmt.Sprintf("media.audio.codecs.%d", i), "not a codec name; ignored")
				continue
			}
			p.Codecs = append(p.Codecs, s)
		}
	}

	// Pre-built strings: a typical call only picks among these.
	p.inviteUser = p.Username
	if p.StaticInvite != "" {
		p.inviteUser = p.StaticInvite
	}
	if p.Number != "" && p.InviteFormat.isNumberFormat() {
		p.numberUser = Convert(p.InviteFormat, p.Number)
	}
	if p.Route != "" {
		p.routeTo = uriParty(p.Route)
	}
	if p.inviteUser != "" && p.Realm != "" {
		p.usernameURI = "sip:" + p.inviteUser + "@" + p.Realm
	}
	if p.numberUser != "" && p.Realm != "" {
		p.numberURI = "sip:" + p.numberUser + "@" + p.Realm
	}
	p.paiValue, p.paiEmergency = assertedIdentity(p.CallerID, p.Realm)
	p.presenceUser, _, _ = strings.Cut(p.PresenceID, "@")
	if p.InviteFormat == FormatRoute && p.Route == "" {
		w.add("sip.route", "invite_format is route but sip.route is empty; calls use the registration")
	}
	p.Warnings = w
	return p, nil
}

// CompileAccount compiles the account-level settings of an account document.
func CompileAccount(a *devices.Account) (*AccountProfile, error) {
	if a == nil {
		return nil, fmt.Errorf("routing: compile account: %w", ErrNoDocument)
	}
	var w warnings
	ap := &AccountProfile{AccountID: a.ID, Realm: strings.ToLower(a.Realm)}
	if !hostSafe(ap.Realm) {
		ap.Realm = ""
	}
	ap.Restrictions = compileRestrictions("call_restriction", a.Doc["call_restriction"], &w)
	ap.DialPlan = compileDialPlan("dial_plan", a.Doc["dial_plan"], &w)
	ap.CallerID = compileCallerIDs(obj(a.Doc, "caller_id"), &w)
	ap.DND = boolean(obj(a.Doc, "do_not_disturb"), "enabled")
	ap.Warnings = w
	return ap, nil
}

func compileCallForward(cf map[string]any, w *warnings) CallForward {
	c := CallForward{
		Enabled:          boolean(cf, "enabled"),
		Substitute:       boolean(cf, "substitute"),
		Failover:         boolean(cf, "failover"),
		DirectCallsOnly:  boolean(cf, "direct_calls_only"),
		KeepCallerID:     boolean(cf, "keep_caller_id"),
		RequireKeypress:  boolean(cf, "require_keypress"),
		IgnoreEarlyMedia: boolean(cf, "ignore_early_media"),
	}
	c.Number = userField(cf, "call_forward.number", w)
	return c
}

func compileCallerIDs(m map[string]any, w *warnings) CallerIDs {
	cid := func(key string) CallerID {
		o := obj(m, key)
		return CallerID{
			Name:   displayField(o, "caller_id."+key+".name", w),
			Number: userField(o, "caller_id."+key+".number", w),
		}
	}
	a := obj(m, "asserted")
	c := CallerIDs{
		Internal:  cid("internal"),
		External:  cid("external"),
		Emergency: cid("emergency"),
		Asserted: Asserted{
			Name:   displayField(a, "caller_id.asserted.name", w),
			Number: userField(a, "caller_id.asserted.number", w),
		},
	}
	if r := str(a, "realm"); r != "" {
		if hostSafe(r) {
			c.Asserted.Realm = strings.ToLower(r)
		} else {
			w.add("caller_id.asserted.realm", "not a valid host; the account realm is used")
		}
	}
	return c
}

func compileRestrictions(field string, v any, w *warnings) Restrictions {
	var r Restrictions
	m, _ := v.(map[string]any)
	for _, k := range sortedKeys(m) {
		c, ok := ParseClass(k)
		if !ok {
			w.add(field+"."+k, "unknown classifier; ignored")
			continue
		}
		switch a := str(obj(m, k), "action"); a {
		case "deny":
			r[c] = ActionDeny
		case "allow":
			r[c] = ActionAllow
		case "inherit", "":
		default:
			w.add(field+"."+k+".action", fmt.Sprintf("unknown action %q; inherit", a))
		}
	}
	return r
}

// presenceID follows kzd_devices:calculate_presence_id without the owner
// user (sipedge has no users): presence_id, else sip.username; "@realm"
// appended when there is no "@". username and realm are the profile's
// (checked already).
func presenceID(id, username, realm string, w *warnings) string {
	if id != "" && !wireSafe(id) {
		w.add("presence_id", "contains control characters; ignored")
		id = ""
	}
	if id == "" {
		id = username
	}
	if id == "" {
		return ""
	}
	user, host, found := strings.Cut(id, "@")
	if !userSafe(user) || (found && !hostSafe(host)) {
		w.add("presence_id", "not a valid user@realm; ignored")
		if id == username {
			return ""
		}
		user, found = username, false
		if user == "" {
			return ""
		}
	}
	if !found {
		if realm == "" {
			return user
		}
		return user + "@" + realm
	}
	return user + "@" + strings.ToLower(host)
}

// uriParty extracts the user and host of a sip: URI (compile time only).
func uriParty(uri string) Party {
	s := uri
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[i+1:]
	}
	s, _, _ = strings.Cut(s, ";")
	s, _, _ = strings.Cut(s, "?")
	user, host, found := strings.Cut(s, "@")
	if !found {
		user, host = "", s
	}
	if user != "" && !userSafe(user) {
		user = ""
	}
	if !hostSafe(host) {
		host = ""
	}
	return Party{User: user, Host: host}
}

// ---- document accessors -------------------------------------------------

func obj(m map[string]any, k string) map[string]any {
	o, _ := m[k].(map[string]any)
	return o
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func boolean(m map[string]any, k string) bool {
	b, _ := m[k].(bool)
	return b
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// userField reads a value that becomes a URI user part.
func userField(m map[string]any, path string, w *warnings) string {
	v := str(m, lastKey(path))
	if v == "" || userSafe(v) {
		return v
	}
	w.add(path, "has characters a SIP URI user part cannot carry; ignored")
	return ""
}

// displayField reads a value that becomes a display name.
func displayField(m map[string]any, path string, w *warnings) string {
	v := str(m, lastKey(path))
	if displaySafe(v) {
		return v
	}
	w.add(path, "contains CR, LF, NUL, a control character, a quote or a backslash; ignored")
	return ""
}

// wireField reads a value that goes on the wire verbatim as a header value.
func wireField(m map[string]any, path, key string, w *warnings) string {
	v := str(m, key)
	if wireSafe(v) && len(v) <= 1024 {
		return v
	}
	w.add(path, "contains CR, LF, NUL or a control character; ignored")
	return ""
}

// uriField reads sip.<key>, a URI sent verbatim.
func uriField(sip map[string]any, key string, w *warnings) string {
	v := str(sip, key)
	if v == "" {
		return ""
	}
	if !wireSafe(v) || strings.ContainsAny(v, " <>\"") || len(v) > 1024 {
		w.add("sip."+key, "not a URI that can go on the wire; ignored")
		return ""
	}
	return v
}

func lastKey(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// assertedIdentity builds the P-Asserted-Identity values of a caller_id
// object: `"Name" <sip:Number@Realm>` (no name: `<sip:Number@Realm>`), none
// without a number. For emergency calls Kazoo rewrites the asserted identity
// to the emergency caller ID only when both an asserted name and number are
// set, and sends none otherwise.
func assertedIdentity(cid CallerIDs, realm string) (normal, emergency string) {
	a := cid.Asserted
	if a.Realm != "" {
		realm = a.Realm
	}
	if a.Number == "" || realm == "" {
		return "", ""
	}
	normal = nameAddr(a.Name, a.Number, realm)
	if a.Name != "" {
		em := cid.Emergency
		if em.Number == "" {
			em = cid.External
		}
		if em.Number != "" {
			emergency = nameAddr(em.Name, em.Number, realm)
		} else {
			emergency = normal
		}
	}
	return normal, emergency
}

func nameAddr(display, user, host string) string {
	if display == "" {
		return "<sip:" + user + "@" + host + ">"
	}
	return `"` + display + `" <sip:` + user + "@" + host + ">"
}
