// Command sipbench is sipedge's SIP load generator; see package bench.
//
//	sipbench -target 127.0.0.1:5060 -scenario register -realm example.com \
//	    -users user%06d -password secret%06d -n 2000 -rate 5000 -duration 10s
//	sipbench ... -rate 2000 -step 2000 -step-to 40000        # highest clean rate
//	sipbench -scenario call ... -n 2000 -rate 500 -hold 0s    # calls through a proxy
//	sipbench -scenario rtp ... -n 200 -rate 20                # calls with RTP both ways
//	sipbench -responder 127.0.0.1:5070                      # the trivial server
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sipedge/sipedge/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sipbench:", err)
		os.Exit(1)
	}
}

type options struct {
	target, scenario, users, password, realm, alg, pids, responder string
	rate, step, stepTo                                             float64
	duration, stepEach, drain, hold                                time.Duration
	max, n, first, sockets, expires, readers, inflight             int
	refresh, json, quiet, allowRemote                              bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("sipbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.target, "target", "127.0.0.1:5060", "server UDP address `ip:port`")
	fs.StringVar(&o.scenario, "scenario", "register", "register, options, call or rtp")
	fs.Float64Var(&o.rate, "rate", 1000, "new sessions per second (the first rate with -step)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send (per run)")
	fs.IntVar(&o.max, "max", 0, "stop after this many sessions (0: only -duration bounds the run)")
	fs.Float64Var(&o.step, "step", 0, "step-up: raise the rate by this much per step until failures reach 0.1%")
	fs.Float64Var(&o.stepTo, "step-to", 100000, "step-up: highest rate tried")
	fs.DurationVar(&o.stepEach, "step-duration", 5*time.Second, "step-up: how long each step sends")
	fs.DurationVar(&o.drain, "drain", 5*time.Second, "wait this long after sending for sessions in flight")
	fs.IntVar(&o.sockets, "sockets", 4, "UDP sockets, one worker each")
	fs.IntVar(&o.inflight, "inflight", 0, "cap on sessions in flight (0: none); with a high -rate, a closed loop")
	fs.StringVar(&o.users, "users", "", "users file (user;password lines) or a `format` like user%06d for a range")
	fs.StringVar(&o.password, "password", "", "password `format` for a range, like secret%06d")
	fs.IntVar(&o.n, "n", 0, "users in the range")
	fs.IntVar(&o.first, "first", 1, "first number of the range")
	fs.StringVar(&o.realm, "realm", "", "SIP domain the users register in")
	fs.IntVar(&o.expires, "expires", 3600, "Expires of the REGISTERs")
	fs.StringVar(&o.alg, "alg", "", "answer only this digest algorithm (MD5, SHA-256); default the first offered")
	fs.DurationVar(&o.hold, "hold", -1, "call, rtp: time between ACK and BYE (default 0s for call, 5s for rtp)")
	fs.BoolVar(&o.refresh, "refresh", false, "register every user once (not measured), then measure refreshes on the same Call-ID")
	fs.StringVar(&o.pids, "pid", "", "server `pids` (comma-separated) for CPU and memory from /proc")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON instead of a table")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a target that is not a loopback address")
	fs.StringVar(&o.responder, "responder", "", "run the trivial responder on `ip:port` instead of generating load")
	fs.IntVar(&o.readers, "readers", 2, "responder: reader goroutines")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.responder != "" {
		return serveResponder(ctx, o, stderr)
	}
	cfg, scen, err := o.config(stderr)
	if err != nil {
		return err
	}
	if reg, ok := scen.(*bench.Register); ok && o.refresh {
		if err := warmUp(ctx, cfg, reg, stderr); err != nil {
			return err
		}
	}
	if call, ok := scen.(*bench.Call); ok {
		res, err := call.WarmUp(ctx, cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "warm-up: %d of %d callees registered (%d failed %v)\n", call.Registered(), len(call.Users)/2, res.Failed, res.Failures)
	}
	if o.step > 0 {
		sr, err := bench.StepUp(ctx, cfg, bench.Step{From: o.rate, By: o.step, To: o.stepTo, Each: o.stepEach})
		if sr != nil {
			if o.json {
				_ = bench.WriteJSON(stdout, sr)
			} else {
				_ = bench.WriteTable(stdout, sr.Steps...)
				fmt.Fprintf(stdout, "max clean rate: %.0f/s\n", sr.MaxClean)
			}
		}
		return err
	}
	res, err := bench.Run(ctx, cfg)
	if res != nil {
		if o.json {
			_ = bench.WriteJSON(stdout, res)
		} else {
			_ = bench.WriteTable(stdout, res)
		}
	}
	return err
}

