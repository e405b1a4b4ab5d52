package registrar

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
)

// Notify errors; the admin API maps them to its answers.
var (
	// ErrBadValue: a value meant for a header carries CR, LF or NUL (400).
	ErrBadValue = errors.New("registrar: value carries CR, LF or NUL")
	// ErrNotRegistered: the device has no binding to notify.
	ErrNotRegistered = errors.New("registrar: device is not registered")
	// ErrUnknownDevice: no such device in the account.
	ErrUnknownDevice = errors.New("registrar: unknown device")
	// ErrBulkRunning: a bulk sync of the account is already under way.
	ErrBulkRunning = errors.New("registrar: bulk sync already running for the account")
	// ErrNotifierClosed: Close was called.
	ErrNotifierClosed = errors.New("registrar: notifier closed")
)

// Outcome results.
const (
	// ResultSent: the NOTIFY went out but the caller stopped waiting
	// (its ctx was cancelled) before a final answer.
	ResultSent = "sent"
	// ResultAnswered: a final response came back; Code holds it.
	ResultAnswered = "answered"
	// ResultTimeout: no final answer within notify.timeout.
	ResultTimeout = "timeout"
	// ResultError: not sent (flow gone, bad contact, transport error).
	ResultError = "error"
)

// CheckSync is the default check-sync event.
const CheckSync = "check-sync"

// Outcome is what happened to the NOTIFY sent to one contact.
type Outcome struct {
	Contact string `json:"contact"`
	Result  string `json:"result"` // sent|answered|timeout|error
	Code    int    `json:"code,omitempty"`
}

// Sender sends a request over a binding's flow and returns the final
// response; *proxy.Server implements it.
type Sender interface {
	SendToBinding(ctx context.Context, req *sip.Request, b location.Binding) (*sip.Response, error)
}

// deviceGetter is the part of *devices.Store the notifier needs beyond
// Directory: lookup by id, for the provision.check_sync_* fields.
type deviceGetter interface {
	Device(accountID, id string) (*devices.Device, error)
}

// Notifier sends check-sync and arbitrary NOTIFYs to registered contacts.
// Safe for concurrent use.
type Notifier struct {
	svc    *Service
	sender Sender
	cfg    NotifyConfig
	log    *slog.Logger
	m      *notifyMetrics

	// ctx parents background work (bulk syncs, overwrite NOTIFYs); Close
	// cancels it and waits.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	bulk   map[string]bool // accounts with a bulk sync running
}

// NewNotifier builds the notifier. Zero config fields take their defaults;
// reg and log may be nil. Build it after the proxy server (the Sender), then
// call svc.SetOverwriteHook(n.Overwritten) to enable register_overwrite_notify.
func NewNotifier(svc *Service, sender Sender, cfg NotifyConfig, reg prometheus.Registerer, log *slog.Logger) *Notifier {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{svc: svc, sender: sender, cfg: cfg, log: log, m: newNotifyMetrics(reg, log), bulk: map[string]bool{}}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n
}

// Config returns the effective configuration (defaults filled in).
func (n *Notifier) Config() NotifyConfig { return n.cfg }

// Close stops background work (bulk syncs, overwrite NOTIFYs) and waits for it.
func (n *Notifier) Close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
}

// Sync sends check-sync to every contact of the device and waits for their
// answers (each bounded by notify.timeout). reboot asks the phone to reboot:
// the device's provision.check_sync_reboot suffix, or ";reboot=true".
func (n *Notifier) Sync(ctx context.Context, accountID, deviceID string, reboot bool) ([]Outcome, error) {
	var r *bool
	if reboot {
		r = &reboot
	}
	b, err := n.PrepareSync(accountID, deviceID, r)
	if err != nil {
		return nil, err
	}
	return b.Send(ctx), nil
}

