package registrar_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/registrar"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func notifyCount(e *nenv, kind, outcome string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sipedge_registrar_notify_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["event_kind"] == kind && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

// checkNotify asserts the headers every NOTIFY must carry.
func checkNotify(t *testing.T, p *uaPhone, req *sip.Request, event string) {
	t.Helper()
	if req.Method != sip.NOTIFY {
		t.Fatalf("method %s", req.Method)
	}
	if got, want := req.Recipient.String(), p.contact.String(); got != want {
		t.Errorf("Request-URI %s, want the contact %s", got, want)
	}
	aor := "sip:" + p.user + "@" + nRealm
	from, to := req.From(), req.To()
	if from == nil || from.Address.String() != aor {
		t.Errorf("From %v, want %s", from, aor)
	}
	if tag, _ := from.Params.Get("tag"); tag == "" {
		t.Errorf("From has no tag: %v", from)
	}
	if to == nil || to.Address.String() != aor || to.Params.Has("tag") {
		t.Errorf("To %v, want %s without tag", to, aor)
	}
	if got := hdr(req, "Event"); got != event {
		t.Errorf("Event %q, want %q", got, event)
	}
	if got := hdr(req, "Subscription-State"); got != "terminated" {
		t.Errorf("Subscription-State %q", got)
	}
	if cs := req.CSeq(); cs == nil || cs.SeqNo != 1 || cs.MethodName != sip.NOTIFY {
		t.Errorf("CSeq %v, want 1 NOTIFY", cs)
	}
	if mf := req.MaxForwards(); mf == nil || mf.Val() != 70 {
		t.Errorf("Max-Forwards %v", mf)
	}
	if cid := req.CallID(); cid == nil || len(cid.Value()) < 16 || strings.Contains(cid.Value(), p.callID) {
		t.Errorf("Call-ID %v, want a fresh one", cid)
	}
	if cl := req.ContentLength(); cl == nil || int(*cl) != len(req.Body()) {
		t.Errorf("Content-Length %v for a body of %d", cl, len(req.Body()))
	}
	if via := req.Via(); via == nil || via.Transport != p.transport {
		t.Errorf("Via %v, want transport %s", via, p.transport)
	}
	// It came over the flow the phone registered on, to the phone's own UA.
	if req.Transport() != p.transport {
		t.Errorf("arrived over %s, want %s", req.Transport(), p.transport)
	}
}

func TestSyncReachesEveryContactOverItsFlow(t *testing.T) {
	for _, tr := range []string{"UDP", "TCP"} {
		t.Run(tr, func(t *testing.T) {
			e := newNotifyEnv(t, registrar.NotifyConfig{})
			// carol has two contacts? MaxContacts is 1, so one per AOR;
			// bob on the same transport shows each flow gets its own.
			alice := e.phone("alice", tr, 5061)
			bob := e.phone("bob", tr, 5062)
			alice.register()
			bob.register()

			out, err := e.n.Sync(ctxFor(t), e.acct.ID, e.devs["alice"].ID, false)
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			want := []registrar.Outcome{{Contact: alice.contact.String(), Result: "answered", Code: 200}}
			if len(out) != 1 || out[0] != want[0] {
				t.Fatalf("outcomes %+v, want %+v", out, want)
			}
			checkNotify(t, alice, alice.next(), "check-sync")
			alice.none()
			bob.none()

			out, err = e.n.Sync(ctxFor(t), e.acct.ID, e.devs["bob"].ID, true)
			if err != nil || len(out) != 1 || out[0].Result != "answered" {
				t.Fatalf("Sync bob: %+v %v", out, err)
			}
			checkNotify(t, bob, bob.next(), "check-sync;reboot=true")
			bob.none()
			alice.none()
			if got := notifyCount(e, "check-sync", "answered"); got != 2 {
				t.Errorf("notify_total{check-sync,answered} = %v, want 2", got)
			}
		})
	}
}

func TestSyncAnswerCodes(t *testing.T) {
	e := newNotifyEnv(t, registrar.NotifyConfig{})
	p := e.phone("alice", "UDP", 5061)
	p.register()
	p.answer.Store(481)
	out, err := e.n.Sync(ctxFor(t), e.acct.ID, e.devs["alice"].ID, false)
	if err != nil || len(out) != 1 || out[0].Result != "answered" || out[0].Code != 481 {
		t.Fatalf("outcomes %+v err %v, want answered 481", out, err)
	}
}

