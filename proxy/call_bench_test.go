package proxy_test

import (
	"context"
	"testing"
	"time"
)

// BenchmarkCall is one whole call through the proxy on loopback UDP:
// INVITE (IP-authenticated caller), 200, ACK, BYE, 200, with real sipgo
// phones on both sides. It measures the proxy and both phones together,
// so read it as an upper bound of the proxy's cost per call.
func BenchmarkCall(b *testing.B) {
	env := newCallEnv(b, envOpts{devices: []map[string]any{{
		"name": "pbx", "enabled": true, "sip": map[string]any{"method": "ip", "ip": "127.0.0.1", "username": "pbx"},
	}}})
	alice := env.phone(b, "UDP", "alice")
	bob := env.phone(b, "UDP", "bob")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			select {
			case in := <-bob.Calls():
				go func() { _ = in.Dialog.Respond(200, "OK", nil) }()
			case <-ctx.Done():
				return
			}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		sess, err := alice.Invite(cctx, "bob")
		if err != nil {
			b.Fatal(err)
		}
		if err := alice.Answer(cctx, sess, nil); err != nil {
			b.Fatal(err)
		}
		if err := sess.Ack(cctx); err != nil {
			b.Fatal(err)
		}
		if err := sess.Bye(cctx); err != nil {
			b.Fatal(err)
		}
		sess.Close()
		ccancel()
	}
}