// Notify sends a NOTIFY with that event (and optional body) to every
// contact of the device and waits for their answers.
func (n *Notifier) Notify(ctx context.Context, accountID, deviceID, event, contentType, body string) ([]Outcome, error) {
	b, err := n.PrepareNotify(accountID, deviceID, event, contentType, body)
	if err != nil {
		return nil, err
	}
	return b.Send(ctx), nil
}

// Batch is a NOTIFY for every contact of one device, with the device and
// its bindings captured when it was prepared: a device write that flushes
// the bindings (new credentials) can still be followed by the check-sync
// to the phones that held the old ones, as Kazoo does.
type Batch struct {
	n                        *Notifier
	t                        target
	event, contentType, body string
	checkSync                bool
}

// Contacts is how many contacts the batch addresses.
func (b *Batch) Contacts() int { return len(b.t.bindings) }

// Send sends the NOTIFYs at once and waits for every answer (each bounded
// by notify.timeout); outcomes are in binding order.
func (b *Batch) Send(ctx context.Context) []Outcome {
	out := make([]Outcome, len(b.t.bindings))
	var wg sync.WaitGroup
	for i := range b.t.bindings {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = b.n.sendOne(ctx, b.t.dev, b.t.bindings[i], b.event, b.contentType, b.body, b.checkSync)
		}()
	}
	wg.Wait()
	return out
}

// SendBackground sends under the notifier's lifetime (Close stops it) and
// returns at once: Kazoo's fire-and-forget "sync request sent".
func (b *Batch) SendBackground() {
	b.n.background(func(ctx context.Context) { b.Send(ctx) })
}

// background runs fn under the notifier's lifetime; false once closed.
// The closed flag and wg.Add share the mutex so Close never waits while
// work is being added.
func (n *Notifier) background(fn func(ctx context.Context)) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		fn(n.ctx)
	}()
	return true
}

// PrepareSync captures a check-sync for the device (see CheckSyncEvent for
// reboot). ErrUnknownDevice, ErrNotRegistered, or ErrBadValue when the
// device's check_sync_event cannot go on the wire.
func (n *Notifier) PrepareSync(accountID, deviceID string, reboot *bool) (*Batch, error) {
	t, err := n.target(accountID, deviceID)
	if err != nil {
		return nil, err
	}
	event := CheckSyncEvent(t.dev, reboot)
	if err := checkValues(event); err != nil {
		return nil, err
	}
	return &Batch{n: n, t: t, event: event, checkSync: true}, nil
}

// PrepareNotify captures a NOTIFY with that event, content type and body.
// ErrBadValue for an empty event or CR, LF or NUL in event or content type
// (NUL in the body), checked before the device is looked up.
func (n *Notifier) PrepareNotify(accountID, deviceID, event, contentType, body string) (*Batch, error) {
	if event == "" {
		return nil, fmt.Errorf("registrar: notify: empty event: %w", ErrBadValue)
	}
	if err := checkValues(event, contentType); err != nil {
		return nil, err
	}
	if strings.ContainsRune(body, 0) {
		return nil, fmt.Errorf("registrar: notify body: %w", ErrBadValue)
	}
	t, err := n.target(accountID, deviceID)
	if err != nil {
		return nil, err
	}
	return &Batch{n: n, t: t, event: event, contentType: contentType, body: body}, nil
}

// FlushUserWithSync sends check-sync to the account's device with that SIP
// username and then removes its bindings (Kazoo's order). The NOTIFYs are
// awaited (bounded by notify.timeout) so they leave before the flush.
// ErrUnknownUser as FlushUser.
func (n *Notifier) FlushUserWithSync(ctx context.Context, accountID, username string) error {
	if dev := n.deviceByUser(accountID, username); dev != nil {
		b, err := n.PrepareSync(accountID, dev.ID, nil)
		switch {
		case err == nil:
			b.Send(ctx)
		case !errors.Is(err, ErrNotRegistered):
			n.log.Warn("check-sync before flush not sent", "account_id", accountID, "user", username, "err", err)
		}
	}
	_, err := n.svc.FlushUser(accountID, username)
	return err
}

