package proxy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/proxy"
	"github.com/sipedge/sipedge/proxy/proxytest"
)

// routeEnv is callEnv with device routing on (EnableRouting), and an
// upstream gateway when asked for.
type routeEnv struct {
	*callEnv
	gw *gateway
}

// newRouteEnv builds the proxy with alice, bob and carol plus devs; gwCode
// > 0 adds a default gateway on 127.0.0.2 answering INVITEs with it.
func newRouteEnv(t *testing.T, gwCode int, devs ...map[string]any) *routeEnv {
	t.Helper()
	e := &routeEnv{}
	o := envOpts{devices: devs}
	if gwCode > 0 {
		e.gw = newGateway(t, "127.0.0.2", gwCode, 200)
		o.cfg = func(c *proxy.Config) { c.Gateways = pools([]*gateway{e.gw}, 0, nil) }
	}
	e.callEnv = newCallEnv(t, o)
	if err := e.srv.EnableRouting(e.store); err != nil {
		t.Fatal(err)
	}
	return e
}

// patch merges fields into a device's document (by SIP username).
func (e *routeEnv) patch(t *testing.T, user string, doc map[string]any) {
	t.Helper()
	d := e.store.ByUser(realm, user)
	if d == nil {
		t.Fatalf("no device %s", user)
	}
	if _, err := e.store.PatchDevice(e.acct.ID, d.ID, doc, ""); err != nil {
		t.Fatalf("patch %s: %v", user, err)
	}
}

func (e *routeEnv) patchAccount(t *testing.T, doc map[string]any) {
	t.Helper()
	if _, err := e.store.PatchAccount(e.acct.ID, doc, ""); err != nil {
		t.Fatalf("patch account: %v", err)
	}
}

// call places a call from a phone, with extra headers, and reports the end
// of the wait for its final answer.
func call(t *testing.T, from *proxytest.Phone, to string, hdrs ...sip.Header) *outCall {
	t.Helper()
	ctx := ctxT(t)
	sess, err := from.Invite(ctx, to, hdrs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	c := &outCall{sess: sess, rang: make(chan struct{}), done: make(chan error, 1)}
	go func() { c.done <- from.Answer(ctx, sess, nil) }()
	return c
}

// finalCode waits for the call's final answer and returns it.
func finalCode(t *testing.T, c *outCall) *sip.Response {
	t.Helper()
	wait(t, c.done, "the final answer")
	res := c.final()
	if res == nil {
		t.Fatal("no final response")
	}
	return res
}

// reject answers an incoming call 486 so the call ends.
func reject(t *testing.T, in *proxytest.IncomingCall) {
	t.Helper()
	if err := in.Dialog.Respond(486, "Busy Here", nil); err != nil {
		t.Fatal(err)
	}
}

// fromGateway sends an INVITE for user from the gateway's address, as a
// carrier delivering a DID, and returns the final answer on a channel.
func (e *routeEnv) fromGateway(t *testing.T, user string, hdrs ...sip.Header) <-chan *sip.Response {
	t.Helper()
	to := sip.Uri{Scheme: "sip", User: user, Host: realm}
	req := sip.NewRequest(sip.INVITE, to)
	req.AppendHeader(&sip.FromHeader{DisplayName: "Carrier Caller", Address: sip.Uri{Scheme: "sip", User: "+14155550123", Host: "carrier.example.net"},
		Params: sip.HeaderParams{{K: "tag", V: sip.GenerateTagN(8)}}})
	req.AppendHeader(&sip.ToHeader{Address: to})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "gw", Host: "127.0.0.2", Port: int(e.gw.addr.Port())}})
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	e.srv.Target("UDP", req)
	done := make(chan *sip.Response, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := e.gw.client.Do(ctx, req)
		if err != nil {
			t.Errorf("gateway INVITE: %v", err)
		}
		done <- res
	}()
	return done
}

func hval(req *sip.Request, name string) string {
	h := req.GetHeader(name)
	if h == nil {
		return "<absent>"
	}
	return h.Value()
}

