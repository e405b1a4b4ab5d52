package proxy

// chain is the order every request goes through, outermost first. It is the
// one place to read (and change) the order; the route by method sits at the
// end. Auth and forwarding slot in before route when they arrive.
func (s *Server) chain() []Middleware {
	return []Middleware{
		s.recoverer,  // a panic anywhere below → 500 and a count
		s.limit,      // max_inflight → 503 + Retry-After
		sanity,       // malformed → 400 (505, 416, 483) naming the problem
		s.limitStage, // over sip.limits → 513 or 413 naming the limit
		nat,          // RFC 3581: received/rport on the top Via
	}
}

// buildChain wraps h so that mws[0] runs first.
func buildChain(h Handler, mws []Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
