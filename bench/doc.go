// Package bench is sipedge's load generator: it drives a SIP server over UDP
// hard enough that the server, not the generator, is what gets measured.
//
// Why it does not use sipgo's transaction layer: a goroutine, a timer and a
// parsed message per request would make the generator as costly as the
// server under test. Instead each worker owns one connected UDP socket, a
// reader goroutine and a pacing goroutine; requests are built into reused
// buffers, responses are parsed in place (status, top Via branch, Call-ID,
// CSeq, challenges), and digest answers start from pre-computed HA1 and
// HA2 values, so the steady state allocates next to nothing.
//
// A run is a Scenario driven by Run at a fixed rate of new sessions, or by
// StepUp, which raises the rate until failures reach 0.1%. Every
// transaction is retransmitted on RFC 3261's timers (T1 = 500 ms, doubling
// up to T2 = 4 s, given up at 64·T1) and retransmissions are counted.
// Results carry the achieved rate, failures by cause, latency percentiles
// from a log-linear histogram, and the server's CPU and memory read from
// /proc when its PIDs are given.
//
// Scenarios see only sessions and parsed responses. A scenario that needs a
// pause (a call's hold time) returns Next with After set; one that needs a
// request outside any transaction (an ACK) puts it in Action.Oneway.
//
// Call (the call and rtp scenarios) is both ends of its calls: callees
// register from the worker sockets, and a worker's reader hands the
// requests the proxy sends there to a UAS that answers them under the
// worker's lock, its retransmissions on the worker's timer heap. RTP, when
// asked for, runs on one more socket per worker with one sender (a 20 ms
// wheel) and one reader goroutine, so neither side costs a goroutine per
// call.
//
// Targets are loopback only unless Config.AllowRemote is set.
package bench