// What the called device receives for each sip.invite_format: the
// Request-URI, To and From (kazoo-semantics.md §1.3, DESIGN.md), always
// over the binding's flow.
func TestRouteInviteFormat(t *testing.T) {
	tests := []struct {
		name    string
		sip     map[string]any
		dial    string
		wantURI string // "" : the registered contact
		wantTo  string // To user
	}{
		// The store fills in the documented create answer's default.
		{name: "store default is username", sip: map[string]any{}, dial: "dave", wantURI: "sip:dave@" + realm, wantTo: "dave"},
		{name: "contact", sip: map[string]any{"invite_format": "contact"}, dial: "dave", wantTo: "dave"},
		{name: "username", sip: map[string]any{"invite_format": "username"}, dial: "dave",
			wantURI: "sip:dave@" + realm, wantTo: "dave"},
		{name: "username with static_invite", sip: map[string]any{"invite_format": "username", "static_invite": "frontdesk"}, dial: "dave",
			wantURI: "sip:frontdesk@" + realm, wantTo: "frontdesk"},
		{name: "e164 from sip.number", sip: map[string]any{"invite_format": "e164", "number": "4158867900"}, dial: "dave",
			wantURI: "sip:+14158867900@" + realm, wantTo: "+14158867900"},
		{name: "e164 dialled by number", sip: map[string]any{"invite_format": "e164", "number": "+14158867900"}, dial: "14158867900",
			wantURI: "sip:+14158867900@" + realm, wantTo: "+14158867900"},
		{name: "npan", sip: map[string]any{"invite_format": "npan", "number": "+14158867900"}, dial: "dave",
			wantURI: "sip:4158867900@" + realm, wantTo: "4158867900"},
		{name: "1npan", sip: map[string]any{"invite_format": "1npan", "number": "4158867900"}, dial: "dave",
			wantURI: "sip:14158867900@" + realm, wantTo: "14158867900"},
		{name: "strip_plus", sip: map[string]any{"invite_format": "strip_plus", "number": "+442071838750"}, dial: "dave",
			wantURI: "sip:442071838750@" + realm, wantTo: "442071838750"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := map[string]any{"username": "dave", "password": "dave-secret"}
			for k, v := range tc.sip {
				s[k] = v
			}
			env := newRouteEnv(t, 0, map[string]any{"name": "dave phone", "enabled": true, "sip": s})
			env.patch(t, "alice", map[string]any{"caller_id": map[string]any{"internal": map[string]any{"name": "Alice A", "number": "1001"}}})
			alice := env.phone(t, "UDP", "alice")
			dave := env.phone(t, "UDP", "dave")
			c := call(t, alice, tc.dial)
			in, err := dave.WaitCall(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			want := tc.wantURI
			if want == "" {
				want = dave.Contact.String()
			}
			if got := in.Req.Recipient.String(); got != want {
				t.Errorf("Request-URI %s, want %s", got, want)
			}
			if to := in.Req.To(); to.Address.User != tc.wantTo || to.Address.Host != realm {
				t.Errorf("To %s, want user %s at %s", to.Value(), tc.wantTo, realm)
			}
			if from := in.Req.From(); from.Address.User != "1001" || from.DisplayName != "Alice A" || from.Address.Host != realm {
				t.Errorf("From %s, want \"Alice A\" <sip:1001@%s> (caller_id.internal)", from.Value(), realm)
			}
			if tag, _ := in.Req.From().Params.Get("tag"); tag == "" {
				t.Error("From lost its tag")
			}
			reject(t, in)
			res := finalCode(t, c)
			if res.StatusCode != 486 {
				t.Fatalf("caller got %d, want 486", res.StatusCode)
			}
			// The caller sees its own From and To back (dialogs match on tags).
			if to := res.To(); to.Address.User != tc.dial {
				t.Errorf("caller's response To %s, want its own dialled user %s", to.Value(), tc.dial)
			}
			if from := res.From(); from.Address.User != "alice" {
				t.Errorf("caller's response From %s, want alice", from.Value())
			}
			waitIdle(t, env.callEnv)
		})
	}
}

