package registrar

import (
	"context"
	"errors"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sipedge/sipedge/location"
)

func TestRegisterDigest(t *testing.T) {
	tests := []struct {
		name      string
		transport string
		alg       string
		noQOP     bool
	}{
		{"udp sha256 qop", "UDP", AlgSHA256, false},
		{"udp md5 qop", "UDP", AlgMD5, false},
		{"udp md5 no qop", "UDP", AlgMD5, true},
		{"tcp sha256 qop", "TCP", AlgSHA256, false},
		{"tcp sha256 no qop", "TCP", AlgSHA256, true},
		{"tcp md5 qop", "TCP", AlgMD5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			p := e.phone("alice", alicePass, tt.transport)
			p.alg, p.noQOP = tt.alg, tt.noQOP

			res := p.do(p.request(p.contact()))
			if res.StatusCode != 401 {
				t.Fatalf("first REGISTER: %s, want 401", res.Short())
			}
			chals := headerValues(res, "WWW-Authenticate")
			if len(chals) != 2 {
				t.Fatalf("got %d challenges, want 2: %q", len(chals), chals)
			}
			for i, alg := range []string{AlgSHA256, AlgMD5} {
				c, err := digest.ParseChallenge(chals[i])
				if err != nil {
					t.Fatal(err)
				}
				if c.Algorithm != alg || c.Realm != testRealm || len(c.Nonce) != nonceLen ||
					c.Opaque == "" || !c.SupportsQOP("auth") || c.Stale {
					t.Fatalf("challenge %d = %q", i, chals[i])
				}
			}

			res = p.do(p.request(p.authorization(res, alicePass), p.contact()))
			if res.StatusCode != 200 {
				t.Fatalf("authenticated REGISTER: %s, want 200", res.Short())
			}
			contacts := headerValues(res, "Contact")
			want := "<sip:alice@192.168.1.20:5062>;expires=600"
			if len(contacts) != 1 || contacts[0] != want {
				t.Fatalf("200 Contact = %q, want [%q]", contacts, want)
			}
			if d := header(res, "Date"); !strings.HasSuffix(d, " GMT") || !strings.HasPrefix(d, "Mon, 23 Nov 2026 12:00:00") {
				t.Fatalf("Date = %q", d)
			}

			bs := e.bindings("alice")
			if len(bs) != 1 {
				t.Fatalf("bindings = %+v", bs)
			}
			b := bs[0]
			wantTr := location.UDP
			if tt.transport == "TCP" {
				wantTr = location.TCP
			}
			now := e.clock.Now()
			switch {
			case b.Contact != "sip:alice@192.168.1.20:5062",
				b.OriginalContact != "<sip:alice@192.168.1.20:5062>",
				b.Source.Addr() != netip.MustParseAddr("127.0.0.1") || b.Source.Port() == 0,
				b.Local.String() != e.addr[tt.transport],
				b.Transport != wantTr,
				!b.NAT,
				!b.Expires.Equal(now.Add(600 * time.Second)),
				!b.Registered.Equal(now), !b.Updated.Equal(now),
				b.CallID != p.callID, b.CSeq != 2,
				b.UserAgent != "TestPhone/1.0",
				b.AccountID != e.acct.ID, b.DeviceID != e.alice.ID,
				b.Username != "alice", b.Realm != testRealm,
				b.PreviousContact != "":
				t.Fatalf("binding = %+v", b)
			}
			if got := testutil.ToFloat64(e.svc.m.results[resChallenged]); got != 1 {
				t.Fatalf("challenged = %v", got)
			}
			if got := testutil.ToFloat64(e.svc.m.results[resOK]); got != 1 {
				t.Fatalf("ok = %v", got)
			}
		})
	}
}

