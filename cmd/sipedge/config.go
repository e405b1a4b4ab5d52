package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sipedge/sipedge/adminapi"
	"github.com/sipedge/sipedge/proxy"
	"github.com/sipedge/sipedge/registrar"
)

// Config is the whole configuration: one YAML file, then SIPEDGE_* environment
// variables, then flags, each layer overriding the one before.
type Config struct {
	// Data is the directory for the device store, the location snapshot and
	// the generated secrets.
	Data       string           `yaml:"data"`
	AdminToken string           `yaml:"admin_token"`
	Log        LogConfig        `yaml:"log"`
	SIP        proxy.Config     `yaml:"sip"`
	API        adminapi.Config  `yaml:"api"`
	Registrar  registrar.Config `yaml:"registrar"`
	// Notify tunes check-sync and the notify action (registrar.NotifyConfig).
	Notify  registrar.NotifyConfig `yaml:"notify"`
	Routing RoutingConfig          `yaml:"routing"`
	// Keepalive pings NAT'd bindings and drops the ones that stop answering.
	Keepalive proxy.KeepaliveConfig `yaml:"keepalive"`
	Location  LocationConfig        `yaml:"location"`
	Shutdown  ShutdownConfig        `yaml:"shutdown"`
	Runtime   RuntimeConfig         `yaml:"runtime"`
}

// RuntimeConfig tunes the Go runtime under sipedge.
type RuntimeConfig struct {
	// GCFloorMB keeps the garbage collector's heap goal at this many MiB
	// at least (gcfloor.go): a small live heap is then not collected every
	// few milliseconds under load. 0 (the default) leaves GOGC alone: the
	// floor is memory held on purpose, which a host running other things,
	// or a measurement of memory per binding, should not be given unasked.
	GCFloorMB int `yaml:"gc_floor_mb"`
}

// LogConfig selects the log level and format.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// LocationConfig tunes the location table's housekeeping.
type LocationConfig struct {
	// ExpireInterval is how often expired bindings are removed.
	ExpireInterval time.Duration `yaml:"expire_interval"`
	// SnapshotInterval bounds what a kill -9 can lose: bindings younger
	// than this may be missing after a hard crash.
	SnapshotInterval time.Duration `yaml:"snapshot_interval"`
}

// RoutingConfig tunes how calls follow the device documents.
type RoutingConfig struct {
	// FilterCodecs limits the SDP offer sent to a device to its
	// media.audio.codecs (telephone-event always kept). Off by default:
	// phones negotiate well on their own, and an edge that edits SDP can
	// break what it does not understand.
	FilterCodecs bool `yaml:"filter_codecs"`
}

// ShutdownConfig bounds the drain on SIGTERM.
type ShutdownConfig struct {
	// Lameduck keeps serving (with /readyz at 503 and new work refused)
	// before the wait for calls in setup, so load balancers notice first.
	Lameduck time.Duration `yaml:"lameduck"`
	// Grace bounds the whole drain, lameduck included.
	Grace time.Duration `yaml:"grace"`
}

// DefaultConfig is what sipedge runs with when given nothing at all.
func DefaultConfig() Config {
	return Config{
		Data:      "./data",
		Log:       LogConfig{Level: "info", Format: "text"},
		SIP:       proxy.Default(),
		API:       adminapi.Default(),
		Registrar: registrar.Default(),
		Notify:    registrar.DefaultNotify(),
		Keepalive: proxy.DefaultKeepalive(),
		Location:  LocationConfig{ExpireInterval: time.Second, SnapshotInterval: 30 * time.Second},
		Shutdown:  ShutdownConfig{Grace: 10 * time.Second},
	}
}

// Validate collects every problem, each prefixed with its field path.
func (c *Config) Validate() error {
	var errs []error
	if c.Data == "" {
		errs = append(errs, errors.New("data: must not be empty"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q is not one of text, json", c.Log.Format))
	}
	if c.Location.ExpireInterval <= 0 {
		errs = append(errs, errors.New("location.expire_interval: must be positive"))
	}
	if c.Location.SnapshotInterval <= 0 {
		errs = append(errs, errors.New("location.snapshot_interval: must be positive"))
	}
	if c.Runtime.GCFloorMB < 0 || c.Runtime.GCFloorMB > 1<<20 {
		errs = append(errs, errors.New("runtime.gc_floor_mb: must be between 0 and 1048576"))
	}
	if c.Shutdown.Grace <= 0 {
		errs = append(errs, errors.New("shutdown.grace: must be positive"))
	}
	if c.Shutdown.Lameduck < 0 || c.Shutdown.Lameduck >= c.Shutdown.Grace {
		errs = append(errs, errors.New("shutdown.lameduck: must be ≥ 0 and shorter than shutdown.grace"))
	}
	if err := c.SIP.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.API.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Registrar.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Notify.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Keepalive.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// loadFile decodes a YAML file over cfg; an unknown key is an error that
// names it, so a typo never silently falls back to a default.
func loadFile(path string, cfg *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// An empty file is not an error: it means "all defaults".
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// envVars maps every SIPEDGE_* name to the config field it sets, derived
// from the yaml tags: sip.listen → SIPEDGE_SIP_LISTEN.
func envVars(cfg *Config) map[string]reflect.Value {
	out := make(map[string]reflect.Value)
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "-" || !f.IsExported() {
				continue
			}
			if tag == "" {
				tag = strings.ToLower(f.Name)
			}
			name := prefix + "_" + strings.ToUpper(tag)
			fv := v.Field(i)
			if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Duration(0)) {
				walk(name, fv)
				continue
			}
			out[name] = fv
		}
	}
	walk("SIPEDGE", reflect.ValueOf(cfg).Elem())
	return out
}

// loadEnv applies SIPEDGE_* variables. An unknown SIPEDGE_ name is an error,
// like an unknown key in the file.
func loadEnv(environ []string, cfg *Config) error {
	fields := envVars(cfg)
	var errs []error
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "SIPEDGE_") {
			continue
		}
		fv, known := fields[name]
		if !known {
			errs = append(errs, fmt.Errorf("environment: unknown variable %s", name))
			continue
		}
		if err := setValue(fv, val); err != nil {
			errs = append(errs, fmt.Errorf("environment %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func setValue(v reflect.Value, s string) error {
	switch {
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case v.Kind() >= reflect.Int && v.Kind() <= reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		v.SetInt(n)
	case v.Kind() == reflect.Float32 || v.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		v.SetFloat(f)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("cannot be set from the environment (type %s)", v.Type())
	}
	return nil
}

// envNames lists the variables sipedge reads, for the README and -help.
func envNames() []string {
	var cfg Config
	names := make([]string, 0, 32)
	for n := range envVars(&cfg) {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
