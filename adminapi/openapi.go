package adminapi

import _ "embed"

// openapiDoc describes every route of the table; TestOpenAPIMatchesRoutes
// keeps the two in step.
//
//go:embed openapi.json
var openapiDoc []byte

// openapi serves the document raw, not enveloped, so OpenAPI tooling can
// read it directly.
func (s *Server) openapi(*request) (*reply, error) {
	return &reply{raw: openapiDoc, contentType: "application/json"}, nil
}