// A Contact naming the packet source exactly is not NAT'd.
func TestRegisterNoNAT(t *testing.T) {
	e := newEnv(t, nil)
	p := e.phone("alice", alicePass, "TCP")
	// Learn our own source from a first registration, then register it as the contact.
	if res := p.register(p.contact()); res.StatusCode != 200 {
		t.Fatal(res.Short())
	}
	src := e.bindings("alice")[0].Source
	p.contactHost, p.contactPort = src.Addr().String(), int(src.Port())
	if res := p.register(p.contact()); res.StatusCode != 200 {
		t.Fatal(res.Short())
	}
	bs := e.bindings("alice")
	if len(bs) != 1 || bs[0].NAT || bs[0].PreviousContact != "sip:alice@192.168.1.20:5062" {
		t.Fatalf("bindings = %+v", bs)
	}
}

func TestWrongPasswordBan(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.FailedAuth.Limit = 3 })
	p := e.phone("alice", alicePass, "UDP")
	for i := 1; i <= 2; i++ {
		res := p.do(p.request(p.contact()))
		res = p.do(p.request(p.authorization(res, "wrong-password"), p.contact()))
		if res.StatusCode != 401 {
			t.Fatalf("failure %d: %s, want 401", i, res.Short())
		}
	}
	res := p.do(p.request(p.contact()))
	res = p.do(p.request(p.authorization(res, "wrong-password"), p.contact()))
	if res.StatusCode != 403 {
		t.Fatalf("failure 3: %s, want 403", res.Short())
	}
	// Banned: even the right password is refused without a challenge.
	if res := p.do(p.request(p.contact())); res.StatusCode != 403 {
		t.Fatalf("banned REGISTER: %s, want 403", res.Short())
	}
	if len(e.bindings("alice")) != 0 {
		t.Fatal("banned phone got a binding")
	}
	bans := e.svc.Bans()
	if len(bans) != 1 || bans[0].User != "alice" || bans[0].Realm != testRealm || bans[0].IP != "127.0.0.1" ||
		bans[0].Failures != 3 || bans[0].Until != e.clock.Now().Add(10*time.Minute).Unix() {
		t.Fatalf("bans = %+v", bans)
	}
	logs := e.logs.String()
	for _, re := range []string{
		`level=WARN msg="auth failed" src=127\.0\.0\.1 user=alice realm=acme\.example\.com reason=bad_password failures=1`,
		`level=WARN msg="auth banned" src=127\.0\.0\.1 user=alice realm=acme\.example\.com failures=3`,
	} {
		if !regexp.MustCompile(re).MatchString(logs) {
			t.Fatalf("log lacks %s:\n%s", re, logs)
		}
	}
	if got := testutil.ToFloat64(e.svc.m.bans); got != 1 {
		t.Fatalf("bans_total = %v", got)
	}
	if got := testutil.ToFloat64(e.svc.m.failures[failBadPassword]); got != 3 {
		t.Fatalf("bad_password = %v", got)
	}
	if n, err := testutil.GatherAndCount(e.reg, "sipedge_registrar_bans_active"); err != nil || n != 1 {
		t.Fatalf("bans_active series = %d, %v", n, err)
	}

	// Another user from the same IP is not affected.
	if res := e.phone("carol", "carol-secret", "UDP").register(p.contact()); res.StatusCode != 200 {
		t.Fatalf("carol: %s", res.Short())
	}

	if e.svc.Unban("bm90LWEta2V5") {
		t.Fatal("unban of an unknown key succeeded")
	}
	if !e.svc.Unban(bans[0].Key) {
		t.Fatal("unban failed")
	}
	if res := p.register(p.contact()); res.StatusCode != 200 {
		t.Fatalf("after unban: %s", res.Short())
	}

	// A ban lapses on its own.
	for i := 0; i < 3; i++ {
		res := p.do(p.request(p.contact()))
		p.do(p.request(p.authorization(res, "wrong-password"), p.contact()))
	}
	if len(e.svc.Bans()) != 1 {
		t.Fatal("no ban after 3 more failures")
	}
	e.clock.Advance(10*time.Minute + time.Second)
	if len(e.svc.Bans()) != 0 {
		t.Fatal("ban outlived its duration")
	}
	if res := p.register(p.contact()); res.StatusCode != 200 {
		t.Fatalf("after ban expiry: %s", res.Short())
	}
}