// invite_format route sends sip.route verbatim to its host, with no
// registration; sip.proxy, when set, is where it goes instead.
func TestRouteFormatRoute(t *testing.T) {
	env := newRouteEnv(t, 0)
	alice := env.phone(t, "UDP", "alice")
	// The far end is a phone that never registers.
	far := proxytest.NewPhone(t, env.srv, "UDP", realm, "erin", "erin-secret")
	// One round trip orders NewPhone's handler setup before its reader
	// dispatches anything (a registered phone gets that from Register).
	_ = far.Register(ctxT(t))
	route := "sip:4158867900@127.0.0.1:" + itoa(far.Contact.Port)
	tests := []struct {
		name string
		sip  map[string]any
	}{
		{name: "route", sip: map[string]any{"invite_format": "route", "route": route}},
		{name: "route via sip.proxy", sip: map[string]any{"invite_format": "route", "route": "sip:4158867900@pbx.invalid",
			"proxy": "sip:127.0.0.1:" + itoa(far.Contact.Port)}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			user := "trunk" + itoa(i)
			s := map[string]any{"username": user, "password": "secret-" + user}
			for k, v := range tc.sip {
				s[k] = v
			}
			if _, err := env.store.CreateDevice(env.acct.ID, map[string]any{"name": user, "enabled": true, "sip": s}); err != nil {
				t.Fatal(err)
			}
			c := call(t, alice, user)
			in, err := far.WaitCall(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if got := in.Req.Recipient.String(); got != tc.sip["route"] {
				t.Errorf("Request-URI %s, want sip.route %s", got, tc.sip["route"])
			}
			if to := in.Req.To(); to.Address.User != "4158867900" {
				t.Errorf("To %s, want the route's user", to.Value())
			}
			reject(t, in)
			if res := finalCode(t, c); res.StatusCode != 486 {
				t.Fatalf("caller got %d, want 486", res.StatusCode)
			}
		})
	}
	waitIdle(t, env.callEnv)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// ringtones.internal is the Alert-Info for an on-net caller,
// ringtones.external for a call from a gateway; an off-net call keeps the
// caller's From.
func TestRouteAlertInfo(t *testing.T) {
	env := newRouteEnv(t, 486)
	env.patch(t, "bob", map[string]any{"ringtones": map[string]any{
		"internal": "<http://ring.example.com/internal.wav>",
		"external": "<http://ring.example.com/external.wav>;info=Bellcore-dr2",
	}})
	alice := env.phone(t, "UDP", "alice")
	bob := env.phone(t, "UDP", "bob")

	t.Run("internal", func(t *testing.T) {
		c := call(t, alice, "bob")
		in, err := bob.WaitCall(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if got := hval(in.Req, "Alert-Info"); got != "<http://ring.example.com/internal.wav>" {
			t.Errorf("Alert-Info %q, want ringtones.internal", got)
		}
		reject(t, in)
		finalCode(t, c)
	})
	t.Run("external", func(t *testing.T) {
		done := env.fromGateway(t, "bob")
		in, err := bob.WaitCall(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if got := hval(in.Req, "Alert-Info"); got != "<http://ring.example.com/external.wav>;info=Bellcore-dr2" {
			t.Errorf("Alert-Info %q, want ringtones.external", got)
		}
		if from := in.Req.From(); from.Address.User != "+14155550123" || from.DisplayName != "Carrier Caller" {
			t.Errorf("From %s, want the carrier's caller ID", from.Value())
		}
		reject(t, in)
		if res := wait(t, done, "the gateway's answer"); res == nil || res.StatusCode != 486 {
			t.Fatalf("gateway got %v, want 486", res)
		}
	})
	waitIdle(t, env.callEnv)
}

// A device's off-net call reaches the gateway with the number in e164, the
// external caller ID in From, P-Asserted-Identity from caller_id.asserted,
// the caller's custom out headers; what the device claimed itself
// (P-Asserted-Identity, X-Sipedge-*) is gone.
func TestRouteToGatewayIdentity(t *testing.T) {
	tests := []struct {
		name     string
		privacy  string
		wantFrom string // user@host
		wantDisp string
		wantPriv string
	}{
		{name: "external caller id", wantFrom: "+14155550100@" + realm, wantDisp: "Acme Sales", wantPriv: "<absent>"},
		{name: "outbound privacy full", privacy: "full", wantFrom: "anonymous@anonymous.invalid", wantDisp: "Anonymous", wantPriv: "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newRouteEnv(t, 486)
			doc := map[string]any{
				"caller_id": map[string]any{
					"external": map[string]any{"name": "Acme Sales", "number": "+14155550100"},
					"asserted": map[string]any{"name": "Acme", "number": "+14155550100"},
				},
				"sip": map[string]any{"custom_sip_headers": map[string]any{"out": map[string]any{"X-Account-Code": "42"}}},
			}
			if tc.privacy != "" {
				doc["caller_id_options"] = map[string]any{"outbound_privacy": tc.privacy}
			}
			env.patch(t, "alice", doc)
			alice := env.phone(t, "UDP", "alice")
			c := call(t, alice, "4155550199",
				sip.NewHeader("X-Sipedge-Forwarded-By", "spoofed"),
				sip.NewHeader("P-Asserted-Identity", "<sip:+19999999999@evil.example>"))
			inv := wait(t, env.gw.invites, "the INVITE at the gateway")
			if u := inv.Recipient; u.User != "+14155550199" || u.Host != "127.0.0.2" {
				t.Errorf("gateway Request-URI %s, want sip:+14155550199@127.0.0.2", u.String())
			}
			if to := inv.To(); to.Address.User != "+14155550199" || to.Address.Host != "127.0.0.2" {
				t.Errorf("gateway To %s", to.Value())
			}
			from := inv.From()
			if got := from.Address.User + "@" + from.Address.Host; got != tc.wantFrom || from.DisplayName != tc.wantDisp {
				t.Errorf("gateway From %s, want %q <%s>", from.Value(), tc.wantDisp, tc.wantFrom)
			}
			if pai := inv.GetHeaders("P-Asserted-Identity"); len(pai) != 1 || pai[0].Value() != `"Acme" <sip:+14155550100@`+realm+`>` {
				t.Errorf("P-Asserted-Identity %v, want only the asserted caller ID", pai)
			}
			if got := hval(inv, "Privacy"); got != tc.wantPriv {
				t.Errorf("Privacy %q, want %q", got, tc.wantPriv)
			}
			if got := hval(inv, "X-Account-Code"); got != "42" {
				t.Errorf("X-Account-Code %q, want the caller's out header", got)
			}
			if got := hval(inv, "X-Sipedge-Forwarded-By"); got != "<absent>" {
				t.Errorf("X-Sipedge-Forwarded-By %q reached the gateway from a device", got)
			}
			if res := finalCode(t, c); res.StatusCode != 486 {
				t.Fatalf("caller got %d, want 486", res.StatusCode)
			}
			waitIdle(t, env.callEnv)
		})
	}
}

// sip.custom_sip_headers: the callee's in (and flat) headers go to it, the
// caller's out (and flat) headers go to the far end, the caller's out
// winning a clash; X-Sipedge-* a device sent never reaches a device.
func TestRouteCustomHeaders(t *testing.T) {
	env := newRouteEnv(t, 0)
	env.patch(t, "alice", map[string]any{"sip": map[string]any{"custom_sip_headers": map[string]any{
		"out":          map[string]any{"X-Out": "alice-out", "X-Clash": "alice-out"},
		"in":           map[string]any{"X-Alice-In": "never-to-bob"},
		"X-Alice-Flat": "alice-flat",
	}}})
	env.patch(t, "bob", map[string]any{"sip": map[string]any{"custom_sip_headers": map[string]any{
		"in":         map[string]any{"X-In": "bob-in", "X-Clash": "bob-in"},
		"out":        map[string]any{"X-Bob-Out": "never-to-bob"},
		"X-Bob-Flat": "bob-flat",
	}}})
	alice := env.phone(t, "UDP", "alice")
	bob := env.phone(t, "UDP", "bob")
	c := call(t, alice, "bob",
		sip.NewHeader("X-Sipedge-Require-Keypress", "true"),
		sip.NewHeader("x-sipedge-whatever", "spoofed"),
		sip.NewHeader("X-Phone-Own", "kept"))
	in, err := bob.WaitCall(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"X-In":                       "bob-in",
		"X-Bob-Flat":                 "bob-flat",
		"X-Out":                      "alice-out",
		"X-Alice-Flat":               "alice-flat",
		"X-Clash":                    "alice-out",
		"X-Alice-In":                 "<absent>",
		"X-Bob-Out":                  "<absent>",
		"X-Sipedge-Require-Keypress": "<absent>",
		"x-sipedge-whatever":         "<absent>",
		"X-Phone-Own":                "kept",
	}
	for name, v := range want {
		if got := hval(in.Req, name); got != v {
			t.Errorf("%s: %q, want %q", name, got, v)
		}
	}
	if n := len(in.Req.GetHeaders("X-Clash")); n != 1 {
		t.Errorf("%d X-Clash headers, want 1", n)
	}
	for _, h := range in.Req.Headers() {
		if strings.HasPrefix(strings.ToLower(h.Name()), "x-sipedge-") {
			t.Errorf("internal header %s: %s reached the device", h.Name(), h.Value())
		}
	}
	reject(t, in)
	finalCode(t, c)
	waitIdle(t, env.callEnv)
}

// call_forward: substitute sends the forward leg alone to the gateway,
// otherwise the device and the forward leg ring in parallel; failover
// forwards only an unregistered device. The forward leg carries Diversion
// and the documented X-Sipedge- headers for the media server.
func TestRouteCallForward(t *testing.T) {
	tests := []struct {
		name        string
		cf          map[string]any
		register    bool
		bobRings    bool
		wantReason  string // Diversion reason
		wantIgnore  string
		wantKeypres string
	}{
		{name: "substitute", cf: map[string]any{"substitute": true, "require_keypress": false, "ignore_early_media": false}, register: true,
			wantReason: "unconditional", wantIgnore: "<absent>", wantKeypres: "<absent>"},
		{name: "parallel", cf: map[string]any{"substitute": false, "require_keypress": true}, register: true, bobRings: true,
			wantReason: "unconditional", wantIgnore: "true", wantKeypres: "true"},
		{name: "failover unregistered", cf: map[string]any{"enabled": false, "failover": true, "require_keypress": false}, register: false,
			wantReason: "unavailable", wantIgnore: "true", wantKeypres: "<absent>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newRouteEnv(t, 486)
			cf := map[string]any{"enabled": true, "number": "4155550177", "keep_caller_id": false}
			for k, v := range tc.cf {
				cf[k] = v
			}
			env.patch(t, "bob", map[string]any{"call_forward": cf,
				"caller_id": map[string]any{"external": map[string]any{"name": "Bob Ext", "number": "+14155550111"}}})
			alice := env.phone(t, "UDP", "alice")
			var bob *proxytest.Phone
			if tc.register {
				bob = env.phone(t, "UDP", "bob")
			}
			c := call(t, alice, "bob")
			inv := wait(t, env.gw.invites, "the forward leg at the gateway")
			if u := inv.Recipient; u.User != "+14155550177" {
				t.Errorf("forward leg Request-URI %s, want the forward number in e164", u.String())
			}
			if got, want := hval(inv, "Diversion"), "<sip:bob@"+realm+">;reason="+tc.wantReason; got != want {
				t.Errorf("Diversion %q, want %q", got, want)
			}
			if from := inv.From(); from.Address.User != "+14155550111" {
				t.Errorf("forward leg From %s, want bob's external caller ID", from.Value())
			}
			if got := hval(inv, "X-Sipedge-Forwarded-By"); got != env.store.ByUser(realm, "bob").ID {
				t.Errorf("X-Sipedge-Forwarded-By %q, want bob's device id", got)
			}
			if got := hval(inv, "X-Sipedge-Ignore-Early-Media"); got != tc.wantIgnore {
				t.Errorf("X-Sipedge-Ignore-Early-Media %q, want %q", got, tc.wantIgnore)
			}
			if got := hval(inv, "X-Sipedge-Require-Keypress"); got != tc.wantKeypres {
				t.Errorf("X-Sipedge-Require-Keypress %q, want %q", got, tc.wantKeypres)
			}
			if bob != nil {
				ctx, cancel := context.WithTimeout(ctxT(t), time.Second)
				in, err := bob.WaitCall(ctx)
				cancel()
				switch {
				case tc.bobRings && err != nil:
					t.Fatal("bob did not ring alongside the forward leg")
				case !tc.bobRings && err == nil:
					t.Error("bob rang, but the forward substitutes for him")
					reject(t, in)
				case err == nil:
					if hval(in.Req, "Diversion") != "<absent>" || hval(in.Req, "X-Sipedge-Forwarded-By") != "<absent>" {
						t.Error("bob's own leg carries the forward leg's headers")
					}
					reject(t, in)
				}
			}
			if res := finalCode(t, c); res.StatusCode != 486 {
				t.Fatalf("caller got %d, want 486", res.StatusCode)
			}
			waitIdle(t, env.callEnv)
		})
	}
}

// Calls the edge refuses answer with a SIP status and a Reason header.
func TestRouteRefusals(t *testing.T) {
	tests := []struct {
		name       string
		bob        map[string]any
		alice      map[string]any
		account    map[string]any
		register   bool
		dial       string
		wantCode   int
		wantReason string
	}{
		{name: "do not disturb", bob: map[string]any{"do_not_disturb": map[string]any{"enabled": true}}, register: true,
			dial: "bob", wantCode: 486, wantReason: `Q.850;cause=17;text="User Busy"`},
		{name: "disabled", bob: map[string]any{"enabled": false}, register: true,
			dial: "bob", wantCode: 480, wantReason: `Q.850;cause=21;text="Call Rejected"`},
		{name: "unregistered", dial: "bob", wantCode: 480, wantReason: `Q.850;cause=20;text="Subscriber Absent"`},
		{name: "international denied on the device", alice: map[string]any{"call_restriction": map[string]any{"international": map[string]any{"action": "deny"}}},
			dial: "011442071838750", wantCode: 403, wantReason: `Q.850;cause=21;text="Call Restricted (international)"`},
		{name: "international denied on the account", account: map[string]any{"call_restriction": map[string]any{"international": map[string]any{"action": "deny"}}},
			dial: "+442071838750", wantCode: 403, wantReason: `Q.850;cause=21;text="Call Restricted (international)"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newRouteEnv(t, 200)
			var bob *proxytest.Phone
			if tc.register {
				bob = env.phone(t, "UDP", "bob")
			}
			if tc.bob != nil {
				env.patch(t, "bob", tc.bob)
			}
			if tc.alice != nil {
				env.patch(t, "alice", tc.alice)
			}
			if tc.account != nil {
				env.patchAccount(t, tc.account)
			}
			alice := env.phone(t, "UDP", "alice")
			res := finalCode(t, call(t, alice, tc.dial))
			if res.StatusCode != tc.wantCode {
				t.Errorf("caller got %d %s, want %d", res.StatusCode, res.Reason, tc.wantCode)
			}
			if got := header(res, "Reason"); got != tc.wantReason {
				t.Errorf("Reason %q, want %q", got, tc.wantReason)
			}
			if bob != nil && len(bob.Calls()) != 0 {
				t.Error("bob rang")
			}
			if n := len(env.gw.invites); n != 0 {
				t.Errorf("%d INVITEs reached the gateway", n)
			}
			waitIdle(t, env.callEnv)
		})
	}
}

// A device change takes effect on the next call: the compiled profile is
// rebuilt from the store's change notification, no restart.
func TestRouteProfileFollowsChanges(t *testing.T) {
	env := newRouteEnv(t, 0)
	alice := env.phone(t, "UDP", "alice")
	bob := env.phone(t, "UDP", "bob")
	ring := func(want string) {
		t.Helper()
		c := call(t, alice, "bob")
		in, err := bob.WaitCall(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if got := in.Req.Recipient.String(); got != want {
			t.Errorf("Request-URI %s, want %s", got, want)
		}
		reject(t, in)
		finalCode(t, c)
	}
	ring("sip:bob@" + realm)
	env.patch(t, "bob", map[string]any{"sip": map[string]any{"invite_format": "e164", "number": "4158867900"}})
	ring("sip:+14158867900@" + realm)
	env.patch(t, "bob", map[string]any{"sip": map[string]any{"invite_format": "contact"}})
	ring(bob.Contact.String())
	waitIdle(t, env.callEnv)
}

// A complete call through routing (INVITE, 200, ACK, BYE) with rewritten
// To and From: the dialog still works end to end.
func TestRouteCallCompletes(t *testing.T) {
	env := newRouteEnv(t, 0)
	env.patch(t, "bob", map[string]any{"sip": map[string]any{"invite_format": "username", "static_invite": "desk"}})
	alice := env.phone(t, "UDP", "alice")
	bob := env.phone(t, "TCP", "bob")
	ctx := ctxT(t)
	c := call(t, alice, "bob")
	in, err := bob.WaitCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if in.Req.To().Address.User != "desk" {
		t.Errorf("To %s, want static_invite", in.Req.To().Value())
	}
	answered := make(chan error, 1)
	go func() {
		answered <- in.Dialog.Respond(200, "OK", []byte("v=0\r\n"), sip.NewHeader("Content-Type", "application/sdp"))
	}()
	if err := wait(t, c.done, "the answer"); err != nil {
		t.Fatal(err)
	}
	hangUp(t, c, bob, answered)
	waitIdle(t, env.callEnv)
}

// Dial plans (device, then account) rewrite the dialled number before it
// goes to the gateway.
func TestRouteDialPlan(t *testing.T) {
	env := newRouteEnv(t, 486)
	env.patch(t, "alice", map[string]any{"dial_plan": map[string]any{`^(\d{7})$`: map[string]any{"prefix": "+1415"}}})
	env.patchAccount(t, map[string]any{"dial_plan": map[string]any{`^9(\d+)$`: map[string]any{"description": "outside line"}}})
	alice := env.phone(t, "UDP", "alice")
	tests := []struct{ name, dial, want string }{
		{name: "device plan then e164", dial: "8867900", want: "+14158867900"},
		{name: "account plan then e164", dial: "914158867900", want: "+14158867900"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := call(t, alice, tc.dial)
			inv := wait(t, env.gw.invites, "the INVITE at the gateway")
			if inv.Recipient.User != tc.want {
				t.Errorf("gateway Request-URI user %s, want %s", inv.Recipient.User, tc.want)
			}
			finalCode(t, c)
		})
	}
	waitIdle(t, env.callEnv)
}

// A call from a gateway: a DID reaches its device by sip.number; a number
// that is no device is 404 (never sent back out); a forwarded DID with
// keep_caller_id keeps the carrier's caller ID on the forward leg.
func TestRouteFromGateway(t *testing.T) {
	env := newRouteEnv(t, 486)
	env.patch(t, "bob", map[string]any{"sip": map[string]any{"number": "+14158867900", "invite_format": "e164"}})
	env.patch(t, "carol", map[string]any{"sip": map[string]any{"number": "+14158867901"},
		"call_forward": map[string]any{"enabled": true, "substitute": true, "number": "+14155550177", "keep_caller_id": true}})
	bob := env.phone(t, "UDP", "bob")

	t.Run("DID to device", func(t *testing.T) {
		done := env.fromGateway(t, "+14158867900")
		in, err := bob.WaitCall(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if got := in.Req.Recipient.String(); got != "sip:+14158867900@"+realm {
			t.Errorf("Request-URI %s", got)
		}
		reject(t, in)
		if res := wait(t, done, "the answer"); res == nil || res.StatusCode != 486 {
			t.Fatalf("gateway got %v, want 486", res)
		}
	})
	t.Run("unknown number", func(t *testing.T) {
		res := wait(t, env.fromGateway(t, "+14150000000"), "the answer")
		if res == nil || res.StatusCode != 404 {
			t.Fatalf("gateway got %v, want 404", res)
		}
		if got := header(res, "Reason"); got != `Q.850;cause=1;text="Unallocated Number"` {
			t.Errorf("Reason %q", got)
		}
	})
	t.Run("forward keeps caller id", func(t *testing.T) {
		done := env.fromGateway(t, "+14158867901")
		inv := wait(t, env.gw.invites, "the forward leg at the gateway")
		if inv.Recipient.User != "+14155550177" {
			t.Errorf("forward leg Request-URI %s", inv.Recipient.String())
		}
		if from := inv.From(); from.Address.User != "+14155550123" || from.DisplayName != "Carrier Caller" {
			t.Errorf("forward leg From %s, want the carrier caller's ID", from.Value())
		}
		if got, want := hval(inv, "Diversion"), "<sip:+14158867901@"+realm+">;reason=unconditional"; got != want {
			t.Errorf("Diversion %q, want %q", got, want)
		}
		if res := wait(t, done, "the answer"); res == nil || res.StatusCode != 486 {
			t.Fatalf("gateway got %v, want 486", res)
		}
	})
	waitIdle(t, env.callEnv)
}