func (n *Notifier) deviceByUser(accountID, username string) *devices.Device {
	acct, err := n.svc.dir.Account(accountID)
	if err != nil || acct == nil {
		return nil
	}
	if d := n.svc.dir.ByUser(acct.Realm, username); d != nil && d.AccountID == accountID {
		return d
	}
	return nil
}

// target is a device and its bindings, collected before sending.
type target struct {
	accountID, deviceID string
	dev                 *devices.Device // nil when the directory cannot look up by id
	bindings            []location.Binding
}

func (n *Notifier) target(accountID, deviceID string) (target, error) {
	t := target{accountID: accountID, deviceID: deviceID}
	if g, ok := n.svc.dir.(deviceGetter); ok {
		d, err := g.Device(accountID, deviceID)
		if err != nil || d == nil {
			return t, fmt.Errorf("%w: %s", ErrUnknownDevice, deviceID)
		}
		t.dev = d
	}
	n.svc.loc.Range(func(_ string, b *location.Binding) bool {
		if b.AccountID == accountID && b.DeviceID == deviceID {
			t.bindings = append(t.bindings, *b)
		}
		return true
	})
	if len(t.bindings) == 0 {
		if t.dev == nil {
			return t, fmt.Errorf("%w: %s", ErrUnknownDevice, deviceID)
		}
		return t, ErrNotRegistered
	}
	return t, nil
}

// CheckSyncEvent is the Event value for a check-sync to dev (kazoo-semantics §4):
// provision.check_sync_event when set, with the check_sync_reboot or
// check_sync_reload suffix when reboot is given; otherwise "check-sync", with
// ";reboot=true" when a reboot is asked for. dev may be nil.
func CheckSyncEvent(dev *devices.Device, reboot *bool) string {
	var prov map[string]any
	if dev != nil {
		prov, _ = dev.Doc()["provision"].(map[string]any)
	}
	base, _ := prov["check_sync_event"].(string)
	if base == "" {
		if reboot != nil && *reboot {
			return CheckSync + ";reboot=true"
		}
		return CheckSync
	}
	if reboot == nil {
		return base
	}
	key := "check_sync_reload"
	if *reboot {
		key = "check_sync_reboot"
	}
	// Kazoo crashes on a missing suffix; sending the base is kinder.
	if suffix, _ := prov[key].(string); suffix != "" {
		return base + ";" + suffix
	}
	return base
}

func checkValues(vals ...string) error {
	for _, v := range vals {
		if hasCtl(v) {
			return fmt.Errorf("registrar: notify: %q: %w", v, ErrBadValue)
		}
	}
	return nil
}

// sendOne sends one NOTIFY and waits for its answer.
func (n *Notifier) sendOne(ctx context.Context, dev *devices.Device, b location.Binding, event, contentType, body string, checkSync bool) Outcome {
	o := Outcome{Contact: b.Contact}
	kind := kindOther
	if checkSync {
		kind = kindCheckSync
	}
	req, err := buildNotify(dev, &b, event, contentType, body)
	if err != nil {
		n.log.Warn("notify not built", "account_id", b.AccountID, "device_id", b.DeviceID, "contact", b.Contact, "err", err)
		o.Result = ResultError
		n.m.count(kind, o.Result)
		return o
	}
	callID := req.CallID().Value()
	sctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	start := time.Now()
	res, err := n.sender.SendToBinding(sctx, req, b)
	switch {
	case err == nil:
		o.Result, o.Code = ResultAnswered, res.StatusCode
		n.m.rtt.Observe(time.Since(start).Seconds())
	case ctx.Err() != nil:
		o.Result = ResultSent
	case sctx.Err() != nil, errors.Is(err, sip.ErrTransactionTimeout):
		o.Result = ResultTimeout
	default:
		o.Result = ResultError
	}
	n.m.count(kind, o.Result)
	attrs := []any{"call_id", callID, "aor", b.Username + "@" + b.Realm, "src", b.Source.String(),
		"event", event, "result", o.Result, "code", o.Code}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	n.log.Info("notify", attrs...)
	return o
}