// Failures spread wider than the window never add up to a ban.
func TestFailureWindow(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.FailedAuth.Limit = 2 })
	p := e.phone("alice", alicePass, "UDP")
	for i := 0; i < 3; i++ {
		res := p.do(p.request(p.contact()))
		res = p.do(p.request(p.authorization(res, "wrong-password"), p.contact()))
		if res.StatusCode != 401 {
			t.Fatalf("failure %d: %s, want 401", i+1, res.Short())
		}
		e.clock.Advance(time.Minute)
	}
}

func TestBanDrop(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.FailedAuth.Limit = 1
		c.FailedAuth.Action = BanActionDrop
	})
	p := e.phone("alice", alicePass, "UDP")
	res := p.do(p.request(p.contact()))
	req := p.request(p.authorization(res, "wrong-password"), p.contact())
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	res, err := p.cl.Do(ctx, req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do = %v, %v; want no answer (deadline exceeded)", res, err)
	}
	if r := e.waitHandled(); r != nil {
		t.Fatalf("handler answered %s", r.Short())
	}
	if len(e.svc.Bans()) != 1 {
		t.Fatal("no ban")
	}
	if got := testutil.ToFloat64(e.svc.m.results[resBanned]); got < 1 {
		t.Fatalf("banned = %v", got)
	}
}

func TestStaleNonce(t *testing.T) {
	e := newEnv(t, nil)
	p := e.phone("alice", alicePass, "UDP")
	res := p.do(p.request(p.contact()))
	e.clock.Advance(5*time.Minute + time.Second)

	// Wrong password with an old nonce: a plain failure, no stale.
	bad := p.do(p.request(p.authorization(res, "wrong-password"), p.contact()))
	if bad.StatusCode != 401 || strings.Contains(header(bad, "WWW-Authenticate"), "stale") {
		t.Fatalf("wrong password, old nonce: %s %q", bad.Short(), headerValues(bad, "WWW-Authenticate"))
	}
	stale := p.do(p.request(p.authorization(res, alicePass), p.contact()))
	if stale.StatusCode != 401 {
		t.Fatalf("old nonce: %s, want 401", stale.Short())
	}
	for _, v := range headerValues(stale, "WWW-Authenticate") {
		if !strings.HasSuffix(v, `, stale=true`) {
			t.Fatalf("challenge without stale=true: %q", v)
		}
	}
	// The fresh nonce in the stale challenge works at once.
	p.nc = 0
	if res := p.do(p.request(p.authorization(stale, alicePass), p.contact())); res.StatusCode != 200 {
		t.Fatalf("fresh nonce: %s", res.Short())
	}
	if got := testutil.ToFloat64(e.svc.m.failures[failStale]); got != 1 {
		t.Fatalf("stale = %v", got)
	}
}

func TestNonceCountReplay(t *testing.T) {
	e := newEnv(t, nil)
	p := e.phone("alice", alicePass, "UDP")
	chal := p.do(p.request(p.contact()))
	auth := p.authorization(chal, alicePass) // nc=1
	if res := p.do(p.request(auth, p.contact())); res.StatusCode != 200 {
		t.Fatalf("first: %s", res.Short())
	}
	replayed := p.do(p.request(auth, p.contact()))
	if replayed.StatusCode != 401 || strings.Contains(header(replayed, "WWW-Authenticate"), "stale") {
		t.Fatalf("replayed nc: %s", replayed.Short())
	}
	// The next count on the same nonce is fine: phones reuse nonces.
	if res := p.do(p.request(p.authorization(chal, alicePass), p.contact())); res.StatusCode != 200 {
		t.Fatalf("nc=2: %s", res.Short())
	}
	if got := testutil.ToFloat64(e.svc.m.failures[failReplay]); got != 1 {
		t.Fatalf("replay = %v", got)
	}
}

