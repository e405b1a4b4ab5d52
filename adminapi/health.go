package adminapi

import "github.com/valyala/fasthttp"

// livez says the process answers; it checks no dependency on purpose, so
// an orchestrator never restarts us for a slow disk.
func (s *Server) livez(*request) (*reply, error) {
	return &reply{data: map[string]any{"live": true}}, nil
}

// readyz follows Deps.Ready: 503 while starting or draining.
func (s *Server) readyz(*request) (*reply, error) {
	if !s.ready() {
		return nil, &apiError{code: fasthttp.StatusServiceUnavailable, message: "not_ready",
			data: map[string]any{"message": "not ready", "ready": false}}
	}
	return &reply{data: map[string]any{"ready": true}}, nil
}

// metrics serves the Prometheus text format from Deps.Gatherer.
func (s *Server) metrics(r *request) (*reply, error) {
	s.promH(r.ctx)
	return &reply{written: true}, nil
}