func TestSyncSilentContactTimesOut(t *testing.T) {
	for _, tr := range []string{"UDP", "TCP"} {
		t.Run(tr, func(t *testing.T) {
			e := newNotifyEnv(t, registrar.NotifyConfig{Timeout: 300 * time.Millisecond})
			p := e.phone("alice", tr, 5061)
			p.register()
			p.answer.Store(0)
			out, err := e.n.Sync(ctxFor(t), e.acct.ID, e.devs["alice"].ID, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 1 || out[0].Result != "timeout" || out[0].Code != 0 {
				t.Fatalf("outcomes %+v, want one timeout", out)
			}
			p.next() // it was sent, just never answered
			if got := notifyCount(e, "check-sync", "timeout"); got != 1 {
				t.Errorf("notify_total{check-sync,timeout} = %v", got)
			}
		})
	}
}

func TestSyncCallerCancelReportsSent(t *testing.T) {
	e := newNotifyEnv(t, registrar.NotifyConfig{Timeout: time.Minute})
	p := e.phone("alice", "UDP", 5061)
	p.register()
	p.answer.Store(0)
	ctx, cancel := context.WithCancel(context.Background())
	p.mu.Lock()
	p.onNotify = func(*sip.Request) { cancel() } // the caller gives up once it is on the wire
	p.mu.Unlock()
	out, err := e.n.Sync(ctx, e.acct.ID, e.devs["alice"].ID, false)
	if err != nil || len(out) != 1 || out[0].Result != "sent" {
		t.Fatalf("outcomes %+v err %v, want sent", out, err)
	}
}

func TestNotifyCarriesEventAndBody(t *testing.T) {
	e := newNotifyEnv(t, registrar.NotifyConfig{})
	p := e.phone("alice", "TCP", 5061)
	p.register()
	out, err := e.n.Notify(ctxFor(t), e.acct.ID, e.devs["alice"].ID, "talk", "text/plain", "hello\r\nworld")
	if err != nil || len(out) != 1 || out[0].Result != "answered" {
		t.Fatalf("Notify: %+v %v", out, err)
	}
	req := p.next()
	checkNotify(t, p, req, "talk")
	if ct := req.ContentType(); ct == nil || ct.Value() != "text/plain" {
		t.Errorf("Content-Type %v", ct)
	}
	if string(req.Body()) != "hello\r\nworld" {
		t.Errorf("body %q", req.Body())
	}
	if got := notifyCount(e, "other", "answered"); got != 1 {
		t.Errorf("notify_total{other,answered} = %v", got)
	}
}

func TestNotifyRefusesInjection(t *testing.T) {
	e := newNotifyEnv(t, registrar.NotifyConfig{})
	p := e.phone("alice", "UDP", 5061)
	p.register()
	cases := []struct {
		name, event, ct, body string
	}{
		{"CRLF in event", "check-sync\r\nX-Evil: 1", "", ""},
		{"LF in event", "check-sync\nX-Evil: 1", "", ""},
		{"NUL in event", "check-sync\x00", "", ""},
		{"CR in content type", "talk", "text/plain\rX: y", ""},
		{"NUL in body", "talk", "text/plain", "a\x00b"},
		{"empty event", "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.n.Notify(ctxFor(t), e.acct.ID, e.devs["alice"].ID, tc.event, tc.ct, tc.body)
			if !errors.Is(err, registrar.ErrBadValue) {
				t.Fatalf("err = %v, want ErrBadValue", err)
			}
		})
	}
	p.none()
	// A device document whose check_sync_event carries a newline is refused too.
	if _, err := e.store.PatchDevice(e.acct.ID, e.devs["alice"].ID,
		map[string]any{"provision": map[string]any{"check_sync_event": "check-sync\r\nX-Evil: 1"}}, ""); err != nil {
		t.Skipf("the device schema refuses the value already: %v", err)
	}
	if _, err := e.n.Sync(ctxFor(t), e.acct.ID, e.devs["alice"].ID, false); !errors.Is(err, registrar.ErrBadValue) {
		t.Fatalf("Sync with a bad check_sync_event: err = %v, want ErrBadValue", err)
	}
	p.none()
}