// Unknown users, unknown realms' users and disabled devices are answered
// exactly like a known user, with and without credentials.
func TestChallengeIndistinguishable(t *testing.T) {
	e := newEnv(t, nil)
	type answer struct {
		code    int
		reason  string
		chals   []string
		headers []string
	}
	// Nonces are unique per challenge; their format is checked elsewhere.
	nonceRe := regexp.MustCompile(`nonce="[A-Za-z0-9_-]{43}"`)
	shape := func(res *sip.Response) answer {
		a := answer{code: res.StatusCode, reason: res.Reason}
		for _, v := range headerValues(res, "WWW-Authenticate") {
			a.chals = append(a.chals, nonceRe.ReplaceAllString(v, `nonce="…"`))
		}
		for _, h := range res.Headers() {
			a.headers = append(a.headers, h.Name())
		}
		return a
	}
	cases := []struct{ name, user, pass string }{
		{"known user, wrong password", "alice", "wrong-password"},
		{"unknown user", "mallory", "whatever1"},
		{"disabled device, right password", "bob", bobPass},
	}
	var first, firstCred *answer
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := e.phone(c.user, c.pass, "UDP")
			chal := p.do(p.request(p.contact()))
			got := shape(chal)
			cred := shape(p.do(p.request(p.authorization(chal, c.pass), p.contact())))
			if got.code != 401 || cred.code != 401 {
				t.Fatalf("codes %d, %d; want 401, 401", got.code, cred.code)
			}
			if first == nil {
				first, firstCred = &got, &cred
				return
			}
			if strings.Join(got.chals, "\n") != strings.Join(first.chals, "\n") ||
				strings.Join(got.headers, ",") != strings.Join(first.headers, ",") || got.reason != first.reason {
				t.Fatalf("challenge differs:\n%+v\n%+v", got, *first)
			}
			if strings.Join(cred.chals, "\n") != strings.Join(firstCred.chals, "\n") ||
				strings.Join(cred.headers, ",") != strings.Join(firstCred.headers, ",") {
				t.Fatalf("failure answer differs:\n%+v\n%+v", cred, *firstCred)
			}
		})
	}
	// Another realm: same shape, its own realm.
	p := e.phone("alice", alicePass, "UDP")
	p.realm = "nowhere.example.com"
	res := p.do(p.request(p.contact()))
	got := shape(res)
	wantChals := strings.ReplaceAll(strings.Join(first.chals, "\n"), testRealm, "nowhere.example.com")
	opaqueRe := regexp.MustCompile(`opaque="[^"]*"`)
	if res.StatusCode != 401 || opaqueRe.ReplaceAllString(strings.Join(got.chals, "\n"), "") != opaqueRe.ReplaceAllString(wantChals, "") {
		t.Fatalf("unknown realm challenge %q", got.chals)
	}
	if got := testutil.ToFloat64(e.svc.m.failures[failUnknown]); got != 1 {
		t.Fatalf("unknown = %v", got)
	}
	if got := testutil.ToFloat64(e.svc.m.failures[failDisabled]); got != 1 {
		t.Fatalf("disabled = %v", got)
	}
}

func TestIPAuth(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name string
		user string
		want int
	}{
		{"own AOR, no credentials", "trunk", 200},
		{"someone else's AOR is challenged", "alice", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.phoneFrom(trunkIP+":0", tt.user, "", "UDP")
			res := p.do(p.request(p.contact()))
			if res.StatusCode != tt.want {
				t.Fatalf("%s, want %d", res.Short(), tt.want)
			}
		})
	}
	bs := e.bindings("trunk")
	if len(bs) != 1 || bs[0].DeviceID != e.trunk.ID || bs[0].Source.Addr() != netip.MustParseAddr(trunkIP) {
		t.Fatalf("trunk bindings %+v", bs)
	}
	if len(e.bindings("alice")) != 0 {
		t.Fatal("IP-auth source registered alice")
	}
}