// buildNotify builds the out-of-dialog NOTIFY for b. Via is the sender's.
func buildNotify(dev *devices.Device, b *location.Binding, event, contentType, body string) (*sip.Request, error) {
	user, realm := b.Username, b.Realm
	if dev != nil && dev.Username != "" {
		user, realm = dev.Username, dev.Realm
	}
	if err := checkValues(user, realm); err != nil {
		return nil, err
	}
	if realm == "" {
		return nil, errors.New("registrar: notify: no realm")
	}
	var ruri sip.Uri
	var params sip.HeaderParams
	if _, err := sip.ParseAddressValue(b.OriginalContact, &ruri, &params); err != nil || ruri.Host == "" {
		ruri = sip.Uri{}
		if err := sip.ParseUri(b.Contact, &ruri); err != nil {
			return nil, fmt.Errorf("registrar: notify: contact %q: %w", b.Contact, err)
		}
	}
	if hasCtl(ruri.String()) {
		return nil, fmt.Errorf("registrar: notify: contact: %w", ErrBadValue)
	}
	aor := sip.Uri{Scheme: "sip", User: user, Host: realm}
	req := sip.NewRequest(sip.NOTIFY, ruri)
	from := &sip.FromHeader{Address: aor}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	cid := sip.CallIDHeader(newNotifyCallID())
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.NOTIFY})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(sip.NewHeader("Event", event))
	req.AppendHeader(sip.NewHeader("Subscription-State", "terminated"))
	if contentType != "" {
		ct := sip.ContentTypeHeader(contentType)
		req.AppendHeader(&ct)
	}
	if body == "" {
		req.SetBody(nil) // Content-Length: 0
	} else {
		req.SetBody([]byte(body))
	}
	return req, nil
}

func newNotifyCallID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NotifyConfig is the notify section of the configuration file.
type NotifyConfig struct {
	// Timeout bounds the wait for each contact's final answer.
	Timeout time.Duration `yaml:"timeout"`
	// BulkRate is how many NOTIFYs per second a bulk (account) sync sends,
	// so thousands of phones do not fetch their configuration at once.
	BulkRate int `yaml:"bulk_rate"`
	// Detail makes the API answer with per-contact outcomes instead of
	// Kazoo's "sync request sent".
	Detail bool `yaml:"detail"`
	// Unregistered404 makes the API answer 404 for a device with no
	// binding, instead of Kazoo's silent "sync request sent".
	Unregistered404 bool `yaml:"unregistered_404"`
}

// DefaultNotify returns the notify defaults.
func DefaultNotify() NotifyConfig {
	return NotifyConfig{Timeout: 5 * time.Second, BulkRate: 50}
}

func (c NotifyConfig) withDefaults() NotifyConfig {
	d := DefaultNotify()
	if c.Timeout <= 0 {
		c.Timeout = d.Timeout
	}
	if c.BulkRate <= 0 {
		c.BulkRate = d.BulkRate
	}
	return c
}

// Validate checks every field and names the first bad one. Zero values are
// allowed and mean the default.
func (c NotifyConfig) Validate() error {
	switch {
	case c.Timeout < 0:
		return errors.New("notify.timeout: must be ≥ 0")
	case c.Timeout > 5*time.Minute:
		return errors.New("notify.timeout: must be ≤ 5m")
	case c.BulkRate < 0:
		return errors.New("notify.bulk_rate: must be ≥ 0")
	}
	return nil
}

// Event kinds and outcomes, the bounded labels of notify_total.
const (
	kindCheckSync = iota
	kindOther
	numKinds
)

var (
	kindNames    = [numKinds]string{"check-sync", "other"}
	outcomeNames = []string{ResultSent, ResultAnswered, ResultTimeout, ResultError}
)

