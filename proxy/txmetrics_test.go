package proxy_test

import (
	"testing"
	"time"
)

// sipedge_proxy_transactions_active counts the INVITE's transactions on
// both sides while it rings and drops back to zero once they end (TCP:
// no lingering for retransmissions).
func TestTransactionsActiveGauge(t *testing.T) {
	env := newCallEnv(t, envOpts{})
	alice := env.phone(t, "TCP", "alice")
	bob := env.phone(t, "TCP", "bob")
	active := func(side string) float64 {
		return env.gauge(t, "sipedge_proxy_transactions_active", map[string]string{"side": side})
	}
	ctx := ctxT(t)
	c := env.dial(t, ctx, alice, "bob")
	in, err := bob.WaitCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The proxy counts its client transaction once sipgo has sent the
	// INVITE, which bob may have read a moment before.
	deadline := time.Now().Add(5 * time.Second)
	for active("server") < 1 || active("client") < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("while ringing: server %v, client %v transactions active; want at least 1 each", active("server"), active("client"))
		}
		time.Sleep(20 * time.Millisecond) // a gauge has no event to wait on
	}
	if err := in.Dialog.Respond(486, "Busy Here", nil); err != nil {
		t.Fatal(err)
	}
	wait(t, c.done, "the caller's final answer")
	if res := c.final(); res == nil || res.StatusCode != 486 {
		t.Fatalf("caller got %v, want 486", res)
	}
	deadline = time.Now().Add(5 * time.Second)
	for active("server") != 0 || active("client") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after the call: server %v, client %v transactions active; want 0", active("server"), active("client"))
		}
		time.Sleep(20 * time.Millisecond) // a gauge has no event to wait on
	}
}