func TestExpires(t *testing.T) {
	tests := []struct {
		name     string
		user     string
		param    string // Contact ;expires=
		header   string // Expires:
		wantCode int
		want     string // expires= in the 200, or Min-Expires in the 423
	}{
		{"device expire_seconds", "alice", "", "", 200, "600"},
		{"config default", "carol", "", "", 200, "300"},
		{"header", "alice", "", "120", 200, "120"},
		{"param beats header", "alice", "90", "120", 200, "90"},
		{"clamped", "alice", "7200", "", 200, "3600"},
		{"minimum is fine", "alice", "", "60", 200, "60"},
		{"too brief param", "alice", "30", "", 423, "60"},
		{"too brief header", "alice", "", "59", 423, "60"},
		{"bad header", "alice", "", "soon", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			pass := alicePass
			if tt.user == "carol" {
				pass = "carol-secret"
			}
			p := e.phone(tt.user, pass, "TCP")
			var hdrs []sip.Header
			if tt.param != "" {
				hdrs = append(hdrs, p.contact("expires", tt.param))
			} else {
				hdrs = append(hdrs, p.contact())
			}
			if tt.header != "" {
				hdrs = append(hdrs, sip.NewHeader("Expires", tt.header))
			}
			res := p.register(hdrs...)
			if res.StatusCode != tt.wantCode {
				t.Fatalf("%s, want %d", res.Short(), tt.wantCode)
			}
			switch tt.wantCode {
			case 200:
				c := res.Contact()
				if got, _ := c.Params.Get("expires"); got != tt.want {
					t.Fatalf("granted %q, want %s", got, tt.want)
				}
				secs, _ := strconv.Atoi(tt.want)
				bs := e.bindings(tt.user)
				if len(bs) != 1 || bs[0].Expires.Sub(e.clock.Now()) != time.Duration(secs)*time.Second {
					t.Fatalf("bindings %+v", bs)
				}
			case 423:
				if got := header(res, "Min-Expires"); got != tt.want {
					t.Fatalf("Min-Expires %q", got)
				}
				if len(e.bindings(tt.user)) != 0 {
					t.Fatal("binding stored")
				}
			}
		})
	}
}

// A binding that is not refreshed goes away when its expiry passes: out of
// the location table, the registrations API and the REGISTER query answer.
func TestExpiryRemovesBinding(t *testing.T) {
	e := newEnv(t, nil)
	p := e.phone("alice", alicePass, "UDP")
	if res := p.register(p.contact("expires", "60")); res.StatusCode != 200 {
		t.Fatal(res.Short())
	}
	if n := e.svc.Count(e.acct.ID); n != 1 {
		t.Fatalf("count %d before expiry", n)
	}
	e.clock.Advance(59 * time.Second)
	if n := e.loc.Expire(); n != 0 {
		t.Fatalf("expired %d bindings before their time", n)
	}
	e.clock.Advance(2 * time.Second)
	if n := e.loc.Expire(); n != 1 {
		t.Fatalf("expired %d bindings, want 1", n)
	}
	if n := e.svc.Count(e.acct.ID); n != 0 {
		t.Fatalf("count %d after expiry", n)
	}
	res := p.register() // a query
	if res.StatusCode != 200 || len(headerValues(res, "Contact")) != 0 {
		t.Fatalf("query after expiry: %s %v", res.Short(), headerValues(res, "Contact"))
	}
}