type notifyMetrics struct {
	total map[string]prometheus.Counter // kind + "/" + outcome
	rtt   prometheus.Histogram
}

func newNotifyMetrics(reg prometheus.Registerer, log *slog.Logger) *notifyMetrics {
	total := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sipedge_registrar_notify_total",
		Help: "NOTIFYs sent to registered contacts, by event kind and outcome.",
	}, []string{"event_kind", "outcome"})
	rtt := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sipedge_registrar_notify_rtt_seconds",
		Help:    "Time from sending a NOTIFY to its final answer.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 4, 8},
	})
	if reg != nil {
		for _, c := range []prometheus.Collector{total, rtt} {
			if err := reg.Register(c); err != nil {
				// A second notifier on the same registry: counting into
				// unregistered collectors is harmless, failing the start is not.
				log.Warn("notify metrics not registered", "err", err)
			}
		}
	}
	m := &notifyMetrics{total: map[string]prometheus.Counter{}, rtt: rtt}
	for _, k := range kindNames {
		for _, o := range outcomeNames {
			m.total[k+"/"+o] = total.WithLabelValues(k, o)
		}
	}
	return m
}

func (m *notifyMetrics) count(kind int, outcome string) {
	if c, ok := m.total[kindNames[kind]+"/"+outcome]; ok {
		c.Inc()
	}
}

// bulkInflight bounds the NOTIFYs of one bulk sync awaiting their answer;
// at the default 50/s and 5 s timeout at most 250 are.
const bulkInflight = 512

// SyncAccount sends check-sync to every registered contact of the account,
// paced at notify.bulk_rate NOTIFYs per second. It blocks until every
// NOTIFY is answered or timed out, or ctx ends; sent counts the NOTIFYs put
// on the wire (outcome answered, timeout or sent). At most one bulk sync per
// account runs at a time (ErrBulkRunning).
func (n *Notifier) SyncAccount(ctx context.Context, accountID string, reboot bool) (sent int, err error) {
	if !n.startBulk(accountID) {
		return 0, ErrBulkRunning
	}
	defer n.endBulk(accountID)
	return n.syncAccount(ctx, accountID, n.accountTargets(accountID), reboot)
}

func (n *Notifier) syncAccount(ctx context.Context, accountID string, targets []target, reboot bool) (sent int, err error) {
	var r *bool
	if reboot {
		r = &reboot
	}
	interval := time.Second / time.Duration(n.cfg.BulkRate)
	start := time.Now()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		count int
		timer *time.Timer
	)
	// Bounding what is in flight keeps an unpaced burst (a huge bulk_rate)
	// from overflowing socket buffers and turning into retransmissions.
	inflight := make(chan struct{}, bulkInflight)
	i := 0
loop:
	for _, t := range targets {
		event := CheckSyncEvent(t.dev, r)
		if hasCtl(event) {
			n.log.Warn("bulk sync: device event refused", "account_id", accountID, "device_id", t.deviceID)
			continue
		}
		for _, b := range t.bindings {
			// Pace against the start, not the previous send, so timer slack
			// does not accumulate.
			if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				select {
				case <-timer.C:
				case <-ctx.Done():
					break loop
				}
			}
			select {
			case inflight <- struct{}{}:
			case <-ctx.Done():
				break loop
			}
			i++
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-inflight }()
				o := n.sendOne(ctx, t.dev, b, event, "", "", true)
				if o.Result != ResultError {
					mu.Lock()
					count++
					mu.Unlock()
				}
			}()
		}
	}
	if timer != nil {
		timer.Stop()
	}
	wg.Wait()
	n.log.Info("bulk sync done", "account_id", accountID, "notifies", i, "sent", count, "took", time.Since(start))
	return count, ctx.Err()
}

