package bench

// Options sends OPTIONS and expects a 2xx, the keepalive phones and
// trunks send; it measures the server's cheapest request path.
type Options struct {
	// URI is the Request-URI; default the target's "sip:ip:port".
	URI string
	uri string
}

// Name implements Scenario.
func (o *Options) Name() string { return "options" }

// Prepare implements Scenario.
func (o *Options) Prepare(int) error {
	o.uri = o.URI
	return nil
}

// Start implements Scenario.
func (o *Options) Start(s *Session, b []byte) ([]byte, bool) {
	uri := o.uri
	b = append(b, "OPTIONS "...)
	if uri == "" {
		b = append(b, "sip:"...)
		b = append(b, s.Target()...)
	} else {
		b = append(b, uri...)
	}
	b = append(b, " SIP/2.0\r\n"...)
	b = s.AppendVia(b)
	b = append(b, "Max-Forwards: 70\r\nFrom: <sip:sipbench@"...)
	b = append(b, s.Local()...)
	b = append(b, ">;tag="...)
	b = s.AppendTag(b)
	b = append(b, "\r\nTo: <"...)
	if uri == "" {
		b = append(b, "sip:"...)
		b = append(b, s.Target()...)
	} else {
		b = append(b, uri...)
	}
	b = append(b, ">\r\nCall-ID: "...)
	b = s.AppendCallID(b)
	b = append(b, "\r\nCSeq: 1 OPTIONS\r\nUser-Agent: sipbench\r\nContent-Length: 0\r\n\r\n"...)
	return b, true
}

// Response implements Scenario.
func (o *Options) Response(_ *Session, r *Response, _ []byte) Action {
	if r.Code >= 200 && r.Code < 300 {
		return Action{Done: true}
	}
	return Action{Fail: statusCause(r.Code)}
}

// Finish implements Scenario.
func (o *Options) Finish(*Session, bool) {}