func TestRemoveAndQuery(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxContacts = 3 })
	p := e.phone("alice", alicePass, "UDP")
	if res := p.register(p.contact()); res.StatusCode != 200 {
		t.Fatal(res.Short())
	}
	p2 := e.phone("alice", alicePass, "UDP")
	p2.contactHost = "192.168.1.21"
	if res := p2.register(p2.contact()); res.StatusCode != 200 {
		t.Fatal(res.Short())
	}

	e.clock.Advance(100 * time.Second)
	res := p.register() // no Contact: a query
	if res.StatusCode != 200 {
		t.Fatal(res.Short())
	}
	got := strings.Join(headerValues(res, "Contact"), " | ")
	want := "<sip:alice@192.168.1.20:5062>;expires=500 | <sip:alice@192.168.1.21:5062>;expires=500"
	if got != want {
		t.Fatalf("query Contacts %q, want %q", got, want)
	}

	// Expires: 0 removes that contact only.
	res = p.register(p.contact(), sip.NewHeader("Expires", "0"))
	if res.StatusCode != 200 {
		t.Fatal(res.Short())
	}
	if got := headerValues(res, "Contact"); len(got) != 1 || got[0] != "<sip:alice@192.168.1.21:5062>;expires=500" {
		t.Fatalf("after removal %q", got)
	}
	if got := testutil.ToFloat64(e.svc.m.results[resRemoved]); got != 1 {
		t.Fatalf("removed = %v", got)
	}

	// Wildcard rules.
	star := &sip.ContactHeader{Address: sip.Uri{Wildcard: true}}
	for _, bad := range [][]sip.Header{
		{star, sip.NewHeader("Expires", "300")},
		{star},
		{star, p.contact(), sip.NewHeader("Expires", "0")},
	} {
		if res := p.register(bad...); res.StatusCode != 400 {
			t.Fatalf("bad wildcard: %s, want 400", res.Short())
		}
	}
	if res := p.register(p.contact()); res.StatusCode != 200 {
		t.Fatal(res.Short())
	}
	if n := len(e.bindings("alice")); n != 2 {
		t.Fatalf("%d bindings before wildcard", n)
	}
	res = p.register(star, sip.NewHeader("Expires", "0"))
	if res.StatusCode != 200 || len(res.GetHeaders("Contact")) != 0 {
		t.Fatalf("wildcard: %s %q", res.Short(), headerValues(res, "Contact"))
	}
	if n := len(e.bindings("alice")); n != 0 {
		t.Fatalf("%d bindings after wildcard", n)
	}
}

func TestMaxContacts(t *testing.T) {
	tests := []struct {
		name string
		max  int
		want []string // remaining contact hosts, in order
		prev string   // PreviousContact of the newest
	}{
		{"one replaces", 1, []string{"10.0.0.3"}, "sip:alice@10.0.0.2:5062"},
		{"two evicts oldest", 2, []string{"10.0.0.2", "10.0.0.3"}, "sip:alice@10.0.0.1:5062"},
		{"three keeps all", 3, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.MaxContacts = tt.max })
			for _, host := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"} {
				p := e.phone("alice", alicePass, "UDP")
				p.contactHost = host
				if res := p.register(p.contact()); res.StatusCode != 200 {
					t.Fatal(res.Short())
				}
				e.clock.Advance(time.Second)
			}
			bs := e.bindings("alice")
			var hosts []string
			for _, b := range bs {
				hosts = append(hosts, strings.TrimSuffix(strings.TrimPrefix(b.Contact, "sip:alice@"), ":5062"))
			}
			if strings.Join(hosts, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("contacts %v, want %v", hosts, tt.want)
			}
			if got := bs[len(bs)-1].PreviousContact; got != tt.prev {
				t.Fatalf("previous contact %q, want %q", got, tt.prev)
			}
		})
	}
}