func TestSyncUnknownAndUnregistered(t *testing.T) {
	e := newNotifyEnv(t, registrar.NotifyConfig{})
	if _, err := e.n.Sync(ctxFor(t), e.acct.ID, e.devs["carol"].ID, false); !errors.Is(err, registrar.ErrNotRegistered) {
		t.Errorf("unregistered: err = %v", err)
	}
	if _, err := e.n.Sync(ctxFor(t), e.acct.ID, "0123456789abcdef0123456789abcdef", false); !errors.Is(err, registrar.ErrUnknownDevice) {
		t.Errorf("unknown: err = %v", err)
	}
}

func TestFlushUserWithSyncNotifiesThenFlushes(t *testing.T) {
	e := newNotifyEnv(t, registrar.NotifyConfig{})
	p := e.phone("alice", "TCP", 5061)
	p.register()
	bob := e.phone("bob", "UDP", 5062)
	bob.register()
	boundAtNotify := make(chan int, 1)
	p.mu.Lock()
	p.onNotify = func(*sip.Request) { boundAtNotify <- len(e.loc.Lookup("alice@"+nRealm, nil)) }
	p.mu.Unlock()

	if err := e.n.FlushUserWithSync(ctxFor(t), e.acct.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	checkNotify(t, p, p.next(), "check-sync")
	if n := <-boundAtNotify; n != 1 {
		t.Errorf("binding count when the NOTIFY arrived = %d, want 1 (NOTIFY before flush)", n)
	}
	if n := len(e.loc.Lookup("alice@"+nRealm, nil)); n != 0 {
		t.Errorf("alice still has %d bindings after the flush", n)
	}
	if n := len(e.loc.Lookup("bob@"+nRealm, nil)); n != 1 {
		t.Errorf("bob lost his binding")
	}
	bob.none()
	if err := e.n.FlushUserWithSync(ctxFor(t), e.acct.ID, "nobody"); !errors.Is(err, registrar.ErrUnknownUser) {
		t.Errorf("unknown user: err = %v", err)
	}
}

func TestOverwriteNotifiesOldContact(t *testing.T) {
	cases := []struct {
		name   string
		user   string
		notify bool
	}{
		{"flag set", "alice", true},
		{"flag unset", "bob", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newNotifyEnv(t, registrar.NotifyConfig{})
			old := e.phone(tc.user, "UDP", 5061)
			old.register()
			// The same AOR registers a different contact from another flow;
			// with max_contacts 1 it replaces the old one.
			nw := e.phone(tc.user, "TCP", 5099)
			nw.register()
			// A refresh of the same contact is no overwrite.
			nw.register()
			if !tc.notify {
				e.n.Close() // waits for any background NOTIFY
				old.none()
				nw.none()
				return
			}
			req := old.next()
			checkNotify(t, old, req, "check-sync")
			e.n.Close()
			old.none()
			nw.none()
		})
	}
}

func TestCheckSyncEvent(t *testing.T) {
	yes, no := true, false
	prov := func(kv ...string) *devices.Device {
		p := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
		}
		d, err := devices.FromDocument("acct1", "example.com", map[string]any{"provision": p})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	full := prov("check_sync_event", "resync", "check_sync_reboot", "reboot=true", "check_sync_reload", "reboot=false")
	cases := []struct {
		name   string
		dev    *devices.Device
		reboot *bool
		want   string
	}{
		{"no device", nil, nil, "check-sync"},
		{"no provision", &devices.Device{}, nil, "check-sync"},
		{"no provision, reboot", &devices.Device{}, &yes, "check-sync;reboot=true"},
		{"no provision, reload", &devices.Device{}, &no, "check-sync"},
		{"event only", prov("check_sync_event", "resync"), nil, "resync"},
		{"event, reboot", full, &yes, "resync;reboot=true"},
		{"event, reload", full, &no, "resync;reboot=false"},
		{"event, no param", full, nil, "resync"},
		{"event, reboot suffix missing", prov("check_sync_event", "check-sync"), &yes, "check-sync"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := registrar.CheckSyncEvent(tc.dev, tc.reboot); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNotifyConfigValidate(t *testing.T) {
	cases := []struct {
		name    string
		cfg     registrar.NotifyConfig
		wantErr string
	}{
		{"defaults", registrar.DefaultNotify(), ""},
		{"zero means default", registrar.NotifyConfig{}, ""},
		{"negative timeout", registrar.NotifyConfig{Timeout: -1}, "notify.timeout"},
		{"huge timeout", registrar.NotifyConfig{Timeout: time.Hour}, "notify.timeout"},
		{"negative rate", registrar.NotifyConfig{BulkRate: -1}, "notify.bulk_rate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
