package bench

import (
	"net"
	"strconv"
	"time"
)

// Scenario drives sessions: a registration, an OPTIONS ping, later a call.
// A worker calls its methods under the worker's lock, one session at a
// time; sessions of different workers run in parallel, so state a scenario
// shares between sessions must either be per worker (Session.Worker) or
// synchronised.
type Scenario interface {
	// Name is the scenario's name in reports.
	Name() string
	// Prepare is called once per Run, before any session, with the number of workers.
	Prepare(workers int) error
	// Start appends the session's first request to b. ok false means there
	// is nothing to start now (every user of the worker busy); the slot is
	// counted as skipped.
	Start(s *Session, b []byte) (req []byte, ok bool)
	// Response handles the final response to the session's current request.
	// Provisional responses are handled by the worker (they only slow the
	// retransmissions down). The session's branch has already moved on, so
	// a request built here is a new transaction.
	Response(s *Session, r *Response, b []byte) Action
	// Finish releases what the session held; ok tells whether it succeeded.
	Finish(s *Session, ok bool)
}

// Action is what a scenario wants after a response.
type Action struct {
	// Next is the next request, a new client transaction.
	Next []byte
	// After delays Next (a call's hold time before BYE).
	After time.Duration
	// Oneway is sent once with no transaction and no answer expected (ACK).
	Oneway []byte
	// Setup records the session's latency now (a call's setup: first
	// INVITE to 200); Done then records the whole session's duration
	// separately instead.
	Setup bool
	// Done ends the session successfully; its latency is recorded.
	Done bool
	// Fail ends the session as failed with this cause (bounded set of names).
	Fail string
}

// Session is one unit of work. Exported fields belong to the scenario.
type Session struct {
	// ID is unique within the worker and run.
	ID uint64
	// Worker is the index of the worker driving the session.
	Worker int
	// User and State are the scenario's.
	User  int
	State int
	// Buf is scratch space the scenario may keep between messages (a
	// Call-ID, a nonce); it survives pooling, so reuse it with Buf[:0].
	Buf []byte

	w           *worker
	gen         uint32
	branch      []byte
	start       int64
	txStart     int64
	interval    time.Duration
	provisional bool
	delayed     bool
	invite      bool
	setup       bool
	last        []byte
	// dlg is the call scenario's dialog state, kept with the session
	// across pooling so its buffers are reused.
	dlg *dialog
}

// lateHandler is a scenario that answers final responses to a live
// session's earlier transactions: a 2xx to an INVITE retransmitted by a
// UAS that has not seen the ACK yet must be ACKed again (RFC 3261
// §13.2.2.4). It returns what to send, nothing if the response is stray.
type lateHandler interface {
	late(s *Session, r *Response, b []byte) []byte
}

// calls is a scenario that answers calls on the workers' sockets (the UAS
// side) and may stream media; the worker builds its UAS and media engine
// from it.
type calls interface {
	uasConfig() uasConfig
	// localAddr is the address worker i binds, nil for any; bound tells
	// what it got, so a later run binds the same ports the callees
	// registered as their contacts.
	localAddr(i int) *net.UDPAddr
	bound(i int, a *net.UDPAddr)
}

// Local is the generator's address on this session's socket ("ip:port").
func (s *Session) Local() string { return s.w.local }

// Target is the server's address ("ip:port").
func (s *Session) Target() string { return s.w.r.target }

// AppendVia appends the Via header of the current transaction.
func (s *Session) AppendVia(b []byte) []byte {
	b = append(b, "Via: SIP/2.0/UDP "...)
	b = append(b, s.w.local...)
	b = append(b, ";branch="...)
	b = append(b, s.branch...)
	return append(b, ";rport\r\n"...)
}

// AppendCallID appends a Call-ID value unique to this session and run.
func (s *Session) AppendCallID(b []byte) []byte {
	b = append(b, s.w.r.runID...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(s.Worker), 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, s.ID, 10)
	return append(b, "@sipbench"...)
}

// AppendTag appends a From tag unique to this session and run.
func (s *Session) AppendTag(b []byte) []byte {
	b = append(b, 's', 'b')
	b = strconv.AppendUint(b, s.ID, 36)
	b = append(b, '.')
	return strconv.AppendInt(b, int64(s.Worker), 36)
}

// setBranch renders the current transaction's branch: the magic cookie,
// the run, the session and the transaction's generation, which is all the
// reader needs to find the session again without a map keyed by strings.
func (s *Session) setBranch() {
	b := append(s.branch[:0], s.w.prefix...)
	b = strconv.AppendUint(b, s.ID, 10)
	b = append(b, '.')
	s.branch = strconv.AppendUint(b, uint64(s.gen), 10)
}

// parseBranch undoes setBranch.
func parseBranch(prefix, br []byte) (id uint64, gen uint32, ok bool) {
	if len(br) <= len(prefix) || string(br[:len(prefix)]) != string(prefix) {
		return 0, 0, false
	}
	br = br[len(prefix):]
	i := 0
	for ; i < len(br) && br[i] != '.'; i++ {
		if br[i] < '0' || br[i] > '9' {
			return 0, 0, false
		}
		id = id*10 + uint64(br[i]-'0')
	}
	if i == 0 || i == len(br)-1 || i == len(br) {
		return 0, 0, false
	}
	var g uint64
	for _, c := range br[i+1:] {
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		g = g*10 + uint64(c-'0')
	}
	return id, uint32(g), true
}