// A refresh of the same contact keeps its first registration time.
func TestRefreshInPlace(t *testing.T) {
	e := newEnv(t, nil)
	p := e.phone("alice", alicePass, "UDP")
	if res := p.register(p.contact()); res.StatusCode != 200 {
		t.Fatal(res.Short())
	}
	first := e.clock.Now()
	e.clock.Advance(time.Minute)
	if res := p.register(p.contact("expires", "120")); res.StatusCode != 200 {
		t.Fatal(res.Short())
	}
	bs := e.bindings("alice")
	if len(bs) != 1 || !bs[0].Registered.Equal(first) || !bs[0].Updated.Equal(e.clock.Now()) ||
		bs[0].CSeq != 4 || bs[0].Contact != "sip:alice@192.168.1.20:5062;expires=120" {
		t.Fatalf("bindings %+v", bs)
	}
}

func TestCSeqOrdering(t *testing.T) {
	e := newEnv(t, nil)
	p := e.phone("alice", alicePass, "UDP")
	p.cseq = 10
	if res := p.register(p.contact()); res.StatusCode != 200 { // CSeq 11, 12
		t.Fatal(res.Short())
	}
	tests := []struct {
		name  string
		cseq  uint32 // CSeq of the authenticated request is cseq+2
		param string
		want  int
	}{
		{"older CSeq fails", 0, "120", 500},
		{"same CSeq is a retransmission", 10, "120", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.cseq = tt.cseq
			res := p.register(p.contact("expires", tt.param))
			if res.StatusCode != tt.want {
				t.Fatalf("%s, want %d", res.Short(), tt.want)
			}
			bs := e.bindings("alice")
			if len(bs) != 1 || bs[0].CSeq != 12 || !bs[0].Expires.Equal(e.clock.Now().Add(600*time.Second)) {
				t.Fatalf("binding changed: %+v", bs)
			}
		})
	}
	if res := p.do(p.request()); res.StatusCode != 401 {
		t.Fatal(res.Short())
	}
}

func TestThirdPartyRefused(t *testing.T) {
	e := newEnv(t, nil)
	p := e.phone("alice", alicePass, "UDP")
	req := p.request(p.contact())
	req.From().Address.User = "carol"
	if res := p.do(req); res.StatusCode != 403 {
		t.Fatalf("%s, want 403", res.Short())
	}
}

// SIPp and some phones put the proxy's address, not the Request-URI, in the
// digest uri; the hash covers it, so it is accepted as Kamailio does.
func TestDigestURIOfProxyAddress(t *testing.T) {
	e := newEnv(t, nil)
	p := e.phone("alice", alicePass, "UDP")
	p.digestURI = "sip:127.0.0.1:5060"
	if res := p.register(p.contact()); res.StatusCode != 200 {
		t.Fatalf("%s, want 200", res.Short())
	}
	if got := len(e.bindings("alice")); got != 1 {
		t.Fatalf("%d bindings, want 1", got)
	}
}

func TestMalformed(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name string
		auth string
		want int
	}{
		{"not digest: challenged", "Basic YWxpY2U6eA==", 401},
		{"missing response", `Digest username="alice", realm="acme.example.com", nonce="x", uri="sip:acme.example.com"`, 400},
		{"other username", `Digest username="carol", realm="acme.example.com", nonce="x", uri="sip:acme.example.com", response="00"`, 403},
		{"forged nonce", `Digest username="alice", realm="acme.example.com", nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uri="sip:acme.example.com", response="00"`, 401},
	}
	long := e.phone(strings.Repeat("a", 129), alicePass, "UDP")
	if res := long.do(long.request(long.contact())); res.StatusCode != 400 {
		t.Fatalf("129-byte user: %s, want 400", res.Short())
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.phone("alice", alicePass, "UDP")
			res := p.do(p.request(sip.NewHeader("Authorization", tt.auth), p.contact()))
			if res.StatusCode != tt.want {
				t.Fatalf("%s, want %d", res.Short(), tt.want)
			}
		})
	}
	if len(e.svc.Bans()) != 0 {
		t.Fatal("malformed requests counted towards a ban")
	}
}
