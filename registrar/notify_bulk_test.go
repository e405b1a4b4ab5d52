package registrar_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/proxy/proxytest"
	"github.com/sipedge/sipedge/registrar"
)

// sinks are fake phones: UDP sockets on loopback that answer every NOTIFY
// 200 and count the distinct Call-IDs they heard.
type sinks struct {
	conns []*net.UDPConn
	seen  sync.Map // Call-ID → struct{}
	heard atomic.Int64
	first chan struct{} // closed on the first NOTIFY
	once  sync.Once
	wg    sync.WaitGroup
}

func newSinks(tb testing.TB, n int) *sinks {
	tb.Helper()
	s := &sinks{first: make(chan struct{})}
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			tb.Fatal(err)
		}
		_ = c.SetReadBuffer(4 << 20)
		s.conns = append(s.conns, c)
		s.wg.Add(1)
		go s.serve(c)
	}
	tb.Cleanup(func() {
		for _, c := range s.conns {
			_ = c.Close()
		}
		s.wg.Wait()
	})
	return s
}

func (s *sinks) serve(c *net.UDPConn) {
	defer s.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		msg, err := sip.ParseMessage(buf[:n])
		if err != nil {
			continue
		}
		req, ok := msg.(*sip.Request)
		if !ok || req.Method != sip.NOTIFY {
			continue
		}
		if _, dup := s.seen.LoadOrStore(req.CallID().Value(), struct{}{}); !dup {
			s.heard.Add(1)
		}
		s.once.Do(func() { close(s.first) })
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		_, _ = c.WriteToUDPAddrPort([]byte(res.String()), from)
	}
}

func (s *sinks) addr(i int) netip.AddrPort {
	return s.conns[i%len(s.conns)].LocalAddr().(*net.UDPAddr).AddrPort()
}

// bulkEnv is a registrar whose table holds n bindings of one account,
// one per device, spread over the sinks; the proxy sends the NOTIFYs.
type bulkEnv struct {
	n     *registrar.Notifier
	reg   *prometheus.Registry
	acct  string
	sinks *sinks
}

func newBulkEnv(tb testing.TB, devicesN, sinksN, rate int) *bulkEnv {
	tb.Helper()
	store, err := devices.Open(devices.Options{Path: tb.TempDir() + "/sipedge.db"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	acct, err := store.CreateAccount(map[string]any{"name": "Bulk", "realm": "bulk.example.com"})
	if err != nil {
		tb.Fatal(err)
	}
	loc := location.New(location.Options{})
	svc, err := registrar.New(registrar.Default(), store, loc, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	e := &bulkEnv{reg: prometheus.NewRegistry(), acct: acct.ID, sinks: newSinks(tb, sinksN)}
	srv := proxytest.NewServer(tb, svc)
	e.n = registrar.NewNotifier(svc, srv.Server, registrar.NotifyConfig{BulkRate: rate, Timeout: 10 * time.Second}, e.reg, slog.New(slog.DiscardHandler))
	tb.Cleanup(e.n.Close)
	now := time.Now()
	for i := range devicesN {
		user := fmt.Sprintf("u%05d", i)
		src := e.sinks.addr(i)
		contact := fmt.Sprintf("sip:%s@%s", user, src)
		b := location.Binding{Contact: contact, OriginalContact: "<" + contact + ">", Source: src, Transport: location.UDP,
			Expires: now.Add(time.Hour), Registered: now, Updated: now, CallID: "reg-" + user, CSeq: 1,
			AccountID: acct.ID, DeviceID: fmt.Sprintf("dev%05d", i), Username: user, Realm: "bulk.example.com"}
		loc.Update(user+"@bulk.example.com", func(cur []location.Binding) []location.Binding { return append(cur, b) })
	}
	waitSIP(tb, srv)
	return e
}

// waitSIP returns once the proxy's UDP reader answers, so SendToBinding
// finds its listener.
func waitSIP(tb testing.TB, srv *proxytest.Server) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := srv.Do(ctx, "UDP", sip.NewRequest(sip.OPTIONS, srv.URI(""))); err != nil {
		tb.Fatalf("proxy not serving: %v", err)
	}
}

func (e *bulkEnv) answered(tb testing.TB) float64 {
	mfs, err := e.reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sipedge_registrar_notify_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var kind, outcome string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "event_kind":
					kind = l.GetValue()
				case "outcome":
					outcome = l.GetValue()
				}
			}
			if kind == "check-sync" && outcome == "answered" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestSyncAccountReachesEveryContactOnce(t *testing.T) {
	e := newBulkEnv(t, 200, 4, 100000)
	sent, err := e.n.SyncAccount(ctxFor(t), e.acct, false)
	if err != nil || sent != 200 {
		t.Fatalf("SyncAccount: sent %d err %v, want 200", sent, err)
	}
	if got := e.sinks.heard.Load(); got != 200 {
		t.Errorf("sinks heard %d distinct NOTIFYs, want 200", got)
	}
	if got := e.answered(t); got != 200 {
		t.Errorf("answered %v, want 200", got)
	}
	// Another account's sync touches none of them.
	if sent, err := e.n.SyncAccount(ctxFor(t), "0123456789abcdef0123456789abcdef", false); err != nil || sent != 0 {
		t.Errorf("empty account: sent %d err %v", sent, err)
	}
}

func TestSyncAccountOneAtATimeAndCancellable(t *testing.T) {
	// One NOTIFY a second: the first leaves at once, the rest wait.
	e := newBulkEnv(t, 5, 1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.n.SyncAccount(ctx, e.acct, false)
		done <- err
	}()
	<-e.sinks.first
	if _, err := e.n.SyncAccountBackground(e.acct, false); !errors.Is(err, registrar.ErrBulkRunning) {
		t.Errorf("second bulk sync: err = %v, want ErrBulkRunning", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("SyncAccount after cancel: %v", err)
	}
	if got := e.sinks.heard.Load(); got >= 5 {
		t.Errorf("all %d NOTIFYs went out despite the cancel", got)
	}
	// Once it has stopped, a new one may start.
	if n, err := e.n.SyncAccountBackground(e.acct, false); err != nil || n != 5 {
		t.Errorf("bulk sync after the first ended: %d %v", n, err)
	}
}

// BenchmarkSyncAccount10k: bulk check-sync of 10,000 registered devices to
// fake UDP phones on loopback answering 200. Reports the NOTIFY loss (sent
// but never heard or never answered) and the achieved rate; ns/op is the
// duration of one bulk sync at the given bulk_rate.
func BenchmarkSyncAccount10k(b *testing.B) {
	const devs = 10000
	for _, rate := range []int{1_000_000, 5000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			e := newBulkEnv(b, devs, 32, rate)
			b.ReportAllocs()
			b.ResetTimer()
			var lost, answeredBefore float64
			for i := 0; i < b.N; i++ {
				heardBefore := e.sinks.heard.Load()
				// Call-IDs are fresh per NOTIFY, so "heard" only grows.
				start := time.Now()
				sent, err := e.n.SyncAccount(context.Background(), e.acct, false)
				took := time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				ans := e.answered(b)
				heard := e.sinks.heard.Load() - heardBefore
				lost += float64(devs-int(heard)) + float64(devs) - (ans - answeredBefore)
				answeredBefore = ans
				b.ReportMetric(float64(sent)/took.Seconds(), "notify/s")
			}
			b.ReportMetric(lost/float64(b.N), "lost/op")
		})
	}
}
