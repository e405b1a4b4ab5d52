package proxy_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

// signalHandler is a slog handler that reports log lines containing a
// phrase: an event to wait on instead of polling.
type signalHandler struct {
	phrase string
	ch     chan slog.Record
}

func (h *signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *signalHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.phrase) {
		select {
		case h.ch <- r:
		default:
		}
	}
	return nil
}
func (h *signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *signalHandler) WithGroup(string) slog.Handler      { return h }

// When a phone's TCP connection closes, its bindings go at once: nobody
// could reach it over that flow any more.
func TestClosedTCPConnectionRemovesBindings(t *testing.T) {
	sig := &signalHandler{phrase: "bindings removed", ch: make(chan slog.Record, 1)}
	env := newCallEnv(t, envOpts{log: slog.New(sig)})
	bob := env.phone(t, "TCP", "bob")
	alice := env.phone(t, "UDP", "alice")
	if got := len(env.loc.Lookup("bob@"+realm, nil)); got != 1 {
		t.Fatalf("%d bindings after REGISTER, want 1", got)
	}
	bob.Close()
	wait(t, sig.ch, "the bindings to be removed")
	if got := len(env.loc.Lookup("bob@"+realm, nil)); got != 0 {
		t.Fatalf("%d bindings after the connection closed, want 0", got)
	}
	c := env.dial(t, ctxT(t), alice, "bob")
	wait(t, c.done, "the answer")
	if res := c.final(); res == nil || res.StatusCode != 480 {
		t.Fatalf("call to the gone phone: %v, want 480", res)
	}
}
