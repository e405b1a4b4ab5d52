package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
	"gopkg.in/yaml.v3"

	"github.com/sipedge/sipedge/adminapi"
	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/proxy"
	"github.com/sipedge/sipedge/registrar"
)

// run is main without the process: everything it needs comes in, so tests
// can drive it.
func run(ctx context.Context, args, environ []string, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(o, environ)
	if o.printConfig {
		out, merr := yaml.Marshal(redacted(cfg))
		if merr != nil {
			return merr
		}
		_, _ = stderr.Write(out)
		return err
	}
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if o.checkConfig {
		fmt.Fprintln(stderr, "configuration ok")
		return nil
	}
	log := newLogger(cfg.Log, stderr)
	// Whole-run recorders, written at exit: a CPU profile for the hot path
	// under a load generator (BENCHMARKS.md); an execution trace for
	// latency tails (which goroutine waited for the processor, and behind
	// what: a collector's mark worker, the socket reader).
	recorders := []struct {
		path, name string
		start      func(io.Writer) error
		stop       func()
	}{
		{o.cpuProfile, "cpuprofile", pprof.StartCPUProfile, pprof.StopCPUProfile},
		{o.trace, "trace", trace.Start, trace.Stop},
	}
	for _, r := range recorders {
		if r.path == "" {
			continue
		}
		f, err := os.Create(r.path)
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		defer f.Close()
		if err := r.start(f); err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		defer r.stop()
	}
	if o.memProfile != "" {
		// Created before serving so a bad path fails the start, not the exit.
		f, err := os.Create(o.memProfile)
		if err != nil {
			return fmt.Errorf("memprofile: %w", err)
		}
		defer func() {
			if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
				log.Error("memprofile", "err", err)
			}
			f.Close()
		}()
	}
	return serve(ctx, cfg, log)
}

// redacted hides secrets from -print-config.
func redacted(cfg Config) Config {
	if cfg.AdminToken != "" {
		cfg.AdminToken = "<redacted>"
	}
	return cfg
}

func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	token, err := adminToken(cfg, log)
	if err != nil {
		return err
	}
	secret, err := secretFile(filepath.Join(cfg.Data, "nonce.key"))
	if err != nil {
		return err
	}

	// sipgo logs some events through its package-level logger; route them
	// through the same rate-limited handler the proxy gives the library.
	sip.SetDefaultLogger(proxy.LibraryLogger(log.With("pkg", "proxy")))
	// sipgo refuses UDP sends within 200 bytes of UDPMTUSize (default 1500),
	// so an INVITE with a large SDP to a UDP-only phone would fail. Phones
	// and kernels handle fragmented datagrams; gateways are moved to TCP
	// near the MTU by the proxy itself (RFC 3261 §18.1.1).
	sip.UDPMTUSize = 65000
	// sip.limits.max_message bounds what sipgo's parser reads, on streams
	// (where it closes the connection) and UDP alike.
	sip.ParseMaxMessageLength = cfg.SIP.Limits.Effective().MaxMessage
	// sip.transaction_linger: finished transactions kept 5 s, not 32 s.
	cfg.SIP.ApplyTimers()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	loc := location.New(location.Options{Logger: log.With("pkg", "location")})
	if err := loc.RegisterMetrics(reg); err != nil {
		return err
	}
	snapshot := filepath.Join(cfg.Data, "location.snap")
	store, err := loadState(cfg.Data, snapshot, loc, log)
	if err != nil {
		return err
	}
	defer store.Close()
	defer startGCFloor(uint64(cfg.Runtime.GCFloorMB) << 20)()

	rcfg := cfg.Registrar
	rcfg.Secret = secret
	registrarSvc, err := registrar.New(rcfg, store, loc, reg, log.With("pkg", "registrar"))
	if err != nil {
		return err
	}
	store.Subscribe(registrarSvc.DeviceChanged)

	sipCfg := cfg.SIP
	sipCfg.RouteSecret = secret // Record-Route tokens stay valid across restarts
	sipSrv, err := proxy.New(sipCfg, registrarSvc, reg, log.With("pkg", "proxy"))
	if err != nil {
		return err
	}
	if err := sipSrv.Listen(); err != nil {
		return err
	}
	if err := sipSrv.ListenStreams(); err != nil {
		return err
	}
	if err := sipSrv.EnableForwarding(store, loc); err != nil {
		return err
	}
	if err := sipSrv.EnableRouting(store, proxy.RoutingOptions{FilterCodecs: cfg.Routing.FilterCodecs}); err != nil {
		return err
	}
	notifier := registrar.NewNotifier(registrarSvc, sipSrv, cfg.Notify, reg, log.With("pkg", "registrar"))
	defer notifier.Close()
	registrarSvc.SetOverwriteHook(notifier.Overwritten)
	var ready atomic.Bool
	api, err := adminapi.New(cfg.API, adminapi.Deps{
		Directory:  store,
		Registrar:  registrarSvc,
		AdminToken: token,
		Gatherer:   reg,
		Registerer: reg,
		Log:        log.With("pkg", "adminapi"),
		Ready:      ready.Load,
		Notifier:   notifier,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("admin api: %w", err)
	}

	// srvCtx outlives ctx by the grace period so in-flight work can finish.
	srvCtx, cancelSrv := context.WithCancel(context.Background())
	defer cancelSrv()
	g, gctx := errgroup.WithContext(srvCtx)
	g.Go(func() error { return sipSrv.Serve(gctx) })
	g.Go(func() error { return sipSrv.ServeStreams(gctx) })
	g.Go(func() error { return sipSrv.RunKeepalives(gctx, loc, cfg.Keepalive, reg) })
	g.Go(func() error { return api.Serve(gctx, ln) })
	g.Go(func() error {
		return loc.Run(gctx, cfg.Location.ExpireInterval, snapshot, cfg.Location.SnapshotInterval)
	})
	g.Go(func() error { <-gctx.Done(); notifier.Close(); return nil }) // bulk syncs stop with the servers
	ready.Store(true)
	log.Info("sipedge started",
		"sip_udp", sipSrv.UDPAddr().String(), "sip_tcp", sipSrv.TCPAddr().String(),
		"api", ln.Addr().String(), "data", cfg.Data)

	select {
	case <-ctx.Done():
	case <-gctx.Done(): // a server failed
	}
	// Drain: /readyz turns 503 so load balancers stop sending, new calls and
	// registrations get 503 with Retry-After, and calls being set up finish,
	// all within the grace period; a second signal ends it at once.
	ready.Store(false)
	sipSrv.Drain()
	log.Info("draining", "lameduck", cfg.Shutdown.Lameduck, "grace", cfg.Shutdown.Grace)
	hardStop := make(chan os.Signal, 1)
	signal.Notify(hardStop, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(hardStop)
	deadline := time.Now().Add(cfg.Shutdown.Grace)
	select {
	case <-time.After(cfg.Shutdown.Lameduck):
	case <-hardStop:
		return errors.New("second signal: exiting at once")
	}
	idleCtx, cancelIdle := context.WithDeadline(context.Background(), deadline)
	idle := make(chan error, 1)
	go func() { idle <- sipSrv.WaitIdle(idleCtx) }()
	select {
	case err := <-idle:
		if err != nil {
			log.Warn("calls still being set up at the end of the grace period", "err", err)
		}
	case <-hardStop:
		cancelIdle()
		return errors.New("second signal: exiting at once")
	}
	cancelIdle()
	log.Info("shutting down")
	cancelSrv()
	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		log.Info("stopped")
		return nil
	case <-hardStop:
		return errors.New("second signal: exiting at once")
	case <-time.After(time.Until(deadline) + 5*time.Second):
		// The listeners and the final snapshot get a few seconds past the
		// grace period; past that something is stuck.
		return fmt.Errorf("shutdown took longer than %s", cfg.Shutdown.Grace)
	}
}