// SyncAccountBackground starts SyncAccount under the notifier's own
// lifetime (Close stops it) and returns how many contacts it will notify.
func (n *Notifier) SyncAccountBackground(accountID string, reboot bool) (contacts int, err error) {
	if !n.startBulk(accountID) {
		return 0, ErrBulkRunning
	}
	targets := n.accountTargets(accountID)
	for _, t := range targets {
		contacts += len(t.bindings)
	}
	started := n.background(func(ctx context.Context) {
		defer n.endBulk(accountID)
		if _, err := n.syncAccount(ctx, accountID, targets, reboot); err != nil && !errors.Is(err, context.Canceled) {
			n.log.Warn("bulk sync", "account_id", accountID, "err", err)
		}
	})
	if !started {
		n.endBulk(accountID)
		return 0, ErrNotifierClosed
	}
	return contacts, nil
}

func (n *Notifier) startBulk(accountID string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.bulk[accountID] {
		return false
	}
	n.bulk[accountID] = true
	return true
}

func (n *Notifier) endBulk(accountID string) {
	n.mu.Lock()
	delete(n.bulk, accountID)
	n.mu.Unlock()
}

// accountTargets groups the account's bindings by device in one pass over
// the table (a per-device Range would be quadratic).
func (n *Notifier) accountTargets(accountID string) []target {
	idx := map[string]int{}
	var out []target
	n.svc.loc.Range(func(_ string, b *location.Binding) bool {
		if b.AccountID != accountID {
			return true
		}
		i, ok := idx[b.DeviceID]
		if !ok {
			i = len(out)
			idx[b.DeviceID] = i
			out = append(out, target{accountID: accountID, deviceID: b.DeviceID})
		}
		out[i].bindings = append(out[i].bindings, *b)
		return true
	})
	if g, ok := n.svc.dir.(deviceGetter); ok {
		for i := range out {
			out[i].dev, _ = g.Device(accountID, out[i].deviceID)
		}
	}
	return out
}

// Overwritten is the registrar's overwrite hook (SetOverwriteHook): a refresh of dev's AOR
// replaced old with a different contact, and the device asked
// (register_overwrite_notify) for the old contact to be told. The NOTIFY
// is sent in the background so the REGISTER is not held up.
func (n *Notifier) Overwritten(old location.Binding, dev *devices.Device) {
	event := CheckSyncEvent(dev, nil)
	if hasCtl(event) {
		n.log.Warn("overwrite notify: device event refused", "account_id", old.AccountID, "device_id", old.DeviceID)
		return
	}
	n.background(func(ctx context.Context) {
		n.sendOne(ctx, dev, old, event, "", "", true)
	})
}

// SetOverwriteHook sets the function called after a REGISTER of a device
// with register_overwrite_notify replaced one of its bindings with a
// different contact; Notifier.Overwritten is the implementation. nil removes it.
func (s *Service) SetOverwriteHook(fn func(old location.Binding, dev *devices.Device)) {
	if fn == nil {
		s.onOverwrite.Store(nil)
		return
	}
	s.onOverwrite.Store(&fn)
}

// overwritten calls the overwrite hook for each binding of before that a REGISTER
// pushed out of the AOR (not one the phone removed itself with expires=0).
func (s *Service) overwritten(before, after []location.Binding, pend []pending, dev *devices.Device) {
	hook := s.onOverwrite.Load()
	if len(before) == 0 || hook == nil {
		return
	}
	for i := range before {
		old := &before[i]
		kept := false
		for j := range after {
			if after[j].OriginalContact == old.OriginalContact || contactURI(&after[j]) == contactURI(old) {
				kept = true // refreshed, maybe with other params
				break
			}
		}
		for j := range pend {
			if !kept && pend[j].expires == 0 && sameContact(old, &pend[j]) {
				kept = true // removed on purpose, nothing to tell
			}
		}
		if !kept {
			(*hook)(*old, dev)
		}
	}
}

func contactURI(b *location.Binding) string {
	var (
		u      sip.Uri
		params sip.HeaderParams
	)
	if _, err := sip.ParseAddressValue(b.OriginalContact, &u, &params); err != nil {
		return b.Contact
	}
	return u.String()
}
