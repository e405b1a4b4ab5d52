// Command sipedge runs the SIP edge proxy and registrar with its admin API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := dispatch(ctx, os.Args[1:], os.Environ(), os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sipedge:", err)
		os.Exit(1)
	}
}

// options are the command-line flags; each also exists in the file and the
// environment, except the ones that only make sense on a command line.
type options struct {
	configFile  string
	checkConfig bool
	printConfig bool
	data, sip   string
	api         string
	logLevel    string
	logFormat   string
	cpuProfile  string
	memProfile  string
	trace       string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("sipedge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.configFile, "config", "", "YAML configuration `file` (optional; embedded defaults otherwise)")
	fs.BoolVar(&o.checkConfig, "check-config", false, "validate the configuration and exit")
	fs.BoolVar(&o.printConfig, "print-config", false, "print the effective configuration as YAML and exit")
	fs.StringVar(&o.data, "data", "", "data `dir` (data)")
	fs.StringVar(&o.sip, "sip", "", "SIP listen `addr` for UDP and TCP (sip.listen)")
	fs.StringVar(&o.api, "api", "", "admin API listen `addr` (api.listen)")
	fs.StringVar(&o.logLevel, "log-level", "", "debug, info, warn or error (log.level)")
	fs.StringVar(&o.logFormat, "log-format", "", "text or json (log.format)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to `file` (for go tool pprof)")
	fs.StringVar(&o.memProfile, "memprofile", "", "write a heap profile (allocations of the whole run, and what is live) to `file` at exit")
	fs.StringVar(&o.trace, "trace", "", "write an execution trace of the whole run to `file` (go tool trace; -pprof=sched shows where goroutines waited)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sipedge [flags]\n\nflags override SIPEDGE_* environment variables, which override the -config file.")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "\nenvironment variables:")
		for _, n := range envNames() {
			fmt.Fprintln(stderr, "  "+n)
		}
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return o, nil
}

// loadConfig applies defaults, then the file, then the environment, then flags.
func loadConfig(o options, environ []string) (Config, error) {
	cfg := DefaultConfig()
	if o.configFile != "" {
		if err := loadFile(o.configFile, &cfg); err != nil {
			return cfg, err
		}
	}
	if err := loadEnv(environ, &cfg); err != nil {
		return cfg, err
	}
	for _, f := range []struct {
		val string
		dst *string
	}{
		{o.data, &cfg.Data}, {o.sip, &cfg.SIP.Listen}, {o.api, &cfg.API.Listen},
		{o.logLevel, &cfg.Log.Level}, {o.logFormat, &cfg.Log.Format},
	} {
		if f.val != "" {
			*f.dst = f.val
		}
	}
	return cfg, cfg.Validate()
}