// adminToken returns the configured token or the one generated on first
// start, which is kept (0600) in the data dir and printed only that once.
func adminToken(cfg Config, log *slog.Logger) (string, error) {
	if cfg.AdminToken != "" {
		return cfg.AdminToken, nil
	}
	path := filepath.Join(cfg.Data, "admin_token")
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("admin token: %w", err)
	}
	tok, err := randomHex(32)
	if err != nil {
		return "", err
	}
	if err := writeSecret(path, []byte(tok+"\n")); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	log.Warn("generated an admin token; it is shown only this once", "token", tok, "file", path)
	return tok, nil
}

// secretFile returns the key kept at path, creating it on first start, so
// nonces handed out before a restart stay valid after it.
func secretFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("secret %s: %w", path, err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := writeSecret(path, b); err != nil {
		return nil, fmt.Errorf("secret %s: %w", path, err)
	}
	return b, nil
}

func writeSecret(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// loadState opens the device store and restores the location snapshot side
// by side: they are independent, and at a million devices and bindings
// they are the whole of a restart. The collector runs less often meanwhile
// (GOGC 400 unless set higher or off): everything allocated here is kept,
// so a cycle at every doubling of the heap only marks what is still being
// built. Not off: the work it would save (a few tenths of a second at a
// million bindings) came back as one collection of the whole heap in the
// first seconds after the start, when every phone re-registers at once, and
// three times the phones were told 503 (BENCHMARKS.md).
func loadState(dataDir, snapshot string, loc *location.Table, log *slog.Logger) (*devices.Store, error) {
	if prev := debug.SetGCPercent(400); prev < 0 || prev > 400 {
		debug.SetGCPercent(prev)
	} else {
		defer debug.SetGCPercent(prev)
	}
	var restored int
	var restoreErr error
	var took time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		restored, restoreErr = loc.LoadFile(snapshot)
		took = time.Since(start)
	}()
	start := time.Now()
	store, err := devices.Open(devices.Options{Path: filepath.Join(dataDir, "sipedge.db")})
	opened := time.Since(start)
	<-done
	if err != nil {
		return nil, err
	}
	log.Info("device store opened", "took", opened.Round(time.Millisecond).String())
	// The store's file lock makes this process the data directory's only
	// writer, so a snapshot temp file now is one a killed process left.
	if n, err := location.RemoveTemps(snapshot); err != nil {
		log.Warn("unfinished location snapshots not removed", "removed", n, "err", err)
	} else if n > 0 {
		log.Info("unfinished location snapshots removed", "removed", n)
	}
	if restoreErr != nil {
		// A corrupt snapshot costs registrations, never the start: phones
		// re-register within their expiry anyway.
		log.Error("location snapshot unreadable, starting empty", "path", snapshot, "err", restoreErr)
		_ = os.Rename(snapshot, snapshot+".corrupt")
		return store, nil
	}
	log.Info("location restored", "bindings", restored, "took", took.Round(time.Millisecond).String())
	if restored > 0 {
		// Decoding left as much garbage as it built; hand it back to the
		// OS now rather than at the scavenger's pace, off the start path.
		go debug.FreeOSMemory()
	}
	return store, nil
}