func (o *options) config(stderr io.Writer) (bench.Config, bench.Scenario, error) {
	target, err := netip.ParseAddrPort(o.target)
	if err != nil {
		return bench.Config{}, nil, fmt.Errorf("-target: %w", err)
	}
	cfg := bench.Config{
		Target: target, AllowRemote: o.allowRemote, Rate: o.rate, Duration: o.duration, Max: o.max,
		Sockets: o.sockets, Drain: o.drain, MaxInflight: o.inflight,
	}
	if !o.quiet {
		cfg.Progress = stderr
	}
	if o.pids != "" {
		for _, p := range strings.Split(o.pids, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || n <= 0 {
				return cfg, nil, fmt.Errorf("-pid: %q is not a process id", p)
			}
			cfg.PIDs = append(cfg.PIDs, n)
		}
	}
	switch o.scenario {
	case "options":
		cfg.Scenario = &bench.Options{}
	case "register":
		users, err := o.loadUsers()
		if err != nil {
			return cfg, nil, err
		}
		if o.realm == "" {
			return cfg, nil, errors.New("-realm: required for register")
		}
		cfg.Scenario = &bench.Register{Realm: o.realm, Users: users, Expires: o.expires, Alg: o.alg, Refresh: o.refresh}
	case "call", "rtp":
		users, err := o.loadUsers()
		if err != nil {
			return cfg, nil, err
		}
		if o.realm == "" {
			return cfg, nil, fmt.Errorf("-realm: required for %s", o.scenario)
		}
		if len(users) < 2*cfg.Sockets {
			return cfg, nil, fmt.Errorf("-n: %d users for %d sockets: want at least %d (half callees, half callers)", len(users), cfg.Sockets, 2*cfg.Sockets)
		}
		rtp := o.scenario == "rtp"
		hold := o.hold
		if hold < 0 {
			hold = 0
			if rtp {
				hold = 5 * time.Second
			}
		}
		cfg.Scenario = &bench.Call{Realm: o.realm, Users: users, Alg: o.alg, Expires: o.expires, Hold: hold, RTP: rtp}
	default:
		return cfg, nil, fmt.Errorf("-scenario %q: want register, options, call or rtp", o.scenario)
	}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return cfg, nil, err
	}
	return cfg, cfg.Scenario, nil
}

func (o *options) loadUsers() ([]bench.User, error) {
	switch {
	case o.users == "":
		return nil, fmt.Errorf("-users: a users file or a range format is required for %s", o.scenario)
	case strings.Contains(o.users, "%"):
		if o.password == "" || o.n <= 0 {
			return nil, errors.New("-users as a range needs -password and -n")
		}
		return bench.UserRange(o.users, o.password, o.first, o.n)
	}
	return bench.ReadUsersFile(o.users)
}

// warmUp registers every user once so the measured run sees refreshes.
func warmUp(ctx context.Context, cfg bench.Config, reg *bench.Register, stderr io.Writer) error {
	c := cfg
	c.Max = len(reg.Users)
	c.Duration = time.Duration(float64(len(reg.Users))/c.Rate*float64(time.Second)) + time.Second
	c.Progress = nil
	res, err := bench.Run(ctx, c)
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	fmt.Fprintf(stderr, "warm-up: %d of %d users registered (%d failed)\n", reg.Registered(), len(reg.Users), res.Failed)
	return nil
}

func serveResponder(ctx context.Context, o *options, stderr io.Writer) error {
	r, err := bench.NewResponder(o.responder, o.readers)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "responder on %s\n", r.Addr())
	err = r.Serve(ctx)
	fmt.Fprintf(stderr, "responder: %d responses\n", r.Served())
	return err
}
