package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/sipedge/sipedge/devices"
)

// dispatch runs the subcommand named by the first argument, or the server.
func dispatch(ctx context.Context, args, environ []string, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "import" {
		return runImport(ctx, args[1:], os.Stdin, os.Stdout, stderr)
	}
	return run(ctx, args, environ, stderr)
}

// maxImportLine bounds one device document; the admin API's body limit is
// far lower, so anything longer is not a device.
const maxImportLine = 16 << 20

// inUseTimeout is how long import waits for a data directory's lock before
// concluding that a sipedge is running on it.
const inUseTimeout = time.Second

// runImport is "sipedge import": device documents, one JSON object a line,
// written straight into the store, devices.ImportChunk per transaction.
func runImport(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("sipedge import", flag.ContinueOnError)
	flags.SetOutput(stderr)
	data := flags.String("data", DefaultConfig().Data, "data `dir` of the (stopped) sipedge")
	account := flags.String("account", "", "`id` of the account the devices go to")
	realm := flags.String("realm", "", "with no -account: create an account with this SIP `realm` and import into it")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: sipedge import -data DIR (-account ID | -realm REALM) FILE\n\n"+
			"FILE (- for stdin) holds one device document a line, bare or in a Kazoo envelope {\"data\":{...}}.\n"+
			"Every document is validated as PUT /v2/accounts/ID/devices does; a refused document stops the\n"+
			"import, and nothing of its chunk of "+fmt.Sprint(devices.ImportChunk)+" documents is stored.\n"+
			"sipedge must not be running on DIR.")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return err
	}
	switch {
	case flags.NArg() != 1:
		flags.Usage()
		return errors.New("import: want exactly one FILE (or -)")
	case *account == "" && *realm == "":
		return errors.New("import: -account or -realm is required")
	case *account != "" && *realm != "":
		return errors.New("import: -realm creates an account: give it without -account")
	}
	name := flags.Arg(0)
	in := stdin
	if name == "-" {
		name = "stdin"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		in = f
	}

	if err := os.MkdirAll(*data, 0o700); err != nil {
		return fmt.Errorf("import: data dir: %w", err)
	}
	path := filepath.Join(*data, "sipedge.db")
	if err := checkNotInUse(path); err != nil {
		return err
	}
	store, err := devices.Open(devices.Options{Path: path})
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer store.Close()
	if *account != "" {
		if _, err := store.Account(*account); err != nil {
			return fmt.Errorf("import: account %s: %w", *account, err)
		}
	}

	start := time.Now()
	total := 0
	docs := make([]map[string]any, 0, devices.ImportChunk)
	lines := make([]int, 0, devices.ImportChunk)
	flush := func() error {
		if len(docs) == 0 {
			return nil
		}
		// The account is created only once there is something to import,
		// and removed again when its first chunk is refused: a failed
		// import leaves no empty account behind.
		created := false
		if *account == "" {
			id, err := createRealmAccount(store, *realm)
			if err != nil {
				return err
			}
			*account, created = id, true
		}
		devs, err := store.ImportDevices(*account, docs)
		if err != nil && created {
			if _, derr := store.DeleteAccount(*account); derr != nil {
				err = errors.Join(err, fmt.Errorf("remove the account created for the import: %w", derr))
			}
		}
		if err == nil && created {
			fmt.Fprintf(stdout, "created account %s with realm %s\n", *account, *realm)
		}
		if ierr, ok := errors.AsType[*devices.ImportError](err); ok {
			return fmt.Errorf("import: %s line %d: %s (%d devices imported before this chunk of %d lines)",
				name, lines[ierr.Index], kazooError(ierr.Err), total, len(docs))
		}
		if err != nil {
			return fmt.Errorf("import: %w (%d devices imported before)", err, total)
		}
		total += len(devs)
		fmt.Fprintf(stderr, "imported %d devices (%s)\n", total, time.Since(start).Round(time.Millisecond))
		docs, lines = docs[:0], lines[:0]
		return nil
	}

	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxImportLine)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 || isBlank(line) {
			continue
		}
		doc, err := parseDeviceLine(line)
		if err != nil {
			return fmt.Errorf("import: %s line %d: %w (%d devices imported before)", name, n, err, total)
		}
		docs = append(docs, doc)
		lines = append(lines, n)
		if len(docs) == devices.ImportChunk {
			if err := flush(); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("import: interrupted after %d devices: %w", total, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("import: reading %s: %w (%d devices imported before)", name, err, total)
	}
	if err := flush(); err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "imported %d devices into account %s in %s (%.0f/s)\n",
		total, *account, took.Round(time.Millisecond), float64(total)/max(took.Seconds(), 1e-9))
	return nil
}

// checkNotInUse fails at once when another process, most likely a running
// sipedge, holds the store's lock; the store's own open would wait longer
// and say less.
func checkNotInUse(path string) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: inUseTimeout, ReadOnly: true})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("import: data directory in use: %s is locked (stop sipedge first)", filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return db.Close()
}

// createRealmAccount creates the account an import goes to; an existing
// account of the realm is named rather than reused, so that a repeated
// command does not silently add to it.
func createRealmAccount(store *devices.Store, realm string) (string, error) {
	if a := store.AccountByRealm(realm); a != nil {
		return "", fmt.Errorf("import: realm %s is account %s already: use -account %s", realm, a.ID, a.ID)
	}
	a, err := store.CreateAccount(map[string]any{"name": realm, "realm": realm})
	if err != nil {
		return "", fmt.Errorf("import: create account: %s", kazooError(err))
	}
	return a.ID, nil
}

// parseDeviceLine decodes one line: a device document or a Kazoo envelope
// around one (the device schema has no "data" key, so the two never mix up).
func parseDeviceLine(line []byte) (map[string]any, error) {
	var doc map[string]any
	if err := json.Unmarshal(line, &doc); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if doc == nil {
		return nil, errors.New("not a JSON object: null")
	}
	if d, ok := doc["data"].(map[string]any); ok {
		return d, nil
	}
	return doc, nil
}

// kazooError renders a validation error as the "data" of Kazoo's 400
// envelope, the form operators know from the admin API.
func kazooError(err error) string {
	if verr, ok := errors.AsType[*devices.ValidationError](err); ok {
		b, _ := json.Marshal(verr.Fields)
		return "validation error: " + string(b)
	}
	return err.Error()
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}
